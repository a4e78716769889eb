// IVF benchmark: our IvfIndex against FAISS's IndexIVF* (Debian python3-faiss, a child process) on
// Fashion-MNIST (60k x 784 corpus, the first 1,000 of the 10k test images as queries, k = 10,
// euclidean), with the same nlist (1024), the same training rows (all 60k corpus rows: both sides
// sample at most 256·nlist = 262,144 points, more than there are), the same k-means iterations (25)
// and seed.
//
//   npm run bench:ivf                  # = npm run build && tsx bench/ivf.ts
//   npm run bench:ivf -- --quick       # 10k corpus, nlist 64, 200 queries, niter 10
//   npx tsx bench/ivf.ts --configs flat,pq --nprobe 1,8,64 --passes 1 --no-kmeans
//   npx tsx bench/ivf.ts --data wordvecs  # 60k x 100-d fastText word vectors (bench/lib/wordvecs.ts),
//                                         # L2-normalised so that euclidean ranks as cosine; nlist 256
//
// Configurations: IVF-Flat, IVF-PQ m=28 nbits=8 (no re-ranking), the same PQ re-ranked ×8 with exact
// float32 distances (FAISS IndexRefineFlat k_factor 8, ours refine: true + refineFactor 8), IVF-SQ8,
// and fast-scan PQ with 4-bit codes of the same code size (PQ56x4fs at 784-d, PQ50x4fs at 100-d;
// FAISS IndexIVFPQFastScan), alone and re-ranked ×8. With --data wordvecs the PQ is PQ20 (8-bit).
// Per configuration: training (k-means + encoding) and adding on 2 threads, then an nprobe sweep
// with one query per call on one thread (median of 3 timed passes): recall@10, QPS and QPS per
// CPU-second. Also a plain k-means timing (ours kmeans() vs faiss.Kmeans) with the final objective.
// Writes bench/results/ivf.json, ivf.svg (recall vs QPS) and ivf-cpu.svg (recall vs QPS/CPU-s).

import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import { IvfIndex, kmeans, type IvfEncoding } from 'nearest';
import { loadFashionMnist } from '../src/io/datasets.ts';
import { lineChart, type LineSeries } from './lib/chart.ts';
import { describeEnvironment } from './lib/environment.ts';
import { kthDistances, readIds, recall, type GroundTruthMeta } from './lib/exact.ts';
import { groundTruth } from './lib/ground-truth.ts';
import { spawnJson } from './lib/spawn.ts';
import { loadWordVecs } from './lib/wordvecs.ts';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CACHE_DIR = join(REPO_ROOT, 'bench', '.cache');
const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
const PYTHON = process.env.NEAREST_BENCH_PYTHON ?? '/usr/bin/python3';
const FAISS_CHILD = join(REPO_ROOT, 'bench', 'systems', 'faiss_ivf.py');
const K = 10;
const SEED = 1234;
const TARGET = 0.9;
const OMP_WAIT_POLICY = process.env.OMP_WAIT_POLICY ?? 'PASSIVE';
const RECALL_BAR = 0.01;

const USAGE = `usage: tsx bench/ivf.ts [--quick] [--data fashion-mnist|wordvecs] [--configs flat,flat-random,pq,pq-refine,sq8,pq4fs,pq4fs-refine]
  [--nprobe 1,2,4,...] [--passes 3] [--threads 2] [--no-kmeans] [--systems nearest,faiss]`;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    data: { type: 'string', default: 'fashion-mnist' },
    configs: { type: 'string' },
    nprobe: { type: 'string' },
    passes: { type: 'string' },
    threads: { type: 'string' },
    'no-kmeans': { type: 'boolean', default: false },
    systems: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const log = (message: string): void => {
  process.stderr.write(`${message}\n`);
};

type Kind = 'flat' | 'flat-random' | 'pq' | 'pq-refine' | 'sq8' | 'pq4fs' | 'pq4fs-refine';
interface IvfConfig {
  kind: Kind;
  label: string;
  /** FAISS-style factory string of the configuration. */
  factory: string;
  encoding: IvfEncoding;
  refine: boolean;
  refineFactor?: number;
  m?: number;
  nbits?: number;
  /** Our coarse k-means start ('kmeans++' when absent); FAISS always starts at random. */
  kmeansInit?: 'random';
}

