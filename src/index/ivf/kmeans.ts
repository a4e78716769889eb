// k-means (FAISS Kmeans semantics): k-means++ initialisation on a sample, Lloyd iterations whose
// assignment step runs the SIMD argmin kernel over packed point panels on all cores (Assigner),
// empty clusters repaired by splitting large ones, and training on a seeded subsample of at most
// k · maxPointsPerCentroid points.
import { invalidArgument } from '../../errors.js';
import type { BackendChoice } from '../../distance/backend.js';
import { FlatIndex } from '../flat.js';
import { availableThreads } from '../../parallel/pool.js';
import { Assigner } from './assigner.js';
import { prng } from '../random.js';
import { checkOptions, checkThreads, describe, toRows, type VectorsLike } from '../validate.js';

/** Options of `kmeans`. */
export interface KmeansOptions {
  /** Number of centroids (≥ 1, ≤ the number of points). */
  k: number;
  /** Lloyd iterations; default 25 (FAISS's default). */
  niter?: number;
  /** Seed of sampling and initialisation; default 1234. */
  seed?: number;
  /** Train on at most k · maxPointsPerCentroid points (a seeded sample); default 256. */
  maxPointsPerCentroid?: number;
  /** 'kmeans++' (default) or 'random' (k distinct sample points, FAISS's default). */
  init?: 'kmeans++' | 'random';
  /** Threads of the assignment step; default all cores. */
  threads?: number;
  /** Dimension when `data` is a flat Float32Array. */
  dim?: number;
  /** Kernel backend. */
  backend?: BackendChoice;
}

/** What `kmeans` returns. */
export interface KmeansResult {
  /** k · dim centroid coordinates, row-major. */
  centroids: Float32Array;
  k: number;
  dim: number;
  /** Sum of squared distances of the training points to their centroid, per iteration. */
  objective: number[];
  /** Points the centroids were trained on (after sampling). */
  trainedOn: number;
}

/** A seeded sample of `count` distinct indexes out of n (partial Fisher-Yates). */
export function sampleIndexes(n: number, count: number, random: () => number): Int32Array {
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(random() * (n - i));
    const t = perm[i]; perm[i] = perm[j]; perm[j] = t;
  }
  return perm.slice(0, count).sort();
}

/**
 * Clusters vectors into k groups (Lloyd's algorithm, squared Euclidean distance).
 * Cost per iteration: one exact batched search of the sample against k centroids.
 */
export function kmeans(data: VectorsLike, options: KmeansOptions): KmeansResult {
  const where = 'kmeans';
  const o = checkOptions(options, ['k', 'niter', 'seed', 'maxPointsPerCentroid', 'init', 'threads', 'dim', 'backend'], where);
  const dim = (o.dim as number | undefined) ?? (Array.isArray(data) && data.length > 0 ? (data[0] as ArrayLike<number>).length : undefined);
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1) {
    throw invalidArgument(`${where}: pass { dim } with a flat Float32Array (got ${describe(dim)})`, { received: dim });
  }
  const { data: rows, n } = toRows(data, dim, where);
  const k = o.k;
  if (typeof k !== 'number' || !Number.isInteger(k) || k < 1 || k > n) {
    throw invalidArgument(`${where}: k must be an integer from 1 to the number of points (${n}), got ${describe(k)}`, { received: k, max: n });
  }
  const niter = (o.niter as number | undefined) ?? 25;
  if (!Number.isInteger(niter) || niter < 0) throw invalidArgument(`${where}: niter must be an integer ≥ 0, got ${describe(niter)}`, { received: niter });
  const seed = (o.seed as number | undefined) ?? 1234;
  const maxPer = (o.maxPointsPerCentroid as number | undefined) ?? 256;
  if (!Number.isInteger(maxPer) || maxPer < 1) throw invalidArgument(`${where}: maxPointsPerCentroid must be an integer ≥ 1`, { received: maxPer });
  const init = (o.init as string | undefined) ?? 'kmeans++';
  if (init !== 'kmeans++' && init !== 'random') throw invalidArgument(`${where}: init must be 'kmeans++' or 'random', got ${describe(init)}`, { received: init });
  const threads = checkThreads(o.threads, 0, where) || undefined;
  const backend = (o.backend as BackendChoice | undefined) ?? 'auto';
  return kmeansRows(rows, n, dim, k, { niter, seed, maxPer, init, threads, backend });
}

