// Durable-write benchmark: our durable store (VectorStore.open: write-ahead log, fsync, group
// commit, compaction into a snapshot) beside SQLite (Python's sqlite3, WAL mode,
// synchronous=FULL) writing the same records.
//
//   npm run bench:persist              # build, bench/persist.ts, then this file
//   npx tsx bench/durable.ts --quick   # smoke size (~45 s): 0.25 s cells, a 20k-record store for latencies
//   npx tsx bench/durable.ts --shapes 96 --repeats 1 --seconds 1 --records 50000
//
// Records: string ids, float32 vectors of 96 and of 768 dimensions (two data shapes, uniform in
// [-1, 1), from a seeded generator) and small JSON metadata ({ title: ~30 chars, year, tags: [2] }).
// The parent writes one pool of vectors (bench/.cache/durable-<pid>/pool-<dim>.f32) and metadata
// (.jsonl); record i is id `doc-<i>`, vector i mod pool and metadata i mod pool on both sides.
//
// Throughput: per cell a fresh store / database, a few untimed single-record writes, then writes
// for --seconds (at least two calls) of 1, 100 or 10,000 records per call, each call awaited before
// the next; for batch 1 also 16 concurrent writers (ours: 16 async loops on one store, so group
// commit shares fsyncs; SQLite: 16 threads with a connection each, serialised by its write lock).
// Each at its defaults: ours compacts once the log exceeds 64 MiB, SQLite checkpoints every 1,000
// WAL pages. records/s = records ÷ wall seconds; records/CPU-s = records ÷ process CPU seconds (all
// threads: process.cpuUsage, resource.getrusage in the child).
//
// Latency while the log is folded into the main file: a store of --records records (default
// 200,000), fresh per repeat and batch size (1, 100), written with the log left to hold all of
// them (ours: compactBytes 2^52; SQLite: wal_autocheckpoint=0): an idle run for contrast (its
// records complete the store: it is loaded short by as many), then a run during the fold. The fold:
// ours `compact()` (a snapshot of the whole store, then the log emptied), SQLite
// `PRAGMA wal_checkpoint(TRUNCATE)` from a second connection (the WAL's pages copied into the
// database file, fsynced, the WAL truncated to 0 bytes). TRUNCATE is the counterpart: it does the
// same job as compact() (fold the log into the main file, empty the log) on the same pending
// records, and like compact() it holds off writers while it runs (FULL, RESTART and TRUNCATE
// block new writers until they finish). VACUUM would rewrite the database, which no write path
// needs. For context SQLite's PASSIVE checkpoint (what wal_autocheckpoint runs, beside writers)
// is measured too, in a database of its own loaded the same way.
// Open loop: one client, call i scheduled at t0 + i × interval (interval = twice the slower
// system's mean call time measured above, at least 1 ms: half its capacity), latency counted
// from the scheduled time (a stall counts against every call scheduled during it, not once).
//
// Writes bench/results/durable.json (--quick: durable-quick.json; narrowed runs durable-partial);
// the data directory bench/.cache/durable-<pid>/ (same file system as the repo) is removed.

import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import Table from 'cli-table3';
import { VectorStore } from 'nearest';
import { rng } from 'nearest/datasets';
import { benchArgs, log } from './lib/args.ts';
import { describeEnvironment } from './lib/environment.ts';
import { spawnJson } from './lib/spawn.ts';
import { median, summariseLatencies, type LatencySummary } from './lib/stats.ts';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CACHE_DIR = join(REPO_ROOT, 'bench', '.cache');
const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
const PYTHON = process.env.NEAREST_BENCH_PYTHON ?? '/usr/bin/python3';
const SQLITE_CHILD = join(REPO_ROOT, 'bench', 'systems', 'sqlite_durable.py');
const METRIC = 'cosine';
const SEED = 1234;
const WARMUP = 10;
const MIN_CALLS = 2;
const CONCURRENT_WRITERS = 16;
const LOAD_BATCH = 10_000;
const LATENCY_BATCHES = [1, 100] as const;
const MIN_INTERVAL_MS = 1;
const NO_AUTO_COMPACT = 2 ** 52;
const CELLS = [
  { batch: 1, writers: 1 },
  { batch: 1, writers: CONCURRENT_WRITERS },
  { batch: 100, writers: 1 },
  { batch: 10_000, writers: 1 },
] as const;