if (args.data !== 'fashion-mnist' && args.data !== 'wordvecs') {
  log(`bad arguments: --data must be fashion-mnist or wordvecs\n${USAGE}`);
  process.exit(2);
}
const words = args.data === 'wordvecs';
const PQ_M = words ? 20 : 28;
const PQ_NBITS = 8;
/** Fast-scan sub-quantizers: twice PQ_M at 784-d (the same 28 code bytes), 50 at 100-d. */
const FS_M = words ? 50 : 56;
const K_FACTOR = 8;
const ALL_CONFIGS: IvfConfig[] = [
  { kind: 'flat', label: 'IVF-Flat', factory: 'Flat', encoding: 'flat', refine: false },
  // The same with FAISS's k-means start (not in the default run; see bench/ivf-seeds.ts).
  { kind: 'flat-random', label: 'IVF-Flat (random init)', factory: 'Flat', encoding: 'flat', refine: false, kmeansInit: 'random' },
  { kind: 'pq', label: `IVF-PQ${PQ_M}`, factory: `PQ${PQ_M}`, encoding: { pq: { m: PQ_M, nbits: PQ_NBITS } }, refine: false, m: PQ_M, nbits: PQ_NBITS },
  {
    kind: 'pq-refine', label: `IVF-PQ${PQ_M}+R×${K_FACTOR}`, factory: `PQ${PQ_M},RFlat`, encoding: { pq: { m: PQ_M, nbits: PQ_NBITS } },
    refine: true, refineFactor: K_FACTOR, m: PQ_M, nbits: PQ_NBITS,
  },
  { kind: 'sq8', label: 'IVF-SQ8', factory: 'SQ8', encoding: 'sq8', refine: false },
  { kind: 'pq4fs', label: `IVF-PQ${FS_M}x4fs`, factory: `PQ${FS_M}x4fs`, encoding: { pq: { m: FS_M, nbits: 4, fastScan: true } }, refine: false, m: FS_M, nbits: 4 },
  {
    kind: 'pq4fs-refine', label: `IVF-PQ${FS_M}x4fs+R×${K_FACTOR}`, factory: `PQ${FS_M}x4fs,RFlat`, encoding: { pq: { m: FS_M, nbits: 4, fastScan: true } },
    refine: true, refineFactor: K_FACTOR, m: FS_M, nbits: 4,
  },
];

const quick = args.quick;
const n = quick ? (words ? 5_000 : 10_000) : 60_000;
const nq = quick ? 200 : 1_000;
const nlist = quick ? 64 : words ? 256 : 1024;
const niter = quick ? 10 : 25;
const threads = args.threads ? Number(args.threads) : 2;
const passes = args.passes ? Number(args.passes) : 3;
const nprobes = args.nprobe ? args.nprobe.split(',').map(Number) : quick ? [1, 2, 4, 8, 16] : [1, 2, 4, 8, 16, 32, 64, 128];
const configKinds = args.configs ? args.configs.split(',') : ALL_CONFIGS.map((c) => c.kind).filter((k) => k !== 'flat-random');
const configs = ALL_CONFIGS.filter((c) => configKinds.includes(c.kind));
const systems = args.systems ? args.systems.split(',') : ['nearest', 'faiss'];
const warmup = Math.min(nq, quick ? 50 : 100);
if (
  configs.length !== configKinds.length || !(threads >= 1) || !(passes >= 1) || nprobes.some((p) => !Number.isInteger(p) || p < 1 || p > nlist) ||
  systems.some((s) => s !== 'nearest' && s !== 'faiss')
) {
  log(`bad arguments\n${USAGE}`);
  process.exit(2);
}
const narrowed = Boolean(args.configs || args.nprobe || args.passes || args.threads || args['no-kmeans'] || args.systems);
const suffix = (words ? '-wordvecs' : '') + (quick ? '-quick' : narrowed ? '-partial' : '');

// ---- data, ground truth ------------------------------------------------------------------------

