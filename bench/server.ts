// Server benchmark: `nearest serve` (native API under /v1) against the real Chroma server
// (chromadb 3.0.0's `chroma run`, bindings 0.1.3), one run on one machine, the same undici load
// generator and the same data for both.
//
//   npm run bench:server                 # build, then this file: both data sets, 3 repeats (~10 min)
//   npx tsx bench/server.ts --quick      # smoke size (5,000 vectors, 200 queries, 1 repeat; < 1 min)
//   npx tsx bench/server.ts --data wordvecs --repeats 1 --seconds 2
//
// Data (bench/lib/bench-data.ts): 60,000 x 100-d fastText word vectors built here
// (bench/lib/wordvecs.ts; cosine; 1,000 held-out words as queries) and Fashion-MNIST 60,000 x 784
// (euclidean: Chroma's l2, squared, ranks the same; the first 1,000 test images as queries).
// Ground truth: our FlatIndex, spot-checked in float64, cached in bench/.cache (bench/lib/ground-truth.ts).
//
// Both servers run as child processes, one at a time, each on a fresh data directory in the OS temp
// dir per repeat. Index: HNSW with Chroma's defaults on both sides — M 16 (Chroma max_neighbors),
// efConstruction 100; Chroma searches with its default ef_search 100 (set per collection, not per
// query), ours with the smallest efSearch from EF_CANDIDATES whose recall@10 is at least Chroma's
// in the same repeat (tuned per repeat: Chroma's recall moves a little between builds).
//
// Per data set and repeat, in this order:
//   1. Chroma: create the collection (metadata hnsw:space cosine or l2), ingest, settle, one recall
//      pass, then the search cells.
//   2. nearest with SEARCH_THREADS_FLAG 2 (or its default when the CLI has no such flag): create the
//      collection, ingest with base64 vectors, settle, tune efSearch, one recall pass,
//      the search cells; then ingest the same vectors again as JSON numbers into a second
//      collection (dropped afterwards).
//   3. nearest restarted on the same directory with SEARCH_THREADS_FLAG 1: the search cells.
//   4. In-process: the same collection opened with Database.open(dir, { readOnly: true }) in this
//      process (same index image, same efSearch): store.search() per query, 1 at a time; the
//      server's overhead per query = its p50 latency at 1 in flight - the in-process p50.
//
// Ingest: batches of 1,000 records sent one after another (each awaited), bodies encoded before the
// clock starts; vectors/s = n / (seconds until the last batch is acknowledged + the first query
// after it), so work a server defers past its acknowledgement is counted. Ours: ids 0..n-1, vectors
// base64 float32 (and JSON numbers); Chroma: ids "0".."n-1", embeddings as JSON numbers (its API
// has no binary form).
// Search cells: k = 10, one query per request, 1, 8 and 32 requests in flight (an undici Pool with
// that many connections, one worker loop per connection, queries cycled), --warmup seconds untimed
// then --seconds timed; QPS = answers / wall seconds; p50 / p99 of the timed answers' latencies;
// server CPU seconds = utime + stime of the server's process tree from /proc/PID/stat before and
// after, so QPS per server CPU-second sits beside wall QPS (the load generator runs on the same 2
// cores and is not counted; its own CPU is reported beside). "Settle": before searching, wait (up to --settle seconds) until the
// server uses < 5% of a core, so a background compaction or index flush is not measured as search.
//
// Every repeat writes its raw figures; tables show medians over repeats. Bars (issue 10) are
// printed as met / not met: ingest >= 5x Chroma, QPS >= 4x Chroma at equal or better recall (at
// each of 1, 8, 32 in flight), p99 <= 0.5x Chroma's at 8 in flight, QPS on 2 search threads >= 1.6x
// one thread (8 in flight). Writes bench/results/server.json (quick: server-quick.json; narrowed
// runs: server-partial.json).

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Table from 'cli-table3';
import { Pool } from 'undici';
import { Database } from 'nearest';
import { benchArgs, log } from './lib/args.ts';
import { loadBenchData, parseBenchData, type BenchData, type BenchDataId } from './lib/bench-data.ts';
import { describeEnvironment } from './lib/environment.ts';
import { kthDistances, recall } from './lib/exact.ts';
import { groundTruth } from './lib/ground-truth.ts';
import { median, summariseLatencies } from './lib/stats.ts';
import { freePort } from '../test/pg-helpers.ts'; // a free loopback port (shared with the cluster tests and bench)

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CACHE_DIR = join(REPO_ROOT, 'bench', '.cache');
const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
const NEAREST_CLI = join(REPO_ROOT, 'dist', 'cli', 'main.js');
const CHROMA_CLI = join(REPO_ROOT, 'node_modules', 'chromadb', 'dist', 'cli.mjs');
/** The `nearest serve` flag for the number of search worker threads (one place to change it). */
export const SEARCH_THREADS_FLAG = '--search-threads';
const K = 10;
const BATCH = 1_000;
const HNSW_M = 16;
const EF_CONSTRUCTION = 100;
const CHROMA_EF_SEARCH = 100;
const EF_CANDIDATES = [10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256, 384, 512];
const CONCURRENCY = [1, 8, 32] as const;
const COLLECTION = 'bench';
const CHROMA_BASE = '/api/v2/tenants/default_tenant/databases/default_database';
const BARS = { ingest: 5, qps: 4, p99: 0.5, threads: 1.6 } as const;

