// The small interfaces every index implements, and the shapes of search results.
import type { Metric } from '../distance/metric.js';
import type { VectorLike, VectorsLike } from './validate.js';

/** One search hit, best first. */
export interface SearchHit {
  /** The id the row was added with. */
  id: number;
  /** Higher is more similar: cosine similarity, minus the Euclidean distance, or the dot product. */
  score: number;
  /** Lower is more similar: 1 − cosine similarity, the Euclidean distance, or minus the dot product. */
  distance: number;
}

/**
 * Results of a batch: nq·k values each, row-major (query i's hits at [i·k, (i+1)·k)). nq·k may be
 * at most MAX_BATCH_RESULTS (2^25); a larger batch is refused with INVALID_ARGUMENT.
 */
export interface BatchResult {
  /** Number of queries. */
  nq: number;
  /** Hits per query. */
  k: number;
  /** Ids, −1 where fewer than k rows matched. */
  ids: Float64Array;
  /** Scores, −Infinity where the id is −1. */
  scores: Float32Array;
  /** Distances, +Infinity where the id is −1. */
  distances: Float32Array;
}

/** Restricts a search to some ids: a predicate, a set of allowed ids, or a bitmap (bitmap[id] === 1 allows id). */
export type IdFilter = ((id: number) => boolean) | ReadonlySet<number> | Uint8Array;

/** Per-call search options. */
export interface SearchOptions {
  /** Only ids passing the filter are returned; k results come back whenever k pass. */
  filter?: IdFilter;
}

/** Per-call batch options. */
export interface BatchOptions extends SearchOptions {
  /** Threads to use (the calling thread included); default: the index's `threads`. */
  threads?: number;
}

/** What every index does. */
export interface VectorIndex {
  readonly dim: number;
  readonly metric: Metric;
  readonly size: number;
  add(vectors: VectorsLike, ids?: ArrayLike<number>): void;
  search(query: VectorLike, k: number, options?: SearchOptions): SearchHit[];
  searchBatch(queries: VectorsLike, k: number, options?: BatchOptions): BatchResult;
}

/** Indexes that can drop rows. */
export interface RemovableIndex {
  /**
   * Removes one id or an array / typed array of ids (non-negative safe integers; absent ones are
   * ignored, a repeated one counts once); returns how many were present. Anything else is
   * INVALID_ARGUMENT and removes nothing.
   */
  remove(ids: number | ArrayLike<number>): number;
}
