// knn(): the one-off brute-force search every tutorial writes by hand, done right (SIMD kernels,
// a bounded top-k selection instead of a full sort, no NaN on zero vectors).
import { invalidArgument } from '../errors.js';
import type { Metric } from '../distance/metric.js';
import { FlatIndex } from './flat.js';
import { checkK, checkMetric, checkOptions, describe, toRows, type VectorLike, type VectorsLike } from './validate.js';

/** One result of `knn`: the position of the row in `corpus`, best first. */
export interface KnnResult {
  /** Position of the row in the corpus (0-based). */
  index: number;
  /** Higher is more similar (cosine similarity, minus the Euclidean distance, the dot product). */
  score: number;
  /** Lower is more similar (1 − cosine similarity, the Euclidean distance, minus the dot product). */
  distance: number;
}

/** Options of `knn`. */
export interface KnnOptions {
  /** Results wanted; default 5. */
  k?: number;
  /** Default 'cosine'. */
  metric?: Metric;
  /** Dimension of the rows when `corpus` is a flat Float32Array; default: the query's length. */
  dim?: number;
}

/**
 * The k rows of `corpus` most similar to `query`, best first (ties: smaller index first).
 * `corpus` is an array of vectors or a row-major Float32Array of n·dim values. O(n·dim) time,
 * O(k) selection memory; the corpus is copied once into kernel memory.
 */
export function knn(query: VectorLike, corpus: VectorsLike, options?: KnnOptions): KnnResult[] {
  const o = checkOptions(options, ['k', 'metric', 'dim'], 'knn');
  const k = checkK(o.k ?? 5, 'knn');
  const metric = checkMetric(o.metric, 'cosine', 'knn');
  const qlen = (query as { length?: unknown })?.length;
  if (typeof qlen !== 'number' || qlen < 1) throw invalidArgument(`knn: query must be a non-empty vector, got ${describe(query)}`, {});
  if (o.dim !== undefined && o.dim !== qlen) {
    throw invalidArgument(`knn: dim ${describe(o.dim)} does not match the query's length ${qlen}`, { expected: o.dim, received: qlen });
  }
  const { data, n } = toRows(corpus, qlen, 'knn');
  if (n === 0) return [];
  const index = new FlatIndex({ dim: qlen, metric, threads: 1 });
  index.add(data);
  return index.search(query, k).map((h) => ({ index: h.id, score: h.score, distance: h.distance }));
}