const fm = await (async () => {
  if (!words) {
    const d = loadFashionMnist({ install: true });
    if (!d) throw new Error('Fashion-MNIST not found (apt-get install dataset-fashion-mnist)');
    return { name: d.name, label: `${d.name}: first ${nq} test images as queries`, dim: d.dim, train: d.train, test: d.test };
  }
  const wv = await loadWordVecs({ quick, log });
  if ('skipped' in wv) throw new Error(`word vectors: ${wv.skipped}`);
  // Unit rows, so that euclidean (both sides) ranks exactly as cosine does.
  const unit = (rows: Float32Array): Float32Array => {
    const out = rows.slice();
    for (let i = 0; i < out.length; i += wv.dim) {
      let s = 0;
      for (let j = 0; j < wv.dim; j++) s += out[i + j] * out[i + j];
      const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
      for (let j = 0; j < wv.dim; j++) out[i + j] *= inv;
    }
    return out;
  };
  return { name: `${wv.name}-unit`, label: `${wv.name}: fastText word vectors, L2-normalised (euclidean ranks as cosine), ${nq} held-out words as queries`, dim: wv.dim, train: unit(wv.train), test: unit(wv.test) };
})();
const dim = fm.dim;
if (n * dim > fm.train.length || nq * dim > fm.test.length) throw new Error(`${fm.name} has ${fm.train.length / dim} rows and ${fm.test.length / dim} queries; the bench wants ${n} and ${nq}`);
const corpus = fm.train.subarray(0, n * dim);
const queries = fm.test.subarray(0, nq * dim);
if (os.endianness() !== 'LE') throw new Error('the raw .f32 files assume a little-endian host');
mkdirSync(CACHE_DIR, { recursive: true });
const corpusPath = join(CACHE_DIR, `ivf-${fm.name}-train-n${n}.f32`);
const queriesPath = join(CACHE_DIR, `ivf-${fm.name}-test-q${nq}.f32`);
const writeRaw = (path: string, rows: Float32Array): void => {
  if (existsSync(path) && statSync(path).size === rows.byteLength) return;
  writeFileSync(path, new Uint8Array(rows.buffer, rows.byteOffset, rows.byteLength));
};
writeRaw(corpusPath, corpus);
writeRaw(queriesPath, queries);

const truth = await groundTruth({
  cacheDir: CACHE_DIR, dataset: fm.name, metric: 'euclidean', corpus, queries, n, nq, dim, k: K, threads, source: 'nearest', noCache: false,
  faiss: async () => ({ skipped: 'the IVF bench computes ground truth with nearest only' }),
  log,
});
const kth = kthDistances(truth.ids, corpus, queries, nq, dim, K);
const queryRows = Array.from({ length: nq }, (_, i) => queries.subarray(i * dim, (i + 1) * dim));

// ---- measurement helpers -----------------------------------------------------------------------

interface Pass { wallSeconds: number; cpuSeconds: number }
interface RawPoint { nprobe: number; queries: number; passes: Pass[]; qps: number; qpsPerCpuSecond: number }
interface ScoredPoint extends RawPoint { recallAt10: number; idRecallAt10: number }
interface SystemRun {
  system: 'nearest' | 'faiss';
  skipped?: string;
  description?: string;
  version?: string;
  trainWallSeconds?: number;
  trainCpuSeconds?: number;
  addWallSeconds?: number;
  addCpuSeconds?: number;
  /** Index bytes per vector: ours stats().memoryBytes / n; FAISS lists (codes + int64 ids) + centroids/codebooks/tables (+ refine floats) / n. */
  bytesPerVector?: number;
  /** Growth while adding ÷ n: ours stats().memoryBytes after − before add; FAISS (code size + 8-byte id) per list entry (+ refine floats). */
  addedBytesPerVector?: number;
  memoryDetail?: Record<string, number | string>;
  points: ScoredPoint[];
  atTarget?: { nprobe: number; recallAt10: number; qps: number; qpsPerCpuSecond: number } | null;
}

function stopwatch(): () => Pass {
  const w0 = performance.now();
  const c0 = process.cpuUsage();
  return () => {
    const c = process.cpuUsage(c0);
    return { wallSeconds: (performance.now() - w0) / 1000, cpuSeconds: (c.user + c.system) / 1e6 };
  };
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

function score(raw: RawPoint, ids: Int32Array): ScoredPoint {
  const r = recall(ids, nq, K, truth.ids, kth, corpus, queries, n, dim);
  return { ...raw, recallAt10: r.tieAware, idRecallAt10: r.ids };
}

function atTarget(points: ScoredPoint[]): SystemRun['atTarget'] {
  const p = [...points].sort((a, b) => a.nprobe - b.nprobe).find((q) => q.recallAt10 >= TARGET);
  return p ? { nprobe: p.nprobe, recallAt10: p.recallAt10, qps: p.qps, qpsPerCpuSecond: p.qpsPerCpuSecond } : null;
}

function childEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
  for (const v of ['OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS']) env[v] = String(threads);
  // Sleeping idle OpenMP workers: libgomp's default spinning starves OpenBLAS's threads on 2 cores
  // (see faiss_ivf.py); PASSIVE is the setting a 2-core deployment would use.
  env.OMP_WAIT_POLICY = OMP_WAIT_POLICY;
  return env;
}

