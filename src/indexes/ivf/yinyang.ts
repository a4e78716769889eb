// The assignment step of k-means with Yinyang bounds (Ding et al., "Yinyang K-Means", ICML 2015).
//
// Centroids are split once into t groups of nearby centroids, stored contiguously by group. Each
// point keeps its centroid, the exact distance to it (upper bound) and, per group, a lower bound on
// its distance to every other centroid of that group. When centroids move, each group's bound drops
// by the largest move in the group; a point is compared again only with the groups whose bound
// falls below its current distance, and inside such a group only with centroids whose own move
// could have brought them closer (the local filter). On clustered data most groups of most points
// are skipped after the first iterations, so an iteration costs a fraction of a full assignment
// while giving exactly Lloyd's assignment (up to float32 rounding of the distances).
//
// The first pass has no bounds: it computes every distance with the blocked matrix kernel (8
// points × all centroids) and derives the per-group bounds from them. Both passes run on all cores
// over one shared arena: units of points claimed from an atomic counter, as in assign.ts.
import { openArena } from '../../distance/backend.js';
import { alignUp, type Arena, type ArenaHandle } from '../../distance/kernels.js';

/** Points per work unit. */
export const YINYANG_UNIT = 128;
/** Control word of the work counter (the pool's NEXT). */
const NEXT = 0;

/** Byte offsets of the k-means state in its arena (see yinyangLayout). */
export interface YinyangParams {
  /** 0: full pass (no bounds yet); 1: bounded pass. */
  mode: 0 | 1;
  n: number;
  dim: number;
  k: number;
  /** Number of groups. */
  t: number;
  /** f32 [n][dim] points and f32 [n] their squared norms. */
  pointsOff: number;
  pointNormsOff: number;
  /** f32 [k][dim] centroids (group by group) and f32 [k] their squared norms. */
  centroidsOff: number;
  centroidNormsOff: number;
  /** i32 [k] group of each centroid, i32 [t + 1] first centroid of each group. */
  groupOfOff: number;
  groupStartOff: number;
  /** f32 [k] distance each centroid moved in the last update, f32 [t] the largest per group. */
  driftOff: number;
  groupDriftOff: number;
  /** Per point: i32 centroid, f32 distance to it, f32 [t] lower bounds per group. */
  assignOff: number;
  upperOff: number;
  lowerOff: number;
  /** Per-thread scratch (see scratchBytesFor). */
  scratchOff: number;
  scratchBytes: number;
}

export interface YinyangJob { kind: 'yinyang'; handle: ArenaHandle; params: YinyangParams }

/**
 * Scratch per thread: packed panels (8·dim f32), block output (8·k f32), slots and dots (k each),
 * and a point's group bounds as they were before this pass (t f32).
 */
function scratchBytesFor(dim: number, k: number, t: number): number {
  return alignUp(dim * 32) + alignUp(k * 32) + 2 * alignUp(k * 4) + alignUp(t * 4);
}

/** Lays out the state of n points, k centroids and t groups for `threads` threads. */
export function yinyangLayout(n: number, dim: number, k: number, t: number, threads: number): { params: YinyangParams; bytes: number } {
  let at = 64;
  const take = (bytes: number): number => { const off = at; at = alignUp(at + bytes); return off; };
  const scratchBytes = scratchBytesFor(dim, k, t);
  const params: YinyangParams = {
    mode: 0, n, dim, k, t,
    centroidsOff: take(k * dim * 4),
    centroidNormsOff: take(k * 4),
    groupOfOff: take(k * 4),
    groupStartOff: take((t + 1) * 4),
    driftOff: take(k * 4),
    groupDriftOff: take(t * 4),
    pointNormsOff: take(n * 4),
    assignOff: take(n * 4),
    upperOff: take(n * 4),
    lowerOff: take(n * t * 4),
    scratchOff: take(threads * scratchBytes),
    scratchBytes,
    pointsOff: take(n * dim * 4),
  };
  return { params, bytes: at };
}

/** Runs the units of one pass claimed from control[NEXT]. */
export function runYinyang(arena: Arena, p: YinyangParams, control: Int32Array, thread: number): void {
  const units = Math.ceil(p.n / YINYANG_UNIT);
  for (;;) {
    const u = Atomics.add(control, NEXT, 1);
    if (u >= units) return;
    const start = u * YINYANG_UNIT, end = Math.min(p.n, start + YINYANG_UNIT);
    if (p.mode === 0) fullPass(arena, p, thread, start, end);
    else boundedPass(arena, p, thread, start, end);
  }
}

/** Worker handler for 'yinyang' jobs. */
export function runYinyangJob(job: YinyangJob, control: Int32Array, thread: number): void {
  runYinyang(openArena(job.handle), job.params, control, thread);
}