const USAGE = `usage: tsx bench/server.ts [--quick] [--data wordvecs,fashion-mnist] [--repeats N] [--seconds S] [--warmup S]
  --quick          5,000 vectors, 200 queries, 1 repeat, 0.3 s cells (default: 60,000 / 1,000 / 3 / 4 s)
  --data a,b       wordvecs (100-d fastText, cosine), fashion-mnist (784-d, euclidean); default both
  --repeats N      repeats, medians reported
  --seconds S      timed seconds per search cell      --warmup S   untimed seconds before each cell
  --n N / --nq N   corpus rows / queries              --settle S   most seconds to wait for an idle server
  --systems a,b    nearest, chroma (default both)     --ef E       our efSearch (skips the tuning)
  --no-cache       recompute the ground truth`;

const { args, fail } = benchArgs(USAGE, {
  quick: { type: 'boolean', default: false },
  data: { type: 'string' },
  repeats: { type: 'string' },
  seconds: { type: 'string' },
  warmup: { type: 'string' },
  settle: { type: 'string' },
  n: { type: 'string' },
  nq: { type: 'string' },
  systems: { type: 'string' },
  ef: { type: 'string' },
  'no-cache': { type: 'boolean', default: false },
});
const num = (name: string, v: string | undefined, fallback: number, min: number, integer = false): number => {
  if (v === undefined) return fallback;
  const x = Number(v);
  if (!Number.isFinite(x) || x < min || (integer && !Number.isInteger(x))) fail(`--${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${v}`);
  return x;
};
const quick = args.quick;
const dataIds = parseBenchData(args.data) ?? fail(`--data must be a list of wordvecs, fashion-mnist; got ${args.data}`);
const repeats = num('repeats', args.repeats, quick ? 1 : 3, 1, true);
const cellSeconds = num('seconds', args.seconds, quick ? 0.3 : 4, 0.05);
const warmupSeconds = num('warmup', args.warmup, quick ? 0.1 : 1, 0);
const settleSeconds = num('settle', args.settle, quick ? 3 : 30, 0);
const nArg = args.n === undefined ? undefined : num('n', args.n, 0, 1, true);
const nqArg = args.nq === undefined ? undefined : num('nq', args.nq, 0, 1, true);
const efArg = args.ef === undefined ? undefined : num('ef', args.ef, 0, K, true);
const systems = (args.systems ?? 'nearest,chroma').split(',');
if (systems.some((s) => s !== 'nearest' && s !== 'chroma') || systems.length === 0) fail(`--systems must be a list of nearest, chroma; got ${args.systems}`);
const runChroma = systems.includes('chroma');
const runNearest = systems.includes('nearest');
const narrowed = Boolean(args.data || args.repeats || args.seconds || args.warmup || args.n || args.nq || args.systems || args.ef);
const suffix = quick ? '-quick' : narrowed ? '-partial' : '';
if (!existsSync(NEAREST_CLI)) fail(`${NEAREST_CLI} is missing: build first (npx tsc -p tsconfig.json, or npm run build)`);

const workRoot = mkdtempSync(join(os.tmpdir(), 'nearest-bench-server-'));
const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) if (c.pid !== undefined && c.exitCode === null) { try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ } }
  rmSync(workRoot, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

// ---- process CPU from /proc -------------------------------------------------------------------------

const CLK_TCK = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
  const v = Number(r.stdout?.trim());
  return Number.isFinite(v) && v > 0 ? v : 100;
})();

function statOf(pid: number): { ppid: number; ticks: number } | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
  } catch {
    return null;
  }
}

/** utime + stime in seconds of `pid` and all its descendants (all threads). */
function treeCpuSeconds(pid: number): number {
  const stats = new Map<number, { ppid: number; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const st = statOf(Number(entry));
    if (st) stats.set(Number(entry), st);
  }
  let ticks = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop()!;
    const st = stats.get(p);
    if (!st) continue;
    ticks += st.ticks;
    for (const [child, cs] of stats) if (cs.ppid === p) stack.push(child);
  }
  return ticks / CLK_TCK;
}

// ---- servers ------------------------------------------------------------------------------------------

interface Server { system: 'nearest' | 'chroma'; origin: string; pid: number; child: ChildProcess; startSeconds: number }


function startProcess(system: Server['system'], command: string, argv: string[], ready: RegExp, timeoutSeconds: number): Promise<Server> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    live.add(child);
    let out = '';
    let err = '';
    let done = false;
    const timer = setTimeout(() => finish(new Error(`${system} did not start within ${timeoutSeconds} s: ${err.slice(-500)}`)), timeoutSeconds * 1000);
    const finish = (e: Error | null, origin?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (e) { if (child.pid !== undefined) try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } reject(e); }
      else resolve({ system, origin: origin!, pid: child.pid!, child, startSeconds: (performance.now() - t0) / 1000 });
    };
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (c: string) => {
      out = (out + c).slice(-8000);
      const m = ready.exec(out);
      if (m) finish(null, m[1]);
    });
    child.stderr!.on('data', (c: string) => { err = (err + c).slice(-8000); });
    child.on('exit', (code, signal) => { live.delete(child); finish(new Error(`${system} exited (${signal ?? code}) before it was ready: ${(err || out).slice(-800)}`)); });
  });
}