async function faissChild(spec: Record<string, unknown>, label: string): Promise<{ json: Record<string, unknown> } | { skipped: string }> {
  const outcome = await spawnJson({
    command: PYTHON, args: [FAISS_CHILD, JSON.stringify(spec)], env: childEnv(), cwd: REPO_ROOT,
    timeoutSeconds: quick ? 600 : 3600, echoStderr: true, label,
  });
  if (!outcome.ok) return { skipped: outcome.reason };
  const json = outcome.json as Record<string, unknown>;
  if (json.skipped) return { skipped: String(json.reason) };
  return { json };
}

const baseSpec = { corpusPath, corpusRows: n, queriesPath, queryRows: nq, dim, k: K, nlist, niter, seed: SEED, threads };

// ---- k-means -------------------------------------------------------------------------------------

interface KmeansRun { system: string; wallSeconds: number; cpuSeconds: number; threads: number; objective: number[]; trainedOn: number; init: string; call: string }
const kmeansRuns: (KmeansRun | { system: string; skipped: string })[] = [];
if (!args['no-kmeans']) {
  if (systems.includes('nearest')) {
    log(`nearest kmeans: k=${nlist}, ${n} x ${dim}, niter ${niter}, ${threads} threads`);
    const stop = stopwatch();
    const km = kmeans(corpus, { k: nlist, dim, niter, seed: SEED, threads });
    const t = stop();
    log(`nearest kmeans: ${t.wallSeconds.toFixed(1)} s wall, ${t.cpuSeconds.toFixed(1)} CPU-s, objective ${km.objective.at(-1)?.toPrecision(6)}`);
    kmeansRuns.push({
      system: 'nearest', ...t, threads, objective: km.objective, trainedOn: km.trainedOn, init: 'k-means++ (default)',
      call: `kmeans(train, { k: ${nlist}, dim: ${dim}, niter: ${niter}, seed: ${SEED}, threads: ${threads} })`,
    });
  }
  if (systems.includes('faiss')) {
    const got = await faissChild({ ...baseSpec, mode: 'kmeans' }, 'faiss kmeans');
    if ('skipped' in got) kmeansRuns.push({ system: 'faiss', skipped: got.skipped });
    else kmeansRuns.push({ system: 'faiss', ...(got.json as unknown as Omit<KmeansRun, 'system'>) });
  }
}

// ---- IVF configurations -------------------------------------------------------------------------

