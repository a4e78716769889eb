// k-means (FAISS Kmeans semantics): k-means++ initialisation on a sample, Lloyd iterations whose
// assignment step skips what Yinyang bounds (yinyang.ts; Hamerly's in low dimension) rule out,
// on all cores,
// empty clusters repaired by splitting large ones, and training on a seeded subsample of at most
// k · maxPointsPerCentroid points.
import { invalidArgument } from '../../errors.js';
import { createArena, type BackendChoice } from '../../distance/backend.js';
import { FlatIndex } from '../flat.js';
import { availableThreads, runParallel } from '../../parallel/pool.js';
import { YINYANG_UNIT, runYinyang, yinyangLayout, type YinyangJob, type YinyangParams } from './yinyang.js';
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
  /**
   * Centroid of each input point as of the last iteration's assignment step, when every point was
   * trained on (internal).
   */
  assignment?: Int32Array;
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
  o: { niter: number; seed: number; maxPer: number; init: 'kmeans++' | 'random'; threads?: number; backend: BackendChoice; groups?: number }): KmeansResult {
  const random = prng(o.seed);
  let x = rows, m = n;
  if (n > k * o.maxPer) {
    m = k * o.maxPer;
    const pick = sampleIndexes(n, m, random);
    x = new Float32Array(m * dim);
    for (let i = 0; i < m; i++) x.set(rows.subarray(pick[i] * dim, (pick[i] + 1) * dim), i * dim);
  }
  let centroids = o.init === 'random' ? randomInit(x, m, dim, k, random) : plusPlusInit(x, m, dim, k, random, o.backend);
  const objective: number[] = [];
  if (o.niter === 0) return { centroids, k, dim, objective, trainedOn: m };

  const threads = Math.max(1, o.threads ?? availableThreads());
  return dim >= YINYANG_MIN_DIM && o.groups !== 1
    ? yinyangLloyd(x, m, n, dim, k, centroids, threads, o, random)
    : hamerlyLloyd(x, m, n, dim, k, centroids, threads, o, random);
}

/**
 * Below this dimension a distance is so cheap that the per-pair bookkeeping of Yinyang bounds
 * costs as much as it saves: Hamerly's single bound with the blocked argmin kernel is as fast or
 * faster there (measured on Fashion-MNIST slices, 25 iterations, 2 threads: 28 dims k 256 0.5 s vs
 * 0.75 s; 112 dims k 1024 3.4 s both; 392 dims k 256 3.1 s vs 1.6 s; 784 dims k 1024 24 s vs 8 s).
 */
const YINYANG_MIN_DIM = 128;
/** Largest k-means state kept in one arena (kernel memory ends at 4 GiB). */
const ARENA_BUDGET = 3.5 * 2 ** 30;

/**
 * The centroid update of a Lloyd iteration. Cluster sums are kept up to date incrementally
 * (float64): only points that changed cluster are moved, which after the first iterations is a
 * small fraction. Empty clusters are repaired by splitting (on a copy of the counts, so the sums
 * and counts stay true to the assignment).
 */
class CentroidUpdate {
  private readonly sums: Float64Array;
  private readonly counts: Int32Array;
  private readonly previous: Float32Array;
  private assign: Int32Array | null = null;
  /** How far each centroid moved in the last update. */
  readonly drift: Float64Array;

  constructor(private readonly x: Float32Array, private readonly m: number, private readonly dim: number, private readonly k: number, private readonly random: () => number) {
    this.sums = new Float64Array(k * dim);
    this.counts = new Int32Array(k);
    this.previous = new Float32Array(k * dim);
    this.drift = new Float64Array(k);
  }

