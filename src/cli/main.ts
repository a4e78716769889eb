#!/usr/bin/env node
// The `nearest` command (package.json bin): `nearest serve` runs the HTTP server, `nearest demo`
// the Fashion-MNIST demo of `npm run demo`. Flags and their environment variables are listed by
// `nearest serve --help`. The server prints exactly `listening on http://HOST:PORT` on stdout once
// it answers requests; its JSON logs go to stderr. SIGTERM or SIGINT: graceful shutdown, exit 0.
import { EXIT } from './common.js';
import { registerCollectionCommands } from './commands/collection.js';
import { registerDataCommands } from './commands/data.js';
import { registerClusterCommands } from './commands/cluster.js';
import { Command, InvalidArgumentError, Option } from 'commander';

function integer(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

const LIMITS = [
  ['max-body-bytes', 'bodyBytes', 'largest request body in bytes (default 33554432 = 32 MiB)'],
  ['max-batch', 'batchSize', 'most records or ids per request (default 10000)'],
  ['max-queries', 'queries', 'most queries in one batch search (default 1000)'],
  ['max-dim', 'dim', 'largest collection dim (default 65536)'],
  ['max-k', 'k', 'largest k of a search (default 10000)'],
  ['max-filter-depth', 'filterDepth', 'deepest filter (default 32)'],
  ['max-filter-nodes', 'filterNodes', 'most values in one filter (default 1000)'],
  ['max-collections', 'collections', 'most collections (default 1000)'],
  ['max-in-flight', 'inFlight', 'requests answered at once before 429 (default 256)'],
  ['search-threads', 'searchThreads', 'worker threads that run searches (default: all cores)'],
] as const;

const envName = (flag: string) => `NEAREST_${flag.toUpperCase().replace(/-/g, '_')}`;

interface ServeFlags {
  data: string; host: string; port: number; apiKey?: string; readOnlyApiKey?: string; insecure?: boolean;
  cors?: string[]; readOnly?: boolean; logLevel: string; cluster?: string; nodeId?: string; advertiseUrl?: string;
  leaseSeconds?: number; chromaShards?: number; chromaReplicas?: number; [limit: string]: unknown;
}

/** SIGTERM / SIGINT: a graceful close (twice: exit at once). */
function onSignals(close: () => Promise<void>): void {
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) {
      process.stderr.write(`nearest serve: ${signal} again, exiting without waiting\n`);
      process.exit(1);
    }
    stopping = true;
    close().then(
      () => process.exit(0),
      (e: unknown) => { process.stderr.write(`nearest serve: error while closing: ${(e as Error).message}\n`); process.exit(1); },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

/** `nearest serve --cluster URL --node-id NAME`: a query node of a cluster on PostgreSQL. */
async function serveCluster(flags: ServeFlags): Promise<void> {
  if (flags.nodeId === undefined) throw Object.assign(new Error('--cluster needs --node-id NAME'), { code: 'INVALID_ARGUMENT' });
  if (flags.host !== '127.0.0.1' && flags.host !== 'localhost' && flags.host !== '::1' && flags.apiKey === undefined && !flags.insecure) {
    throw Object.assign(new Error(`--host ${flags.host} is not loopback: pass --api-key (or --insecure)`), { code: 'INVALID_ARGUMENT' });
  }
  const { createClusterServer } = await import('../cluster/index.js');
  const server = createClusterServer({
    url: flags.cluster!, nodeId: flags.nodeId, dataDir: flags.data, host: flags.host, port: flags.port,
    ...(flags.apiKey !== undefined ? { apiKey: flags.apiKey } : {}),
    ...(flags.readOnlyApiKey !== undefined ? { readOnlyApiKey: flags.readOnlyApiKey } : {}),
    ...(flags.advertiseUrl !== undefined ? { advertiseUrl: flags.advertiseUrl } : {}),
    ...(flags.leaseSeconds !== undefined ? { leaseSeconds: flags.leaseSeconds } : {}),
    ...(flags.chromaShards !== undefined ? { chromaShards: flags.chromaShards } : {}),
    ...(flags.chromaReplicas !== undefined ? { chromaReplicas: flags.chromaReplicas } : {}),
    logLevel: flags.logLevel as 'info',
    log: (m) => { if (flags.logLevel !== 'silent' && flags.logLevel !== 'fatal' && flags.logLevel !== 'error') process.stderr.write(`${m}\n`); },
  });
  onSignals(() => server.close());
  await server.listen();
  process.stdout.write(`listening on ${server.url}\n`);
}

async function serve(flags: ServeFlags): Promise<void> {
  if (flags.cluster !== undefined) { await serveCluster(flags); return; }
  const { createServer } = await import('../server/index.js');
  const limits: Record<string, number> = {};
  for (const [flag, key] of LIMITS) {
    const camel = flag.replace(/-(\w)/g, (_, c: string) => c.toUpperCase());
    if (flags[camel] !== undefined) limits[key] = flags[camel] as number;
  }
  const server = createServer({
    dataDir: flags.data,
    host: flags.host,
    port: flags.port,
    ...(flags.apiKey !== undefined ? { apiKey: flags.apiKey } : {}),
    ...(flags.readOnlyApiKey !== undefined ? { readOnlyApiKey: flags.readOnlyApiKey } : {}),
    ...(flags.insecure ? { insecure: true } : {}),
    ...(flags.cors !== undefined ? { cors: flags.cors } : {}),
    ...(flags.readOnly ? { readOnly: true } : {}),
    limits,
    logLevel: flags.logLevel as 'info',
    logStream: process.stderr,
  });
  onSignals(() => server.close());
  await server.listen();
  process.stdout.write(`listening on ${server.url}\n`);
}

const program = new Command('nearest')
  .description('Vector search for embeddings: an HTTP server and tools.')
  .addHelpText('after', `
Exit codes: ${EXIT.ok} success, ${EXIT.error} failure (the error is one line on stderr: code and message;
--verbose adds the stack), ${EXIT.usage} usage error, ${EXIT.damaged} verify found damage.`)
  .showHelpAfterError()
  // Usage errors exit 2 (commander's default is 1, which we keep for failures); help exits 0.
  .exitOverride((err) => { process.exit(err.exitCode === 0 ? 0 : EXIT.usage); });

const serveCommand = program.command('serve')
  .description('Serve the collections in a data directory over HTTP (native API under /v1).')
  .addOption(new Option('--data <dir>', 'database directory (created if missing)').env('NEAREST_DATA').default('./nearest-data'))
  .addOption(new Option('--host <host>', 'address to bind; a non-loopback one needs --api-key or --insecure').env('NEAREST_HOST').default('127.0.0.1'))
  .addOption(new Option('--port <port>', 'port (0: any free port)').env('NEAREST_PORT').default(6333).argParser(integer('--port', 0, 65535)))
  .addOption(new Option('--api-key <key>', 'read-write API key (api-key header or Authorization: Bearer)').env('NEAREST_API_KEY'))
  .addOption(new Option('--read-only-api-key <key>', 'read-only API key (writes get 403)').env('NEAREST_READ_ONLY_API_KEY'))
  .addOption(new Option('--insecure', 'allow a non-loopback host without an API key').env('NEAREST_INSECURE'))
  .addOption(new Option('--cors <origin>', 'allow this CORS origin (repeatable; * for any); CORS is off by default').env('NEAREST_CORS').argParser(collect))
  .addOption(new Option('--read-only', 'open the database read-only (every write is refused)').env('NEAREST_READ_ONLY'))
  .addOption(new Option('--log-level <level>', 'log level').env('NEAREST_LOG_LEVEL').default('info').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
  .addOption(new Option('--cluster <url>', 'be a query node of the cluster on this PostgreSQL (postgres://USER@HOST:PORT/DB); --data holds its replicas').env('NEAREST_CLUSTER'))
  .addOption(new Option('--node-id <name>', 'with --cluster: this node\'s name (lowercase letters, digits, _)').env('NEAREST_NODE_ID'))
  .addOption(new Option('--advertise-url <url>', 'with --cluster: the URL peers reach this node at (default http://HOST:PORT)').env('NEAREST_ADVERTISE_URL'))
  .addOption(new Option('--lease-seconds <n>', 'with --cluster: a node silent this long is gone and loses its replication slot (default 20)').env('NEAREST_LEASE_SECONDS').argParser(integer('--lease-seconds', 2, 3600)))
  .addOption(new Option('--chroma-shards <n>', 'with --cluster: shards of a collection made through the Chroma API (default 1)').env('NEAREST_CHROMA_SHARDS').argParser(integer('--chroma-shards', 1, 256)))
  .addOption(new Option('--chroma-replicas <n>', 'with --cluster: replicas of each of its shards, at most the live nodes (default 2)').env('NEAREST_CHROMA_REPLICAS').argParser(integer('--chroma-replicas', 1, 64)));
for (const [flag, , help] of LIMITS) serveCommand.addOption(new Option(`--${flag} <n>`, help).env(envName(flag)).argParser(integer(`--${flag}`, 1)));
serveCommand.action(async (flags: ServeFlags) => {
  try {
    await serve(flags);
  } catch (e) {
    const err = e as { code?: string; message?: string };
    process.stderr.write(`nearest serve: ${err.code ? `${err.code}: ` : ''}${err.message ?? String(e)}\n`);
    process.exit(1);
  }
});

program.command('demo')
  .description('Similarity search over Fashion-MNIST (npm run demo); options after --, see nearest demo -- --help.')
  .allowUnknownOption()
  .helpOption(false)
  .argument('[args...]')
  .action(async (args: string[]) => {
    // The demo reads its own flags from process.argv.
    process.argv = [process.argv[0], new URL('./demo.js', import.meta.url).pathname, ...args];
    await import('./demo.js');
  });

registerDataCommands(program);
registerCollectionCommands(program);
registerClusterCommands(program);

await program.parseAsync(process.argv);