function runOurs(cfg: IvfConfig): SystemRun {
  log(`nearest ${cfg.label}: IVF${nlist},${cfg.factory} over ${n} x ${dim}, train + add with ${threads} threads`);
  const index = new IvfIndex({ dim, metric: 'euclidean', nlist, encoding: cfg.encoding, refine: cfg.refine, threads, seed: SEED, niter, ...(cfg.kmeansInit ? { kmeansInit: cfg.kmeansInit } : {}) });
  let stop = stopwatch();
  index.train(corpus);
  const train = stop();
  const emptyBytes = index.stats().memoryBytes;
  stop = stopwatch();
  index.add(corpus);
  const add = stop();
  const stats = index.stats();
  log(`nearest ${cfg.label}: train ${train.wallSeconds.toFixed(1)} s (${train.cpuSeconds.toFixed(1)} CPU-s), add ${add.wallSeconds.toFixed(1)} s ` +
    `(${add.cpuSeconds.toFixed(1)} CPU-s), ${(stats.memoryBytes / n).toFixed(1)} B/vector (stats().memoryBytes)`);
  // Let the build's worker threads go idle before timing (as the FAISS child does).
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
  const points: ScoredPoint[] = [];
  const ids = new Int32Array(nq * K);
  for (const nprobe of nprobes) {
    const options = cfg.refine ? { nprobe, refineFactor: cfg.refineFactor } : { nprobe };
    for (let i = 0; i < warmup; i++) index.search(queryRows[i], K, options);
    const timed: Pass[] = [];
    for (let p = 0; p < passes; p++) {
      ids.fill(-1);
      const s = stopwatch();
      for (let i = 0; i < nq; i++) {
        const hits = index.search(queryRows[i], K, options);
        for (let j = 0; j < hits.length && j < K; j++) ids[i * K + j] = hits[j].id;
      }
      timed.push(s());
    }
    const raw: RawPoint = {
      nprobe, queries: nq, passes: timed,
      qps: median(timed.map((t) => nq / t.wallSeconds)), qpsPerCpuSecond: median(timed.map((t) => nq / Math.max(t.cpuSeconds, 1e-9))),
    };
    const point = score(raw, ids);
    points.push(point);
    log(`nearest ${cfg.label} nprobe ${String(nprobe).padStart(3)}: recall@10 ${point.recallAt10.toFixed(4)}, ${point.qps.toFixed(0)} QPS, ${point.qpsPerCpuSecond.toFixed(0)} QPS/CPU-s`);
  }
  return {
    system: 'nearest',
    description: `new IvfIndex({ dim: ${dim}, metric: 'euclidean', nlist: ${nlist}, encoding: ${JSON.stringify(cfg.encoding)}, refine: ${cfg.refine}, threads: ${threads}, seed: ${SEED}, niter: ${niter}${cfg.kmeansInit ? `, kmeansInit: '${cfg.kmeansInit}'` : ''} }); ` +
      `search(q, ${K}, { nprobe${cfg.refine ? `, refineFactor: ${cfg.refineFactor}` : ''} }) per query`,
    version: `nearest, kernels ${stats.kernels}`,
    trainWallSeconds: train.wallSeconds, trainCpuSeconds: train.cpuSeconds, addWallSeconds: add.wallSeconds, addCpuSeconds: add.cpuSeconds,
    bytesPerVector: stats.memoryBytes / n,
    addedBytesPerVector: (stats.memoryBytes - emptyBytes) / n,
    memoryDetail: { memoryBytes: stats.memoryBytes, memoryBytesBeforeAdd: emptyBytes, encoding: stats.encoding },
    points,
  };
}

async function runFaiss(cfg: IvfConfig): Promise<SystemRun> {
  const idsPrefix = join(CACHE_DIR, `ivf-ids-faiss-${cfg.kind}-n${n}-q${nq}`);
  const config = { name: `faiss ${cfg.label}`, kind: cfg.kind === 'flat-random' ? 'flat' : cfg.kind, m: cfg.m, nbits: cfg.nbits, kFactor: cfg.refineFactor };
  const got = await faissChild({ ...baseSpec, mode: 'index', config, nprobes, passes, warmup, idsPrefix }, `faiss ${cfg.label}`);
  if ('skipped' in got) return { system: 'faiss', skipped: got.skipped, points: [] };
  const j = got.json as {
    description: string; version: string; trainWallSeconds: number; trainCpuSeconds: number; addWallSeconds: number; addCpuSeconds: number;
    rssGrowthBytes: number; payload: Record<string, number>; points: (RawPoint & { idsPath: string })[];
  };
  const points = j.points.map((p) => {
    const ids = readIds(p.idsPath);
    rmSync(p.idsPath, { force: true });
    const { idsPath: _, ...raw } = p;
    return score(raw, ids);
  });
  for (const p of points) log(`faiss ${cfg.label} nprobe ${String(p.nprobe).padStart(3)}: recall@10 ${p.recallAt10.toFixed(4)}`);
  return {
    system: 'faiss', description: j.description, version: j.version,
    trainWallSeconds: j.trainWallSeconds, trainCpuSeconds: j.trainCpuSeconds, addWallSeconds: j.addWallSeconds, addCpuSeconds: j.addCpuSeconds,
    bytesPerVector: j.payload.total / n, addedBytesPerVector: (j.payload.listBytes + j.payload.refineBytes) / n, memoryDetail: { ...j.payload, rssGrowthBytes: j.rssGrowthBytes }, points,
  };
}