const USAGE = `usage: tsx bench/durable.ts [--quick] [--repeats 3] [--shapes 96,768] [--seconds S] [--records N]
  --quick       0.25 s throughput cells, a 20,000-record store for the latency runs (default 3 s, 200,000)
  --repeats N   repeats of every cell, medians reported (default 3)
  --shapes a,b  vector dimensions (default 96,768)
  --seconds S   wall seconds per throughput cell
  --records N   records in the store that is compacted / checkpointed during the latency runs`;

const { args, fail } = benchArgs(USAGE, {
  quick: { type: 'boolean', default: false },
  repeats: { type: 'string' },
  shapes: { type: 'string' },
  seconds: { type: 'string' },
  records: { type: 'string' },
});

const quick = args.quick;
const repeats = args.repeats === undefined ? 3 : Number(args.repeats);
const shapes = (args.shapes ?? '96,768').split(',').map(Number);
const cellSeconds = args.seconds === undefined ? (quick ? 0.25 : 3) : Number(args.seconds);
const latencyRecords = args.records === undefined ? (quick ? 20_000 : 200_000) : Number(args.records);
const baselineSeconds = quick ? 0.25 : 2;
if (!Number.isInteger(repeats) || repeats < 1) fail(`--repeats must be an integer >= 1, got ${args.repeats}`);
if (shapes.some((d) => !Number.isInteger(d) || d < 1)) fail(`--shapes must be positive integers, got ${args.shapes}`);
if (!(cellSeconds > 0)) fail(`--seconds must be a positive number, got ${args.seconds}`);
if (!Number.isInteger(latencyRecords) || latencyRecords < 1) fail(`--records must be an integer >= 1, got ${args.records}`);
if (os.endianness() !== 'LE') throw new Error('the raw .f32 pool files assume a little-endian host');
const narrowed = Boolean(args.repeats || args.shapes || args.seconds || args.records);
const suffix = quick ? '-quick' : narrowed ? '-partial' : '';

const workDir = join(CACHE_DIR, `durable-${process.pid}`);
mkdirSync(workDir, { recursive: true });
const cleanup = (): void => rmSync(workDir, { recursive: true, force: true });
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => process.exit(130));

// ---- records ---------------------------------------------------------------------------------------

interface Meta { title: string; year: number; tags: [string, string] }
interface Pool { dim: number; size: number; rows: Float32Array[]; metas: Meta[]; vectorPath: string; metaPath: string; metaBytes: number }

const WORDS = ['vector', 'search', 'index', 'graph', 'river', 'stone', 'quiet', 'signal', 'harbor', 'lantern', 'meadow', 'copper',
  'winter', 'orbit', 'canvas', 'thread', 'summit', 'pixel', 'ember', 'falcon'];
const TAGS = ['news', 'science', 'sports', 'music', 'travel', 'food', 'tech', 'art', 'health', 'film', 'books', 'games'];

function makePool(dim: number): Pool {
  const size = dim <= 128 ? 50_000 : 10_000;
  const next = rng(SEED + dim); // the values do not matter to a write path, their sizes do
  const data = new Float32Array(size * dim);
  for (let i = 0; i < data.length; i++) data[i] = next() * 2 - 1;
  const metas: Meta[] = [];
  for (let i = 0; i < size; i++) {
    const words: string[] = [];
    while (words.join(' ').length < 30) words.push(WORDS[Math.floor(next() * WORDS.length)]);
    const title = words.join(' ').slice(0, 30).trimEnd();
    const a = Math.floor(next() * TAGS.length);
    const b = (a + 1 + Math.floor(next() * (TAGS.length - 1))) % TAGS.length;
    metas.push({ title, year: 1950 + Math.floor(next() * 75), tags: [TAGS[a], TAGS[b]] });
  }
  const vectorPath = join(workDir, `pool-${dim}.f32`);
  const metaPath = join(workDir, `pool-${dim}.jsonl`);
  writeFileSync(vectorPath, new Uint8Array(data.buffer));
  const lines = metas.map((m) => JSON.stringify(m));
  writeFileSync(metaPath, `${lines.join('\n')}\n`);
  const rows = Array.from({ length: size }, (_, i) => data.subarray(i * dim, (i + 1) * dim));
  return { dim, size, rows, metas, vectorPath, metaPath, metaBytes: lines.reduce((s, l) => s + l.length, 0) / size };
}

