// nearest cluster status: what a query node of a cluster (nearest serve --cluster) reports at GET
// /cluster — nodes with their leases and applied LSNs, each collection's shard placement, the
// replication slots — as a table, or as that JSON with --json.
// nearest cluster rebalance: POST /cluster/rebalance — replicas re-placed over the live nodes (new
// ones copied in while the old keep serving); --wait follows until every new replica is ready.
import { action, EXIT, ExitError, printJson, withCommonFlags, type CommonFlags } from '../common.js';
import type { Command } from 'commander';

interface StatusFlags extends CommonFlags { url: string; apiKey?: string }
interface RebalanceFlags extends StatusFlags { dryRun?: boolean; wait?: boolean; timeout: string }

interface Status {
  node: string; currentLsn: string; appliedLsn: string; ready: boolean;
  nodes: { id: string; url: string; live: boolean; leaseUntil: string; appliedLsn: string | null; lagBytes: number | null; slotDropped: boolean }[];
  collections: { name: string; dim: number; metric: string; shards: number; replicas: number; placement: { shard: number; replicas: { node: string; state?: string; live: boolean; appliedLsn: string | null }[] }[] }[];
  slots: { slot: string; active: boolean; confirmedFlushLsn: string | null }[];
}

/** A JSON request to a node; its error body becomes an ExitError. */
async function ask<T>(flags: StatusFlags, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`${flags.url.replace(/\/$/, '')}${path}`, {
      method, signal: AbortSignal.timeout(30_000),
      headers: { ...(flags.apiKey ? { 'api-key': flags.apiKey } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch (e) {
    throw new ExitError(`cannot reach ${flags.url}: ${(e as Error).message}`, EXIT.error, 'UNAVAILABLE');
  }
  const out = await res.json().catch(() => null) as T & { error?: { code: string; message: string } } | null;
  if (!res.ok || !out || out.error) throw new ExitError(`${flags.url}${path}: ${out?.error?.message ?? `HTTP ${res.status}`}`, EXIT.error, out?.error?.code ?? 'ERROR');
  return out;
}

async function rebalance(flags: RebalanceFlags): Promise<void> {
  const timeout = Number(flags.timeout);
  if (!Number.isFinite(timeout) || timeout <= 0) throw new ExitError(`--timeout must be a positive number of seconds, got ${flags.timeout}`, EXIT.usage, 'INVALID_ARGUMENT');
  const plan = await ask<{ moves: { collection: string; shard: number; from: string | null; to: string }[] }>(flags, 'POST', '/cluster/rebalance', { dryRun: flags.dryRun === true });
  let copying = 0;
  if (flags.wait && !flags.dryRun && plan.moves.length > 0) {
    const deadline = Date.now() + timeout * 1000;
    for (;;) {
      const st = await ask<Status>(flags, 'GET', '/cluster');
      copying = st.collections.reduce((a, c) => a + c.placement.reduce((b, p) => b + p.replicas.filter((r) => r.state === 'copying').length, 0), 0);
      if (copying === 0) break;
      if (Date.now() > deadline) throw new ExitError(`${copying} replica(s) still copying after ${timeout} s (see nearest cluster status)`, EXIT.error, 'TIMEOUT');
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  if (flags.json) { printJson({ ...plan, dryRun: flags.dryRun === true, done: flags.wait === true && !flags.dryRun && copying === 0 }); return; }
  const out = plan.moves.length === 0 ? ['nothing to move: every shard has its replicas, spread over the live nodes']
    : plan.moves.map((m) => `${m.collection} shard ${m.shard}: ${m.from ?? '(new)'} → ${m.to}`);
  if (plan.moves.length > 0) out.push(flags.dryRun ? '(dry run: nothing changed)' : flags.wait ? 'every new replica is ready; the ones they replace are retired' : 'copying in the background (nearest cluster status shows progress; --wait waits)');
  process.stdout.write(`${out.join('\n')}\n`);
}

async function status(flags: StatusFlags): Promise<void> {
  const body = await ask<Status>(flags, 'GET', '/cluster');
  if (flags.json) { printJson(body); return; }
  const out: string[] = [];
  out.push(`asked ${body.node}: WAL at ${body.currentLsn}, this node applied ${body.appliedLsn}${body.ready ? '' : ' (catching up)'}`);
  out.push('', 'nodes:');
  for (const n of body.nodes) {
    out.push(`  ${n.id.padEnd(16)} ${n.live ? 'live   ' : 'expired'} ${n.url.padEnd(28)} applied ${String(n.appliedLsn ?? '—').padEnd(12)} lag ${n.lagBytes === null ? '—' : `${n.lagBytes} B`}${n.slotDropped ? ' (slot dropped)' : ''}`);
  }
  for (const c of body.collections) {
    out.push('', `collection ${c.name}: dim ${c.dim}, ${c.metric}, ${c.shards} shard(s) × ${c.replicas} replica(s)`);
    for (const p of c.placement) out.push(`  shard ${p.shard}: ${p.replicas.map((r) => `${r.node}${r.live ? '' : ' (down)'}${r.state && r.state !== 'ready' ? ` (${r.state})` : ''} @ ${r.appliedLsn ?? '—'}`).join(', ')}`);
  }
  out.push('', 'replication slots:');
  for (const s of body.slots) out.push(`  ${s.slot.padEnd(28)} ${s.active ? 'active  ' : 'inactive'} confirmed ${s.confirmedFlushLsn ?? '—'}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

export function registerClusterCommands(program: Command): void {
  const cluster = program.command('cluster').description('Look at a cluster of query nodes (nearest serve --cluster).');
  withCommonFlags(cluster.command('status')
    .description('Nodes, leases, shard placement, each replica\'s applied LSN and lag, replication slots.')
    .option('--url <url>', 'any query node of the cluster', 'http://127.0.0.1:6333')
    .option('--api-key <key>', 'the nodes\' API key (api-key header)', process.env.NEAREST_API_KEY))
    .addHelpText('after', `
Examples:
  nearest cluster status --url http://10.0.0.5:6333
  nearest cluster status --json`)
    .action(action('cluster status', status));
  withCommonFlags(cluster.command('rebalance')
    .description('Re-place shard replicas over the live nodes: fill shards short of replicas, spread them onto nodes that joined later.')
    .option('--url <url>', 'any query node of the cluster', 'http://127.0.0.1:6333')
    .option('--api-key <key>', 'the nodes\' API key (api-key header)', process.env.NEAREST_API_KEY)
    .option('--dry-run', 'print the moves without making them')
    .option('--wait', 'wait until every new replica has caught up and turned ready')
    .option('--timeout <seconds>', 'with --wait: give up after this long', '600'))
    .addHelpText('after', `
New replicas are copied from PostgreSQL and follow the stream; the replicas they replace keep
serving until then, so searches go on throughout.

Examples:
  nearest cluster rebalance --url http://10.0.0.5:6333 --dry-run
  nearest cluster rebalance --wait`)
    .action(action('cluster rebalance', rebalance));
}
