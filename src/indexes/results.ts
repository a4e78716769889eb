// The result of a batch search before it is filled: nq·k entries, every id −1 (no hit).
import type { BatchResult } from './types.js';

/** A BatchResult of nq·k entries meaning "no hit": ids −1, scores −Infinity, distances +Infinity. */
export function emptyBatch(nq: number, k: number): BatchResult {
  return {
    nq, k,
    ids: new Float64Array(nq * k).fill(-1),
    scores: new Float32Array(nq * k).fill(-Infinity),
    distances: new Float32Array(nq * k).fill(Infinity),
  };
}
