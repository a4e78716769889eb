// HNSW benchmark, ann-benchmarks style: recall@10 vs queries per second while sweeping efSearch.
// Datasets (--datasets; default euclidean,cosine): Fashion-MNIST (60k x 784 corpus; a fixed subset
// of the 10k test images as queries) as 'euclidean' on raw pixels and 'cosine' on the L2-normalised
// copy; opt-in 'wordvecs' (bench/lib/wordvecs.ts: 60k x 100-d fastText word vectors and 1k held-out
// query words, L2-normalised, cosine) and 'clustered-960' (clusteredDataset: 60k x 960-d synthetic
// rows with intrinsic dimension 10, euclidean); 'clustered-1m' (1M x 128 synthetic, intrinsic dimension
// 16, euclidean), the scale run, only when named (not in 'all'). Every system builds its index once per dataset
// (m = 16, efConstruction = 200) in its own child process, then sweeps efSearch with one query per
// call on one thread. Prints per-system summaries at recall 0.95 / 0.99 and ours ÷ peer ratios;
// writes bench/results/hnsw.json and hnsw-<dataset>.svg.
// Started by bench/run.ts (`--suite hnsw`, or both suites by default).

import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';
import { clusteredDataset, loadFashionMnist } from '../../src/io/datasets.ts';
import { intArg, log, numberArg, type BenchArgs } from '../lib/args.ts';
import { loadBenchData } from '../lib/bench-data.ts';
import { formatNumber, lineChart, type LineSeries } from '../lib/chart.ts';
import { describeEnvironment } from '../lib/environment.ts';
import { kthDistances, readIds, recall, type GroundTruthMeta, type RefMetric } from '../lib/exact.ts';
import { groundTruth } from '../lib/ground-truth.ts';
import { ensureNativeHnswlib } from '../lib/native-addon.ts';
import { isChildReport, isSkipReport, isSweepReport, type ChildSpec, type SweepPass, type SweepReport, type SweepSpec } from '../lib/protocol.ts';
import { spawnJson } from '../lib/spawn.ts';
import { REPO_ROOT, childCommand, exactSystems, hnswSystems, pythonExecutable, sweepCommand, type HnswSystemDefinition } from '../systems/registry.ts';

const K = 10;
const M = 16;
const EF_CONSTRUCTION = 200;
const CACHE_DIR = join(REPO_ROOT, 'bench', '.cache');
const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
const FULL_EF = [10, 12, 14, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 192, 256];
const QUICK_EF = [10, 16, 32, 64, 128];
const TARGETS = [0.95, 0.99] as const;
const DATASETS = ['euclidean', 'cosine', 'wordvecs', 'clustered-960', 'clustered-1m'] as const;
type DatasetId = (typeof DATASETS)[number];
/** What runs without --datasets (the CI run): Fashion-MNIST's two. `--datasets all` runs every one. */
const DEFAULT_DATASETS: readonly DatasetId[] = ['euclidean', 'cosine'];
/** The synthetic 960-d set (the same options as bench/batch.ts's clustered-960, at this suite's sizes). */
const CLUSTERED = { dim: 960, clusters: 100, intrinsicDim: 10, seed: 3 } as const;
/** The scale set (opt-in by name, not in 'all'): 1M x 128 synthetic, 1,000 clusters in a 16-d subspace. */
const CLUSTERED_1M = { dim: 128, clusters: 1000, intrinsicDim: 16, seed: 5 } as const;

/** One sweep point as the parent scores it. */
export interface ScoredPoint {
  ef: number;
  queries: number;
  /** recall@10, ties at the 10th distance counted (ann-benchmarks' rule). */
  recallAt10: number;
  /** Plain |found ∩ ground truth| / 10. */
  idRecallAt10: number;
  qps: number;
  qpsPerCpuSecond: number;
  passes: SweepPass[];
}

/** The fastest sweep point reaching a recall (no interpolation), or null. */
interface AtRecall {
  target: number;
  /** Best QPS/CPU-s among points with recall ≥ target, and that point. */
  qpsPerCpuSecond: number | null;
  efCpu: number | null;
  recallCpu: number | null;
  /** Best wall QPS among points with recall ≥ target, and that point. */
  qps: number | null;
  efWall: number | null;
  recallWall: number | null;
}

interface SystemResult {
  system: string;
  label: string;
  ours: boolean;
  dataset: DatasetId;
  description: string;
  skipped?: string;
  childSeconds?: number;
  report?: Omit<SweepReport, 'points'>;
  points: ScoredPoint[];
  maxRecall: number | null;
  atRecall: AtRecall[];
  memoryBytesPerVector: number | null;
  indexBytesPerVector: number | null;
}

function bestAt(points: ScoredPoint[], target: number): AtRecall {
  const ok = points.filter((p) => p.recallAt10 >= target);
  if (ok.length === 0) return { target, qpsPerCpuSecond: null, efCpu: null, recallCpu: null, qps: null, efWall: null, recallWall: null };
  const cpu = ok.reduce((a, b) => (b.qpsPerCpuSecond > a.qpsPerCpuSecond ? b : a));
  const wall = ok.reduce((a, b) => (b.qps > a.qps ? b : a));
  return { target, qpsPerCpuSecond: cpu.qpsPerCpuSecond, efCpu: cpu.ef, recallCpu: cpu.recallAt10, qps: wall.qps, efWall: wall.ef, recallWall: wall.recallAt10 };
}

