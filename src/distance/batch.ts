// Exact batched search: many queries against all rows, run by the calling thread and by worker
// threads over the same shared arena. Work is claimed in units of UNIT queries from an atomic
// counter, so a slow core never holds the others back.
//
// Per unit: the queries are packed into transposed panels, then for each block of ROW_BLOCK rows
// the blocked dot kernel fills an 8-query x ROW_BLOCK tile and a bounded heap per query keeps the
// best `candidates` rows by an approximate key (for euclidean |q|^2 + |x|^2 - 2 q.x). The
// candidates are then re-scored with the same pair kernels single-query search uses and the best k
// written out, so searchBatch and search agree exactly.
import { openArena } from './backend.js';
import type { Arena, ArenaHandle } from './kernels.js';
import { cosineKey } from './metric.js';
import { TopK } from './topk.js';

/** Queries per work unit (a multiple of 8: the micro-kernel handles 8 queries at once). */
export const UNIT = 64;
/** Rows per block: one block of rows plus the packed unit stay in the core's L2 cache. */
export const ROW_BLOCK = 64;

/** Metric codes understood by the batch engine (no strings in the hot loop). */
export const enum BatchMetric { Euclidean = 0, Cosine = 1, Dot = 2 }

/** Everything a thread needs to run its share of a batch; all offsets are bytes into the arena. */
export interface BatchParams {
  readonly metric: BatchMetric;
  readonly dim: number;
  /** Rows in the index. */
  readonly n: number;
  readonly rowsOff: number;
  /** f64 per row: |x|^2 (euclidean), 1/|x| (cosine, 0 for zero rows), unused for dot. */
  readonly normsOff: number;
  /** f64 per row: the user's id, for tie-breaking. */
  readonly idsOff: number;
  /** u8 per row: 1 when the row passes the filter; -1 when there is no filter. */
  readonly allowOff: number;
  /** Queries [nq][dim] f32; unit vectors (or zero) for cosine, normalised by the caller in float64. */
  readonly queriesOff: number;
  readonly nq: number;
  readonly k: number;
  /** Candidates kept per query before exact re-scoring (≥ k). */
  readonly candidates: number;
  /** Results: i32 slots [nq][k] (-1 when missing) and f64 keys [nq][k]. */
  readonly outSlotsOff: number;
  readonly outKeysOff: number;
  /** Per-thread scratch: thread t uses [scratchOff + t * scratchBytes, ... + scratchBytes). */
  readonly scratchOff: number;
  readonly scratchBytes: number;
}

/** Scratch bytes one thread needs for a batch over `dim`-dimensional rows. */
export function batchScratchBytes(dim: number, candidates: number): number {
  const packed = UNIT * dim * 4;
  const tile = ROW_BLOCK * 8 * 4;
  const query = dim * 4;
  const cand = candidates * 8;
  return Math.ceil((packed + tile + query + cand) / 64) * 64 + 64;
}

/** The job posted to workers for a flat batch. */
export interface FlatBatchJob { kind: 'flat-batch'; handle: ArenaHandle; params: BatchParams }

/** Worker handler for 'flat-batch' jobs. */
export function runFlatBatchJob(job: FlatBatchJob, control: Int32Array, thread: number): void {
  runBatch(openArena(job.handle), job.params, control, 0, thread);
}

/**
 * Runs units claimed from `counter[index]` until none are left. `thread` selects this thread's
 * scratch slice. Safe to call concurrently from several threads on the same params.
 */
export function runBatch(arena: Arena, p: BatchParams, counter: Int32Array, index: number, thread: number): void {
  const units = Math.ceil(p.nq / UNIT);
  const heaps: TopK[] = [];
  for (let i = 0; i < UNIT; i++) heaps.push(new TopK(p.candidates));
  const final = new TopK(p.k);
  for (;;) {
    const unit = Atomics.add(counter, index, 1);
    if (unit >= units) return;
    runUnit(arena, p, unit, thread, heaps, final);
  }
}

