// Validation of public arguments, done once per call so that inner loops run check-free.
// Every failure is a NearestError naming what was wrong, what was expected and what is allowed.
import { NearestError, invalidArgument } from '../errors.js';
import { METRICS, type Metric } from '../distance/metric.js';

/** Dimensions above this are refused (a 4 GiB arena holds ~16k such rows). */
export const MAX_DIM = 65536;

/** A vector as users pass it. */
export type VectorLike = Float32Array | Float64Array | readonly number[];
/** Many vectors: a row-major flat typed array of n·dim values, or an array of vectors. */
export type VectorsLike = Float32Array | Float64Array | readonly VectorLike[];

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function closest(key: string, allowed: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  return allowed.find((a) => a.toLowerCase() === lower || a.toLowerCase().startsWith(lower.slice(0, 3)) || lower.startsWith(a.toLowerCase()));
}

/**
 * Checks that `options` is undefined or a plain object whose keys are all in `allowed`, and returns
 * it as a record. Unknown keys are errors (a typo must not be silently ignored).
 */
export function checkOptions(options: unknown, allowed: readonly string[], where: string): Record<string, unknown> {
  if (options === undefined) return {};
  if (!isPlainObject(options)) {
    throw invalidArgument(`${where}: options must be a plain object, got ${describe(options)}`, { where, received: describe(options) });
  }
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      const hint = closest(key, allowed);
      throw invalidArgument(
        `${where}: unknown option '${key}'${hint ? ` (did you mean '${hint}'?)` : ''}; allowed options: ${allowed.join(', ')}`,
        { where, option: key, allowed: [...allowed] },
      );
    }
  }
  return options;
}

/** A short description of a value for error messages. */
export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (ArrayBuffer.isView(v)) return `a ${v.constructor.name} of length ${(v as unknown as { length: number }).length}`;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? v.slice(0, 40) + '…' : v);
  return typeof v;
}

/** `dim` must be an integer in [1, MAX_DIM]. */
export function checkDim(dim: unknown, where: string): number {
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < 1 || dim > MAX_DIM) {
    throw invalidArgument(`${where}: dim must be an integer from 1 to ${MAX_DIM}, got ${describe(dim)}`, { where, received: dim, min: 1, max: MAX_DIM });
  }
  return dim;
}

/** `metric` must be one of METRICS; `fallback` when undefined. */
export function checkMetric(metric: unknown, fallback: Metric, where: string): Metric {
  if (metric === undefined) return fallback;
  if (typeof metric !== 'string' || !(METRICS as readonly string[]).includes(metric)) {
    throw invalidArgument(`${where}: unknown metric ${describe(metric)}; allowed: ${METRICS.join(', ')}`, { where, received: metric, allowed: [...METRICS] });
  }
  return metric as Metric;
}

/** `k` must be an integer ≥ 1 (a search returns at most min(k, size) hits, so any k is cheap). */
export function checkK(k: unknown, where: string): number {
  if (typeof k !== 'number' || !Number.isSafeInteger(k) || k < 1) {
    throw invalidArgument(`${where}: k must be an integer ≥ 1, got ${describe(k)}`, { where, received: k });
  }
  return k;
}

/**
 * The most entries (nq·k) one searchBatch result may have: 2^25 ≈ 33.5 million, 512 MiB of ids,
 * scores and distances. The result has the documented shape nq·k, padded with id −1, so it is
 * allocated whole; above this a batch is refused rather than left to exhaust memory.
 */
export const MAX_BATCH_RESULTS = 2 ** 25;

/** `k` of a batch of `nq` queries: checkK, and nq·k at most MAX_BATCH_RESULTS. */
export function checkBatchK(k: unknown, nq: number, where: string): number {
  checkK(k, where);
  const entries = nq * (k as number);
  if (entries > MAX_BATCH_RESULTS) {
    throw invalidArgument(
      `${where}: ${nq} queries × k = ${k} is ${entries} result entries, above the limit of ${MAX_BATCH_RESULTS} (2^25); search in smaller batches or with a smaller k`,
      { where, nq, k, max: MAX_BATCH_RESULTS },
    );
  }
  return k as number;
}

