// A FlatIndex search as a job a worker thread can run: the chunked SIMD scan of every row against
// one query, keeping the best k (ties by smaller id) among the rows its bitmap admits. The rows,
// norms and ids are the index's shared memory; the query, the bitmap and the output are the job's.
import { openArena } from '../distance/backend.js';
import type { Arena, ArenaHandle } from '../distance/kernels.js';
import { alignUp } from '../distance/kernels.js';
import { cosineKey } from '../distance/metric.js';
import { TopK } from '../distance/topk.js';
import { CHUNK } from '../storage/row-store.js';

export const FLAT_EUCLIDEAN = 0, FLAT_COSINE = 1, FLAT_DOT = 2;

/** What a worker needs to scan a FlatIndex (changes whenever the index does). */
export interface FlatShape {
  handle: ArenaHandle;
  dim: number;
  metric: number;
  rowsOff: number;
  n: number;
  /** f64 per slot: |x|² (euclidean), 1/|x| (cosine), unused (dot). */
  norms: ArrayBufferLike;
  /** f64 per slot: the id. */
  ids: ArrayBufferLike;
  /** Worker thread t ≥ 1 scans with query and output scratch at scratchBase + (t - 1) * scratchStride. */
  scratchBase: number;
  scratchStride: number;
}

export interface FlatScanJob {
  kind: 'flat-scan';
  state?: string;
  shape: FlatShape;
  /** The query, f32 (a unit vector, or zero, for cosine). */
  query: ArrayBufferLike;
  k: number;
  /** u8 per slot: 1 when admitted; null admits all. */
  allow: ArrayBufferLike | null;
  /** k i32 slots (−1 past the last hit), then k f64 keys. */
  out: ArrayBufferLike;
}

/** Scratch bytes per scanning thread: the query and one chunk of kernel output. */
export function flatScratchBytes(dim: number): number {
  return alignUp(alignUp(dim * 4) + CHUNK * 4);
}

/** Scans with `queryOff` / `outOff` scratch in `arena` and writes the job's output. */
export function scanInto(arena: Arena, job: FlatScanJob, queryOff: number, outOff: number): void {
  const s = job.shape, dim = s.dim, n = s.n, kr = arena.kernels;
  const norms = new Float64Array(s.norms), ids = new Float64Array(s.ids);
  const bits = job.allow ? new Uint8Array(job.allow) : null;
  arena.f32().set(new Float32Array(job.query), queryOff >> 2);
  const heap = new TopK(job.k);
  const metric = s.metric;
  for (let start = 0; start < n; start += CHUNK) {
    const count = Math.min(CHUNK, n - start);
    const rowOff = s.rowsOff + start * dim * 4;
    if (metric === FLAT_EUCLIDEAN) kr.scanL2sqF32(queryOff, rowOff, count, dim, outOff);
    else kr.scanDotF32(queryOff, rowOff, count, dim, outOff);
    const out = arena.f32(), base = outOff >> 2;
    let threshold = heap.threshold;
    for (let i = 0; i < count; i++) {
      const slot = start + i;
      if (bits !== null && bits[slot] !== 1) continue;
      const v = out[base + i];
      const key = metric === FLAT_EUCLIDEAN ? v : metric === FLAT_COSINE ? cosineKey(v * norms[slot]) : -v;
      if (key > threshold) continue;
      heap.push(key, ids[slot], slot);
      threshold = heap.threshold;
    }
  }
  const k = job.k;
  const slots = new Int32Array(job.out, 0, k), keys = new Float64Array(job.out, alignUp(k * 4), k);
  const got = heap.drain(keys, null, slots);
  slots.fill(-1, got);
}

/** Output bytes of a job for k hits. */
export function flatOutBytes(k: number): number { return alignUp(k * 4) + k * 8; }

const opened = new Map<string, Arena>();

/** Worker handler for 'flat-scan' jobs. */
export function runFlatScanJob(job: FlatScanJob, _control: Int32Array, thread: number): void {
  const s = job.shape;
  const key = job.state === undefined ? null : job.state;
  let arena = key === null ? undefined : opened.get(key);
  if (!arena) {
    arena = openArena(s.handle);
    if (key !== null) { if (opened.size >= 4) opened.delete(opened.keys().next().value!); opened.set(key, arena); }
  }
  const base = s.scratchBase + (thread - 1) * s.scratchStride;
  scanInto(arena, job, base, alignUp(base + s.dim * 4));
}

/** Forgets opened arenas (the worker calls this once idle, so dropped indexes can be collected). */
export function forgetFlatScans(): void { opened.clear(); }
