// Options of createServer: their defaults, the server's limits, and the checks done before anything
// listens (a non-loopback host needs an API key unless `insecure`).
import { availableParallelism } from 'node:os';
import { NearestError } from '../index.js';

/** The limits a server enforces on every request (defaults in DEFAULT_LIMITS). */
export interface ServerLimits {
  /** Largest request body in bytes (larger: 413). Default 32 MiB. */
  bodyBytes: number;
  /** Most records in one upsert, ids in one get or delete, records in one scroll page. Default 10,000. */
  batchSize: number;
  /** Most queries in one batch search. Default 1,000. */
  queries: number;
  /** Largest collection dim. Default 65,536 (the library's own maximum). */
  dim: number;
  /** Largest k of a search. Default 10,000. */
  k: number;
  /** Deepest filter document (levels of objects and arrays). Default 32. */
  filterDepth: number;
  /** Most values (objects, arrays, scalars) in one filter. Default 1,000. */
  filterNodes: number;
  /** Most collections on the server. Default 1,000. */
  collections: number;
  /** Requests in flight at once; more are refused with 429. Default 256. */
  inFlight: number;
  /** Worker threads that run searches (off the event loop). Default: the machine's cores. */
  searchThreads: number;
}

/** The default limits. */
export const DEFAULT_LIMITS: Readonly<ServerLimits> = Object.freeze({
  bodyBytes: 32 * 2 ** 20,
  batchSize: 10_000,
  queries: 1_000,
  dim: 65_536,
  k: 10_000,
  filterDepth: 32,
  filterNodes: 1_000,
  collections: 1_000,
  inFlight: 256,
  searchThreads: availableParallelism(),
});

/** pino's levels, and 'silent'. */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** Options of `createServer`. */
export interface ServerOptions {
  /** The database directory (created if missing). */
  dataDir: string;
  /** Address to bind; default '127.0.0.1'. A non-loopback address needs `apiKey` (or `insecure`). */
  host?: string;
  /** Port; default 6333. 0 picks a free one (see `url` after `listen()`). */
  port?: number;
  /** The read-write API key (header `api-key` or `Authorization: Bearer KEY`). */
  apiKey?: string;
  /** A read-only API key: reads only, writes get 403. */
  readOnlyApiKey?: string;
  /** Allow a non-loopback host without an API key. */
  insecure?: boolean;
  /** Allowed CORS origin(s); CORS is off when omitted. `'*'` allows any origin. */
  cors?: string | string[];
  /** Limits (each omitted one takes its default). */
  limits?: Partial<ServerLimits>;
  /** Log level; default 'info'. Logs are JSON lines (pino). */
  logLevel?: LogLevel;
  /** Where logs go; default process.stdout. */
  logStream?: { write(line: string): unknown };
  /** Open the database read-only: every write is refused. */
  readOnly?: boolean;
  /** Milliseconds `close()` waits for requests in flight before closing their connections; default 10,000. */
  closeTimeout?: number;
}

/** Options after defaults and checks. */
export interface ResolvedServerOptions {
  dataDir: string;
  host: string;
  port: number;
  apiKey: string | undefined;
  readOnlyApiKey: string | undefined;
  cors: string[] | undefined;
  limits: ServerLimits;
  logLevel: LogLevel;
  logStream: { write(line: string): unknown } | undefined;
  readOnly: boolean;
  closeTimeout: number;
}

const KEYS = ['dataDir', 'host', 'port', 'apiKey', 'readOnlyApiKey', 'insecure', 'cors', 'limits', 'logLevel', 'logStream', 'readOnly', 'closeTimeout'];

function bad(message: string, details: Record<string, unknown> = {}): never {
  throw new NearestError('INVALID_ARGUMENT', `createServer: ${message}`, details);
}

/** Whether an address is a loopback one (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) || /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function checkKey(v: unknown, name: string): string | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > 4096 || /[^\x21-\x7e]/.test(v)) bad(`${name} must be 1 to 4096 printable ASCII characters without spaces`, { option: name });
  return v;
}

function positiveInt(v: unknown, name: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) bad(`${name} must be a positive integer, got ${String(v)}`, { option: name, received: String(v) });
  return v;
}

/** Applies defaults and checks every option (INVALID_ARGUMENT on a bad one). */
export function resolveOptions(options: ServerOptions): ResolvedServerOptions {
  if (typeof options !== 'object' || options === null) bad('options { dataDir } are required');
  for (const k of Object.keys(options)) if (!KEYS.includes(k)) bad(`unknown option ${JSON.stringify(k)}; allowed: ${KEYS.join(', ')}`, { option: k, allowed: KEYS });
  const o = options;
  if (typeof o.dataDir !== 'string' || o.dataDir === '') bad('dataDir must be a non-empty path');
  const host = o.host ?? '127.0.0.1';
  if (typeof host !== 'string' || host === '') bad('host must be a non-empty string');
  const port = o.port ?? 6333;
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) bad(`port must be an integer from 0 to 65535, got ${String(port)}`, { received: String(port) });
  const apiKey = checkKey(o.apiKey, 'apiKey');
  const readOnlyApiKey = checkKey(o.readOnlyApiKey, 'readOnlyApiKey');
  if (apiKey !== undefined && apiKey === readOnlyApiKey) bad('apiKey and readOnlyApiKey must differ');
  if (o.insecure !== undefined && typeof o.insecure !== 'boolean') bad('insecure must be a boolean');
  if (!isLoopback(host) && apiKey === undefined && readOnlyApiKey === undefined && o.insecure !== true) {
    bad(`refusing to listen on ${host} (not a loopback address) without an API key; pass apiKey, or insecure: true to serve anyone who can reach it`, { host });
  }
  let cors: string[] | undefined;
  if (o.cors !== undefined) {
    const list = typeof o.cors === 'string' ? [o.cors] : o.cors;
    if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'string' && x !== '')) bad('cors must be an origin or a non-empty array of origins');
    cors = [...list];
  }
  const limits: ServerLimits = { ...DEFAULT_LIMITS };
  if (o.limits !== undefined) {
    if (typeof o.limits !== 'object' || o.limits === null) bad('limits must be an object');
    for (const [k, v] of Object.entries(o.limits)) {
      if (!(k in DEFAULT_LIMITS)) bad(`unknown limit ${JSON.stringify(k)}; allowed: ${Object.keys(DEFAULT_LIMITS).join(', ')}`, { option: k });
      if (v === undefined) continue;
      limits[k as keyof ServerLimits] = positiveInt(v, `limits.${k}`);
    }
    if (limits.dim > DEFAULT_LIMITS.dim) bad(`limits.dim must be at most ${DEFAULT_LIMITS.dim}`);
    if (limits.searchThreads > 256) bad('limits.searchThreads must be at most 256');
  }
  const logLevel = o.logLevel ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) bad(`logLevel must be one of ${LOG_LEVELS.join(', ')}, got ${String(logLevel)}`);
  if (o.logStream !== undefined && typeof o.logStream?.write !== 'function') bad('logStream must have a write(line) method');
  if (o.readOnly !== undefined && typeof o.readOnly !== 'boolean') bad('readOnly must be a boolean');
  const closeTimeout = o.closeTimeout ?? 10_000;
  if (typeof closeTimeout !== 'number' || !Number.isFinite(closeTimeout) || closeTimeout < 0) bad('closeTimeout must be a non-negative number of milliseconds');
  return { dataDir: o.dataDir, host, port, apiKey, readOnlyApiKey, cors, limits, logLevel, logStream: o.logStream, readOnly: o.readOnly === true, closeTimeout };
}