async function stopServer(s: Server): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => s.child.once('exit', () => resolve()));
  process.kill(s.pid, 'SIGTERM');
  const timedOut = await Promise.race([exited.then(() => false), sleep(30_000).then(() => true)]);
  if (timedOut) { try { process.kill(s.pid, 'SIGKILL'); } catch { /* gone */ } await exited; }
}

/** Whether `nearest serve --help` lists the search-threads flag. */
function nearestHasThreadsFlag(): boolean {
  const r = spawnSync(process.execPath, [NEAREST_CLI, 'serve', '--help'], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.includes(SEARCH_THREADS_FLAG);
}

async function startNearest(dir: string, threads: number | null): Promise<Server> {
  const argv = [NEAREST_CLI, 'serve', '--data', dir, '--host', '127.0.0.1', '--port', '0', '--log-level', 'silent'];
  if (threads !== null) argv.push(SEARCH_THREADS_FLAG, String(threads));
  return startProcess('nearest', process.execPath, argv, /listening on (http:\/\/[^\s]+)/, 600);
}

async function startChroma(dir: string): Promise<Server> {
  const t0 = performance.now();
  const port = await freePort();
  const s = await startProcess('chroma', process.execPath, [CHROMA_CLI, 'run', '--path', dir, '--port', String(port)], /Listening on (\S+)/, 120);
  s.origin = `http://127.0.0.1:${port}`;
  // "Listening on" can come a moment before 127.0.0.1 accepts: poll the heartbeat.
  const pool = new Pool(s.origin, { connections: 1 });
  try {
    for (let i = 0; ; i++) {
      try {
        if ((await call(pool, 'GET', '/api/v2/heartbeat')).status === 200) break;
      } catch (e) {
        if (i >= 200) throw e;
      }
      await sleep(50);
    }
  } finally {
    await pool.close();
  }
  s.startSeconds = (performance.now() - t0) / 1000;
  return s;
}

// ---- HTTP ------------------------------------------------------------------------------------------------

interface Reply { status: number; text: string }

async function call(pool: Pool, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: Buffer | string): Promise<Reply> {
  const res = await pool.request({ method, path, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body });
  return { status: res.statusCode, text: await res.body.text() };
}

async function must(pool: Pool, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: Buffer | string): Promise<unknown> {
  const r = await call(pool, method, path, body);
  if (r.status < 200 || r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${r.text.slice(0, 400)}`);
  return r.text.length > 0 ? JSON.parse(r.text) : null;
}

/** How one system is driven: collection creation, bodies, and reading ids out of an answer. */
interface Driver {
  system: string;
  create(pool: Pool, name: string): Promise<string>;
  addPath(handle: string): string;
  addBody(data: BenchData, from: number, to: number): Buffer;
  searchPath(handle: string): string;
  searchBody(q: Float32Array): Buffer;
  ids(text: string): number[];
  drop?(pool: Pool, name: string): Promise<void>;
}

const rowOf = (rows: Float32Array, i: number, dim: number) => rows.subarray(i * dim, (i + 1) * dim);
const base64Of = (v: Float32Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
const jsonNumbers = (v: Float32Array) => JSON.stringify(Array.from(v));

function nearestDriver(data: BenchData, vectors: 'base64' | 'json', efSearch: () => number): Driver {
  const metric = data.metric === 'cosine' ? 'cosine' : 'euclidean';
  return {
    system: 'nearest',
    async create(pool, name) {
      await must(pool, 'PUT', `/v1/collections/${name}`, JSON.stringify({ dim: data.dim, metric, index: { type: 'hnsw', m: HNSW_M, efConstruction: EF_CONSTRUCTION } }));
      return name;
    },
    addPath: (h) => `/v1/collections/${h}/records`,
    addBody(d, from, to) {
      const parts: string[] = [];
      for (let i = from; i < to; i++) {
        const v = rowOf(d.corpus, i, d.dim);
        parts.push(`{"id":${i},"vector":${vectors === 'base64' ? `"${base64Of(v)}"` : jsonNumbers(v)}}`);
      }
      return Buffer.from(`{"records":[${parts.join(',')}]}`);
    },
    searchPath: (h) => `/v1/collections/${h}/search`,
    searchBody: (q) => Buffer.from(JSON.stringify({ vector: base64Of(q), k: K, efSearch: efSearch(), include: [] })),
    ids: (text) => (JSON.parse(text) as { hits: { id: number }[] }).hits.map((h) => h.id),
    async drop(pool, name) { await must(pool, 'DELETE', `/v1/collections/${name}`); },
  };
}

function chromaDriver(data: BenchData): Driver {
  const space = data.metric === 'cosine' ? 'cosine' : 'l2';
  return {
    system: 'chroma',
    async create(pool, name) {
      const got = await must(pool, 'POST', `${CHROMA_BASE}/collections`, JSON.stringify({ name, metadata: { 'hnsw:space': space } })) as { id: string; configuration_json?: { hnsw?: Record<string, unknown> } };
      chromaConfig = got.configuration_json?.hnsw ?? null;
      return got.id;
    },
    addPath: (h) => `${CHROMA_BASE}/collections/${h}/add`,
    addBody(d, from, to) {
      const ids: string[] = [];
      const rows: string[] = [];
      for (let i = from; i < to; i++) { ids.push(`"${i}"`); rows.push(jsonNumbers(rowOf(d.corpus, i, d.dim))); }
      return Buffer.from(`{"ids":[${ids.join(',')}],"embeddings":[${rows.join(',')}]}`);
    },
    searchPath: (h) => `${CHROMA_BASE}/collections/${h}/query`,
    searchBody: (q) => Buffer.from(`{"query_embeddings":[${jsonNumbers(q)}],"n_results":${K},"include":["distances"]}`),
    ids: (text) => (JSON.parse(text) as { ids: string[][] }).ids[0].map(Number),
  };
}
let chromaConfig: Record<string, unknown> | null = null;

// ---- measurements ------------------------------------------------------------------------------------

interface IngestResult { vectors: number; ackSeconds: number; firstQuerySeconds: number; seconds: number; vectorsPerSecond: number; serverCpuSeconds: number; bodyBytes: number }

async function ingest(server: Server, driver: Driver, data: BenchData, handle: string): Promise<IngestResult> {
  const bodies: Buffer[] = [];
  for (let from = 0; from < data.n; from += BATCH) bodies.push(driver.addBody(data, from, Math.min(data.n, from + BATCH)));
  const bodyBytes = bodies.reduce((s, b) => s + b.length, 0);
  const probe = driver.searchBody(rowOf(data.queries, 0, data.dim));
  const pool = new Pool(server.origin, { connections: 1, pipelining: 1, bodyTimeout: 600_000, headersTimeout: 600_000 });
  try {
    const cpu0 = treeCpuSeconds(server.pid);
    const t0 = performance.now();
    for (const body of bodies) {
      const r = await call(pool, 'POST', driver.addPath(handle), body);
      if (r.status !== 200 && r.status !== 201) throw new Error(`${driver.system} ingest: ${r.status} ${r.text.slice(0, 300)}`);
    }
    const t1 = performance.now();
    const r = await call(pool, 'POST', driver.searchPath(handle), probe);
    if (r.status !== 200) throw new Error(`${driver.system} first query: ${r.status} ${r.text.slice(0, 300)}`);
    const t2 = performance.now();
    const serverCpuSeconds = treeCpuSeconds(server.pid) - cpu0;
    const seconds = (t2 - t0) / 1000;
    return { vectors: data.n, ackSeconds: (t1 - t0) / 1000, firstQuerySeconds: (t2 - t1) / 1000, seconds, vectorsPerSecond: data.n / seconds, serverCpuSeconds, bodyBytes };
  } finally {
    await pool.close();
  }
}

/** Waits until the server uses < 5% of a core over 250 ms (at most `limit` seconds); returns the wait. */
async function settle(server: Server, limit: number): Promise<number> {
  const t0 = performance.now();
  let prev = treeCpuSeconds(server.pid);
  while ((performance.now() - t0) / 1000 < limit) {
    await sleep(250);
    const now = treeCpuSeconds(server.pid);
    if (now - prev < 0.0125) break;
    prev = now;
  }
  return (performance.now() - t0) / 1000;
}

/** Every query once, one at a time: recall@10 of the server's answers. */
async function recallPass(server: Server, driver: Driver, data: BenchData, handle: string, truth: Truth): Promise<{ recall: number; idRecall: number }> {
  const pool = new Pool(server.origin, { connections: 1, pipelining: 1 });
  try {
    const found = new Int32Array(data.nq * K).fill(-1);
    for (let q = 0; q < data.nq; q++) {
      const r = await call(pool, 'POST', driver.searchPath(handle), driver.searchBody(rowOf(data.queries, q, data.dim)));
      if (r.status !== 200) throw new Error(`${driver.system} search: ${r.status} ${r.text.slice(0, 300)}`);
      driver.ids(r.text).slice(0, K).forEach((id, j) => { found[q * K + j] = id; });
    }
    const rc = recall(found, data.nq, K, truth.ids, truth.kth, data.corpus, data.queries, data.n, data.dim, data.metric);
    return { recall: rc.tieAware, idRecall: rc.ids };
  } finally {
    await pool.close();
  }
}

interface Cell {
  inFlight: number; answers: number; errors: number; wallSeconds: number; qps: number; p50Ms: number; p99Ms: number; maxMs: number;
  serverCpuSeconds: number; qpsPerCpuSecond: number;
  /** CPU of the load generator (this process) during the cell. */
  clientCpuSeconds: number;
}

async function searchCell(server: Server, driver: Driver, data: BenchData, handle: string, inFlight: number): Promise<Cell> {
  const bodies: Buffer[] = [];
  for (let q = 0; q < data.nq; q++) bodies.push(driver.searchBody(rowOf(data.queries, q, data.dim)));
  const path = driver.searchPath(handle);
  const pool = new Pool(server.origin, { connections: inFlight, pipelining: 1 });
  let next = 0;
  let errors = 0;
  const loop = async (until: number, latencies: number[] | null): Promise<void> => {
    while (performance.now() < until) {
      const body = bodies[next++ % bodies.length];
      const t = performance.now();
      const res = await pool.request({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body });
      await res.body.text();
      if (res.statusCode !== 200) errors++;
      else if (latencies) latencies.push(performance.now() - t);
    }
  };
  try {
    const w = performance.now() + warmupSeconds * 1000;
    await Promise.all(Array.from({ length: inFlight }, () => loop(w, null)));
    errors = 0;
    const latencies: number[][] = Array.from({ length: inFlight }, () => []);
    const cpu0 = treeCpuSeconds(server.pid);
    const client0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(latencies.map((l) => loop(t0 + cellSeconds * 1000, l)));
    const wallSeconds = (performance.now() - t0) / 1000;
    const client = process.cpuUsage(client0);
    const serverCpuSeconds = treeCpuSeconds(server.pid) - cpu0;
    const all = latencies.flat();
    const s = summariseLatencies(all);
    return {
      inFlight, answers: all.length, errors, wallSeconds, qps: all.length / wallSeconds, p50Ms: s.p50, p99Ms: s.p99, maxMs: s.max,
      serverCpuSeconds, qpsPerCpuSecond: all.length / Math.max(serverCpuSeconds, 1e-9), clientCpuSeconds: (client.user + client.system) / 1e6,
    };
  } finally {
    await pool.close();
  }
}

async function searchCells(server: Server, driver: Driver, data: BenchData, handle: string, label: string): Promise<Cell[]> {
  const cells: Cell[] = [];
  for (const c of CONCURRENCY) {
    const cell = await searchCell(server, driver, data, handle, c);
    log(`  ${label} ${c} in flight: ${cell.qps.toFixed(0)} QPS, p50 ${cell.p50Ms.toFixed(2)} ms, p99 ${cell.p99Ms.toFixed(2)} ms, ${cell.qpsPerCpuSecond.toFixed(0)} QPS/server-CPU-s${cell.errors ? `, ${cell.errors} errors` : ''}`);
    cells.push(cell);
  }
  return cells;
}

/** The collection opened in this process: per-query search time at the same efSearch. */
async function inProcess(dir: string, data: BenchData, efSearch: number, truth: Truth): Promise<{ p50Us: number; meanUs: number; recall: number; openSeconds: number; kernels: string }> {
  const t0 = performance.now();
  const db = await Database.open(dir, { readOnly: true });
  try {
    const store = db.collection(COLLECTION);
    const openSeconds = (performance.now() - t0) / 1000;
    const found = new Int32Array(data.nq * K).fill(-1);
    const times: number[] = [];
    for (let pass = 0; pass < 2; pass++) {
      for (let q = 0; q < data.nq; q++) {
        const query = rowOf(data.queries, q, data.dim);
        const t = performance.now();
        const hits = store.search(query, K, { efSearch });
        const dt = performance.now() - t;
        if (pass === 1) {
          times.push(dt * 1000);
          hits.slice(0, K).forEach((h, j) => { found[q * K + j] = Number(h.id); });
        }
      }
    }
    const rc = recall(found, data.nq, K, truth.ids, truth.kth, data.corpus, data.queries, data.n, data.dim, data.metric);
    return { p50Us: summariseLatencies(times).p50, meanUs: times.reduce((a, b) => a + b, 0) / times.length, recall: rc.tieAware, openSeconds, kernels: store.stats().kernels };
  } finally {
    await db.close();
  }
}

// ---- the run -----------------------------------------------------------------------------------------

interface Truth { ids: Int32Array; kth: Float64Array }

interface SystemRun {
  system: string;
  config: string;
  startSeconds: number;
  ingest?: IngestResult;
  ingestJson?: IngestResult;
  settleSeconds?: number;
  recall?: number;
  idRecall?: number;
  efSearch?: number;
  cells: Cell[];
}

interface RepeatResult {
  repeat: number;
  chroma?: SystemRun;
  nearest?: SystemRun;
  nearestOneThread?: SystemRun;
  inProcess?: Awaited<ReturnType<typeof inProcess>>;
}

interface DataResult {
  data: Omit<BenchData, 'corpus' | 'queries'>;
  groundTruth: unknown;
  /** Per repeat: Chroma's recall (the target), the efSearch chosen and the points tried. */
  tuning: { repeat: number; target: number; efSearch: number; points: { efSearch: number; recall: number }[] }[];
  chromaHnsw: Record<string, unknown> | null;
  repeats: RepeatResult[];
}

const threadsFlag = nearestHasThreadsFlag();
if (!threadsFlag) log(`note: \`nearest serve\` has no ${SEARCH_THREADS_FLAG} flag (yet): the server runs with its default search threads, and the 1-vs-2-thread comparison is skipped`);

async function runData(data: BenchData, truth: Truth, gtMeta: unknown): Promise<DataResult> {
  const result: DataResult = {
  data: { id: data.id, key: data.key, label: data.label, metric: data.metric, dim: data.dim, n: data.n, nq: data.nq, source: data.source },
    groundTruth: gtMeta, tuning: [], chromaHnsw: null, repeats: [],
  };
  let ef = efArg ?? CHROMA_EF_SEARCH;
  for (let rep = 0; rep < repeats; rep++) {
    log(`${data.label}: repeat ${rep + 1} of ${repeats}`);
    const rr: RepeatResult = { repeat: rep };
    result.repeats.push(rr);
    let chromaRecall: number | null = null;
    if (runChroma) {
      const dir = join(workRoot, `chroma-${data.id}-${rep}`);
      const server = await startChroma(dir);
      try {
        const pool = new Pool(server.origin, { connections: 1 });
        const driver = chromaDriver(data);
        const handle = await driver.create(pool, COLLECTION);
        await pool.close();
        result.chromaHnsw = chromaConfig;
        const run: SystemRun = { system: 'chroma', config: `HNSW max_neighbors ${String(chromaConfig?.max_neighbors ?? '?')}, ef_construction ${String(chromaConfig?.ef_construction ?? '?')}, ef_search ${String(chromaConfig?.ef_search ?? '?')}`, startSeconds: server.startSeconds, cells: [] };
        run.ingest = await ingest(server, driver, data, handle);
        log(`  chroma ingest: ${run.ingest.vectorsPerSecond.toFixed(0)} vectors/s (${run.ingest.seconds.toFixed(2)} s, first query after ${(run.ingest.firstQuerySeconds * 1000).toFixed(1)} ms, server CPU ${run.ingest.serverCpuSeconds.toFixed(1)} s)`);
        run.settleSeconds = await settle(server, settleSeconds);
        const rc = await recallPass(server, driver, data, handle, truth);
        run.recall = rc.recall; run.idRecall = rc.idRecall; run.efSearch = Number(chromaConfig?.ef_search ?? CHROMA_EF_SEARCH);
        chromaRecall = rc.recall;
        log(`  chroma recall@10 ${rc.recall.toFixed(4)}`);
        run.cells = await searchCells(server, driver, data, handle, 'chroma');
        rr.chroma = run;
      } finally {
        await stopServer(server);
        rmSync(dir, { recursive: true, force: true });
      }
    }
    if (!runNearest) continue;
    const dir = join(workRoot, `nearest-${data.id}-${rep}`);
    const mainThreads = threadsFlag ? 2 : null;
    const server = await startNearest(dir, mainThreads);
    try {
      const pool = new Pool(server.origin, { connections: 1 });
      const driver = nearestDriver(data, 'base64', () => ef);
      const handle = await driver.create(pool, COLLECTION);
      const run: SystemRun = { system: 'nearest', config: `HNSW m ${HNSW_M}, efConstruction ${EF_CONSTRUCTION}, ${mainThreads === null ? 'default search threads' : `${SEARCH_THREADS_FLAG} ${mainThreads}`}`, startSeconds: server.startSeconds, cells: [] };
      run.ingest = await ingest(server, driver, data, handle);
      log(`  nearest ingest (base64): ${run.ingest.vectorsPerSecond.toFixed(0)} vectors/s (${run.ingest.seconds.toFixed(2)} s, server CPU ${run.ingest.serverCpuSeconds.toFixed(1)} s)`);
      run.settleSeconds = await settle(server, settleSeconds);
      if (efArg === undefined) {
        // The smallest efSearch whose recall reaches Chroma's (or the best we have without a Chroma run: 0.95).
        // If it never does, the smallest efSearch with the best recall seen; stop after 3 candidates
        // in a row without a gain (a plateau), so an unreachable target does not sweep to 512.
        // Every repeat tunes against its own Chroma run (Chroma's recall moves by ~0.0005 between
        // builds); later repeats start two candidates below the previous choice.
        const target = chromaRecall ?? 0.95;
        let best = { efSearch: EF_CANDIDATES[0], recall: -1 };
        let flat = 0;
        const from = rep === 0 ? 0 : Math.max(0, EF_CANDIDATES.indexOf(ef) - 2);
        const tuning: { efSearch: number; recall: number }[] = [];
        for (const candidate of EF_CANDIDATES.slice(from)) {
          ef = candidate;
          const rc = await recallPass(server, driver, data, handle, truth);
          tuning.push({ efSearch: candidate, recall: rc.recall });
          if (rc.recall >= target) { best = { efSearch: candidate, recall: rc.recall }; break; }
          if (rc.recall > best.recall) { best = { efSearch: candidate, recall: rc.recall }; flat = 0; }
          else if (++flat >= 3) break;
        }
        ef = best.efSearch;
        result.tuning.push({ repeat: rep, target, efSearch: ef, points: tuning });
        log(`  nearest efSearch ${ef} (recall target ${target.toFixed(4)}: ${tuning.map((t) => `${t.efSearch}:${t.recall.toFixed(4)}`).join(' ')})`);
      }
      const rc = await recallPass(server, driver, data, handle, truth);
      run.recall = rc.recall; run.idRecall = rc.idRecall; run.efSearch = ef;
      log(`  nearest recall@10 ${rc.recall.toFixed(4)} at efSearch ${ef}`);
      run.cells = await searchCells(server, driver, data, handle, 'nearest');
      // The same vectors as JSON numbers, into a second collection.
      const jsonDriver = nearestDriver(data, 'json', () => ef);
      const jsonHandle = await jsonDriver.create(pool, `${COLLECTION}-json`);
      run.ingestJson = await ingest(server, jsonDriver, data, jsonHandle);
      log(`  nearest ingest (JSON numbers): ${run.ingestJson.vectorsPerSecond.toFixed(0)} vectors/s (${run.ingestJson.seconds.toFixed(2)} s)`);
      await jsonDriver.drop!(pool, jsonHandle);
      await pool.close();
      rr.nearest = run;
    } finally {
      await stopServer(server);
    }
    if (threadsFlag) {
      const one = await startNearest(dir, 1);
      try {
        const driver = nearestDriver(data, 'base64', () => ef);
        const run: SystemRun = { system: 'nearest', config: `${SEARCH_THREADS_FLAG} 1`, startSeconds: one.startSeconds, cells: [] };
        run.settleSeconds = await settle(one, settleSeconds);
        run.cells = await searchCells(one, driver, data, COLLECTION, 'nearest 1 thread');
        rr.nearestOneThread = run;
      } finally {
        await stopServer(one);
      }
    }
    rr.inProcess = await inProcess(dir, data, ef, truth);
    log(`  in-process search: p50 ${rr.inProcess.p50Us.toFixed(0)} us/query, recall@10 ${rr.inProcess.recall.toFixed(4)} (${rr.inProcess.kernels})`);
    rmSync(dir, { recursive: true, force: true });
  }
  return result;
}

// ---- summary -----------------------------------------------------------------------------------------

const fmt = (v: number | null | undefined, digits = 0): string => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits }));
const med = (values: (number | undefined)[]): number | null => {
  const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  return v.length ? median(v) : null;
};
const ratio = (a: number | null, b: number | null): number | null => (a !== null && b !== null && b > 0 ? a / b : null);