interface ConfigResult { config: IvfConfig; runs: SystemRun[]; recallDiff: { nprobe: number; ours: number; faiss: number; diff: number }[]; maxAbsDiff: number | null }
const results: ConfigResult[] = [];
for (const cfg of configs) {
  const runs: SystemRun[] = [];
  if (systems.includes('nearest')) runs.push(runOurs(cfg));
  if (systems.includes('faiss')) runs.push(await runFaiss(cfg));
  for (const r of runs) r.atTarget = r.skipped ? null : atTarget(r.points);
  const ours = runs.find((r) => r.system === 'nearest' && !r.skipped);
  const faiss = runs.find((r) => r.system === 'faiss' && !r.skipped);
  const recallDiff = ours && faiss
    ? nprobes.map((np) => {
      const a = ours.points.find((p) => p.nprobe === np)!.recallAt10;
      const b = faiss.points.find((p) => p.nprobe === np)!.recallAt10;
      return { nprobe: np, ours: a, faiss: b, diff: a - b };
    })
    : [];
  const maxAbsDiff = recallDiff.length ? Math.max(...recallDiff.map((d) => Math.abs(d.diff))) : null;
  results.push({ config: cfg, runs, recallDiff, maxAbsDiff });
}

// ---- report --------------------------------------------------------------------------------------

const environment = describeEnvironment(REPO_ROOT, PYTHON);
environment.command = ['tsx', 'bench/ivf.ts', ...process.argv.slice(2)].join(' ');
const out = process.stdout;
const f = (v: number | null | undefined, digits = 0): string => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));
const ratio = (a: number | null | undefined, b: number | null | undefined): number | null => (a && b ? a / b : null);

out.write(`\nIVF on ${fm.label}: corpus ${n} x ${dim}, k=${K}, euclidean; nlist ${nlist}, k-means niter ${niter}, seed ${SEED}, ` +
  `trained on all ${n} corpus rows\n`);
out.write(`${environment.cpuModel}, ${environment.logicalCpus} logical CPUs, node ${environment.node}; load average ${environment.loadAverage.join(' ')}\n`);
out.write(`training/adding on ${threads} threads (FAISS: OpenMP + OpenBLAS ${threads}, OMP_WAIT_POLICY=${OMP_WAIT_POLICY}); search: one query per call, 1 thread, median of ${passes} pass(es) after ${warmup} warm-up queries\n`);
out.write('Shared, noisy machine: QPS/CPU-s (queries per process CPU-second) is the fairer figure; wall QPS drifts with other load.\n');

const kmeansSummary: Record<string, number | null> = {};
if (kmeansRuns.length) {
  out.write(`\n== k-means: k=${nlist}, ${n} x ${dim}, niter ${niter}, ${threads} threads\n`);
  const t = new Table({ head: ['system', 'wall s', 'CPU-s', 'trained on', 'init', 'final objective'], style: { head: [], border: [], compact: true }, colAligns: ['left', 'right', 'right', 'right', 'left', 'right'] });
  for (const r of kmeansRuns) {
    if ('skipped' in r) t.push([r.system, { colSpan: 5, content: `skipped: ${r.skipped.slice(0, 90)}` }]);
    else t.push([r.system, f(r.wallSeconds, 1), f(r.cpuSeconds, 1), String(r.trainedOn), r.init, (r.objective.at(-1) ?? NaN).toExponential(5)]);
  }
  out.write(`${t.toString()}\n`);
  const a = kmeansRuns.find((r) => r.system === 'nearest');
  const b = kmeansRuns.find((r) => r.system === 'faiss');
  if (a && b && !('skipped' in a) && !('skipped' in b)) {
    kmeansSummary.wallRatio = a.wallSeconds / b.wallSeconds;
    kmeansSummary.cpuRatio = a.cpuSeconds / b.cpuSeconds;
    kmeansSummary.objectiveRatio = (a.objective.at(-1) ?? NaN) / (b.objective.at(-1) ?? NaN);
    out.write(`ours ÷ FAISS: wall ${kmeansSummary.wallRatio.toFixed(2)}×, CPU ${kmeansSummary.cpuRatio.toFixed(2)}×, final objective ${kmeansSummary.objectiveRatio.toFixed(4)}× ` +
      `(FAISS BLAS sgemm vs our WASM SIMD argmin kernel)\n`);
  }
}

