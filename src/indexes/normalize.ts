// L2 normalisation (FAISS normalize_L2): in place, zero vectors stay zero (never NaN).
import { invalidArgument } from '../errors.js';
import { describe } from './validate.js';

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
    let sq = 0;
    for (let j = 0; j < d; j++) sq += flat[start + j] * flat[start + j];
    if (sq === 0) continue;
    const inv = 1 / Math.sqrt(sq);
    for (let j = 0; j < d; j++) flat[start + j] *= inv;
  }
  return vectors;
}