/** kmeans on validated row-major data (internal entry used by IVF and PQ training). */
export function kmeansRows(rows: Float32Array, n: number, dim: number, k: number,
  o: { niter: number; seed: number; maxPer: number; init: 'kmeans++' | 'random'; threads?: number; backend: BackendChoice }): KmeansResult {
  const random = prng(o.seed);
  let x = rows, m = n;
  if (n > k * o.maxPer) {
    m = k * o.maxPer;
    const pick = sampleIndexes(n, m, random);
    x = new Float32Array(m * dim);
    for (let i = 0; i < m; i++) x.set(rows.subarray(pick[i] * dim, (pick[i] + 1) * dim), i * dim);
  }
  const centroids = o.init === 'random' ? randomInit(x, m, dim, k, random) : plusPlusInit(x, m, dim, k, random, o.backend);
  const objective: number[] = [];
  const sums = new Float64Array(k * dim);
  const counts = new Int32Array(k);
  const assigner = o.niter > 0 ? new Assigner(x, m, dim, k, { threads: o.threads ?? availableThreads(), backend: o.backend }) : null;
  // Hamerly's bounds: upper[i] ≥ d(x_i, its centroid), lower[i] ≤ d(x_i, any other centroid).
  // A point whose (tightened) upper bound stays below its lower bound keeps its centroid without
  // being compared to all k; after the first iterations most points are settled this way.
  const assign = new Int32Array(m), upper = new Float64Array(m), lower = new Float64Array(m);
  const previous = new Float32Array(k * dim), drift = new Float64Array(k);
  const pending: number[] = [];
  for (let iter = 0; iter < o.niter; iter++) {
    assigner!.setCentroids(centroids);
    pending.length = 0;
    if (iter === 0) {
      for (let i = 0; i < m; i++) pending.push(i);
    } else {
      for (let i = 0; i < m; i++) {
        if (upper[i] <= lower[i]) { upper[i] = Math.sqrt(assigner!.distanceTo(i, assign[i])); if (upper[i] <= lower[i]) continue; }
        pending.push(i);
      }
    }
    if (pending.length > 0) {
      const subset = pending.length === m ? null : Int32Array.from(pending);
      const r = assigner!.assignSome(subset);
      for (let t = 0; t < pending.length; t++) {
        const i = pending[t];
        assign[i] = r.index[t];
        upper[i] = Math.sqrt(r.best[t]);
        lower[i] = Math.sqrt(r.second[t]);
      }
    }
    sums.fill(0); counts.fill(0);
    let obj = 0;
    for (let i = 0; i < m; i++) {
      const c = assign[i];
      counts[c]++;
      obj += upper[i] * upper[i];
      const base = i * dim, cb = c * dim;
      for (let j = 0; j < dim; j++) sums[cb + j] += x[base + j];
    }
    objective.push(obj);
    previous.set(centroids);
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) continue;
      for (let j = 0; j < dim; j++) centroids[c * dim + j] = sums[c * dim + j] / counts[c];
    }
    splitEmpty(centroids, counts, k, dim, m, random);
    let maxDrift = 0;
    for (let c = 0; c < k; c++) {
      let d = 0;
      for (let j = 0; j < dim; j++) d += (centroids[c * dim + j] - previous[c * dim + j]) ** 2;
      drift[c] = Math.sqrt(d);
      if (drift[c] > maxDrift) maxDrift = drift[c];
    }
    for (let i = 0; i < m; i++) { upper[i] += drift[assign[i]]; lower[i] -= maxDrift; }
  }
  return { centroids, k, dim, objective, trainedOn: m };
}

function randomInit(x: Float32Array, m: number, dim: number, k: number, random: () => number): Float32Array {
  const pick = sampleIndexes(m, k, random);
  const c = new Float32Array(k * dim);
  for (let i = 0; i < k; i++) c.set(x.subarray(pick[i] * dim, (pick[i] + 1) * dim), i * dim);
  return c;
}

/**
 * k-means++ (Arthur & Vassilvitskii) on a sample of at most max(4k, 8192) points: each next centre
 * is drawn with probability proportional to the squared distance to the nearest centre so far. The
 * distance updates use the SIMD scan kernel of a FlatIndex holding the sample.
 */
function plusPlusInit(x: Float32Array, m: number, dim: number, k: number, random: () => number, backend: BackendChoice): Float32Array {
  const s = Math.min(m, Math.max(4 * k, 8192));
  let pts = x;
  if (s < m) {
    const pick = sampleIndexes(m, s, random);
    pts = new Float32Array(s * dim);
    for (let i = 0; i < s; i++) pts.set(x.subarray(pick[i] * dim, (pick[i] + 1) * dim), i * dim);
  }
  const index = new FlatIndex({ dim, metric: 'euclidean', backend, threads: 1 });
  index.add(pts.subarray(0, s * dim));
  const best = new Float64Array(s).fill(Infinity);
  const c = new Float32Array(k * dim);
  let chosen = Math.floor(random() * s);
  for (let ci = 0; ci < k; ci++) {
    const centre = pts.subarray(chosen * dim, (chosen + 1) * dim);
    c.set(centre, ci * dim);
    if (ci === k - 1) break;
    // Squared distances of every sample point to the new centre, via one exact scan.
    const d = index.distancesTo(centre);
    let total = 0;
    for (let i = 0; i < s; i++) {
      if (d[i] < best[i]) best[i] = d[i];
      total += best[i];
    }
    if (total <= 0) { chosen = Math.floor(random() * s); continue; }
    let r = random() * total;
    chosen = s - 1;
    for (let i = 0; i < s; i++) { r -= best[i]; if (r <= 0) { chosen = i; break; } }
  }
  return c;
}

/** FAISS's repair: an empty cluster takes half of a large one (centroid copied, both nudged apart). */
function splitEmpty(centroids: Float32Array, counts: Int32Array, k: number, dim: number, m: number, random: () => number): void {
  const EPS = 1 / 1024;
  for (let ci = 0; ci < k; ci++) {
    if (counts[ci] !== 0) continue;
    let cj = 0;
    for (;;) {
      const p = (counts[cj] - 1) / (m - k);
      if (random() < p) break;
      cj = (cj + 1) % k;
    }
    for (let j = 0; j < dim; j++) {
      const v = centroids[cj * dim + j];
      if (j % 2 === 0) { centroids[ci * dim + j] = v * (1 + EPS); centroids[cj * dim + j] = v * (1 - EPS); }
      else { centroids[ci * dim + j] = v * (1 - EPS); centroids[cj * dim + j] = v * (1 + EPS); }
    }
    counts[ci] = counts[cj] >> 1;
    counts[cj] -= counts[ci];
  }
}