interface Summary {
  rows: { metric: string; nearest: number | null; chroma: number | null; ratio: number | null; digits: number }[];
  threads: { inFlight: number; one: number | null; two: number | null; ratio: number | null }[];
  overhead: { inProcessP50Us: number | null; serverP50Us: number | null; overheadUs: number | null; inProcessRecall: number | null };
  bars: { bar: string; value: string; met: boolean | null }[];
}

function summarise(r: DataResult): Summary {
  const reps = r.repeats;
  const cellOf = (run: SystemRun | undefined, c: number) => run?.cells.find((x) => x.inFlight === c);
  const m = (pick: (rr: RepeatResult) => number | undefined) => med(reps.map(pick));
  const rows: Summary['rows'] = [];
  const add = (metric: string, nearest: number | null, chroma: number | null, digits = 0) => rows.push({ metric, nearest, chroma, ratio: ratio(nearest, chroma), digits });
  add('ingest vectors/s (ours base64)', m((x) => x.nearest?.ingest?.vectorsPerSecond), m((x) => x.chroma?.ingest?.vectorsPerSecond));
  add('ingest vectors/s (ours JSON numbers)', m((x) => x.nearest?.ingestJson?.vectorsPerSecond), m((x) => x.chroma?.ingest?.vectorsPerSecond));
  add('ingest server CPU-s (base64)', m((x) => x.nearest?.ingest?.serverCpuSeconds), m((x) => x.chroma?.ingest?.serverCpuSeconds), 1);
  add('recall@10', m((x) => x.nearest?.recall), m((x) => x.chroma?.recall), 4);
  for (const c of CONCURRENCY) add(`QPS, ${c} in flight`, m((x) => cellOf(x.nearest, c)?.qps), m((x) => cellOf(x.chroma, c)?.qps));
  for (const c of CONCURRENCY) add(`QPS per server CPU-s, ${c} in flight`, m((x) => cellOf(x.nearest, c)?.qpsPerCpuSecond), m((x) => cellOf(x.chroma, c)?.qpsPerCpuSecond));
  for (const c of CONCURRENCY) add(`server CPU-s per s, ${c} in flight`, m((x) => { const k = cellOf(x.nearest, c); return k ? k.serverCpuSeconds / k.wallSeconds : undefined; }), m((x) => { const k = cellOf(x.chroma, c); return k ? k.serverCpuSeconds / k.wallSeconds : undefined; }), 2);
  for (const c of CONCURRENCY) add(`load generator CPU-s per s, ${c} in flight`, m((x) => { const k = cellOf(x.nearest, c); return k ? k.clientCpuSeconds / k.wallSeconds : undefined; }), m((x) => { const k = cellOf(x.chroma, c); return k ? k.clientCpuSeconds / k.wallSeconds : undefined; }), 2);
  for (const c of CONCURRENCY) add(`p50 ms, ${c} in flight`, m((x) => cellOf(x.nearest, c)?.p50Ms), m((x) => cellOf(x.chroma, c)?.p50Ms), 2);
  for (const c of CONCURRENCY) add(`p99 ms, ${c} in flight`, m((x) => cellOf(x.nearest, c)?.p99Ms), m((x) => cellOf(x.chroma, c)?.p99Ms), 2);
  const threads = CONCURRENCY.map((c) => {
    const one = m((x) => cellOf(x.nearestOneThread, c)?.qps);
    const two = m((x) => (x.nearestOneThread ? cellOf(x.nearest, c)?.qps : undefined));
    return { inFlight: c, one, two, ratio: ratio(two, one) };
  });
  const inP50 = m((x) => x.inProcess?.p50Us);
  const serverP50 = m((x) => { const k = cellOf(x.nearest, 1); return k ? k.p50Ms * 1000 : undefined; });
  const overhead = { inProcessP50Us: inP50, serverP50Us: serverP50, overheadUs: inP50 !== null && serverP50 !== null ? serverP50 - inP50 : null, inProcessRecall: m((x) => x.inProcess?.recall) };

  const get = (metric: string) => rows.find((x) => x.metric === metric)!;
  const bars: Summary['bars'] = [];
  const ing = get('ingest vectors/s (ours base64)');
  bars.push({ bar: `ingest >= ${BARS.ingest}x Chroma`, value: `${fmt(ing.ratio, 2)}x`, met: ing.ratio === null ? null : ing.ratio >= BARS.ingest });
  // Equal or better recall in every repeat (then also in the medians).
  const rec = get('recall@10');
  const paired = reps.filter((x) => x.nearest?.recall !== undefined && x.chroma?.recall !== undefined);
  const recallOk = paired.length > 0 ? paired.every((x) => x.nearest!.recall! >= x.chroma!.recall!) : null;
  for (const c of CONCURRENCY) {
    const q = get(`QPS, ${c} in flight`);
    bars.push({ bar: `QPS >= ${BARS.qps}x Chroma at equal or better recall, ${c} in flight`, value: `${fmt(q.ratio, 2)}x, recall ${fmt(rec.nearest, 4)} vs ${fmt(rec.chroma, 4)}`, met: q.ratio === null || recallOk === null ? null : q.ratio >= BARS.qps && recallOk });
  }
  const p99 = get('p99 ms, 8 in flight');
  bars.push({ bar: `p99 <= ${BARS.p99}x Chroma's, 8 in flight`, value: `${fmt(p99.ratio, 2)}x`, met: p99.ratio === null ? null : p99.ratio <= BARS.p99 });
  const t8 = threads.find((t) => t.inFlight === 8)!;
  bars.push({ bar: `QPS on 2 search threads >= ${BARS.threads}x one thread, 8 in flight`, value: t8.ratio === null ? (threadsFlag ? '-' : `not measured: no ${SEARCH_THREADS_FLAG} flag`) : `${fmt(t8.ratio, 2)}x`, met: t8.ratio === null ? null : t8.ratio >= BARS.threads });
  return { rows, threads, overhead, bars };
}