function runUnit(arena: Arena, p: BatchParams, unit: number, thread: number, heaps: TopK[], final: TopK): void {
  const kr = arena.kernels;
  const { dim, n, metric } = p;
  const q0 = unit * UNIT;
  const nq = Math.min(UNIT, p.nq - q0);
  const scratch = p.scratchOff + thread * p.scratchBytes;
  const packedOff = scratch;
  const tileOff = packedOff + UNIT * dim * 4;
  const candOff = tileOff + ROW_BLOCK * 8 * 4;
  const candKeysOff = candOff + p.candidates * 4;
  const queriesAt = p.queriesOff + q0 * dim * 4;
  kr.packQueriesF32(queriesAt, nq, dim, packedOff);

  const f32 = arena.f32();
  const buf = f32.buffer;
  const norms = new Float64Array(buf, p.normsOff, metric === BatchMetric.Dot ? 0 : n);
  const ids = new Float64Array(buf, p.idsOff, n);
  const allow = p.allowOff >= 0 ? new Uint8Array(buf, p.allowOff, n) : null;

  // Per-query constants: |q|^2 for euclidean (cosine queries are unit vectors already).
  const qc = new Float64Array(nq);
  if (metric === BatchMetric.Euclidean) {
    for (let i = 0; i < nq; i++) {
      const at = queriesAt + i * dim * 4;
      qc[i] = kr.dotF32(at, at, dim);
    }
  }
  for (let i = 0; i < nq; i++) heaps[i].reset();

  const groups = Math.ceil(nq / 8);
  const tileBase = tileOff >> 2;
  for (let r0 = 0; r0 < n; r0 += ROW_BLOCK) {
    const rb = Math.min(ROW_BLOCK, n - r0);
    const rowsAt = p.rowsOff + r0 * dim * 4;
    for (let g = 0; g < groups; g++) {
      kr.blockDotF32(packedOff + g * 2 * dim * 16, rowsAt, rb, dim, tileOff);
      const lanes = Math.min(8, nq - g * 8);
      for (let lane = 0; lane < lanes; lane++) {
        const qi = g * 8 + lane;
        const heap = heaps[qi];
        const c = qc[qi];
        let threshold = heap.threshold;
        for (let r = 0; r < rb; r++) {
          const dot = f32[tileBase + r * 8 + lane];
          const slot = r0 + r;
          const key = metric === BatchMetric.Euclidean ? c + norms[slot] - 2 * dot
            : metric === BatchMetric.Cosine ? cosineKey(dot * norms[slot]) : -dot;
          if (key > threshold) continue;
          if (allow !== null && allow[slot] === 0) continue;
          heap.push(key, ids[slot], slot);
          threshold = heap.threshold;
        }
      }
    }
  }

  // Exact re-scoring of the candidates with the single-query kernels.
  const i32 = arena.i32();
  const outSlots = p.outSlotsOff >> 2;
  const outKeys = new Float64Array(buf, p.outKeysOff, p.nq * p.k);
  const candKeys = new Float32Array(buf, candKeysOff, p.candidates);
  const slotsTmp = new Int32Array(p.candidates);
  const keysTmp = new Float64Array(p.candidates);
  for (let i = 0; i < nq; i++) {
    const heap = heaps[i];
    const count = heap.drain(keysTmp, null, slotsTmp);
    for (let c = 0; c < count; c++) i32[(candOff >> 2) + c] = slotsTmp[c];
    const qAt = queriesAt + i * dim * 4;
    if (metric === BatchMetric.Euclidean) kr.gatherL2sqF32(qAt, p.rowsOff, candOff, count, dim, candKeysOff);
    else kr.gatherDotF32(qAt, p.rowsOff, candOff, count, dim, candKeysOff);
    final.reset();
    for (let c = 0; c < count; c++) {
      const slot = slotsTmp[c];
      const v = candKeys[c];
      const key = metric === BatchMetric.Euclidean ? v : metric === BatchMetric.Cosine ? cosineKey(v * norms[slot]) : -v;
      final.push(key, ids[slot], slot);
    }
    const got = final.drain(keysTmp, null, slotsTmp);
    const row = (q0 + i) * p.k;
    for (let j = 0; j < p.k; j++) {
      i32[outSlots + row + j] = j < got ? slotsTmp[j] : -1;
      outKeys[row + j] = j < got ? keysTmp[j] : Infinity;
    }
  }
}
