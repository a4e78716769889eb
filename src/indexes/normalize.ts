// L2 normalisation (FAISS normalize_L2): in place, zero vectors stay zero (never NaN); norms are
// summed in float64, so tiny vectors (components of 1e-30) keep their direction instead of
// underflowing to zero as float32 squares would.
import { invalidArgument } from '../errors.js';
import { describe } from './validate.js';

/** 1/|v| of the `dim` values of `v` from `at`, summed in float64; 0 for a zero vector. */
export function inverseNorm(v: ArrayLike<number>, at: number, dim: number): number {
  let sq = 0;
  for (let j = 0; j < dim; j++) sq += v[at + j] * v[at + j];
  return sq > 0 ? 1 / Math.sqrt(sq) : 0;
}

/** Unit-length float32 copies of `n` rows (row-major); zero rows stay zero. */
export function unitRows(data: Float32Array, n: number, dim: number): Float32Array {
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const inv = inverseNorm(data, i * dim, dim);
    for (let j = 0; j < dim; j++) out[i * dim + j] = data[i * dim + j] * inv;
  }
  return out;
}

/**
 * Scales each vector to unit L2 norm, in place, and returns the same object. Accepts one vector,
 * an array of vectors, or a row-major Float32Array of n·dim values (then `dim` is required unless
 * it holds one vector). Zero vectors are left as zeros.
 */
export function normalize<T extends Float32Array | Float64Array | number[] | (Float32Array | Float64Array | number[])[]>(vectors: T, dim?: number): T {
  if (Array.isArray(vectors) && vectors.length > 0 && typeof vectors[0] !== 'number') {
    for (const v of vectors as (Float32Array | number[])[]) normalize(v);
    return vectors;
  }
  if (!(Array.isArray(vectors) || vectors instanceof Float32Array || vectors instanceof Float64Array)) {
    throw invalidArgument(`normalize: expected vectors, got ${describe(vectors)}`, {});
  }
  const flat = vectors as Float32Array | number[];
  const d = dim ?? flat.length;
  if (!Number.isInteger(d) || d < 1 || flat.length % d !== 0) {
    throw invalidArgument(`normalize: ${flat.length} values are not a whole number of ${describe(d)}-dimensional vectors`, { received: flat.length, dim: d });
  }
  for (let start = 0; start < flat.length; start += d) {
    const inv = inverseNorm(flat, start, d);
    if (inv === 0) continue;
    for (let j = 0; j < d; j++) flat[start + j] *= inv;
  }
  return vectors;
}
