// Nearest-centroid assignment of many points (k-means, IVF coarse assignment, PQ encoding): the
// points are packed 8 at a time into query panels and the argmin kernel keeps each lane's best
// centroid in SIMD registers — no per-pair work in JavaScript. Runs on all cores: units of 64
// points are claimed from an atomic counter by the calling thread and the worker pool.
import { openArena } from './backend.js';
import type { Arena, ArenaHandle } from './kernels.js';

/** Points per work unit. */
export const ASSIGN_UNIT = 64;
/** Control word of the work counter (the pool's NEXT). */
const NEXT = 0;

/** Offsets of one assignment job in its arena. */
export interface AssignParams {
  dim: number;
  /** Centroids [k][dim] f32 and their key offsets (|c|² for L2, 0 for inner product) f32 [k]. */
  centroidsOff: number;
  normsOff: number;
  k: number;
  /**
   * Points [n][dim] f32; results: i32 [n], f32 [n] best keys and f32 [n] second-best keys
   * (key + |x|² = squared distance for L2).
   */
  pointsOff: number;
  n: number;
  outIdxOff: number;
  outKeyOff: number;
  outKey2Off: number;
  /** Per-thread scratch: packed panels (8 · dim f32) then 8 i32, 8 f32 and 8 f32. */
  scratchOff: number;
  scratchBytes: number;
}

export interface AssignJob { kind: 'assign'; handle: ArenaHandle; params: AssignParams }

/** Runs the units of an assignment claimed from control[NEXT]. */
export function runAssign(arena: Arena, p: AssignParams, control: Int32Array, thread: number): void {
  const kr = arena.kernels;
  const scratch = p.scratchOff + thread * p.scratchBytes;
  const idxOff = scratch + p.dim * 32, keyOff = idxOff + 32, key2Off = keyOff + 32;
  const units = Math.ceil(p.n / ASSIGN_UNIT);
  for (;;) {
    const u = Atomics.add(control, NEXT, 1);
    if (u >= units) return;
    const end = Math.min(p.n, (u + 1) * ASSIGN_UNIT);
    for (let i = u * ASSIGN_UNIT; i < end; i += 8) {
      const m = Math.min(8, end - i);
      kr.packQueriesF32(p.pointsOff + i * p.dim * 4, m, p.dim, scratch);
      kr.blockArgminF32(scratch, p.centroidsOff, p.k, p.dim, p.normsOff, idxOff, keyOff, key2Off);
      const i32 = arena.i32(), f32 = arena.f32();
      for (let l = 0; l < m; l++) {
        i32[(p.outIdxOff >> 2) + i + l] = i32[(idxOff >> 2) + l];
        f32[(p.outKeyOff >> 2) + i + l] = f32[(keyOff >> 2) + l];
        f32[(p.outKey2Off >> 2) + i + l] = f32[(key2Off >> 2) + l];
      }
    }
  }
}

/** Worker handler for 'assign' jobs. */
export function runAssignJob(job: AssignJob, control: Int32Array, thread: number): void {
  runAssign(openArena(job.handle), job.params, control, thread);
}