out.write(`\n== build (train = k-means + encoder training; add = assign + encode ${n} rows), ${threads} threads, and index bytes per vector\n`);
const bt = new Table({
  head: ['config', 'system', 'train s', 'train CPU-s', 'add s', 'add CPU-s', 'total s', 'ours÷FAISS', 'B/vector', 'added B/vector'],
  colAligns: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'], style: { head: [], border: [], compact: true },
});
for (const r of results) {
  const faissTotal = (() => { const x = r.runs.find((q) => q.system === 'faiss' && !q.skipped); return x ? x.trainWallSeconds! + x.addWallSeconds! : null; })();
  for (const s of r.runs) {
    if (s.skipped) { bt.push([r.config.label, s.system, { colSpan: 8, content: `skipped: ${s.skipped.slice(0, 80)}` }]); continue; }
    const total = s.trainWallSeconds! + s.addWallSeconds!;
    bt.push([r.config.label, s.system, f(s.trainWallSeconds, 1), f(s.trainCpuSeconds, 1), f(s.addWallSeconds, 1), f(s.addCpuSeconds, 1), f(total, 1),
      s.system === 'nearest' ? f(ratio(total, faissTotal), 2) : '', f(s.bytesPerVector, 1), f(s.addedBytesPerVector, 1)]);
  }
}
out.write(`${bt.toString()}\n`);
out.write(`B/vector: ours stats().memoryBytes ÷ n; FAISS (codes + 8-byte id per entry) + centroids, codebooks, precomputed tables (+ refine floats) ÷ n. ` +
  `added B/vector: the part that grows with n (ours: memoryBytes after − before add, ÷ n; FAISS: code size + 8-byte id, + refine floats). ` +
  `PQ${PQ_M}x${PQ_NBITS} codes alone are ${(PQ_M * PQ_NBITS) / 8} B.\n`);

for (const r of results) {
  out.write(`\n== ${r.config.label} (IVF${nlist},${r.config.factory}): recall@10 and single-query speed per nprobe\n`);
  const ours = r.runs.find((q) => q.system === 'nearest' && !q.skipped);
  const faiss = r.runs.find((q) => q.system === 'faiss' && !q.skipped);
  for (const s of r.runs) if (s.skipped) out.write(`${s.system}: skipped: ${s.skipped}\n`);
  const t = new Table({
    head: ['nprobe', 'recall ours', 'recall FAISS', 'diff', 'QPS ours', 'QPS FAISS', 'QPS/CPU-s ours', 'QPS/CPU-s FAISS', 'CPU ratio'],
    colAligns: ['right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'], style: { head: [], border: [], compact: true },
  });
  for (const np of nprobes) {
    const a = ours?.points.find((p) => p.nprobe === np);
    const b = faiss?.points.find((p) => p.nprobe === np);
    const diff = a && b ? a.recallAt10 - b.recallAt10 : null;
    t.push([String(np), f(a?.recallAt10, 4), f(b?.recallAt10, 4), diff === null ? '—' : `${diff >= 0 ? '+' : ''}${diff.toFixed(4)}${Math.abs(diff) > RECALL_BAR ? ' !' : ''}`,
      f(a?.qps), f(b?.qps), f(a?.qpsPerCpuSecond), f(b?.qpsPerCpuSecond), f(ratio(a?.qpsPerCpuSecond, b?.qpsPerCpuSecond), 2)]);
  }
  out.write(`${t.toString()}\n`);
  if (r.maxAbsDiff !== null) out.write(`max |recall diff| ${r.maxAbsDiff.toFixed(4)} (bar ≤ ${RECALL_BAR}: ${r.maxAbsDiff <= RECALL_BAR ? 'met' : 'NOT met'})\n`);
}