  /** Moves `centroids` to the means of the assignment `next` (kept as the new assignment). */
  apply(next: Int32Array, centroids: Float32Array): void {
    const { x, m, dim, k, sums, counts, previous } = this;
    for (let i = 0; i < m; i++) {
      const c = next[i], was = this.assign ? this.assign[i] : -1;
      if (c === was) continue;
      const base = i * dim, cb = c * dim;
      counts[c]++;
      for (let j = 0; j < dim; j++) sums[cb + j] += x[base + j];
      if (was < 0) continue;
      const wb = was * dim;
      counts[was]--;
      for (let j = 0; j < dim; j++) sums[wb + j] -= x[base + j];
    }
    this.assign = next.slice();
    previous.set(centroids);
    for (let c = 0; c < k; c++) {
      if (counts[c] === 0) continue;
      for (let j = 0; j < dim; j++) centroids[c * dim + j] = sums[c * dim + j] / counts[c];
    }
    splitEmpty(centroids, counts.slice(), k, dim, m, this.random);
    // Rounded up a little so float32 rounding can never make a bound too tight.
    for (let c = 0; c < k; c++) {
      let d = 0;
      for (let j = 0; j < dim; j++) d += (centroids[c * dim + j] - previous[c * dim + j]) ** 2;
      this.drift[c] = Math.sqrt(d) * (1 + 1e-6);
    }
  }
}

type LloydOptions = { niter: number; seed: number; backend: BackendChoice };

/** Lloyd iterations whose assignment step skips what Yinyang bounds rule out (yinyang.ts). */
function yinyangLloyd(x: Float32Array, m: number, n: number, dim: number, k: number, start: Float32Array, threads: number, o: LloydOptions, random: () => number): KmeansResult {
  // Groups of two or three nearby centroids (a short k-means over the initial centroids), stored
  // contiguously by group for the whole run. Small groups keep the bounds tight (measured on
  // Fashion-MNIST, k 1024: groups of 2 cost 40% less than the paper's groups of 10); their memory,
  // t floats per point, is held to half the points' own.
  let t = Math.max(1, Math.min(Math.ceil(k / 2), Math.floor(dim / 2)));
  // Kernel memory is limited to 4 GiB: fewer groups when the bounds would not fit beside the
  // points, and Hamerly's bounds (no per-group state) when even one group would not.
  while (t > 1 && yinyangLayout(m, dim, k, t, threads).bytes > ARENA_BUDGET) t = Math.max(1, Math.floor(t / 2));
  if (yinyangLayout(m, dim, k, t, threads).bytes > ARENA_BUDGET) return hamerlyLloyd(x, m, n, dim, k, start, threads, o, random);
  const groupOf = new Int32Array(k);
  if (t > 1) groupOf.set(kmeansRows(start, k, dim, t, { niter: 5, seed: o.seed + 1, maxPer: k, init: 'random', threads: 1, backend: o.backend, groups: 1 }).assignment!);
  const order = Array.from({ length: k }, (_, c) => c).sort((a, b) => groupOf[a] - groupOf[b] || a - b);
  const centroids = new Float32Array(k * dim), groupStart = new Int32Array(t + 1), sortedGroup = new Int32Array(k);
  order.forEach((c, r) => { centroids.set(start.subarray(c * dim, (c + 1) * dim), r * dim); sortedGroup[r] = groupOf[c]; groupStart[groupOf[c] + 1]++; });
  for (let g = 0; g < t; g++) groupStart[g + 1] += groupStart[g];

  const { params, bytes } = yinyangLayout(m, dim, k, t, threads);
  const arena = createArena(o.backend, bytes);
  {
    const f = arena.f32(), i = arena.i32();
    f.set(x.subarray(0, m * dim), params.pointsOff >> 2);
    for (let p = 0; p < m; p++) f[(params.pointNormsOff >> 2) + p] = squaredNorm(x, p * dim, dim);
    i.set(sortedGroup, params.groupOfOff >> 2);
    i.set(groupStart, params.groupStartOff >> 2);
  }
  const handle = arena.handle();
  const useThreads = Math.min(threads, Math.ceil(m / YINYANG_UNIT));
  const update = new CentroidUpdate(x, m, dim, k, random);
  const objective: number[] = [];
  let assign = new Int32Array(0);
  for (let iter = 0; iter < o.niter; iter++) {
    const f = arena.f32();
    f.set(centroids, params.centroidsOff >> 2);
    for (let c = 0; c < k; c++) f[(params.centroidNormsOff >> 2) + c] = squaredNorm(centroids, c * dim, dim);
    const p: YinyangParams = { ...params, mode: iter === 0 ? 0 : 1 };
    const job: YinyangJob | null = handle && useThreads > 1 ? { kind: 'yinyang', handle, params: p } : null;
    runParallel(job, useThreads, (control, thread) => runYinyang(arena, p, control, thread));

    const f2 = arena.f32();
    assign = arena.i32().slice(params.assignOff >> 2, (params.assignOff >> 2) + m);
    const upper = f2.subarray(params.upperOff >> 2, (params.upperOff >> 2) + m);
    let obj = 0;
    for (let i = 0; i < m; i++) obj += upper[i] * upper[i];
    objective.push(obj);
    update.apply(assign, centroids);
    const drift = f2.subarray(params.driftOff >> 2, (params.driftOff >> 2) + k);
    const groupDrift = f2.subarray(params.groupDriftOff >> 2, (params.groupDriftOff >> 2) + t);
    groupDrift.fill(0);
    for (let c = 0; c < k; c++) {
      const move = update.drift[c];
      drift[c] = move;
      if (move > groupDrift[sortedGroup[c]]) groupDrift[sortedGroup[c]] = move;
    }
  }
  return { centroids, k, dim, objective, trainedOn: m, assignment: m === n ? assign : undefined };
}

