// Ground truth for both suites: computed once with our FlatIndex (or FAISS), spot-checked against a
// float64 brute force, cached in bench/.cache keyed by dataset + n + nq + k (a cached answer for more
// queries serves any prefix of them).

import { findCachedGroundTruth, spotCheck, writeCachedGroundTruth, type GroundTruthMeta, type RefMetric } from './exact.ts';

export type GroundTruthSource = 'nearest' | 'faiss';

interface NearestFlat {
  FlatIndex: new (options: { dim: number; metric: RefMetric }) => {
    add(rows: Float32Array): unknown;
    searchBatch(queries: Float32Array, k: number, options?: { threads?: number }): { ids: ArrayLike<number> };
    stats(): { kernels: string };
  };
}

/** Our package, or why it cannot be imported (dist/ not built yet). */
export async function importNearestFlat(): Promise<NearestFlat | string> {
  try {
    // A variable specifier: the bench must start (and fall back) even before dist/ is built.
    const specifier = 'nearest';
    const mod = (await import(specifier)) as NearestFlat;
    if (typeof mod.FlatIndex !== 'function') return "'nearest' has no FlatIndex export yet";
    return mod;
  } catch (error) {
    return `cannot import 'nearest': ${(error as Error).message}`;
  }
}

export interface GroundTruthRequest {
  cacheDir: string;
  /** Cache key of the data (e.g. fashion-mnist-784, fashion-mnist-784-normalized). */
  dataset: string;
  metric: RefMetric;
  corpus: Float32Array;
  queries: Float32Array;
  n: number;
  nq: number;
  dim: number;
  k: number;
  threads: number;
  source: GroundTruthSource;
  noCache: boolean;
  /** Computes the ids with FAISS (a flat index child); used for --gt-source faiss and when nearest is not built. */
  faiss: () => Promise<Int32Array | { skipped: string }>;
  log: (message: string) => void;
}

export async function groundTruth(req: GroundTruthRequest): Promise<{ ids: Int32Array; meta: GroundTruthMeta; cached: boolean }> {
  const { log } = req;
  const nearest = req.source === 'faiss' ? '--gt-source faiss' : await importNearestFlat();
  const cached = req.noCache ? null : findCachedGroundTruth(req.cacheDir, req.dataset, req.n, req.nq, req.k, req.metric);
  if (cached && (cached.meta.source === req.source || (req.source === 'nearest' && typeof nearest === 'string'))) {
    const from = cached.meta.prefixOf ? `, first ${req.nq} of ${cached.meta.prefixOf} queries` : '';
    log(`ground truth ${req.dataset} (${req.metric}): cached (${cached.meta.source}, ${cached.meta.createdAt}${from})`);
    return { ...cached, cached: true };
  }
  const t0 = performance.now();
  let ids: Int32Array;
  let source: string;
  let kernels: string | undefined;
  if (typeof nearest !== 'string') {
    const index = new nearest.FlatIndex({ dim: req.dim, metric: req.metric });
    index.add(req.corpus);
    const result = index.searchBatch(req.queries, req.k, { threads: req.threads });
    ids = Int32Array.from(result.ids as ArrayLike<number>);
    source = 'nearest';
    kernels = index.stats().kernels;
  } else {
    // Our library is not built yet (or FAISS was asked for): the peers can still be measured.
    if (req.source !== 'faiss') log(`ground truth: ${nearest}; falling back to FAISS`);
    const got = await req.faiss();
    if (!(got instanceof Int32Array)) throw new Error(`ground truth: no system available to compute it (${got.skipped})`);
    if (got.length !== req.nq * req.k) throw new Error(`ground truth: FAISS answered ${got.length / req.k} of ${req.nq} queries`);
    ids = got;
    source = 'faiss';
  }
  const seconds = ((performance.now() - t0) / 1000).toFixed(1);
  log(`ground truth ${req.dataset} (${req.metric}): computed with ${source} in ${seconds} s; spot-checking 20 queries in float64`);
  const check = spotCheck(ids, req.corpus, req.queries, req.n, req.nq, req.dim, req.k, 20, req.metric);
  if (check.failures.length > 0) {
    for (const f of check.failures.slice(0, 10)) log(`  query ${f.query} rank ${f.rank}: id ${f.id} ${f.reason} (d=${f.distance}, k-th=${f.kthDistance})`);
    throw new Error(`ground truth from ${source} disagrees with a float64 brute force on ${check.failures.length} entries; aborting`);
  }
  const meta: GroundTruthMeta = {
    dataset: req.dataset,
    n: req.n,
    nq: req.nq,
    k: req.k,
    metric: req.metric,
    source,
    createdAt: new Date().toISOString(),
    spotChecked: check.checked,
  };
  if (kernels !== undefined) meta.kernels = kernels;
  writeCachedGroundTruth(req.cacheDir, ids, meta);
  return { ids, meta, cached: false };
}
