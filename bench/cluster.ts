// Cluster benchmark (issue #14): query nodes (`nearest serve --cluster`, child processes) over a
// PostgreSQL this bench starts (test/pg-helpers.ts: Debian's postgresql, a temporary cluster),
// on loopback, one run:
//
// 1. Search QPS with 1, 2 and 3 query nodes: one collection of 1 shard with a replica on every
//    node (so each answers from its own replica), HNSW m 16; a closed loop of `--concurrency`
//    requests per node for `--seconds`, spread round-robin; with --pin, node i is pinned to core
//    i mod cores (taskset) so that "each node gets a core" holds as far as this machine allows.
//    Two shapes: 64-d rows (a query costs the node about as much as its HTTP exchange, so the load
//    generator, which shares the cores, takes a large part of them) and 1536-d rows searched with
//    efSearch 128 (what sentence embeddings cost; the generator's share is small). Reported: QPS,
//    each node's CPU-seconds (from /proc), QPS per node CPU-second, and the ratio of 2 nodes to 1.
// 2. Ingest: N rows in batches of 500 through a node (PostgreSQL, synchronous_commit on, until a
//    search with afterLsn sees the last) vs the same through a single-node `nearest serve` (its
//    durable store, fdatasync per batch).
// 3. Catch-up: a node SIGKILLed while `--changes` new rows are upserted, then restarted (it replays its
//    slot) vs the same node restarted with an empty data directory (a full rebuild from the table):
//    time to /readyz and to seeing the last write.
// 4. Fan-out overhead: p50 / p99 latency of one search on a 2-shard collection spread over two
//    nodes (a peer request per search) vs a 1-shard one answered locally.
//
//   npm run bench:cluster                   # = npm run build && tsx bench/cluster.ts
//   npx tsx bench/cluster.ts --quick        # smaller and shorter
//
// Writes bench/results/cluster.json.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { clusteredDataset } from '../src/io/datasets.ts';
import { startPostgres, type TestPostgres } from '../test/pg-helpers.ts';
import { percentile } from './lib/stats.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MAIN = join(ROOT, 'dist', 'cli', 'main.js');
const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' }, concurrency: { type: 'string' }, n: { type: 'string' }, changes: { type: 'string' },
    pin: { type: 'boolean', default: true }, 'no-pin': { type: 'boolean', default: false },
  },
  strict: true,
});
const quick = args.quick;
const seconds = Number(args.seconds ?? (quick ? 3 : 8));
const concurrency = Number(args.concurrency ?? 8);
const n = Number(args.n ?? (quick ? 10_000 : 50_000));
const changes = Number(args.changes ?? (quick ? 10_000 : 100_000));
const pin = args.pin && !args['no-pin'] && spawnSync('taskset', ['--version']).status === 0;
const dim = 64, k = 10, cores = os.cpus().length;
const log = (m: string) => process.stderr.write(`${m}\n`);

interface Proc { id: string; child: ChildProcess; url: string; dir: string }
const procs: Proc[] = [];

function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime + stime, in clock ticks (100 Hz)
}

async function serve(args: string[], id: string, dir: string, core?: number): Promise<Proc> {
  const cmd = core !== undefined && pin ? 'taskset' : process.execPath;
  const argv = core !== undefined && pin ? ['-c', String(core), process.execPath, MAIN, 'serve', ...args] : [MAIN, 'serve', ...args];
  const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const url = await new Promise<string>((res, rej) => {
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); const m = /listening on (\S+)/.exec(out); if (m) res(m[1]); });
    child.on('exit', (c) => rej(new Error(`${id} exited ${c}: ${err.slice(-2000)}`)));
  });
  const p = { id, child, url, dir };
  procs.push(p);
  return p;
}

const startNode = (db: TestPostgres, id: string, dir: string, core?: number) =>
  serve(['--cluster', db.url, '--node-id', id, '--port', '0', '--data', dir, '--log-level', 'error', '--lease-seconds', '300'], id, dir, core);

async function stop(p: Proc, signal: NodeJS.Signals): Promise<void> {
  if (p.child.exitCode !== null) return;
  const exited = new Promise((r) => p.child.once('exit', r));
  p.child.kill(signal);
  await exited;
  procs.splice(procs.indexOf(p), 1);
}