function records(pool: Pool, prefix: string, start: number, count: number): { id: string; vector: Float32Array; metadata: Meta }[] {
  const out = new Array<{ id: string; vector: Float32Array; metadata: Meta }>(count);
  for (let j = 0; j < count; j++) {
    const i = start + j;
    out[j] = { id: `${prefix}${i}`, vector: pool.rows[i % pool.size], metadata: pool.metas[i % pool.size] };
  }
  return out;
}

type Store = Awaited<ReturnType<typeof VectorStore.open<Meta>>>;

function dirBytes(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? dirBytes(path) : statSync(path).size;
  }
  return total;
}

let dirCounter = 0;
const freshDir = (label: string): string => join(workDir, `ours-${label}-${dirCounter++}`);

// ---- throughput --------------------------------------------------------------------------------

interface Cell { batch: number; writers: number; records: number; calls: number; wallSeconds: number; cpuSeconds: number; diskBytes: number }

async function oursThroughput(pool: Pool, batch: number, writers: number): Promise<Cell> {
  const dir = freshDir(`${pool.dim}-b${batch}-w${writers}`);
  const db = await VectorStore.open<Meta>(dir, { dim: pool.dim, metric: METRIC });
  for (let i = 0; i < WARMUP; i++) await db.upsert(records(pool, 'warm-', i, 1));
  let next = 0;
  let calls = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + cellSeconds * 1000;
  const worker = async (minCalls: number): Promise<void> => {
    for (let mine = 0; mine < minCalls || performance.now() < deadline; mine++) {
      const start = next;
      next += batch;
      calls++;
      await db.upsert(records(pool, 'doc-', start, batch));
    }
  };
  await Promise.all(Array.from({ length: writers }, () => worker(writers === 1 ? MIN_CALLS : 1)));
  const wallSeconds = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  const diskBytes = dirBytes(dir);
  await db.close();
  rmSync(dir, { recursive: true, force: true });
  return { batch, writers, records: next, calls, wallSeconds, cpuSeconds: (c.user + c.system) / 1e6, diskBytes };
}

type SqliteReport<T> = { ok: true; version: string; report: T } | { ok: false; reason: string };

async function runSqlite<T>(spec: Record<string, unknown>, label: string): Promise<SqliteReport<T>> {
  const outcome = await spawnJson({
    command: PYTHON, args: [SQLITE_CHILD, JSON.stringify(spec)], cwd: REPO_ROOT, timeoutSeconds: 3600, echoStderr: true, label,
  });
  if (!outcome.ok) return { ok: false, reason: outcome.reason };
  const json = outcome.json as { skipped?: boolean; reason?: string; version: string };
  if (json.skipped) return { ok: false, reason: String(json.reason) };
  return { ok: true, version: json.version, report: json as T };
}

const poolSpec = (pool: Pool) => ({ dim: pool.dim, poolSize: pool.size, vectorPath: pool.vectorPath, metaPath: pool.metaPath, dir: workDir });

// ---- latency -------------------------------------------------------------------------------------

/** Stops an open loop: after a number of calls, or once a fold has ended (end() returns its time). */
type Stop = { calls: number } | { end: () => number | null };

function stopped(stop: Stop, i: number, sched: number): boolean {
  if ('calls' in stop) return i >= stop.calls;
  const end = stop.end();
  return end !== null && sched >= end;
}