/**
 * Lloyd iterations with Hamerly's bounds: upper[i] ≥ d(x_i, its centroid), lower[i] ≤ d(x_i, any
 * other centroid). A point whose (tightened) upper bound stays below its lower bound keeps its
 * centroid; the others are re-assigned by the blocked SIMD argmin kernel (Assigner), all cores.
 */
function hamerlyLloyd(x: Float32Array, m: number, n: number, dim: number, k: number, centroids: Float32Array, threads: number, o: LloydOptions, random: () => number): KmeansResult {
  const assigner = new Assigner(x, m, dim, k, { threads, backend: o.backend });
  const assign = new Int32Array(m), upper = new Float64Array(m), lower = new Float64Array(m);
  const update = new CentroidUpdate(x, m, dim, k, random);
  const objective: number[] = [];
  const pending: number[] = [];
  for (let iter = 0; iter < o.niter; iter++) {
    assigner.setCentroids(centroids);
    pending.length = 0;
    for (let i = 0; i < m; i++) {
      if (iter > 0 && upper[i] <= lower[i]) { upper[i] = Math.sqrt(assigner.distanceTo(i, assign[i])); if (upper[i] <= lower[i]) continue; }
      pending.push(i);
    }
    if (pending.length > 0) {
      const r = assigner.assignSome(pending.length === m ? null : Int32Array.from(pending));
      for (let t = 0; t < pending.length; t++) {
        const i = pending[t];
        assign[i] = r.index[t];
        upper[i] = Math.sqrt(r.best[t]);
        lower[i] = Math.sqrt(r.second[t]);
      }
    }
    let obj = 0;
    for (let i = 0; i < m; i++) obj += upper[i] * upper[i];
    objective.push(obj);
    update.apply(assign, centroids);
    let maxDrift = 0;
    for (let c = 0; c < k; c++) if (update.drift[c] > maxDrift) maxDrift = update.drift[c];
    for (let i = 0; i < m; i++) { upper[i] += update.drift[assign[i]]; lower[i] -= maxDrift; }
  }
  return { centroids, k, dim, objective, trainedOn: m, assignment: m === n ? assign.slice() : undefined };
}

function squaredNorm(v: Float32Array, off: number, dim: number): number {
  let s = 0;
  for (let j = 0; j < dim; j++) s += v[off + j] * v[off + j];
  return s;
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
