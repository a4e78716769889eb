// nearest cluster status: what a query node of a cluster (nearest serve --cluster) reports at GET
// /cluster — nodes with their leases and applied LSNs, each collection's shard placement, the
// replication slots — as a table, or as that JSON with --json.
import { action, EXIT, ExitError, printJson, withCommonFlags, type CommonFlags } from '../common.js';
import type { Command } from 'commander';

interface StatusFlags extends CommonFlags { url: string; apiKey?: string }

interface Status {
  node: string; currentLsn: string; appliedLsn: string; ready: boolean;
  nodes: { id: string; url: string; live: boolean; leaseUntil: string; appliedLsn: string | null; lagBytes: number | null; slotDropped: boolean }[];
  collections: { name: string; dim: number; metric: string; shards: number; replicas: number; placement: { shard: number; replicas: { node: string; live: boolean; appliedLsn: string | null }[] }[] }[];
  slots: { slot: string; active: boolean; confirmedFlushLsn: string | null }[];
}

async function status(flags: StatusFlags): Promise<void> {
  let res: Response;
  try {
    res = await fetch(`${flags.url.replace(/\/$/, '')}/cluster`, { headers: flags.apiKey ? { 'api-key': flags.apiKey } : {}, signal: AbortSignal.timeout(10_000) });
  } catch (e) {
    throw new ExitError(`cannot reach ${flags.url}: ${(e as Error).message}`, EXIT.error, 'UNAVAILABLE');
  }
  const body = await res.json().catch(() => null) as Status & { error?: { code: string; message: string } } | null;
  if (!res.ok || !body || body.error) throw new ExitError(`${flags.url}/cluster: ${body?.error?.message ?? `HTTP ${res.status}`}`, EXIT.error, body?.error?.code ?? 'ERROR');
  if (flags.json) { printJson(body); return; }
  const out: string[] = [];
  out.push(`asked ${body.node}: WAL at ${body.currentLsn}, this node applied ${body.appliedLsn}${body.ready ? '' : ' (catching up)'}`);
  out.push('', 'nodes:');
  for (const n of body.nodes) {
    out.push(`  ${n.id.padEnd(16)} ${n.live ? 'live   ' : 'expired'} ${n.url.padEnd(28)} applied ${String(n.appliedLsn ?? '—').padEnd(12)} lag ${n.lagBytes === null ? '—' : `${n.lagBytes} B`}${n.slotDropped ? ' (slot dropped)' : ''}`);
  }
  for (const c of body.collections) {
    out.push('', `collection ${c.name}: dim ${c.dim}, ${c.metric}, ${c.shards} shard(s) × ${c.replicas} replica(s)`);
    for (const p of c.placement) out.push(`  shard ${p.shard}: ${p.replicas.map((r) => `${r.node}${r.live ? '' : ' (down)'} @ ${r.appliedLsn ?? '—'}`).join(', ')}`);
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
}