interface Loop { latencies: number[]; lags: number[] }

/**
 * Latencies (ms) of calls scheduled every intervalMs from t0, one at a time. Timers fire up to ~1 ms
 * late, so the wait ends in a spin on the event loop (which keeps serving I/O, the fold's included).
 */
async function openLoop(submit: (batch: number) => Promise<void>, batch: number, intervalMs: number, stop: Stop, t0 = performance.now()): Promise<Loop> {
  const latencies: number[] = [];
  const lags: number[] = [];
  let lastDone = t0;
  for (let i = 0; ; i++) {
    const sched = t0 + i * intervalMs;
    if (stopped(stop, i, sched)) break;
    for (let now = performance.now(); now < sched && !stopped(stop, i, sched); now = performance.now()) {
      if (sched - now > 2) await sleep(sched - now - 1.5);
      else await yieldToLoop();
    }
    if (stopped(stop, i, sched)) break;
    const issued = performance.now();
    await submit(batch);
    latencies.push(performance.now() - sched);
    // How late the harness issued a call whose time had come while the client was idle (a check
    // on the harness; a call issued late because the previous one was still running is not lag).
    if (i === 0 || sched >= lastDone) lags.push(issued - sched);
    lastDone = performance.now();
  }
  return { latencies, lags };
}

interface FoldRun { foldSeconds: number; bytesBefore: number; latencies: LatencySummary; issueLag: LatencySummary }
interface LatencyRun { repeat: number; batch: number; intervalMs: number; idle: LatencySummary; idleIssueLag: LatencySummary; folds: Record<string, FoldRun> }
interface LatencyReport { system: string; records: number; loadSeconds: number; runs: LatencyRun[]; notes: string }

async function fill(db: Store, pool: Pool, n: number): Promise<number> {
  const t0 = performance.now();
  for (let start = 0; start < n; start += LOAD_BATCH) await db.upsert(records(pool, 'doc-', start, Math.min(LOAD_BATCH, n - start)));
  return (performance.now() - t0) / 1000;
}

/** Calls of an idle run: baselineSeconds of schedule. */
const idleCalls = (intervalMs: number): number => Math.ceil((baselineSeconds * 1000) / intervalMs);

