// 8-bit scalar quantization for traversal: one int8 code per dimension with a single global step,
// so that integer L2 / dot products over codes are proportional to the float ones.
//
// euclidean: code_j = round((x_j - mid_j) / step), mid_j the centre of dimension j's range — L2 is
//            translation-invariant, so |cq - cx|^2 * step^2 ≈ |q - x|^2.
// cosine:    the same over x / |x|: for unit vectors |q - x|^2 = 2 - 2 cos(q, x), so L2 over the
//            codes ranks by cosine, and centring each dimension on its own range spends the 255
//            codes on the values that occur (unit vectors of non-negative data, such as pixels or
//            counts, would otherwise use half of them).
// dot:       codes of x with mid = 0, so dot(cq, cx) * step^2 ≈ q · x.
// Values beyond the trained range saturate at ±127 (codes only steer traversal; results are
// re-ranked with the float32 rows, so saturation costs recall at worst, never correctness).
import type { Metric } from '../../distance/metric.js';
import { inverseNorm } from '../normalize.js';

/** A trained scalar quantizer. */
export class ScalarQuantizer {
  readonly dim: number;
  readonly metric: Metric;
  /** Per-dimension centre (zeros for cosine and dot). */
  readonly mid: Float32Array;
  /** Step between adjacent codes (one value for all dimensions). */
  step = 1;

  constructor(dim: number, metric: Metric) {
    this.dim = dim;
    this.metric = metric;
    this.mid = new Float32Array(dim);
  }

  /** Fits the ranges to `n` rows (row-major). */
  train(rows: Float32Array, n: number): void {
    const dim = this.dim;
    if (this.metric !== 'dot') {
      const lo = new Float64Array(dim).fill(Infinity), hi = new Float64Array(dim).fill(-Infinity);
      for (let i = 0; i < n; i++) {
        const inv = this.metric === 'cosine' ? inverseNorm(rows, i * dim, dim) : 1;
        for (let j = 0; j < dim; j++) {
          const v = rows[i * dim + j] * inv;
          if (v < lo[j]) lo[j] = v;
          if (v > hi[j]) hi[j] = v;
        }
      }
      let range = 0;
      for (let j = 0; j < dim; j++) {
        this.mid[j] = n > 0 ? (lo[j] + hi[j]) / 2 : 0;
        if (n > 0) range = Math.max(range, hi[j] - lo[j]);
      }
      this.step = range > 0 ? range / 254 : 1;
    } else {
      let peak = 0;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < dim; j++) peak = Math.max(peak, Math.abs(rows[i * dim + j]));
      }
      this.mid.fill(0);
      this.step = peak > 0 ? peak / 127 : 1;
    }
  }

  /** Encodes `n` rows from `rows` (starting at row `from`) into `out` (n * dim codes). */
  encode(rows: Float32Array, from: number, n: number, out: Int8Array): void {
    const dim = this.dim, mid = this.mid, inv = 1 / this.step;
    for (let i = 0; i < n; i++) {
      const base = (from + i) * dim;
      const norm = this.metric === 'cosine' ? inverseNorm(rows, base, dim) : 1;
      for (let j = 0; j < dim; j++) {
        const c = Math.round((rows[base + j] * norm - mid[j]) * inv);
        out[i * dim + j] = c > 127 ? 127 : c < -127 ? -127 : c;
      }
    }
  }
}