/** `threads` must be an integer ≥ 1 (or undefined for the default). */
export function checkThreads(threads: unknown, fallback: number, where: string): number {
  if (threads === undefined) return fallback;
  if (typeof threads !== 'number' || !Number.isInteger(threads) || threads < 1 || threads > 1024) {
    throw invalidArgument(`${where}: threads must be an integer from 1 to 1024, got ${describe(threads)}`, { where, received: threads });
  }
  return threads;
}

function nonFinite(where: string, row: number, column: number, value: number): NearestError {
  return new NearestError('NON_FINITE_VALUE', `${where}: vector ${row} has a non-finite value (${value}) at position ${column}`, { where, row, column, value: String(value) });
}

/**
 * The largest squared norm a vector may have: 2^125 ≈ 4.25e37 (a norm of about 6.5e18). Distances
 * run in float32, whose largest value is about 3.4e38 ≈ 2^128, and the squared distance between two
 * vectors can reach 4× the larger squared norm (opposite vectors): above this it would overflow to
 * Infinity and give NaN scores and a wrong order. No limit below: a tiny vector is still a vector.
 */
export const MAX_SQUARED_NORM = 2 ** 125;

function tooLarge(where: string, row: number, squaredNorm: number): NearestError {
  return new NearestError(
    'NON_FINITE_VALUE',
    `${where}: vector ${row} has squared norm ${squaredNorm.toPrecision(3)}, which overflows float32 distance arithmetic (squared distances reach 4× it); the squared norm must be at most 2^125 ≈ 4.25e37 (norm ≈ 6.5e18) — scale the vectors down`,
    { where, row, squaredNorm, max: MAX_SQUARED_NORM },
  );
}

/**
 * Checks rows [0, n) of `data`: every value finite and every squared norm (summed in float64) at
 * most MAX_SQUARED_NORM. `raw(i)` gives the value as the caller passed it, for the message.
 */
function checkValues(data: Float32Array, n: number, dim: number, where: string, raw: (i: number) => number): void {
  for (let r = 0, at = 0; r < n; r++) {
    let sq = 0;
    for (let j = 0; j < dim; j++, at++) sq += data[at] * data[at];
    if (sq <= MAX_SQUARED_NORM) continue; // false for NaN: non-finite values land below
    for (let j = 0; j < dim; j++) {
      const v = data[r * dim + j];
      if (v - v !== 0) throw nonFinite(where, r, j, raw(r * dim + j));
    }
    throw tooLarge(where, r, sq);
  }
}

function isVector(v: unknown): v is VectorLike {
  return Array.isArray(v) || v instanceof Float32Array || v instanceof Float64Array;
}

/**
 * One query vector as a Float32Array of exactly `dim` finite values, squared norm at most
 * MAX_SQUARED_NORM (copied only when needed).
 */
export function toVector(query: unknown, dim: number, where: string): Float32Array {
  if (!isVector(query)) {
    throw invalidArgument(`${where}: expected a vector (number[] or Float32Array) of length ${dim}, got ${describe(query)}`, { where, expected: dim });
  }
  if (query.length !== dim) {
    throw new NearestError('DIMENSION_MISMATCH', `${where}: expected a vector of dimension ${dim}, got ${query.length}`, { where, expected: dim, received: query.length });
  }
  const out = query instanceof Float32Array ? query : Float32Array.from(query as ArrayLike<number>);
  checkValues(out, 1, dim, where, (j) => (query as ArrayLike<number>)[j]);
  return out;
}

/**
 * Many vectors as one row-major Float32Array of n·dim finite values, each row's squared norm at most
 * MAX_SQUARED_NORM. Accepts a flat Float32Array / Float64Array (length a multiple of dim) or an
 * array of vectors of length dim.
 */