out.write(`\n== summary: QPS at the smallest nprobe with recall@10 ≥ ${TARGET}\n`);
const st = new Table({
  head: ['config', 'ours nprobe', 'ours QPS', 'ours QPS/CPU-s', 'FAISS nprobe', 'FAISS QPS', 'FAISS QPS/CPU-s', 'QPS ours÷FAISS', 'QPS/CPU-s ours÷FAISS', 'max |Δrecall|'],
  colAligns: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'], style: { head: [], border: [], compact: true },
});
const summary = results.map((r) => {
  const a = r.runs.find((q) => q.system === 'nearest' && !q.skipped)?.atTarget ?? null;
  const b = r.runs.find((q) => q.system === 'faiss' && !q.skipped)?.atTarget ?? null;
  const row = {
    config: r.config.label, ours: a, faiss: b, qpsRatio: ratio(a?.qps, b?.qps), qpsPerCpuRatio: ratio(a?.qpsPerCpuSecond, b?.qpsPerCpuSecond), maxAbsRecallDiff: r.maxAbsDiff,
  };
  const nr = 'not reached';
  st.push([r.config.label, a ? String(a.nprobe) : nr, f(a?.qps), f(a?.qpsPerCpuSecond), b ? String(b.nprobe) : nr, f(b?.qps), f(b?.qpsPerCpuSecond),
    f(row.qpsRatio, 2), f(row.qpsPerCpuRatio, 2), f(r.maxAbsDiff, 4)]);
  return row;
});
out.write(`${st.toString()}\n`);

mkdirSync(RESULTS_DIR, { recursive: true });
const jsonPath = join(RESULTS_DIR, `ivf${suffix}.json`);
writeFileSync(jsonPath, `${JSON.stringify({
  benchmark: 'ivf', environment,
  params: { dataset: fm.name, n, nq, dim, k: K, metric: 'euclidean', nlist, niter, seed: SEED, threads, passes, warmup, nprobes, trainRows: n, ompWaitPolicy: OMP_WAIT_POLICY, target: TARGET, recallBar: RECALL_BAR },
  groundTruth: { ...(truth.meta as GroundTruthMeta), cached: truth.cached },
  kmeans: { runs: kmeansRuns, oursOverFaiss: kmeansSummary },
  configs: results, summary,
}, null, 2)}\n`);

const series: LineSeries[] = [];
for (const key of ['qps', 'qpsPerCpuSecond'] as const) {
  series.length = 0;
  const byKey = new Map<string, LineSeries>();
  for (const r of results) {
    for (const s of r.runs) {
      if (s.skipped) continue;
      byKey.set(`${s.system}:${r.config.kind}`, {
        name: `${s.system === 'nearest' ? 'nearest (ours)' : 'faiss'} ${r.config.label}`, highlight: false, points: s.points.map((p) => ({ x: p.recallAt10, y: p[key] })),
      });
    }
  }
  // Colours come from the chart's palette in series order (blue, green, purple, teal, grey, crimson,
  // olive, violet): this order gives each configuration's two systems related but distinct colours
  // (Flat blue/teal, SQ8 green/olive, PQ purple/violet, PQ+R grey/crimson).
  const colourOrder = ['nearest:flat', 'nearest:sq8', 'nearest:pq', 'faiss:flat', 'nearest:pq-refine', 'faiss:pq-refine', 'faiss:sq8', 'faiss:pq'];
  for (const k of colourOrder) if (byKey.has(k)) series.push(byKey.get(k)!);
  const minRecall = Math.min(...series.flatMap((s) => s.points.map((p) => p.x)));
  const svg = lineChart({
    title: `IVF (nlist ${nlist}) on ${fm.name}: recall@10 vs ${key === 'qps' ? 'queries per second' : 'queries per CPU-second'}`,
    subtitle: `${n} x ${dim} corpus, ${nq} queries, k=${K}, one query per call, 1 thread; nprobe ${nprobes.join(', ')} (left to right)`,
    series, xLabel: 'recall@10', yLabel: key === 'qps' ? 'queries per second (log)' : 'queries per CPU-second (log)', yLog: true,
    xDomain: [Math.max(0, Math.floor(minRecall * 20) / 20), 1],
    legendNotes: ['nearest = ours (WASM SIMD)', 'faiss = Debian python3-faiss', `PQ: m=${PQ_M}, 8 bits; R×${K_FACTOR} = exact re-rank`],
    footer: [`${environment.cpuModel}, ${environment.logicalCpus} logical CPUs, node ${environment.node}, ${environment.date.slice(0, 10)}; shared machine` +
      `${key === 'qps' ? ': wall QPS is noisy, see ivf-cpu.svg' : ''}`],
  });
  writeFileSync(join(RESULTS_DIR, `ivf${suffix}${key === 'qps' ? '' : '-cpu'}.svg`), svg);
}
out.write(`\nwrote ${jsonPath}, ivf${suffix}.svg, ivf${suffix}-cpu.svg\n`);
