// 8-bit scalar quantization for HNSW traversal: one int8 code per dimension, a step per vector and
// an origin per vector, so that integer dot products over codes give distances whatever the norms.
//
// A vector v (x for euclidean and dot, x/|x| for cosine: for unit vectors |q − x|² = 2 − 2 cos, so
// L2 over the codes ranks by cosine) is coded as  v ≈ s·c + f·mid,  c ∈ [−127, 127]^dim, where
//   mid — the trained centre of each dimension's range (zeros for dot, which is not translation
//         invariant); centring spends the 255 codes on the values that occur (non-negative data
//         such as pixels would otherwise use half of them);
//   f   — the origin, 0 or 1: whichever of 0 and mid leaves the smaller largest |residual|, so a
//         vector far from the centre (a tiny one, when norms span 1e-4 … 1e4) is coded about 0;
//   s   — the step, largest |residual| / 127: every vector gets the full code range, so tiny and
//         huge vectors are coded as finely relative to their size, and nothing saturates.
// With A = s²|c|², P = s·(c·mid), M = |mid|² and δ = f_a − f_b, for two coded vectors
//   |a − b|² = A_a + A_b − 2 s_a s_b (c_a·c_b) + δ² M + 2δ (P_a − P_b)     (euclidean, cosine)
//   a · b   = s_a s_b (c_a·c_b)                                            (dot: mid = 0, f = 0)
// c_a·c_b is exact (int32, SIMD), the rest is per-vector constants. Identical vectors get identical
// codes and constants, hence a key of exactly 0 between them (they tie, as duplicates must). Codes
// only steer traversal: results are re-ranked with the float32 rows.
import type { Metric } from '../../distance/metric.js';
import { inverseNorm } from '../normalize.js';

/** Per-vector constants of a code, in a Float64Array with this stride: step, A, P, origin. */
export const CODE_META = 4;
export const META_STEP = 0, META_A = 1, META_P = 2, META_ORIGIN = 3;

/** A trained scalar quantizer. */
export class ScalarQuantizer {
  readonly dim: number;
  readonly metric: Metric;
  /** Per-dimension centre (zeros for dot). */
  readonly mid: Float32Array;
  /** |mid|². */
  midSq = 0;
  private readonly tmp: Float64Array;

  constructor(dim: number, metric: Metric) {
    this.dim = dim;
    this.metric = metric;
    this.mid = new Float32Array(dim);
    this.tmp = new Float64Array(dim);
  }

  /** Fits the centre to `n` rows (row-major). */
  train(rows: Float32Array, n: number): void {
    const dim = this.dim;
    this.mid.fill(0);
    if (this.metric !== 'dot' && n > 0) {
      const lo = new Float64Array(dim).fill(Infinity), hi = new Float64Array(dim).fill(-Infinity);
      for (let i = 0; i < n; i++) {
        const inv = this.metric === 'cosine' ? inverseNorm(rows, i * dim, dim) : 1;
        for (let j = 0; j < dim; j++) {
          const v = rows[i * dim + j] * inv;
          if (v < lo[j]) lo[j] = v;
          if (v > hi[j]) hi[j] = v;
        }
      }
      for (let j = 0; j < dim; j++) this.mid[j] = (lo[j] + hi[j]) / 2;
    }
    this.centreChanged();
  }

  /** Call after `mid` was set directly (loading). */
  centreChanged(): void {
    let sq = 0;
    for (let j = 0; j < this.dim; j++) sq += this.mid[j] * this.mid[j];
    this.midSq = sq;
  }

  /**
   * Encodes `n` rows of `rows` from row `from` into `codes` (n·dim) and their constants into
   * `meta` (n·CODE_META).
   */
  encode(rows: Float32Array, from: number, n: number, codes: Int8Array, meta: Float64Array): void {
    const dim = this.dim, mid = this.mid, v = this.tmp;
    for (let i = 0; i < n; i++) {
      const base = (from + i) * dim;
      const inv = this.metric === 'cosine' ? inverseNorm(rows, base, dim) : 1;
      let peak0 = 0, peak1 = 0;
      for (let j = 0; j < dim; j++) {
        const x = rows[base + j] * inv;
        v[j] = x;
        peak0 = Math.max(peak0, Math.abs(x));
        peak1 = Math.max(peak1, Math.abs(x - mid[j]));
      }
      const origin = peak1 < peak0 ? 1 : 0, peak = origin ? peak1 : peak0;
      const step = Math.fround(peak / 127); // stored as float32: the codes are made with that value
      const scale = step > 0 ? 1 / step : 0;
      for (let j = 0; j < dim; j++) {
        const c = Math.round((v[j] - origin * mid[j]) * scale);
        codes[i * dim + j] = c > 127 ? 127 : c < -127 ? -127 : c;
      }
      this.constants(codes, i * dim, step, origin, meta, i * CODE_META);
    }
  }

  /** Writes the constants of the code at codes[at, at + dim) with its step and origin to meta[out…]. */
  constants(codes: Int8Array, at: number, step: number, origin: number, meta: Float64Array, out: number): void {
    let cc = 0, cm = 0;
    for (let j = 0; j < this.dim; j++) {
      const c = codes[at + j];
      cc += c * c;
      cm += c * this.mid[j];
    }
    meta[out + META_STEP] = step;
    meta[out + META_A] = step * step * cc;
    meta[out + META_P] = step * cm;
    meta[out + META_ORIGIN] = origin;
  }
}