/** Every distance of points [start, end): nearest centroid, its distance and exact group bounds. */
function fullPass(arena: Arena, p: YinyangParams, thread: number, start: number, end: number): void {
  const kr = arena.kernels, { dim, k, t } = p;
  const panels = p.scratchOff + thread * p.scratchBytes;
  const block = panels + alignUp(dim * 32);
  const f32 = arena.f32(), i32 = arena.i32();
  const cn = p.centroidNormsOff >> 2, gof = p.groupOfOff >> 2, xn = p.pointNormsOff >> 2;
  const out = block >> 2;
  for (let i0 = start; i0 < end; i0 += 8) {
    const lanes = Math.min(8, end - i0);
    kr.packQueriesF32(p.pointsOff + i0 * dim * 4, lanes, dim, panels);
    kr.blockDotF32(panels, p.centroidsOff, k, dim, block);
    for (let l = 0; l < lanes; l++) {
      const i = i0 + l, lo = (p.lowerOff >> 2) + i * t, norm = f32[xn + i];
      for (let g = 0; g < t; g++) f32[lo + g] = Infinity;
      let best = Infinity, arg = 0;
      for (let c = 0; c < k; c++) {
        const sq = norm + f32[cn + c] - 2 * f32[out + c * 8 + l];
        const d = sq > 0 ? Math.sqrt(sq) : 0;
        if (d < best) {
          if (best !== Infinity) { const gb = lo + i32[gof + arg]; if (best < f32[gb]) f32[gb] = best; }
          best = d; arg = c;
        } else {
          const g = lo + i32[gof + c];
          if (d < f32[g]) f32[g] = d;
        }
      }
      i32[(p.assignOff >> 2) + i] = arg;
      f32[(p.upperOff >> 2) + i] = best;
    }
  }
}

/** Points [start, end) against the moved centroids, skipping what the bounds rule out. */
function boundedPass(arena: Arena, p: YinyangParams, thread: number, start: number, end: number): void {
  const kr = arena.kernels, { dim, t } = p;
  const slotsOff = p.scratchOff + thread * p.scratchBytes + alignUp(dim * 32) + alignUp(p.k * 32);
  const dotsOff = slotsOff + alignUp(p.k * 4);
  const prev = (dotsOff + alignUp(p.k * 4)) >> 2;
  const f32 = arena.f32(), i32 = arena.i32();
  const cn = p.centroidNormsOff >> 2, gof = p.groupOfOff >> 2, gst = p.groupStartOff >> 2;
  const drift = p.driftOff >> 2, gdrift = p.groupDriftOff >> 2, slots = slotsOff >> 2, dots = dotsOff >> 2;
  const rowBytes = dim * 4;
  for (let i = start; i < end; i++) {
    const x = p.pointsOff + i * rowBytes, lo = (p.lowerOff >> 2) + i * t, norm = f32[(p.pointNormsOff >> 2) + i];
    const first = i32[(p.assignOff >> 2) + i];
    let a = first;
    // The upper bound is kept exact: one distance per point keeps the objective exact too.
    let u = Math.sqrt(kr.l2sqF32(x, p.centroidsOff + a * rowBytes, dim));
    let lb = Infinity;
    for (let g = 0; g < t; g++) {
      const old = f32[lo + g], v = old - f32[gdrift + g];
      f32[prev + g] = old;
      f32[lo + g] = v;
      if (v < lb) lb = v;
    }
    if (u > lb) {
      for (let g = 0; g < t; g++) {
        const bound = f32[lo + g];
        if (bound >= u) continue;
        // Local filter: a centroid that moved less than the margin cannot have come closer than u.
        // (The bound from before this pass covers every centroid but the first assigned one.)
        const before = f32[prev + g];
        let newBound = Infinity, count = 0;
        for (let c = i32[gst + g], e = i32[gst + g + 1]; c < e; c++) {
          if (c === a) continue;
          const floor = c === first ? -Infinity : before - f32[drift + c];
          if (floor >= u) { if (floor < newBound) newBound = floor; continue; }
          i32[slots + count++] = c;
        }
        if (count > 0) kr.gatherDotF32(x, p.centroidsOff, slotsOff, count, dim, dotsOff);
        for (let s = 0; s < count; s++) {
          const c = i32[slots + s];
          const sq = norm + f32[cn + c] - 2 * f32[dots + s];
          const d = sq > 0 ? Math.sqrt(sq) : 0;
          if (d < u) {
            // The old centroid becomes an "other" centroid of its group.
            const ga = i32[gof + a];
            if (ga === g) { if (u < newBound) newBound = u; } else if (u < f32[lo + ga]) f32[lo + ga] = u;
            a = c; u = d;
          } else if (d < newBound) newBound = d;
        }
        f32[lo + g] = newBound;
      }
      i32[(p.assignOff >> 2) + i] = a;
    }
    f32[(p.upperOff >> 2) + i] = u;
  }
}
