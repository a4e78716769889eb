// Assigner: nearest-centroid assignment of a fixed set of points to changing centroids, on all
// cores (k-means iterations, IVF coarse assignment, PQ encoding). The points are copied into
// kernel memory once; each call runs the SIMD argmin kernel over packed point panels.
import { createArena, type BackendChoice } from '../../distance/backend.js';
import { ASSIGN_UNIT, runAssign, type AssignJob, type AssignParams } from '../../distance/assign.js';
import { alignUp, type Arena } from '../../distance/kernels.js';
import { runParallel } from '../../parallel/pool.js';

/**
 * Reusable assignment of a fixed set of points to changing centroids: the points are copied into
 * kernel memory once; each `assign(centroids)` call writes the nearest centroid of every point.
 */
export class Assigner {
  readonly dim: number;
  readonly n: number;
  readonly k: number;
  private readonly arena: Arena;
  private readonly params: AssignParams;
  private readonly threads: number;
  /** Inner product (largest dot) instead of squared L2. */
  private readonly ip: boolean;
  /** |x|² per point (turns argmin keys into squared distances). */
  private readonly pointNorms: Float32Array;

  constructor(points: Float32Array, n: number, dim: number, k: number, o: { threads: number; backend: BackendChoice; ip?: boolean }) {
    this.dim = dim; this.n = n; this.k = k; this.threads = Math.max(1, o.threads); this.ip = o.ip === true;
    const centroidsOff = 64;
    const normsOff = alignUp(centroidsOff + k * dim * 4);
    const pointsOff = alignUp(normsOff + k * 4);
    const outIdxOff = alignUp(pointsOff + n * dim * 4);
    const outKeyOff = alignUp(outIdxOff + n * 4);
    const scratchOff = alignUp(outKeyOff + n * 4);
    const scratchBytes = alignUp(dim * 32 + 64);
    this.arena = createArena(o.backend, scratchOff + this.threads * scratchBytes);
    this.arena.f32().set(points.subarray(0, n * dim), pointsOff >> 2);
    this.pointNorms = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let sq = 0;
      for (let j = 0; j < dim; j++) sq += points[i * dim + j] ** 2;
      this.pointNorms[i] = sq;
    }
    this.params = { dim, centroidsOff, normsOff, k, pointsOff, n, outIdxOff, outKeyOff, scratchOff, scratchBytes };
  }

  /** Nearest centroid index of every point (and, for L2, the squared distance in `distances`). */
  assign(centroids: Float32Array, distances?: Float32Array): Int32Array {
    const p = this.params, f = this.arena.f32();
    f.set(centroids.subarray(0, p.k * p.dim), p.centroidsOff >> 2);
    for (let c = 0; c < p.k; c++) {
      let s = 0;
      if (!this.ip) for (let j = 0; j < p.dim; j++) s += centroids[c * p.dim + j] ** 2;
      f[(p.normsOff >> 2) + c] = s;
    }
    const handle = this.arena.handle();
    const units = Math.ceil(p.n / ASSIGN_UNIT);
    const threads = Math.min(this.threads, units);
    const job: AssignJob | null = handle && threads > 1 ? { kind: 'assign', handle, params: p } : null;
    runParallel(job, threads, (control, thread) => runAssign(this.arena, p, control, thread));
    const out = new Int32Array(this.arena.i32().buffer, p.outIdxOff, p.n).slice();
    if (distances) {
      const keys = new Float32Array(this.arena.f32().buffer, p.outKeyOff, p.n);
      for (let i = 0; i < p.n; i++) distances[i] = Math.max(0, keys[i] + this.pointNorms[i]);
    }
    return out;
  }
}
