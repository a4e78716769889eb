// Exact float64 reference distances, ground truth (computed once, cached) and recall.

import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Metric of the float64 reference: 'euclidean' compares squared L2 distances, 'cosine' compares
 * 1 − cos(a, b). Same ordering as the systems' own distances (L2 / L2², cosine / inner product on
 * L2-normalised rows).
 */
export type RefMetric = 'euclidean' | 'cosine';

/** Squared euclidean distance between corpus row `row` and query `q`, accumulated in float64. */
export function squaredDistance64(corpus: Float32Array, row: number, queries: Float32Array, q: number, dim: number): number {
  let sum = 0;
  const a = row * dim;
  const b = q * dim;
  for (let j = 0; j < dim; j++) {
    const d = corpus[a + j] - queries[b + j];
    sum += d * d;
  }
  return sum;
}

/** 1 − cos(corpus row, query q), accumulated in float64 (1 for a zero vector). */
export function cosineDistance64(corpus: Float32Array, row: number, queries: Float32Array, q: number, dim: number): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  const a = row * dim;
  const b = q * dim;
  for (let j = 0; j < dim; j++) {
    const x = corpus[a + j];
    const y = queries[b + j];
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return na > 0 && nb > 0 ? 1 - dot / Math.sqrt(na * nb) : 1;
}

/** The float64 reference distance of `metric`. */
export function distance64(metric: RefMetric, corpus: Float32Array, row: number, queries: Float32Array, q: number, dim: number): number {
  return metric === 'cosine' ? cosineDistance64(corpus, row, queries, q, dim) : squaredDistance64(corpus, row, queries, q, dim);
}

/** Relative slack under which two squared distances count as a tie (float32 rounding of ~1e7 sums). */
export const TIE_TOLERANCE = 1e-5;

/**
 * Distances up to this bound count as "within the k-th": relative slack for both metrics, plus an
 * absolute 1e-6 for cosine, the resolution of a float32 dot product of unit vectors (distances near
 * 0.01-0.1 would otherwise demand more digits than any float32 system has).
 */
export function tieLimit(kth: number, metric: RefMetric = 'euclidean'): number {
  return kth * (1 + TIE_TOLERANCE) + (metric === 'cosine' ? 1e-6 : 1e-12);
}

/** A ground-truth row that is not a valid exact top-k. */
export interface SpotCheckFailure {
  query: number;
  rank: number;
  id: number;
  distance: number;
  kthDistance: number;
  reason: string;
}

/**
 * Checks `count` evenly spaced queries of `ids` (nq × k) against a float64 brute force: every id must
 * be valid and distinct, and no farther than the true k-th distance (ties at the k-th distance may
 * legitimately pick different ids). O(count · n · dim).
 */
export function spotCheck(
  ids: Int32Array,
  corpus: Float32Array,
  queries: Float32Array,
  n: number,
  nq: number,
  dim: number,
  k: number,
  count = 20,
  metric: RefMetric = 'euclidean',
): { checked: number[]; failures: SpotCheckFailure[] } {
  const checked: number[] = [];
  const failures: SpotCheckFailure[] = [];
  const all = new Float64Array(n);
  const picks = Math.min(count, nq);
  for (let p = 0; p < picks; p++) {
    const q = Math.floor((p * nq) / picks);
    checked.push(q);
    for (let i = 0; i < n; i++) all[i] = distance64(metric, corpus, i, queries, q, dim);
    const kth = Float64Array.from(all).sort()[Math.min(k, n) - 1];
    const seen = new Set<number>();
    for (let r = 0; r < Math.min(k, n); r++) {
      const id = ids[q * k + r];
      const fail = (reason: string, distance = NaN): void => {
        failures.push({ query: q, rank: r, id, distance, kthDistance: kth, reason });
      };
      if (!(id >= 0 && id < n)) fail('id out of range');
      else if (seen.has(id)) fail('duplicate id');
      else if (all[id] > tieLimit(kth, metric)) fail('farther than the true k-th neighbour', all[id]);
      seen.add(id);
    }
  }
  return { checked, failures };
}

/** Per query, the largest true (float64) squared distance among its ground-truth ids: the k-th distance. */
export function kthDistances(
  gt: Int32Array,
  corpus: Float32Array,
  queries: Float32Array,
  nq: number,
  dim: number,
  k: number,
  metric: RefMetric = 'euclidean',
): Float64Array {
  const out = new Float64Array(nq);
  for (let q = 0; q < nq; q++) {
    let max = 0;
    for (let r = 0; r < k; r++) {
      const id = gt[q * k + r];
      if (id >= 0) max = Math.max(max, distance64(metric, corpus, id, queries, q, dim));
    }
    out[q] = max;
  }
  return out;
}

/**
 * recall@k of `found` (queries × k ids, -1 for none) for the first `queries` queries.
 * - `tieAware` (reported as recall@k, as ann-benchmarks does): a found id counts when its true
 *   distance is within the k-th true distance (so ties at the boundary are not penalised);
 * - `ids`: plain |found ∩ ground truth| / k.
 * Duplicate and out-of-range ids count for nothing.
 */
