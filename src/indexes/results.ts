// The result of a batch search before it is filled: nq·k entries, every id −1 (no hit).
import { keyToDistance, keyToScore, type Metric } from '../distance/metric.js';
import type { BatchResult, SearchHit } from './types.js';

/** A BatchResult of nq·k entries meaning "no hit": ids −1, scores −Infinity, distances +Infinity. */
export function emptyBatch(nq: number, k: number): BatchResult {
  return {
    nq, k,
    ids: new Float64Array(nq * k).fill(-1),
    scores: new Float32Array(nq * k).fill(-Infinity),
    distances: new Float32Array(nq * k).fill(Infinity),
  };
}

/**
 * Fills `result` (nq·k, from emptyBatch) from a batch job's output: `kk` slots (−1 past the last
 * hit) and internal keys per query, row-major; slots become ids through `slotIds`.
 */
export function fillBatch(result: BatchResult, kk: number, slots: Int32Array, keys: Float64Array, slotIds: Float64Array, metric: Metric): BatchResult {
  const k = result.k;
  for (let i = 0; i < result.nq; i++) {
    for (let j = 0; j < kk; j++) {
      const slot = slots[i * kk + j];
      if (slot < 0) break;
      const key = keys[i * kk + j], at = i * k + j;
      result.ids[at] = slotIds[slot];
      result.scores[at] = keyToScore(metric, key);
      result.distances[at] = keyToDistance(metric, key);
    }
  }
  return result;
}

/** A search job's output as hits: slots (−1 ends them) and internal keys, best first. */
export function slotHits(slots: Int32Array, keys: Float64Array, slotIds: Float64Array, metric: Metric): SearchHit[] {
  const hits: SearchHit[] = [];
  for (let i = 0; i < slots.length && slots[i] >= 0; i++) {
    hits.push({ id: slotIds[slots[i]], score: keyToScore(metric, keys[i]), distance: keyToDistance(metric, keys[i]) });
  }
  return hits;
}