async function oursLatency(pool: Pool, intervals: Record<number, number>): Promise<LatencyReport> {
  const runs: LatencyRun[] = [];
  const loads: number[] = [];
  let next = 0;
  for (let r = 0; r < repeats; r++) {
    for (const batch of LATENCY_BATCHES) {
      // A fresh store per fold, loaded short of --records by the idle run's records, so that after
      // the idle run the log holds exactly --records records when the fold starts.
      const intervalMs = intervals[batch];
      const calls = idleCalls(intervalMs);
      const dir = freshDir(`${pool.dim}-latency`);
      const db = await VectorStore.open<Meta>(dir, { dim: pool.dim, metric: METRIC, compactBytes: NO_AUTO_COMPACT });
      loads.push(await fill(db, pool, Math.max(0, latencyRecords - calls * batch)));
      const submit = async (b: number): Promise<void> => {
        const start = next;
        next += b;
        await db.upsert(records(pool, 'lat-', start, b));
      };
      const idle = await openLoop(submit, batch, intervalMs, { calls });
      const bytesBefore = dirBytes(dir);
      let end: number | null = null;
      const t0 = performance.now();
      const fold = db.compact().then(() => {
        end = performance.now();
      });
      const during = await openLoop(submit, batch, intervalMs, { end: () => end }, t0);
      await fold;
      const foldSeconds = (end! - t0) / 1000;
      log(`nearest ${pool.dim}-d batch ${batch}: compact() of ${(bytesBefore / 1e6).toFixed(0)} MB (snapshot + log) in ${foldSeconds.toFixed(2)} s, ${during.latencies.length} writes during it`);
      runs.push({
        repeat: r, batch, intervalMs, idle: summariseLatencies(idle.latencies), idleIssueLag: summariseLatencies(idle.lags),
        folds: { compact: { foldSeconds, bytesBefore, latencies: summariseLatencies(during.latencies), issueLag: summariseLatencies(during.lags) } },
      });
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return { system: 'nearest', records: latencyRecords, loadSeconds: median(loads), runs, notes: 'VectorStore.open(dir, { compactBytes: 2^52 }); fold = compact()' };
}

interface PyLatency {
  loadSeconds: number;
  records: number;
  runs: Record<string, unknown>[];
}
const CHECKPOINT_MODES = ['TRUNCATE', 'PASSIVE'] as const;

async function sqliteLatency(pool: Pool, intervals: Record<number, number>): Promise<SqliteReport<LatencyReport>> {
  const got = await runSqlite<PyLatency>({
    ...poolSpec(pool), mode: 'latency', records: latencyRecords, loadBatch: LOAD_BATCH, repeats, batches: LATENCY_BATCHES,
    intervals: Object.fromEntries(LATENCY_BATCHES.map((b) => [String(b), intervals[b] / 1000])),
    idleCalls: Object.fromEntries(LATENCY_BATCHES.map((b) => [String(b), idleCalls(intervals[b])])), checkpointModes: CHECKPOINT_MODES,
  }, `sqlite ${pool.dim}-d`);
  if (!got.ok) return got;
  const ms = (seconds: number[]): LatencySummary => summariseLatencies(seconds.map((s) => s * 1000));
  const runs: LatencyRun[] = got.report.runs.map((run) => {
    const folds: Record<string, FoldRun> = {};
    for (const mode of CHECKPOINT_MODES) {
      const f = run[mode] as { foldSeconds: number; walBytesBefore: number; latencies: number[]; lags: number[]; busy: number };
      if (f.busy) log(`sqlite ${pool.dim}-d: wal_checkpoint(${mode}) returned busy = ${f.busy} (not every frame was checkpointed)`);
      folds[mode] = { foldSeconds: f.foldSeconds, bytesBefore: f.walBytesBefore, latencies: ms(f.latencies), issueLag: ms(f.lags) };
    }
    const idle = run.idle as { latencies: number[]; lags: number[] };
    return { repeat: run.repeat as number, batch: run.batch as number, intervalMs: (run.intervalSeconds as number) * 1000, idle: ms(idle.latencies), idleIssueLag: ms(idle.lags), folds };
  });
  return {
    ok: true, version: got.version,
    report: {
      system: 'sqlite', records: got.report.records, loadSeconds: got.report.loadSeconds, runs,
      notes: 'journal_mode=WAL, synchronous=FULL, wal_autocheckpoint=0; fold = PRAGMA wal_checkpoint(MODE) on a second connection (thread)',
    },
  };
}

// ---- run -----------------------------------------------------------------------------------------

interface ShapeResult {
  dim: number;
  poolSize: number;
  metadataJsonBytes: number;
  throughput: { nearest: Cell[]; sqlite: Cell[]; sqliteSkipped?: string };
  intervalsMs: Record<number, number>;
  latency: { nearest: LatencyReport; sqlite: LatencyReport | null; sqliteSkipped?: string };
}

const results: ShapeResult[] = [];
let sqliteVersion: string | undefined;
const wallStart = performance.now();
for (const dim of shapes) {
  const pool = makePool(dim);
  log(`== ${dim}-d: pool of ${pool.size} vectors, metadata ~${pool.metaBytes.toFixed(0)} B of JSON per record`);
  const ours: Cell[] = [];
  const theirs: Cell[] = [];
  let sqliteSkipped: string | undefined;
  for (let r = 0; r < repeats; r++) {
    for (const { batch, writers } of CELLS) {
      const cell = await oursThroughput(pool, batch, writers);
      ours.push(cell);
      log(`nearest ${dim}-d batch ${batch} x ${writers} writers: ${Math.round(cell.records / cell.wallSeconds).toLocaleString('en-US')} records/s`);
    }
    if (sqliteSkipped) continue;
    const got = await runSqlite<{ cells: Cell[] }>({
      ...poolSpec(pool), mode: 'throughput', cells: CELLS, seconds: cellSeconds, minCalls: MIN_CALLS, warmup: WARMUP,
    }, `sqlite ${dim}-d`);
    if (got.ok) {
      theirs.push(...got.report.cells);
      sqliteVersion = got.version;
    } else {
      sqliteSkipped = got.reason;
      log(`sqlite skipped: ${got.reason}`);
    }
  }
  // Offered load of the latency runs: half the slower system's sequential throughput at that batch.
  const intervals: Record<number, number> = {};
  for (const batch of LATENCY_BATCHES) {
    const callMs = (cells: Cell[]): number => median(cells.filter((c) => c.batch === batch && c.writers === 1).map((c) => (c.wallSeconds / c.calls) * 1000));
    const slowest = Math.max(callMs(ours), theirs.length ? callMs(theirs) : 0);
    intervals[batch] = Math.max(MIN_INTERVAL_MS, Math.round(2 * slowest * 100) / 100);
  }
  const oursLat = await oursLatency(pool, intervals);
  let theirLat: LatencyReport | null = null;
  let latencySkipped = sqliteSkipped;
  if (!sqliteSkipped) {
    const got = await sqliteLatency(pool, intervals);
    if (got.ok) theirLat = got.report;
    else latencySkipped = got.reason;
  }
  results.push({
    dim, poolSize: pool.size, metadataJsonBytes: pool.metaBytes,
    throughput: { nearest: ours, sqlite: theirs, ...(sqliteSkipped ? { sqliteSkipped } : {}) },
    intervalsMs: intervals,
    latency: { nearest: oursLat, sqlite: theirLat, ...(latencySkipped ? { sqliteSkipped: latencySkipped } : {}) },
  });
  rmSync(pool.vectorPath, { force: true });
  rmSync(pool.metaPath, { force: true });
}
const totalSeconds = (performance.now() - wallStart) / 1000;

// ---- report --------------------------------------------------------------------------------------

const environment = describeEnvironment(REPO_ROOT, PYTHON);
environment.command = ['tsx', 'bench/durable.ts', ...process.argv.slice(2)].join(' ');
// dist/ may be built from uncommitted sources (the commit alone would not say what ran).
const srcModified = (spawnSync('git', ['status', '--porcelain', '--', 'src'], { cwd: REPO_ROOT, encoding: 'utf8' }).stdout ?? '').trim() !== '';
const fsType = spawnSync('df', ['--output=fstype,source', workDir], { encoding: 'utf8' }).stdout?.trim().split('\n')[1]?.trim().replace(/\s+/, ' on ') || 'unknown';
const out = process.stdout;
const f = (v: number | undefined, digits = 0): string => (v === undefined || !Number.isFinite(v) ? '—' : v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits }));
const ratio = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}×` : '—');
const ms = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '—' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0));

out.write(`\nDurable writes: our VectorStore.open (write-ahead log, fsync, group commit) beside ${sqliteVersion ?? 'SQLite'}, ` +
  `WAL mode, synchronous=FULL; median of ${repeats}; ${cellSeconds} s per throughput cell\n`);
out.write(`${environment.date}; ${environment.cpuModel}, ${environment.logicalCpus} logical CPUs, ${(environment.totalMemoryBytes / 2 ** 30).toFixed(0)} GiB; ` +
  `${environment.os}; node ${environment.node}; ${environment.python ?? 'python ?'}; nearest ${environment.packages.nearest ?? '?'}` +
  `${environment.gitCommit ? ` (${environment.gitCommit}${srcModified ? ', src/ modified' : ''})` : ''}\n`);
out.write(`data on ${workDir.replace(`${REPO_ROOT}/`, '')} (${fsType}); load average ${environment.loadAverage.join(' ')}; shared machine, figures are noisy; ` +
  `${totalSeconds.toFixed(0)} s in all\n`);

interface ThroughputSummary { batch: number; writers: number; ours: { rps: number; rpc: number }; sqlite: { rps: number; rpc: number } }
interface LatencySummaryRow { batch: number; condition: string; intervalMs: number; ours?: LatencySummary & { foldSeconds?: number }; sqlite?: LatencySummary & { foldSeconds?: number } }
const summaries: { dim: number; throughput: ThroughputSummary[]; latency: LatencySummaryRow[] }[] = [];

function medianSummary(runs: (LatencySummary & { foldSeconds?: number })[]): (LatencySummary & { foldSeconds?: number }) | undefined {
  if (runs.length === 0) return undefined;
  const m = (key: 'count' | 'p50' | 'p99' | 'max' | 'foldSeconds'): number => median(runs.map((r) => r[key] ?? NaN));
  return { count: m('count'), p50: m('p50'), p99: m('p99'), max: m('max'), ...(runs[0].foldSeconds !== undefined ? { foldSeconds: m('foldSeconds') } : {}) };
}

for (const res of results) {
  const throughput: ThroughputSummary[] = CELLS.map(({ batch, writers }) => {
    const pick = (cells: Cell[]) => cells.filter((c) => c.batch === batch && c.writers === writers);
    const rate = (cells: Cell[]) => ({ rps: median(pick(cells).map((c) => c.records / c.wallSeconds)), rpc: median(pick(cells).map((c) => c.records / c.cpuSeconds)) });
    return { batch, writers, ours: rate(res.throughput.nearest), sqlite: rate(res.throughput.sqlite) };
  });
  out.write(`\n== ${res.dim}-d float32 vectors, string ids, JSON metadata ~${res.metadataJsonBytes.toFixed(0)} B: durable writes (records/s, fsync per call)\n`);
  const t = new Table({
    head: ['batch', 'writers', 'ours rec/s', 'SQLite rec/s', 'ours ÷ SQLite', 'ours rec/CPU-s', 'SQLite rec/CPU-s', 'ours ÷ SQLite (CPU)'],
    colAligns: ['right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'], style: { head: [], border: [], compact: true },
  });
  for (const s of throughput) {
    t.push([f(s.batch), s.writers === 1 ? '1 (sequential)' : `${s.writers} concurrent`, f(s.ours.rps), f(s.sqlite.rps), ratio(s.ours.rps, s.sqlite.rps),
      f(s.ours.rpc), f(s.sqlite.rpc), ratio(s.ours.rpc, s.sqlite.rpc)]);
  }
  out.write(`${t.toString()}\n`);
  if (res.throughput.sqliteSkipped) out.write(`SQLite skipped: ${res.throughput.sqliteSkipped}\n`);

  const latency: LatencySummaryRow[] = [];
  const oursRuns = res.latency.nearest.runs;
  const theirRuns = res.latency.sqlite?.runs ?? [];
  for (const batch of LATENCY_BATCHES) {
    const mine = oursRuns.filter((r) => r.batch === batch);
    const theirs = theirRuns.filter((r) => r.batch === batch);
    const fold = (runs: LatencyRun[], key: string) => medianSummary(runs.map((r) => ({ ...r.folds[key].latencies, foldSeconds: r.folds[key].foldSeconds })));
    latency.push({ batch, condition: 'idle', intervalMs: res.intervalsMs[batch], ours: medianSummary(mine.map((r) => r.idle)), sqlite: medianSummary(theirs.map((r) => r.idle)) });
    latency.push({ batch, condition: 'during fold', intervalMs: res.intervalsMs[batch], ours: fold(mine, 'compact'), sqlite: theirs.length ? fold(theirs, 'TRUNCATE') : undefined });
    latency.push({ batch, condition: 'during PASSIVE', intervalMs: res.intervalsMs[batch], sqlite: theirs.length ? fold(theirs, 'PASSIVE') : undefined });
  }
  out.write(`\n== ${res.dim}-d: write latency (ms, from the scheduled start) with ${res.latency.nearest.records.toLocaleString('en-US')} records in the store, ` +
    `the log holding all of them when the fold starts; one client, open loop\n`);
  const lt = new Table({
    head: ['batch', 'every', 'while', 'ours p50', 'p99', 'max', 'SQLite p50', 'p99', 'max', 'p99 ours ÷ SQLite', 'fold s ours', 'SQLite', 'calls ours / SQLite'],
    colAligns: ['right', 'right', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'], style: { head: [], border: [], compact: true },
  });
  for (const row of latency) {
    lt.push([f(row.batch), `${ms(row.intervalMs)} ms`, row.condition, ms(row.ours?.p50), ms(row.ours?.p99), ms(row.ours?.max), ms(row.sqlite?.p50), ms(row.sqlite?.p99), ms(row.sqlite?.max),
      row.ours && row.sqlite ? ratio(row.ours.p99, row.sqlite.p99) : '—', row.ours?.foldSeconds === undefined ? '—' : row.ours.foldSeconds.toFixed(2),
      row.sqlite?.foldSeconds === undefined ? '—' : row.sqlite.foldSeconds.toFixed(2), `${row.ours ? f(row.ours.count) : '—'} / ${row.sqlite ? f(row.sqlite.count) : '—'}`]);
  }
  out.write(`${lt.toString()}\n`);
  out.write('every = one call scheduled per interval; during fold = while ours runs compact() / SQLite runs wal_checkpoint(TRUNCATE); ' +
    'during PASSIVE = while SQLite runs wal_checkpoint(PASSIVE), the mode of its automatic checkpoints (ours has no such mode); ' +
    'idle = the same client with no fold running\n');
  if (res.latency.sqliteSkipped) out.write(`SQLite skipped: ${res.latency.sqliteSkipped}\n`);
  const lag = (runs: LatencyRun[]): string => (runs.length ? `${ms(median(runs.map((r) => r.idleIssueLag.p99)))} ms` : '—');
  out.write(`load of the store (batches of ${LOAD_BATCH.toLocaleString('en-US')}): ours ${res.latency.nearest.loadSeconds.toFixed(1)} s, ` +
    `SQLite ${res.latency.sqlite ? `${res.latency.sqlite.loadSeconds.toFixed(1)} s` : '—'}; p99 delay in issuing a call that was due while the client ` +
    `was idle (timer precision, GC pauses; idle runs): ours ${lag(oursRuns)}, SQLite ${lag(theirRuns)}\n`);
  summaries.push({ dim: res.dim, throughput, latency });
}
out.write('\nours = VectorStore.open(dir, { dim, metric: \'cosine\' }) + upsert(records); SQLite = BEGIN IMMEDIATE; INSERT OR REPLACE (executemany); COMMIT ' +
  'into items(id TEXT PRIMARY KEY, vector BLOB, metadata TEXT); each call durable (fsynced) when it returns; 16 concurrent: ours on one store (group commit), ' +
  'SQLite 16 threads with a connection each. Latency: calls scheduled at a fixed rate (half the slower system\'s sequential capacity), counted from the ' +
  'scheduled time; the fold: ours writes a snapshot of the whole store and drops the log it covers, SQLite copies the WAL\'s pages into the database and truncates it.\n');

mkdirSync(RESULTS_DIR, { recursive: true });
const jsonPath = join(RESULTS_DIR, `durable${suffix}.json`);
writeFileSync(jsonPath, `${JSON.stringify({
  benchmark: 'durable', environment: { ...environment, srcModified, fileSystem: fsType, sqlite: sqliteVersion },
  params: {
    quick, repeats, shapes, cellSeconds, cells: CELLS, warmupWrites: WARMUP, minCalls: MIN_CALLS, latencyRecords, latencyBatches: LATENCY_BATCHES,
    baselineSeconds, loadBatch: LOAD_BATCH, checkpointModes: CHECKPOINT_MODES, metric: METRIC, seed: SEED, totalSeconds,
  },
  summaries, shapes: results,
}, null, 2)}\n`);
out.write(`\nwrote ${jsonPath}\n`);
cleanup();