function seconds(from: number): string {
  return ((performance.now() - from) / 1000).toFixed(1);
}

function writeRaw(path: string, data: Float32Array): void {
  if (existsSync(path) && statSync(path).size === data.byteLength) return;
  writeFileSync(path, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
}

/** L2-normalised copy (norms in float64; all-zero rows stay zero). */
function normalizedCopy(rows: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(rows.length);
  for (let r = 0; r < rows.length / dim; r++) {
    let s = 0;
    const o = r * dim;
    for (let j = 0; j < dim; j++) s += rows[o + j] * rows[o + j];
    const inv = s > 0 ? 1 / Math.sqrt(s) : 0;
    for (let j = 0; j < dim; j++) out[o + j] = rows[o + j] * inv;
  }
  return out;
}

/** The shape of one dataset's corpus and queries. */
interface DatasetShape {
  name: string;
  n: number;
  nq: number;
  dim: number;
}

/**
 * The results document written to bench/results/<stem>.json (and read back by --replot). `dataset`
 * is Fashion-MNIST's shape, shared by 'euclidean' and 'cosine' (present when either ran); the other
 * datasets carry their own shape and chart title in their `datasets` entry.
 */
interface HnswDocument {
  dataset?: DatasetShape;
  datasets: ({ id: DatasetId } & Partial<DatasetShape> & { title?: string })[];
  config: { quick: boolean; efSearch: number[] };
  environment: { cpuModel: string; logicalCpus: number; node: string; date: string; kernels: string | null };
  results: SystemResult[];
}

/** Log axis bounds on the 1-2-5 grid around [lo, hi]. */
function niceLogDomain(lo: number, hi: number): [number, number] {
  const steps = [1, 2, 5, 10];
  const down = (v: number) => {
    const e = 10 ** Math.floor(Math.log10(v));
    return e * [...steps].reverse().find((m) => m * e <= v)!;
  };
  const up = (v: number) => {
    const e = 10 ** Math.floor(Math.log10(v));
    return e * steps.find((m) => m * e >= v)!;
  };
  return [down(lo * 0.9), up(hi * 1.1)];
}

/** hnsw-<dataset>.svg (recall vs wall QPS) and hnsw-<dataset>-cpu.svg (vs QPS/CPU-s) per dataset. */
function writeCharts(doc: HnswDocument, stem: string): void {
  const efSearch = doc.config.efSearch;
  const env = doc.environment;
  for (const entry of doc.datasets) {
    const { id } = entry;
    const own = entry.name !== undefined && entry.n !== undefined && entry.nq !== undefined && entry.dim !== undefined;
    const shape = own ? (entry as DatasetShape) : doc.dataset;
    if (shape === undefined) throw new Error(`--replot: no shape recorded for dataset ${id}`);
    const { name, n, nq, dim } = shape;
    const title = entry.title ?? `${name}, ${id === 'euclidean' ? 'euclidean (raw pixels)' : 'cosine (normalised)'}`;
    const command = `npm run bench:hnsw${own ? ` -- ${doc.config.quick ? '--quick ' : ''}--datasets ${id}` : doc.config.quick ? ' -- --quick' : ''}`;
    const rows = doc.results.filter((r) => r.dataset === id && !r.skipped && r.points.length > 0);
    for (const [suffix, key, yLabel] of [
      ['', 'qps', 'queries per second, wall (log scale)'],
      ['-cpu', 'qpsPerCpuSecond', 'queries per CPU-second (log scale)'],
    ] as const) {
      const series: LineSeries[] = rows.map((r) => ({
        name: r.label,
        highlight: r.ours,
        points: r.points.map((p) => ({ x: p.recallAt10, y: p[key] })),
      }));
      const visible = series.flatMap((s) => s.points.filter((p) => p.x >= 0.8).map((p) => p.y));
      const lo = visible.length ? Math.min(...visible) : 100;
      const hi = visible.length ? Math.max(...visible) : 10_000;
      const svgPath = join(RESULTS_DIR, `${stem}-${id}${suffix}.svg`);
      writeFileSync(
        svgPath,
        lineChart({
          title: `HNSW on ${title}: recall@10 vs ${key === 'qps' ? 'QPS' : 'QPS per CPU-second'}`,
          subtitle: `${n} × ${dim} corpus, ${nq} queries, m=${M}, efConstruction=${EF_CONSTRUCTION}, efSearch ${efSearch[0]}–${efSearch[efSearch.length - 1]}; one query per call, 1 thread; up and to the right is better`,
          series,
          xLabel: 'recall@10',
          yLabel,
          yLog: true,
          xDomain: [0.8, 1.0],
          yDomain: niceLogDomain(lo, hi),
          clip: true,
          width: 900,
          height: 520,
          footer: [
            `${env.cpuModel}, ${env.logicalCpus} logical CPUs, node ${env.node}${env.kernels ? `, nearest kernels ${env.kernels}` : ''}, ${env.date.slice(0, 10)}; shared machine: ${key === 'qps' ? 'wall QPS is noisy, see the -cpu chart' : 'CPU-time based, less sensitive to other load'}`,
            `command: ${command}  (bench/suites/hnsw.ts)`,
          ],
        }),
      );
      process.stdout.write(`wrote ${svgPath}\n`);
    }
  }
}

export async function runHnswSuite(args: BenchArgs): Promise<void> {
  const tSuite = performance.now();
  const quick = args.quick ?? false;
  if (args.replot) {
    // Redraw the charts of a finished run from its JSON (no measuring).
    const stem = args.out ?? (quick ? 'hnsw-quick' : 'hnsw');
    const jsonPath = join(RESULTS_DIR, `${stem}.json`);
    if (!existsSync(jsonPath)) {
      log(`--replot: ${jsonPath} does not exist`);
      process.exit(2);
    }
    writeCharts(JSON.parse(readFileSync(jsonPath, 'utf8')) as HnswDocument, stem);
    return;
  }
  const passes = intArg('passes', args.passes, quick ? 1 : 3);
  const buildThreads = intArg('build-threads', args['build-threads'], 2);
  const minQps = numberArg('min-qps', args['min-qps'], 300, 0, 1e9);
  const stopRecall = numberArg('stop-recall', args['stop-recall'], 0.999, 0, 1.01);
  const efSearch = args.ef === undefined ? (quick ? QUICK_EF : FULL_EF) : args.ef.split(',').map((v) => intArg('ef', v, 0, 1));
  const datasetArg = args.datasets?.split(',').map((d) => d.trim()).filter((d) => d.length > 0);
  const datasetIds: DatasetId[] = [...new Set(
    datasetArg === undefined ? DEFAULT_DATASETS : datasetArg.length === 1 && datasetArg[0] === 'all' ? DATASETS.filter((d) => d !== 'clustered-1m') : datasetArg,
  )].map((d) => {
    if (!(DATASETS as readonly string[]).includes(d)) {
      log(`unknown dataset ${d}; expected ${DATASETS.join(', ')} or all`);
      process.exit(2);
    }
    return d as DatasetId;
  });
  let systems = hnswSystems;
  if (args.systems !== undefined) {
    const wanted = args.systems.split(',');
    const unknown = wanted.filter((w) => !hnswSystems.some((s) => s.name === w));
    if (unknown.length > 0) {
      log(`unknown system(s) ${unknown.join(', ')}; known: ${hnswSystems.map((s) => s.name).join(', ')}`);
      process.exit(2);
    }
    systems = hnswSystems.filter((s) => wanted.includes(s.name));
  }
  const gtSource = args['gt-source'] ?? 'nearest';
  if (gtSource !== 'nearest' && gtSource !== 'faiss') {
    log(`--gt-source must be nearest or faiss, got ${gtSource}`);
    process.exit(2);
  }

  // ---- data -----------------------------------------------------------------------------------

  const t0 = performance.now();
  mkdirSync(CACHE_DIR, { recursive: true });
  mkdirSync(RESULTS_DIR, { recursive: true });
  if (os.endianness() !== 'LE') throw new Error('the raw .f32 cache files assume a little-endian host');

  /** A corpus/query shape as the header and the log describe it (Fashion-MNIST's two datasets share one). */
  interface Shape extends DatasetShape {
    /** The queries, for the log line ("the first 200 of 10000 test images") and the header ("first 200 test images"). */
    queriesLong: string;
    queriesShort: string;
  }
  interface DatasetInfo {
    id: DatasetId;
    metric: RefMetric;
    /** Ground-truth cache key (specific to the content: the data set's name, plus -normalized for a normalised copy). */
    key: string;
    shape: Shape;
    source: string;
    n: number;
    nq: number;
    dim: number;
    /** Cut to n / nq rows. */
    corpus: Float32Array;
    queries: Float32Array;
    /** Raw float32 files the children read (their first n / nq rows); names specific to the content. */
    corpusPath: string;
    queriesPath: string;
    description: string;
    /** Fashion-MNIST ('euclidean', 'cosine'): described by the document's top-level `dataset`. */
    fashionMnist: boolean;
    /** Chart title after "HNSW on " (other datasets; Fashion-MNIST's is derived from the id). */
    title?: string;
  }
  const datasets: DatasetInfo[] = [];
  const skippedDatasets: { id: DatasetId; reason: string }[] = [];

  let fm: { name: string; source: string; train: Float32Array; test: Float32Array; shape: Shape } | null = null;
  if (datasetIds.some((id) => id === 'euclidean' || id === 'cosine')) {
    const loaded = loadFashionMnist({ install: true });
    if (loaded === null) {
      log('Fashion-MNIST is not available (apt package dataset-fashion-mnist could not be installed); aborting.');
      process.exit(1);
    }
    const dim = loaded.dim;
    const trainRows = loaded.train.length / dim;
    const testRows = loaded.test.length / dim;
    const n = Math.min(intArg('n', args.n, quick ? 10_000 : trainRows), trainRows);
    const nq = Math.min(intArg('nq', args.nq, quick ? 200 : 2000), testRows);
    fm = {
      name: loaded.name, source: loaded.source, train: loaded.train, test: loaded.test,
      shape: { name: loaded.name, n, nq, dim, queriesLong: `the first ${nq} of ${testRows} test images`, queriesShort: `first ${nq} test images` },
    };
  }

  for (const id of datasetIds) {
    if (id === 'euclidean' && fm !== null) {
      const { n, nq, dim } = fm.shape;
      const corpusPath = join(CACHE_DIR, `${fm.name}-train.f32`);
      const queriesPath = join(CACHE_DIR, `${fm.name}-test.f32`);
      writeRaw(corpusPath, fm.train);
      writeRaw(queriesPath, fm.test);
      datasets.push({
        id, metric: 'euclidean', key: fm.name, shape: fm.shape, source: fm.source, n, nq, dim, corpusPath, queriesPath, fashionMnist: true,
        corpus: fm.train.subarray(0, n * dim), queries: fm.test.subarray(0, nq * dim),
        description: 'raw pixels 0..255 as float32, euclidean (hnswlib l2, FAISS L2, usearch l2sq)',
      });
    } else if (id === 'cosine' && fm !== null) {
      const { n, nq, dim } = fm.shape;
      const train = normalizedCopy(fm.train, dim);
      const test = normalizedCopy(fm.test, dim);
      const corpusPath = join(CACHE_DIR, `${fm.name}-normalized-train.f32`);
      const queriesPath = join(CACHE_DIR, `${fm.name}-normalized-test.f32`);
      writeRaw(corpusPath, train);
      writeRaw(queriesPath, test);
      datasets.push({
        id, metric: 'cosine', key: `${fm.name}-normalized`, shape: fm.shape, source: fm.source, n, nq, dim, corpusPath, queriesPath, fashionMnist: true,
        corpus: train.subarray(0, n * dim), queries: test.subarray(0, nq * dim),
        description: 'L2-normalised pixels (corpus and queries), cosine (hnswlib cosine, FAISS inner product, usearch cos)',
      });
    } else if (id === 'wordvecs') {
      // All base and query vectors of the cached set (quick: the small one), cut here like Fashion-MNIST.
      const wv = await loadBenchData('wordvecs', { quick, log });
      if ('skipped' in wv) {
        log(`dataset wordvecs: skipped — ${wv.skipped}`);
        skippedDatasets.push({ id, reason: wv.skipped });
        continue;
      }
      const dim = wv.dim;
      const n = Math.min(intArg('n', args.n, wv.n), wv.n);
      const nq = Math.min(intArg('nq', args.nq, wv.nq), wv.nq);
      // fastText vectors are not unit length: normalise (as for Fashion-MNIST's cosine set) so FAISS's
      // inner product is cosine too; the key's hash names the vectors, -normalized the copy.
      const train = normalizedCopy(wv.corpus, dim);
      const test = normalizedCopy(wv.queries, dim);
      const key = `${wv.key}-normalized`;
      const corpusPath = join(CACHE_DIR, `${key}-train.f32`);
      const queriesPath = join(CACHE_DIR, `${key}-test.f32`);
      writeRaw(corpusPath, train);
      writeRaw(queriesPath, test);
      datasets.push({
        id, metric: 'cosine', key, source: wv.source, n, nq, dim, corpusPath, queriesPath, fashionMnist: false,
        shape: { name: wv.key, n, nq, dim, queriesLong: `the first ${nq} of ${wv.nq} held-out query words`, queriesShort: `first ${nq} held-out query words` },
        corpus: train.subarray(0, n * dim), queries: test.subarray(0, nq * dim),
        title: `${wv.key} (fastText word vectors), cosine (normalised)`,
        description: 'fastText skipgram word vectors (bench/lib/wordvecs.ts), L2-normalised (corpus and queries), cosine (hnswlib cosine, FAISS inner product, usearch cos)',
      });
    } else if (id === 'clustered-960' || id === 'clustered-1m') {
      const big = id === 'clustered-1m', opts = big ? CLUSTERED_1M : CLUSTERED;
      const n = intArg('n', args.n, big ? (quick ? 50_000 : 1_000_000) : quick ? 10_000 : 60_000);
      const nq = intArg('nq', args.nq, quick ? 200 : big ? 1000 : 2000);
      const tGen = performance.now();
      const cd = clusteredDataset({ n, nq, ...opts });
      log(`dataset ${id}: generated ${cd.name} in ${seconds(tGen)} s`);
      const dim = cd.dim;
      // The name spells every option (n, nq, dim, clusters, intrinsic dim, seed): the same name, the same bytes.
      const corpusPath = join(CACHE_DIR, `${cd.name}-train.f32`);
      const queriesPath = join(CACHE_DIR, `${cd.name}-test.f32`);
      writeRaw(corpusPath, cd.train);
      writeRaw(queriesPath, cd.test);
      datasets.push({
        id, metric: 'euclidean', key: cd.name, source: cd.source, n, nq, dim, corpusPath, queriesPath, fashionMnist: false,
        shape: { name: cd.name, n, nq, dim, queriesLong: `${nq} rows drawn from the same clusters`, queriesShort: `${nq} rows from the same clusters` },
        corpus: cd.train, queries: cd.test,
        title: `${cd.name} (synthetic), euclidean`,
        description: `synthetic ${cd.source}: ${opts.clusters} Gaussian clusters in a ${opts.intrinsicDim}-d subspace mapped to ${dim}-d plus noise, euclidean (hnswlib l2, FAISS L2, usearch l2sq)`,
      });
    }
  }
  const shapes = [...new Set(datasets.map((d) => d.shape))];
  log(`${shapes.length > 1 ? 'datasets' : 'dataset'} ${shapes.map((sh) => `${sh.name}: corpus ${sh.n} x ${sh.dim}, queries: ${sh.queriesLong}`).join('; ')}, k ${K}; ` +
    `m ${M}, efConstruction ${EF_CONSTRUCTION}; efSearch sweep ${efSearch.join(',')}; ${passes} timed pass(es) per point (loaded in ${seconds(t0)} s)`);

  // ---- ground truth (the exact suite's machinery, cached; euclidean reuses the exact suite's file) ----

  const truths = new Map<DatasetId, { ids: Int32Array; kth: Float64Array; meta: GroundTruthMeta; cached: boolean; gtPath: string; kthPath: string }>();
  for (const ds of datasets) {
    const gt = await groundTruth({
      cacheDir: CACHE_DIR, dataset: ds.key, metric: ds.metric, corpus: ds.corpus, queries: ds.queries,
      n: ds.n, nq: ds.nq, dim: ds.dim, k: K, threads: os.cpus().length, source: gtSource, noCache: args['no-cache'] ?? false, log,
      faiss: () => faissGroundTruth(ds),
    });
    const kth = kthDistances(gt.ids, ds.corpus, ds.queries, ds.nq, ds.dim, K, ds.metric);
    const base = join(CACHE_DIR, `sweep-${ds.id}-n${ds.n}-q${ds.nq}`);
    writeFileSync(`${base}-gt.i32`, new Uint8Array(gt.ids.buffer, gt.ids.byteOffset, gt.ids.byteLength));
    writeFileSync(`${base}-kth.f64`, new Uint8Array(kth.buffer, kth.byteOffset, kth.byteLength));
    truths.set(ds.id, { ...gt, kth, gtPath: `${base}-gt.i32`, kthPath: `${base}-kth.f64` });
  }

  async function faissGroundTruth(ds: DatasetInfo): Promise<Int32Array | { skipped: string }> {
    const def = exactSystems.find((s) => s.name === 'faiss')!;
    const spec: ChildSpec = {
      system: 'faiss', mode: 'batch', threads: os.cpus().length, metric: ds.metric, dim: ds.dim, k: K,
      corpusPath: ds.corpusPath, corpusRows: ds.n, queriesPath: ds.queriesPath, queryRows: ds.nq, warmup: 0,
      timeBudgetSeconds: 3600, idsPath: join(CACHE_DIR, `gt-faiss-${ds.id}-tmp.i32`), params: {},
    };
    const { command, args: childArgs, env } = childCommand(def, spec);
    const outcome = await spawnJson({ command, args: childArgs, env, cwd: REPO_ROOT, timeoutSeconds: 1800, label: 'faiss-gt' });
    if (!outcome.ok) return { skipped: outcome.reason };
    if (isSkipReport(outcome.json)) return { skipped: outcome.json.reason };
    if (!isChildReport(outcome.json)) return { skipped: 'malformed FAISS report' };
    const ids = readIds(outcome.json.idsPath);
    rmSync(outcome.json.idsPath, { force: true });
    return ids;
  }

  // ---- the -march=native rebuild of hnswlib-node (cached) ----------------------------------------

  let native: { path: string; flags: string } | { skipped: string } | null = null;
  if (systems.some((s) => s.nativeAddon)) {
    const tNative = performance.now();
    native = ensureNativeHnswlib(REPO_ROOT, CACHE_DIR, log);
    if ('skipped' in native) log(`hnswlib-node -march=native: skipped — ${native.skipped}`);
    else log(`hnswlib-node -march=native: ready in ${seconds(tNative)} s`);
  }

  // ---- runs -----------------------------------------------------------------------------------

  const results: SystemResult[] = [];
  const total = datasets.length * systems.length;
  let step = 0;
  const tRuns = performance.now();
  for (const ds of datasets) {
    const truth = truths.get(ds.id)!;
    for (const def of systems) {
      step++;
      const tag = `[hnsw ${step}/${total}] ${def.name}/${ds.id}`;
      const base: SystemResult = {
        system: def.name, label: def.label, ours: def.ours ?? false, dataset: ds.id, description: def.description,
        points: [], maxRecall: null, atRecall: TARGETS.map((t) => bestAt([], t)), memoryBytesPerVector: null, indexBytesPerVector: null,
      };
      const params: Record<string, unknown> = { ...def.params };
      if (def.nativeAddon) {
        if (native === null || 'skipped' in native) {
          const why = native && 'skipped' in native ? native.skipped : 'not built';
          log(`${tag}: skipped — ${why}`);
          results.push({ ...base, skipped: why });
          continue;
        }
        params.modulePath = native.path;
        params.buildFlags = native.flags;
      }
      const spec: SweepSpec = {
        system: def.name, mode: 'single', dataset: ds.id, metric: ds.metric, dim: ds.dim, k: K,
        corpusPath: ds.corpusPath, corpusRows: ds.n, queriesPath: ds.queriesPath, queryRows: ds.nq,
        m: M, efConstruction: EF_CONSTRUCTION, buildThreads, efSearch, passes,
        warmup: Math.min(ds.nq, quick ? 50 : 200), stopRecall, minQps,
        groundTruthPath: truth.gtPath, kthPath: truth.kthPath,
        idsPrefix: join(CACHE_DIR, `ids-hnsw-${def.name}-${ds.id}`),
        params,
      };
      log(`${tag}: starting (${def.label})`);
      const tChild = performance.now();
      const { command, args: childArgs, env } = sweepCommand(def, spec);
      const outcome = await spawnJson({
        command, args: childArgs, env, cwd: REPO_ROOT, timeoutSeconds: quick ? 600 : 1800, echoStderr: true, label: `${def.name}/${ds.id}`,
      });
      let reason: string | null = null;
      if (!outcome.ok) reason = outcome.reason;
      else if (isSkipReport(outcome.json)) reason = outcome.json.reason;
      else if (!isSweepReport(outcome.json)) reason = `malformed report: ${JSON.stringify(outcome.json).slice(0, 200)}`;
      if (reason !== null || !outcome.ok || !isSweepReport(outcome.json)) {
        log(`${tag}: skipped — ${reason}`);
        results.push({ ...base, skipped: reason ?? 'unknown' });
        continue;
      }
      const report = outcome.json;
      const points: ScoredPoint[] = report.points.map((p) => {
        const found = readIds(p.idsPath);
        rmSync(p.idsPath, { force: true });
        const rc = recall(found, p.queries, K, truth.ids, truth.kth, ds.corpus, ds.queries, ds.n, ds.dim, ds.metric);
        if (Math.abs(rc.tieAware - p.childRecall) > 1e-9) log(`${tag}: ef ${p.ef}: child recall ${p.childRecall} != parent recall ${rc.tieAware} (parent's is reported)`);
        return { ef: p.ef, queries: p.queries, recallAt10: rc.tieAware, idRecallAt10: rc.ids, qps: p.qps, qpsPerCpuSecond: p.qpsPerCpuSecond, passes: p.passes };
      });
      const { points: _drop, ...meta } = report;
      results.push({
        ...base,
        childSeconds: outcome.seconds,
        report: meta,
        points,
        maxRecall: points.length ? Math.max(...points.map((p) => p.recallAt10)) : null,
        atRecall: TARGETS.map((t) => bestAt(points, t)),
        memoryBytesPerVector: report.memoryBytes / ds.n,
        indexBytesPerVector: report.indexMemoryBytes !== undefined ? report.indexMemoryBytes / ds.n : null,
      });
      log(`${tag}: done in ${seconds(tChild)} s (build ${report.buildWallSeconds.toFixed(1)} s wall / ${report.buildCpuSeconds.toFixed(1)} CPU-s on ${report.buildThreads} thread(s); ` +
        `${points.length} points${report.stoppedEarly ? `, stopped: ${report.stoppedEarly}` : ''}); suite ${seconds(tSuite)} s so far`);
    }
  }
  log(`all HNSW runs done in ${seconds(tRuns)} s`);

  // ---- summaries ------------------------------------------------------------------------------

  const environment = describeEnvironment(REPO_ROOT, pythonExecutable());
  const kernels = results.find((r) => r.ours && r.report?.kernels)?.report?.kernels;
  const fmt = (v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? '—' : formatNumber(v));
  const times = (x: number | null): string => (x === null || !Number.isFinite(x) ? '—' : `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}×`);
  const ratio = (a: number | null | undefined, b: number | null | undefined): number | null =>
    a === null || a === undefined || b === null || b === undefined || !(b > 0) ? null : a / b;

  interface RatioRow {
    dataset: DatasetId;
    ours: string;
    peer: string;
    target: number;
    qpsPerCpuSecond: number | null;
    qps: number | null;
  }
  const ratioRows: RatioRow[] = [];
  const buildRatios: { dataset: DatasetId; ours: string; peer: string; wall: number | null; cpu: number | null; oursThreads: number | null; peerThreads: number | null }[] = [];
  const memoryRatios: { dataset: DatasetId; ours: string; peer: string; rssPerVector: number | null; indexOverPeerRss: number | null }[] = [];

  const out = process.stdout;
  out.write(`\nHNSW (m=${M}, efConstruction=${EF_CONSTRUCTION}), ${shapes.map((sh) => `${sh.name}: corpus ${sh.n} x ${sh.dim}, queries: ${sh.queriesShort}`).join('; ')}, k=${K}; ` +
    `efSearch sweep ${efSearch.join(',')}, ${passes} timed pass(es) per point (median)\n`);
  out.write(`${environment.cpuModel}, ${environment.logicalCpus} logical CPUs, node ${environment.node}${kernels ? `, nearest kernels: ${kernels}` : ''}; ` +
    `search: one query per call, 1 thread; build: ${buildThreads} threads where the system can\n`);
  out.write('QPS/CPU-s (queries per process CPU-second) is the figure to compare on this shared machine; wall QPS drifts with other load.\n');

  for (const { id, reason } of skippedDatasets) out.write(`\n== ${id}: skipped — ${reason}\n`);
  for (const ds of datasets) {
    const rows = results.filter((r) => r.dataset === ds.id);
    const truth = truths.get(ds.id)!;
    out.write(`\n== ${ds.id}: ${ds.description}\n`);
    out.write(`ground truth: ${truth.meta.source}${truth.cached ? ' (cached)' : ''}; recall@10 counts ties at the 10th distance\n`);
    const table = new Table({
      head: ['system', 'build s', 'build CPU-s', 'thr', 'B/vector', 'max recall', 'QPS/CPU-s @.95 (ef)', 'QPS @.95', 'QPS/CPU-s @.99 (ef)', 'QPS @.99'],
      colAligns: ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
      style: { head: [], border: [], compact: true },
    });
    for (const r of rows) {
      if (r.skipped) {
        table.push([r.label, { colSpan: 9, content: `skipped: ${r.skipped.slice(0, 100)}` }]);
        continue;
      }
      const at = (t: number) => r.atRecall.find((a) => a.target === t)!;
      const cpuCell = (a: AtRecall) => (a.qpsPerCpuSecond === null ? 'not reached' : `${fmt(a.qpsPerCpuSecond)} (${a.efCpu})`);
      const wallCell = (a: AtRecall) => (a.qps === null ? 'not reached' : `${fmt(a.qps)}`);
      const mem = r.indexBytesPerVector !== null ? `${fmt(r.memoryBytesPerVector)} (idx ${fmt(r.indexBytesPerVector)})` : fmt(r.memoryBytesPerVector);
      table.push([
        r.ours ? `${r.label} *` : r.label,
        r.report!.buildWallSeconds.toFixed(1),
        r.report!.buildCpuSeconds.toFixed(1),
        String(r.report!.buildThreads),
        mem,
        r.maxRecall === null ? '—' : r.maxRecall.toFixed(4),
        cpuCell(at(0.95)),
        wallCell(at(0.95)),
        cpuCell(at(0.99)),
        wallCell(at(0.99)),
      ]);
    }
    out.write(`${table.toString()}\n`);
    out.write('* ours. B/vector = RSS growth while building ÷ n (idx: stats().memoryBytes ÷ n); @R = fastest sweep point with recall@10 ≥ R (no interpolation)\n');

    // Ratios ours ÷ peer at each target, for the best of our configurations and each of them.
    const ours = rows.filter((r) => r.ours && !r.skipped);
    const peers = rows.filter((r) => !r.ours && !r.skipped);
    const atOf = (r: SystemResult, t: number) => r.atRecall.find((a) => a.target === t)!;
    const bestOurs = (t: number, key: 'qpsPerCpuSecond' | 'qps'): number | null => {
      const v = ours.map((r) => atOf(r, t)[key]).filter((x): x is number => x !== null);
      return v.length ? Math.max(...v) : null;
    };
    if (ours.length > 0 && peers.length > 0) {
      const rt = new Table({
        head: ['ours ÷ peer', ...TARGETS.flatMap((t) => [`QPS/CPU-s @${t}`, `QPS @${t}`])],
        colAligns: ['left', ...TARGETS.flatMap(() => ['right', 'right'] as const)],
        style: { head: [], border: [], compact: true },
      });
      for (const p of peers) {
        const cells: string[] = [];
        for (const t of TARGETS) {
          const pa = atOf(p, t);
          const bestRow: RatioRow = {
            dataset: ds.id, ours: 'best', peer: p.system, target: t,
            qpsPerCpuSecond: ratio(bestOurs(t, 'qpsPerCpuSecond'), pa.qpsPerCpuSecond),
            qps: ratio(bestOurs(t, 'qps'), pa.qps),
          };
          const eachRows: RatioRow[] = ours.map((o) => ({
            dataset: ds.id, ours: o.system, peer: p.system, target: t,
            qpsPerCpuSecond: ratio(atOf(o, t).qpsPerCpuSecond, pa.qpsPerCpuSecond),
            qps: ratio(atOf(o, t).qps, pa.qps),
          }));
          ratioRows.push(bestRow, ...eachRows);
          for (const key of ['qpsPerCpuSecond', 'qps'] as const) {
            cells.push(`${times(bestRow[key])} (${eachRows.map((r) => times(r[key])).join(' / ')})`);
          }
        }
        rt.push([p.label, ...cells]);
      }
      out.write(`ratios (>1: ours faster); best of our configs (${ours.map((o) => o.label.replace('nearest HNSW ', '')).join(' / ')}); "—" = a side did not reach the recall\n`);
      out.write(`${rt.toString()}\n`);
    }

    // Build time (2 threads) and memory per vector against hnswlib.
    const py = rows.find((r) => r.system === 'hnswlib' && !r.skipped);
    const nodePeer = rows.find((r) => r.system === 'hnswlib-node' && !r.skipped);
    for (const o of ours) {
      if (py) {
        const b = {
          dataset: ds.id, ours: o.system, peer: 'hnswlib',
          wall: ratio(o.report!.buildWallSeconds, py.report!.buildWallSeconds),
          cpu: ratio(o.report!.buildCpuSeconds, py.report!.buildCpuSeconds),
          oursThreads: o.report!.buildThreads, peerThreads: py.report!.buildThreads,
        };
        buildRatios.push(b);
        out.write(`build: ${o.label} (${b.oursThreads} threads) ÷ hnswlib Python (${b.peerThreads} threads): wall ${times(b.wall)} ` +
          `(${o.report!.buildWallSeconds.toFixed(1)} s vs ${py.report!.buildWallSeconds.toFixed(1)} s), CPU ${times(b.cpu)}\n`);
      }
      for (const peer of [py, nodePeer]) {
        if (!peer) continue;
        const mr = {
          dataset: ds.id, ours: o.system, peer: peer.system,
          rssPerVector: ratio(o.memoryBytesPerVector, peer.memoryBytesPerVector),
          indexOverPeerRss: ratio(o.indexBytesPerVector, peer.memoryBytesPerVector),
        };
        memoryRatios.push(mr);
        out.write(`memory/vector: ${o.label} ÷ ${peer.label}: RSS ${times(mr.rssPerVector)} (${fmt(o.memoryBytesPerVector)} vs ${fmt(peer.memoryBytesPerVector)} B), ` +
          `stats().memoryBytes ÷ peer RSS ${times(mr.indexOverPeerRss)}\n`);
      }
    }
  }

  // ---- files ----------------------------------------------------------------------------------

  const partial = ['systems', 'datasets', 'n', 'nq', 'ef', 'passes'].some((o) => args[o as keyof typeof args] !== undefined);
  const stem = args.out ?? `${quick ? 'hnsw-quick' : 'hnsw'}${partial ? '-partial' : ''}`;
  if (!/^[\w.-]+$/.test(stem)) throw new Error(`--out must be a plain file stem, got ${stem}`);
  const jsonPath = join(RESULTS_DIR, `${stem}.json`);
  const document = {
    benchmark: 'hnsw-recall-qps',
    // Fashion-MNIST's shape (shared by euclidean and cosine); the other datasets describe their own.
    ...(fm === null ? {} : {
      dataset: { name: fm.name, source: fm.source, n: fm.shape.n, nq: fm.shape.nq, queries: fm.shape.queriesLong, dim: fm.shape.dim, k: K },
    }),
    datasets: datasets.map((d) => (d.fashionMnist
      ? { id: d.id, metric: d.metric, description: d.description }
      : { id: d.id, metric: d.metric, description: d.description, name: d.shape.name, source: d.source, key: d.key, n: d.n, nq: d.nq, queries: d.shape.queriesLong, dim: d.dim, k: K, title: d.title })),
    ...(skippedDatasets.length > 0 ? { skippedDatasets } : {}),
    config: { quick, m: M, efConstruction: EF_CONSTRUCTION, efSearch, passes, buildThreads, searchThreads: 1, stopRecall, minQps, targets: TARGETS },
    environment: { ...environment, kernels: kernels ?? null },
    groundTruth: Object.fromEntries([...truths].map(([id, t]) => [id, { ...t.meta, cached: t.cached }])),
    results,
    ratios: ratioRows,
    buildRatios,
    memoryRatios,
    method: [
      'Each system builds once per dataset in its own child process, then sweeps efSearch; per point: warm-up queries, then `passes` timed passes over all queries (one call per query, one thread); the median pass is reported.',
      'QPS = queries ÷ wall seconds; QPS/CPU-s = queries ÷ process CPU seconds (user + system, all threads).',
      'recall@10 is computed by the parent from the returned ids; a returned id counts when its true distance is within the 10th true distance.',
      'Summaries: at recall R, the fastest sweep point with recall ≥ R (ann-benchmarks style, no interpolation).',
      'memory = growth of the child resident set while building (after GC in node), divided by n.',
    ],
  };
  writeFileSync(jsonPath, `${JSON.stringify(document, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  out.write(`\nwrote ${jsonPath}\n`);

  writeCharts(document, stem);
  log(`HNSW suite done in ${seconds(tSuite)} s`);
}
