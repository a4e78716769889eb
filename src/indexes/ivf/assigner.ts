// Assigner: nearest-centroid assignment of a fixed set of points to changing centroids, on all
// cores (k-means iterations, IVF coarse assignment, PQ encoding). The points are copied into
// kernel memory once; each call runs the SIMD argmin kernel over packed point panels. A call may
// cover only some of the points (k-means re-assigns just those its bounds cannot settle): they are
// staged contiguously first.
import { createArena, type BackendChoice } from '../../distance/backend.js';
import { ASSIGN_UNIT, runAssign, type AssignJob, type AssignParams } from '../../distance/assign.js';
import { alignUp, type Arena } from '../../distance/kernels.js';
import { runParallel } from '../../parallel/pool.js';

/** Results of an assignment, per point assigned. */
export interface Assignment {
  /** Nearest centroid. */
  index: Int32Array;
  /** Squared distance to it (L2) or minus twice the dot product (inner product). */
  best: Float32Array;
  /** The same for the second-nearest centroid (Infinity with one centroid). */
  second: Float32Array;
}

export class Assigner {
  readonly dim: number;
  readonly n: number;
  readonly k: number;
  private readonly arena: Arena;
  private readonly threads: number;
  private readonly ip: boolean;
  private readonly centroidsOff: number;
  private readonly normsOff: number;
  private readonly pointsOff: number;
  private readonly scratchBytes: number;
  /** |x|² per point (turns argmin keys into squared distances). */
  readonly pointNorms: Float32Array;

  constructor(points: Float32Array, n: number, dim: number, k: number, o: { threads: number; backend: BackendChoice; ip?: boolean }) {
    this.dim = dim; this.n = n; this.k = k; this.threads = Math.max(1, o.threads); this.ip = o.ip === true;
    this.centroidsOff = 64;
    this.normsOff = alignUp(this.centroidsOff + k * dim * 4);
    this.pointsOff = alignUp(this.normsOff + k * 4);
    this.scratchBytes = alignUp(dim * 32 + 128);
    this.arena = createArena(o.backend, this.pointsOff + n * dim * 4);
    this.arena.f32().set(points.subarray(0, n * dim), this.pointsOff >> 2);
    this.pointNorms = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let sq = 0;
      for (let j = 0; j < dim; j++) sq += points[i * dim + j] ** 2;
      this.pointNorms[i] = sq;
    }
  }

  /** Uploads centroids (and their key offsets) for the following assign/distance calls. */
  setCentroids(centroids: Float32Array): void {
    const f = this.arena.f32(), dim = this.dim;
    f.set(centroids.subarray(0, this.k * dim), this.centroidsOff >> 2);
    for (let c = 0; c < this.k; c++) {
      let s = 0;
      if (!this.ip) for (let j = 0; j < dim; j++) s += centroids[c * dim + j] ** 2;
      f[(this.normsOff >> 2) + c] = s;
    }
  }

  /** Nearest centroid of every point (centroids given, or the ones last set). */
  assign(centroids?: Float32Array): Int32Array {
    if (centroids) this.setCentroids(centroids);
    return this.assignSome(null).index;
  }

  /**
   * Nearest and second-nearest centroid of the points listed in `subset` (all points when null),
   * in subset order.
   */
  assignSome(subset: Int32Array | null): Assignment {
    const dim = this.dim, count = subset ? subset.length : this.n;
    let pointsOff = this.pointsOff;
    const stagingOff = alignUp(this.pointsOff + this.n * dim * 4);
    if (subset) {
      pointsOff = stagingOff;
      this.arena.grow(stagingOff + count * dim * 4);
      const f = this.arena.f32(), src = this.pointsOff >> 2, dst = stagingOff >> 2;
      for (let i = 0; i < count; i++) f.copyWithin(dst + i * dim, src + subset[i] * dim, src + (subset[i] + 1) * dim);
    }
    const outIdxOff = alignUp((subset ? stagingOff + count * dim * 4 : stagingOff));
    const outKeyOff = alignUp(outIdxOff + count * 4);
    const outKey2Off = alignUp(outKeyOff + count * 4);
    const scratchOff = alignUp(outKey2Off + count * 4);
    this.arena.grow(scratchOff + this.threads * this.scratchBytes);
    const p: AssignParams = {
      dim, centroidsOff: this.centroidsOff, normsOff: this.normsOff, k: this.k, pointsOff, n: count,
      outIdxOff, outKeyOff, outKey2Off, scratchOff, scratchBytes: this.scratchBytes,
    };
    const handle = this.arena.handle();
    const threads = Math.min(this.threads, Math.ceil(count / ASSIGN_UNIT));
    const job: AssignJob | null = handle && threads > 1 ? { kind: 'assign', handle, params: p } : null;
    runParallel(job, threads, (control, thread) => runAssign(this.arena, p, control, thread));
    const buf = this.arena.f32().buffer;
    const index = new Int32Array(buf, outIdxOff, count).slice();
    const best = new Float32Array(buf, outKeyOff, count).slice();
    const second = new Float32Array(buf, outKey2Off, count).slice();
    if (!this.ip) {
      for (let i = 0; i < count; i++) {
        const sq = this.pointNorms[subset ? subset[i] : i];
        best[i] = Math.max(0, best[i] + sq);
        second[i] = Math.max(0, second[i] + sq);
      }
    }
    return { index, best, second };
  }

  /** Squared distance of point i to centroid c (L2), from the kernels. */
  distanceTo(i: number, c: number): number {
    const k = this.arena.kernels;
    return k.l2sqF32(this.pointsOff + i * this.dim * 4, this.centroidsOff + c * this.dim * 4, this.dim);
  }
}