function printSummary(r: DataResult, s: Summary): void {
  const t = new Table({ head: [r.data.label, 'nearest', 'Chroma', 'ratio'], style: { head: [], border: [] } });
  for (const row of s.rows) t.push([row.metric, fmt(row.nearest, row.digits), fmt(row.chroma, row.digits), row.ratio === null ? '-' : `${fmt(row.ratio, 2)}x`]);
  process.stdout.write(`\n${t.toString()}\n`);
  const efs = r.repeats.map((x) => x.nearest?.efSearch).filter((e): e is number => e !== undefined);
  process.stdout.write(`nearest: HNSW m ${HNSW_M}, efConstruction ${EF_CONSTRUCTION}, efSearch ${efs.join(' / ') || '-'} (per repeat); Chroma: ${JSON.stringify(r.chromaHnsw)}\n`);
  if (s.threads.some((x) => x.one !== null)) {
    const tt = new Table({ head: ['nearest QPS', '1 search thread', '2 search threads', 'ratio'], style: { head: [], border: [] } });
    for (const x of s.threads) tt.push([`${x.inFlight} in flight`, fmt(x.one), fmt(x.two), x.ratio === null ? '-' : `${fmt(x.ratio, 2)}x`]);
    process.stdout.write(`${tt.toString()}\n`);
  }
  const o = s.overhead;
  process.stdout.write(`server overhead per query: p50 ${fmt(o.serverP50Us)} us over HTTP (1 in flight) - ${fmt(o.inProcessP50Us)} us in process = ${fmt(o.overheadUs)} us (in-process recall@10 ${fmt(o.inProcessRecall, 4)})\n`);
  for (const b of s.bars) process.stdout.write(`  bar: ${b.bar}: ${b.value} -> ${b.met === null ? 'not measured' : b.met ? 'met' : 'not met'}\n`);
}

