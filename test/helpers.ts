// Test helpers: a seeded PRNG, clustered data, and a float64 brute-force reference.
import { expect } from 'vitest';

export type Metric = 'cosine' | 'euclidean' | 'dot';
export const METRICS: Metric[] = ['cosine', 'euclidean', 'dot'];

/** mulberry32: a small seeded PRNG in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples from a seeded PRNG (Box-Muller). */
export function gaussian(seed: number): () => number {
  const r = prng(seed);
  return () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** n random vectors (row-major), N(0,1) entries. */
export function randomRows(n: number, dim: number, seed: number): Float32Array {
  const g = gaussian(seed);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < out.length; i++) out[i] = g();
  return out;
}

/**
 * Clustered rows with realistic structure (FAISS get_dataset_2 style): Gaussian clusters in a
 * low-dimensional latent space (`intrinsicDim`, default min(dim, 8)) mapped to `dim` dimensions by
 * a fixed random linear map, plus a little isotropic noise. The map and centres depend only on
 * (dim, clusters, intrinsicDim), so corpus and query sets made with different seeds share them.
 */
export function clusteredRows(n: number, dim: number, clusters: number, seed: number, intrinsicDim = Math.min(dim, 8)): Float32Array {
  const g = gaussian(seed);
  const structure = gaussian(1000003 + dim * 31 + clusters * 7 + intrinsicDim);
  const map = new Float64Array(intrinsicDim * dim);
  for (let i = 0; i < map.length; i++) map[i] = structure() / Math.sqrt(intrinsicDim);
  const centres = new Float64Array(clusters * intrinsicDim);
  for (let i = 0; i < centres.length; i++) centres[i] = structure() * 2;
  const r = prng(seed + 2);
  const latent = new Float64Array(intrinsicDim);
  const out = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const c = Math.floor(r() * clusters);
    for (let a = 0; a < intrinsicDim; a++) latent[a] = centres[c * intrinsicDim + a] + 0.5 * g();
    for (let j = 0; j < dim; j++) {
      let v = 0.02 * g();
      for (let a = 0; a < intrinsicDim; a++) v += latent[a] * map[a * dim + j];
      out[i * dim + j] = v;
    }
  }
  return out;
}

/** Float64 score (higher is better) of row i against q under a metric. */
export function refScore(metric: Metric, q: ArrayLike<number>, rows: ArrayLike<number>, i: number, dim: number): number {
  let dot = 0, qq = 0, xx = 0, l2 = 0;
  for (let j = 0; j < dim; j++) {
    const a = q[j], b = rows[i * dim + j];
    dot += a * b; qq += a * a; xx += b * b; l2 += (a - b) * (a - b);
  }
  if (metric === 'euclidean') return -Math.sqrt(l2);
  if (metric === 'dot') return dot;
  return qq === 0 || xx === 0 ? 0 : dot / Math.sqrt(qq * xx);
}

/** Float64 exact top-k (ids = positions, or given ids): full sort, best first, ties by id. */
export function refTopK(metric: Metric, q: ArrayLike<number>, rows: ArrayLike<number>, dim: number, k: number, ids?: ArrayLike<number>, allow?: (id: number) => boolean): { id: number; score: number }[] {
  const n = rows.length / dim;
  const all: { id: number; score: number }[] = [];
  for (let i = 0; i < n; i++) {
    const id = ids ? ids[i] : i;
    if (allow && !allow(id)) continue;
    all.push({ id, score: refScore(metric, q, rows, i, dim) });
  }
  all.sort((a, b) => b.score - a.score || a.id - b.id);
  return all.slice(0, k);
}

/** Tolerance for float32 rounding of a score computed over `dim` terms of magnitude `scale`. */
export function tolerance(metric: Metric, dim: number, scale: number): number {
  return (metric === 'cosine' ? 1e-5 : 1e-5 * scale) * Math.sqrt(dim) + 1e-6;
}

/**
 * Asserts that `got` equals the float64 reference up to float32 ties: same length, scores equal
 * within `tol` rank by rank, and every returned id is a true member of the top k (its exact score
 * is within `tol` of the k-th best), with no id repeated.
 */
export function expectSameNeighbours(got: { id: number; score: number }[], ref: { id: number; score: number }[], exact: (id: number) => number, tol: number): void {
  expect(got.length).toBe(ref.length);
  const seen = new Set<number>();
  for (let i = 0; i < got.length; i++) {
    expect(Math.abs(got[i].score - ref[i].score), `rank ${i}: score ${got[i].score} vs ${ref[i].score}`).toBeLessThanOrEqual(tol);
    expect(seen.has(got[i].id)).toBe(false);
    seen.add(got[i].id);
    if (got[i].id !== ref[i].id) {
      // Only acceptable when it is a float32 tie: the exact score of our id is as good as the ref's.
      expect(Math.abs(exact(got[i].id) - ref[i].score), `rank ${i}: id ${got[i].id} vs ${ref[i].id}`).toBeLessThanOrEqual(tol);
    }
  }
}