async function put(url: string, path: string, body: unknown): Promise<any> { return send('PUT', url, path, body); }
async function post(url: string, path: string, body: unknown): Promise<any> { return send('POST', url, path, body); }
async function send(method: string, url: string, path: string, body: unknown): Promise<any> {
  const r = await fetch(url + path, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const j = await r.json();
  if (!r.ok) throw new Error(`${path}: ${r.status} ${JSON.stringify(j).slice(0, 300)}`);
  return j;
}

async function until(what: string, fn: () => Promise<boolean>, ms = 600_000): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    if (await fn().catch(() => false)) return (performance.now() - t0) / 1000;
    if (performance.now() - t0 > ms) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
const ready = (p: Proc) => until(`${p.id} ready`, async () => (await fetch(`${p.url}/readyz`)).status === 200);

const data = clusteredDataset({ n: Math.max(n, changes), nq: 500, dim, clusters: 50, intrinsicDim: 12, seed: 7 });
const rowsHeld = data.train.length / dim;
const vec = (i: number) => Array.from(data.train.subarray((i % rowsHeld) * dim, (i % rowsHeld + 1) * dim));
const query = (i: number) => Array.from(data.test.subarray((i % 500) * dim, (i % 500 + 1) * dim));

async function load(url: string, name: string, count: number, from = 0): Promise<string> {
  let lsn = '';
  for (let i = from; i < from + count; i += 500) {
    const records = Array.from({ length: Math.min(500, from + count - i) }, (_, j) => ({ id: i + j, vector: vec(i + j) }));
    lsn = (await post(url, `/v1/collections/${name}/records`, { records })).lsn ?? '';
  }
  return lsn;
}

/**
 * The load generator: one keep-alive TCP connection per request in flight, each request's bytes
 * made once, each answer read by its Content-Length (Fastify sets it). A fraction of node:http's
 * cost per request, so that more of the shared cores go to the nodes being measured.
 */
class LoadConnection {
  private readonly sock: net.Socket;
  private buf: Buffer = Buffer.alloc(0);
  private waiting: { resolve: (status: number) => void; reject: (e: Error) => void } | null = null;
  constructor(url: string) {
    const u = new URL(url);
    this.sock = net.connect(Number(u.port), u.hostname);
    this.sock.setNoDelay(true);
    this.sock.on('data', (d: Buffer) => this.onData(d));
    this.sock.on('error', (e) => { const w = this.waiting; this.waiting = null; w?.reject(e); });
  }
  request(bytes: Buffer): Promise<number> {
    return new Promise((resolve, reject) => { this.waiting = { resolve, reject }; this.sock.write(bytes); });
  }
  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    const end = this.buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.buf.toString('latin1', 0, end);
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (this.buf.length < end + 4 + length) return;
    this.buf = this.buf.subarray(end + 4 + length);
    const w = this.waiting;
    this.waiting = null;
    w?.resolve(Number(head.slice(9, 12)));
  }
  close(): void { this.sock.destroy(); }
}
const requestBytes = (name: string, body: string) =>
  Buffer.from(`POST /v1/collections/${name}/search HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);

/** A QPS shape: its rows, the queries' request bodies. */
interface Shape { name: string; dim: number; n: number; efSearch?: number; rows: (i: number) => number[]; bodies: string[] }
function shape(name: string, d: number, rows: number, efSearch?: number): Shape {
  const set = d === dim ? data : clusteredDataset({ n: rows, nq: 500, dim: d, clusters: 50, intrinsicDim: 24, seed: 11 });
  return {
    name, dim: d, n: rows, ...(efSearch !== undefined ? { efSearch } : {}),
    rows: (i) => Array.from(set.train.subarray(i * d, (i + 1) * d)),
    bodies: Array.from({ length: 500 }, (_, i) => JSON.stringify({ vector: Array.from(set.test.subarray(i * d, (i + 1) * d)), k, ...(efSearch !== undefined ? { efSearch } : {}) })),
  };
}

async function measureQps(nodes: Proc[], name: string, bodies: string[]): Promise<Record<string, unknown>> {
  const requests = bodies.map((b) => requestBytes(name, b));
  const conns = Array.from({ length: concurrency * nodes.length }, (_, w) => new LoadConnection(nodes[w % nodes.length].url));
  const cpu0 = nodes.map((p) => cpuSeconds(p.child.pid!));
  const t0 = performance.now();
  let done = 0, failed = 0, next = 0;
  const deadline = t0 + seconds * 1000;
  await Promise.all(conns.map(async (conn) => {
    while (performance.now() < deadline) {
      const i = next++;
      try { if (await conn.request(requests[i % requests.length]) === 200) done++; else failed++; } catch { failed++; break; }
    }
  }));
  for (const c of conns) c.close();
  const wall = (performance.now() - t0) / 1000;
  const cpu = nodes.map((p, i) => cpuSeconds(p.child.pid!) - cpu0[i]);
  const totalCpu = cpu.reduce((a, b) => a + b, 0);
  return { nodes: nodes.length, qps: done / wall, failed, nodeCpuSeconds: cpu, qpsPerNodeCpuSecond: done / totalCpu, wallSeconds: wall };
}

const results: Record<string, unknown> = { params: { n, dim, k, seconds, concurrency, changes, pin, cores, quick }, node: process.version, cpu: os.cpus()[0]?.model };
const db = await startPostgres();
const dirs: string[] = [];
const tmp = () => { const d = mkdtempSync(join(os.tmpdir(), 'nearest-bench-node-')); dirs.push(d); return d; };
try {
  // ---- 1. QPS with 1, 2, 3 nodes --------------------------------------------------------------
  const nodes = [await startNode(db, 'b1', tmp(), 0), await startNode(db, 'b2', tmp(), 1 % cores), await startNode(db, 'b3', tmp(), 2 % cores)];
  await Promise.all(nodes.map(ready));
  await until('3 live nodes', async () => ((await (await fetch(`${nodes[0].url}/cluster`)).json()).nodes as { live: boolean; url: string }[]).filter((x) => x.live && x.url).length === 3);
  const shapes = [shape('64-d', dim, n), shape('1536-d, efSearch 128', 1536, Math.min(n, 20_000), 128)];
  const qpsByShape: { shape: string; dim: number; rows: number; efSearch: number | null; runs: Record<string, unknown>[]; scaling1to2: number }[] = [];
  for (const sh of shapes) {
    const name = sh.dim === dim ? 'q' : `q${sh.dim}`;
    await put(nodes[0].url, `/v1/collections/${name}`, { dim: sh.dim, metric: 'euclidean', index: 'HNSW16', shards: 1, replicas: 3 });
    log(`loading ${sh.n} rows of ${sh.dim}-d`);
    let lsn = '';
    for (let i = 0; i < sh.n; i += 500) {
      lsn = (await post(nodes[0].url, `/v1/collections/${name}/records`, { records: Array.from({ length: Math.min(500, sh.n - i) }, (_, j) => ({ id: i + j, vector: sh.rows(i + j) })) })).lsn;
    }
    for (const p of nodes) await post(p.url, `/v1/collections/${name}/search`, { vector: sh.rows(0), k, consistency: { afterLsn: lsn } });
    const runs = [];
    for (const count of [1, 2, 3]) {
      await measureQps(nodes.slice(0, count), name, sh.bodies); // warm-up pass
      const r = await measureQps(nodes.slice(0, count), name, sh.bodies);
      log(`${sh.name}: QPS with ${count} node(s): ${(r.qps as number).toFixed(0)} (node CPU-s ${(r.nodeCpuSeconds as number[]).map((x) => x.toFixed(1)).join(' / ')})`);
      runs.push(r);
    }
    qpsByShape.push({ shape: sh.name, dim: sh.dim, rows: sh.n, efSearch: sh.efSearch ?? null, runs, scaling1to2: (runs[1].qps as number) / (runs[0].qps as number) });
    if (name !== 'q') await fetch(`${nodes[0].url}/v1/collections/${name}`, { method: 'DELETE' });
  }
  results.qps = qpsByShape;

  // ---- 4. fan-out overhead ----------------------------------------------------------------------
  await put(nodes[0].url, '/v1/collections/one', { dim, metric: 'euclidean', shards: 1, replicas: 1 });
  await put(nodes[0].url, '/v1/collections/two', { dim, metric: 'euclidean', shards: 2, replicas: 1 });
  const small = Math.min(n, 20_000);
  await load(nodes[0].url, 'one', small);
  const lsn2 = await load(nodes[0].url, 'two', small);
  const status = await (await fetch(`${nodes[0].url}/cluster`)).json();
  const holder = (name: string) => (status.collections.find((c: { name: string }) => c.name === name).placement[0].replicas[0].node as string);
  const local = nodes.find((p) => p.id === holder('one'))!;
  const lat = async (url: string, name: string) => {
    const t: number[] = [];
    for (let i = 0; i < 300; i++) { const s = performance.now(); await post(url, `/v1/collections/${name}/search`, { vector: query(i), k, exact: true, consistency: { afterLsn: lsn2 } }); t.push(performance.now() - s); }
    t.sort((a, b) => a - b);
    return { p50: percentile(t, 50), p99: percentile(t, 99) };
  };
  const localLat = await lat(local.url, 'one');
  const fanLat = await lat(nodes[0].url, 'two');
  results.fanout = { oneShardLocal: localLat, twoShardsFanout: fanLat, rows: small, search: 'exact, k 10' };
  log(`fan-out: 1 shard local p50 ${localLat.p50.toFixed(2)} ms, 2 shards on 2 nodes p50 ${fanLat.p50.toFixed(2)} ms`);

  // ---- 3. catch-up vs full rebuild -------------------------------------------------------------
  const victim = nodes.find((p) => p.id !== holder('q'))!;
  await stop(victim, 'SIGKILL');
  log(`upserting ${changes} changes while ${victim.id} is down`);
  const lsn3 = await load(nodes.find((p) => p !== victim)!.url, 'q', changes, 2_000_000); // new rows (ids from 2M)
  /** Restarts the victim from `dir` and times it to having applied the last change; returns its counters too. */
  const restart = async (): Promise<{ seconds: number; counters: Record<string, number>; proc: Proc }> => {
    const t = performance.now();
    const proc = await startNode(db, victim.id, victim.dir, 2 % cores);
    await ready(proc);
    await post(proc.url, '/cluster/v1/search', { collection: 'q', shards: [0], vector: query(1), k, afterLsn: lsn3, waitMs: 600_000 });
    const seconds = (performance.now() - t) / 1000;
    return { seconds, counters: (await (await fetch(`${proc.url}/cluster`)).json()).counters, proc };
  };
  const replay = await restart();
  await stop(replay.proc, 'SIGKILL');
  rmSync(victim.dir, { recursive: true, force: true });
  const rebuilt = await restart();
  const catchUp = replay.seconds, rebuild = rebuilt.seconds, counters = replay.counters, counters2 = rebuilt.counters;
  results.catchUp = { changes, catchUpSeconds: catchUp, replayed: counters.replayedChanges, fullRebuildsThen: counters.fullRebuilds, resyncsThen: counters.resyncs, fullRebuildSeconds: rebuild, fullRebuildsAfterWipe: counters2.fullRebuilds };
  log(`catch-up after ${changes} changes: ${catchUp.toFixed(1)} s (replayed ${counters.replayedChanges}); full rebuild: ${rebuild.toFixed(1)} s`);
  for (const p of [...procs]) await stop(p, 'SIGTERM');

  // ---- 2. ingest ---------------------------------------------------------------------------------
  const ing = await startNode(db, 'ingest', tmp(), 0);
  await ready(ing);
  await put(ing.url, '/v1/collections/ing', { dim, metric: 'euclidean', index: 'HNSW16', shards: 1, replicas: 1 });
  let t = performance.now();
  const lsn4 = await load(ing.url, 'ing', n, 1_000_000);
  await post(ing.url, '/v1/collections/ing/search', { vector: query(0), k, consistency: { afterLsn: lsn4 }, });
  const clusterIngest = (performance.now() - t) / 1000;
  await stop(ing, 'SIGTERM');
  const single = await serve(['--data', tmp(), '--port', '0', '--log-level', 'error'], 'single', '', 0);
  await put(single.url, '/v1/collections/ing', { dim, metric: 'euclidean', index: 'HNSW16' });
  t = performance.now();
  await load(single.url, 'ing', n, 1_000_000);
  const singleIngest = (performance.now() - t) / 1000;
  await stop(single, 'SIGTERM');
  results.ingest = { rows: n, batch: 500, clusterSeconds: clusterIngest, clusterRowsPerSecond: n / clusterIngest, singleNodeSeconds: singleIngest, singleRowsPerSecond: n / singleIngest, ratio: clusterIngest / singleIngest };
  log(`ingest ${n} rows: cluster (through PostgreSQL, until searchable) ${clusterIngest.toFixed(1)} s, single node ${singleIngest.toFixed(1)} s`);
} finally {
  for (const p of [...procs]) await stop(p, 'SIGKILL').catch(() => {});
  await db.destroy();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

const f = (x: number, d = 0) => x.toFixed(d);
const shapesOut = results.qps as { shape: string; rows: number; runs: { nodes: number; qps: number; failed: number; nodeCpuSeconds: number[]; qpsPerNodeCpuSecond: number }[]; scaling1to2: number }[];
const out: string[] = [];
out.push(`\ncluster bench: HNSW16, k ${k}; ${cores} cores (${String(results.cpu)}), node ${process.version}; ${pin ? 'nodes pinned to cores (taskset)' : 'nodes not pinned'}`);
for (const sh of shapesOut) {
  out.push(`\n== search QPS by query nodes, ${sh.rows} rows × ${sh.shape} (1 shard, a replica on each node; closed loop, ${concurrency} requests in flight per node, ${seconds} s)`);
  out.push('| nodes | QPS | node CPU-s | QPS per node CPU-s | failed |', '|---|---|---|---|---|');
  for (const r of sh.runs) out.push(`| ${r.nodes} | ${f(r.qps)} | ${r.nodeCpuSeconds.map((x) => f(x, 1)).join(' / ')} | ${f(r.qpsPerNodeCpuSecond)} | ${r.failed} |`);
  out.push(`1 → 2 nodes: ${sh.scaling1to2.toFixed(2)}× QPS (bar ≥ 1.7× when each node gets a core; the load generator shares these ${cores} cores)`);
}
const fo = results.fanout as { oneShardLocal: { p50: number; p99: number }; twoShardsFanout: { p50: number; p99: number }; rows: number };
out.push(`\n== fan-out: exact search over ${fo.rows} rows, p50 / p99 ms: 1 shard local ${f(fo.oneShardLocal.p50, 2)} / ${f(fo.oneShardLocal.p99, 2)}; 2 shards on 2 nodes ${f(fo.twoShardsFanout.p50, 2)} / ${f(fo.twoShardsFanout.p99, 2)} (+${f(fo.twoShardsFanout.p50 - fo.oneShardLocal.p50, 2)} ms at p50)`);
const cu = results.catchUp as { changes: number; catchUpSeconds: number; replayed: number; fullRebuildSeconds: number; fullRebuildsThen: number };
out.push(`\n== restart after ${cu.changes} changes: catch-up from the slot ${f(cu.catchUpSeconds, 1)} s (${cu.replayed} changes replayed, ${cu.fullRebuildsThen} full rebuilds) vs full rebuild from the table ${f(cu.fullRebuildSeconds, 1)} s (${f(cu.fullRebuildSeconds / cu.catchUpSeconds, 2)}×)`);
const ig = results.ingest as { rows: number; clusterSeconds: number; singleNodeSeconds: number; clusterRowsPerSecond: number; singleRowsPerSecond: number; ratio: number };
out.push(`\n== ingest ${ig.rows} rows in batches of 500: through PostgreSQL (until searchable) ${f(ig.clusterSeconds, 1)} s (${f(ig.clusterRowsPerSecond)} rows/s) vs single-node durable store ${f(ig.singleNodeSeconds, 1)} s (${f(ig.singleRowsPerSecond)} rows/s): ${f(ig.ratio, 2)}× the time`);
process.stdout.write(`${out.join('\n')}\n`);
mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
writeFileSync(join(ROOT, 'bench', 'results', `cluster${quick ? '-quick' : ''}.json`), JSON.stringify(results, null, 2));