export function toRows(vectors: unknown, dim: number, where: string): { data: Float32Array; n: number } {
  let data: Float32Array;
  let n: number;
  if (vectors instanceof Float32Array || vectors instanceof Float64Array) {
    if (vectors.length % dim !== 0) {
      throw new NearestError('DIMENSION_MISMATCH', `${where}: a flat array of ${vectors.length} values is not a whole number of ${dim}-dimensional vectors`, { where, expected: dim, received: vectors.length });
    }
    n = vectors.length / dim;
    data = vectors instanceof Float32Array ? vectors : Float32Array.from(vectors);
  } else if (Array.isArray(vectors)) {
    n = vectors.length;
    if (n > 0 && typeof vectors[0] === 'number') {
      throw invalidArgument(`${where}: got a flat number[]; pass an array of vectors (number[][]) or a row-major Float32Array`, { where });
    }
    data = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      const v: unknown = vectors[i];
      if (!isVector(v)) throw invalidArgument(`${where}: vector ${i} is ${describe(v)}, expected number[] or Float32Array`, { where, row: i });
      if (v.length !== dim) {
        throw new NearestError('DIMENSION_MISMATCH', `${where}: vector ${i} has dimension ${v.length}, expected ${dim}`, { where, row: i, expected: dim, received: v.length });
      }
      data.set(v as ArrayLike<number>, i * dim);
    }
  } else {
    throw invalidArgument(`${where}: expected an array of vectors or a row-major Float32Array, got ${describe(vectors)}`, { where });
  }
  checkValues(data, n, dim, where, (i) => (Array.isArray(vectors) ? (vectors[Math.floor(i / dim)] as ArrayLike<number>)[i % dim] : (vectors as ArrayLike<number>)[i]));
  return { data, n };
}

function isIdList(ids: unknown): ids is ArrayLike<unknown> {
  return Array.isArray(ids) || (ArrayBuffer.isView(ids) && !(ids instanceof DataView));
}

/** Copies a list of ids into a Float64Array; each must be a non-negative safe integer (or such a bigint). */
function idValues(list: ArrayLike<unknown>, where: string): Float64Array {
  const n = list.length, out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const raw = list[i];
    const id = typeof raw === 'bigint' ? Number(raw) : raw;
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
      throw invalidArgument(`${where}: id at position ${i} must be a non-negative safe integer, got ${describe(raw)}`, { where, position: i, received: String(raw) });
    }
    out[i] = id;
  }
  return out;
}

/** ids for `n` new rows: non-negative safe integers, as a Float64Array. */
export function toIds(ids: unknown, n: number, where: string): Float64Array {
  if (!isIdList(ids)) {
    throw invalidArgument(`${where}: ids must be an array or typed array of integers, got ${describe(ids)}`, { where });
  }
  if (ids.length !== n) {
    throw invalidArgument(`${where}: got ${ids.length} ids for ${n} vectors`, { where, expected: n, received: ids.length });
  }
  return idValues(ids, where);
}

/**
 * The ids named by a remove call: one id, or an array / typed array of ids, each a non-negative
 * safe integer. Ids that are not in the index are the caller's to ignore; anything that is not an
 * id (a string, null, an object, a negative or fractional number) is INVALID_ARGUMENT.
 */
export function toIdList(ids: unknown, where: string): Float64Array {
  if (typeof ids === 'number') {
    if (!Number.isSafeInteger(ids) || ids < 0) {
      throw invalidArgument(`${where}: an id must be a non-negative safe integer, got ${describe(ids)}`, { where, received: String(ids) });
    }
    return Float64Array.of(ids);
  }
  if (!isIdList(ids)) {
    throw invalidArgument(`${where}: expected an id or an array / typed array of ids, got ${describe(ids)}`, { where, received: describe(ids) });
  }
  return idValues(ids, where);
}

/** The largest id; automatic ids stop there (the next one would not be exact in a double). */
export const MAX_ID = Number.MAX_SAFE_INTEGER;

/**
 * The ids of `n` new rows: the given ones (validated, unique within the call and against `taken`)
 * or, when `ids` is undefined, consecutive integers from `next` skipping taken ones — refused with
 * CAPACITY_EXCEEDED when they would pass MAX_ID (2^53 − 1), where they would start to collide.
 */
export function newIds(ids: unknown, n: number, taken: { has(id: number): boolean }, next: number, where: string): Float64Array {
  if (ids === undefined) {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      while (taken.has(next)) next++;
      if (next > MAX_ID) {
        throw new NearestError('CAPACITY_EXCEEDED', `${where}: automatic ids are exhausted (the next would pass 2^53 − 1 after an explicit id near it); pass explicit ids`, { where, max: MAX_ID });
      }
      out[i] = next++;
    }
    return out;
  }
  const out = toIds(ids, n, where);
  const seen = new Set<number>();
  for (let i = 0; i < n; i++) {
    const id = out[i];
    if (taken.has(id) || seen.has(id)) {
      throw new NearestError('DUPLICATE_ID', `${where}: id ${id} is ${seen.has(id) ? 'repeated in this call' : 'already in the index'}`, { id, position: i });
    }
    seen.add(id);
  }
  return out;
}