// ---- main --------------------------------------------------------------------------------------------

const t0 = performance.now();
const results: DataResult[] = [];
const skipped: { data: BenchDataId; reason: string }[] = [];
for (const id of dataIds) {
  const data = await loadBenchData(id, { quick, n: nArg, nq: nqArg, log });
  if ('skipped' in data) {
    log(`${id}: skipped: ${data.skipped}`);
    skipped.push({ data: id, reason: data.skipped });
    continue;
  }
  const gt = await groundTruth({
    cacheDir: CACHE_DIR, dataset: data.key, metric: data.metric, corpus: data.corpus, queries: data.queries,
    n: data.n, nq: data.nq, dim: data.dim, k: K, threads: os.cpus().length, source: 'nearest', noCache: args['no-cache'], log,
    faiss: async () => ({ skipped: 'the server bench computes ground truth with our FlatIndex only' }),
  });
  const truth: Truth = { ids: gt.ids, kth: kthDistances(gt.ids, data.corpus, data.queries, data.nq, data.dim, K, data.metric) };
  const result = await runData(data, truth, gt.meta);
  results.push(result);
  printSummary(result, summarise(result));
}

const env = describeEnvironment(REPO_ROOT, '/usr/bin/python3');
env.command = ['tsx', 'bench/server.ts', ...process.argv.slice(2)].join(' ');
for (const name of ['chromadb', 'chromadb-js-bindings-linux-x64-gnu', 'undici']) {
  try { env.packages[name] = (JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version; } catch { /* missing */ }
}
const out = {
  benchmark: 'server',
  environment: env,
  settings: {
    quick, repeats, cellSeconds, warmupSeconds, settleSeconds, k: K, batch: BATCH, concurrency: CONCURRENCY, hnsw: { m: HNSW_M, efConstruction: EF_CONSTRUCTION },
    searchThreadsFlag: SEARCH_THREADS_FLAG, searchThreadsFlagSupported: threadsFlag, bars: BARS,
  },
  skipped,
  results: results.map((r) => ({ ...r, summary: summarise(r) })),
  seconds: (performance.now() - t0) / 1000,
};
mkdirSync(RESULTS_DIR, { recursive: true });
const outPath = join(RESULTS_DIR, `server${suffix}.json`);
writeFileSync(outPath, `${JSON.stringify(out, null, 2)}\n`);
log(`wrote ${outPath} (${out.seconds.toFixed(0)} s)`);