export function recall(
  found: Int32Array,
  queries: number,
  k: number,
  gt: Int32Array,
  kth: Float64Array,
  corpus: Float32Array,
  queryRows: Float32Array,
  n: number,
  dim: number,
  metric: RefMetric = 'euclidean',
): { tieAware: number; ids: number } {
  if (queries === 0) return { tieAware: NaN, ids: NaN };
  let tieHits = 0;
  let idHits = 0;
  const seen = new Set<number>();
  const truth = new Set<number>();
  for (let q = 0; q < queries; q++) {
    seen.clear();
    truth.clear();
    for (let r = 0; r < k; r++) truth.add(gt[q * k + r]);
    const limit = tieLimit(kth[q], metric);
    for (let r = 0; r < k; r++) {
      const id = found[q * k + r];
      if (!(id >= 0 && id < n) || seen.has(id)) continue;
      seen.add(id);
      if (truth.has(id)) {
        idHits++;
        tieHits++;
      } else if (distance64(metric, corpus, id, queryRows, q, dim) <= limit) {
        tieHits++;
      }
    }
  }
  return { tieAware: tieHits / (queries * k), ids: idHits / (queries * k) };
}

/** Metadata stored next to a cached ground truth. */
export interface GroundTruthMeta {
  dataset: string;
  n: number;
  nq: number;
  k: number;
  metric: string;
  source: string;
  kernels?: string;
  createdAt: string;
  spotChecked: number[];
  /** Set when these are the first `nq` rows of a cached ground truth for this many queries. */
  prefixOf?: number;
}

/** Cache file paths for a ground truth keyed by dataset + n + nq + k. */
export function groundTruthPaths(cacheDir: string, dataset: string, n: number, nq: number, k: number): { ids: string; meta: string } {
  const base = join(cacheDir, `gt-${dataset}-n${n}-q${nq}-k${k}`);
  return { ids: `${base}.i32`, meta: `${base}.json` };
}

/**
 * Reads a cached ground truth for the first `nq` queries: the file for exactly `nq`, else the
 * smallest cached one for more queries of the same corpus (its first `nq` rows are the answer).
 * `metric` must match (files without one are euclidean, the exact suite's). Null when none fits.
 */
export function findCachedGroundTruth(
  cacheDir: string,
  dataset: string,
  n: number,
  nq: number,
  k: number,
  metric: RefMetric = 'euclidean',
): { ids: Int32Array; meta: GroundTruthMeta } | null {
  const candidates = [nq];
  if (existsSync(cacheDir)) {
    const prefix = `gt-${dataset}-n${n}-q`;
    for (const file of readdirSync(cacheDir)) {
      if (!file.startsWith(prefix) || !file.endsWith(`-k${k}.json`)) continue;
      const q = Number(file.slice(prefix.length, -`-k${k}.json`.length));
      if (Number.isInteger(q) && q > nq) candidates.push(q);
    }
  }
  candidates.sort((a, b) => a - b);
  for (const q of candidates) {
    const hit = readCachedGroundTruth(cacheDir, dataset, n, q, k);
    if (!hit || (hit.meta.metric ?? 'euclidean') !== metric) continue;
    if (q === nq) return hit;
    return { ids: hit.ids.slice(0, nq * k), meta: { ...hit.meta, nq, prefixOf: q } };
  }
  return null;
}

/** Reads a cached ground truth, or null when absent or not matching its metadata. */
export function readCachedGroundTruth(
  cacheDir: string,
  dataset: string,
  n: number,
  nq: number,
  k: number,
): { ids: Int32Array; meta: GroundTruthMeta } | null {
  const paths = groundTruthPaths(cacheDir, dataset, n, nq, k);
  if (!existsSync(paths.ids) || !existsSync(paths.meta)) return null;
  try {
    const meta = JSON.parse(readFileSync(paths.meta, 'utf8')) as GroundTruthMeta;
    const bytes = readFileSync(paths.ids);
    if (meta.n !== n || meta.nq !== nq || meta.k !== k || bytes.length !== nq * k * 4) return null;
    const ids = new Int32Array(nq * k);
    new Uint8Array(ids.buffer).set(bytes);
    return { ids, meta };
  } catch {
    return null;
  }
}

export function writeCachedGroundTruth(cacheDir: string, ids: Int32Array, meta: GroundTruthMeta): void {
  mkdirSync(cacheDir, { recursive: true });
  const paths = groundTruthPaths(cacheDir, meta.dataset, meta.n, meta.nq, meta.k);
  writeFileSync(paths.ids, new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength));
  writeFileSync(paths.meta, `${JSON.stringify(meta, null, 2)}\n`);
}

/** Reads an int32 little-endian ids file. */
export function readIds(path: string): Int32Array {
  const bytes = readFileSync(path);
  const ids = new Int32Array(bytes.length >> 2);
  new Uint8Array(ids.buffer).set(bytes.subarray(0, ids.length * 4));
  return ids;
}
