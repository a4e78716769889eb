// nearest/hnswlib-node: hnswlib-node 3.x's API (HierarchicalNSW, BruteforceSearch, L2Space,
// InnerProductSpace) on nearest's HnswIndex and FlatIndex, so code written for the native addon
// (LangChain community's HNSWLib among it) runs without a native build.
//
// Conventions kept from hnswlib-node: labels are integers from 0 to 2^32 − 1; 'l2' distances are
// squared Euclidean, 'ip' distances 1 − dot, 'cosine' distances 1 − cosine (vectors are stored
// normalized, as hnswlib does); distances come back as float32 values; capacity is fixed by
// initIndex / resizeIndex; marked-deleted points keep their label and count until they are
// replaced. Error messages start with hnswlib-node's own text (tests that match it keep working)
// and are NearestErrors with a code. Files are nearest's index format (docs/format.md), with the
// capacity and the marked-deleted points (which hnswlib's files keep too) as its application data,
// not hnswlib's. Like the other adapters, this module imports only the package's public API.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import {
  FlatIndex, HnswIndex, NearestError, indexFromBuffer, indexToBuffer, normalize, readIndexAppData, saveIndex,
  type ErrorCode, type Metric, type SavedIndex,
} from '../index.js';
import { writeFileAtomicSync } from './sync-file.js';

/** Distance for search index. `l2`: sum((x_i - y_i)^2), `ip`: 1 - sum(x_i * y_i), `cosine`: 1 - sum(x_i * y_i) / norm(x) * norm(y). */
export type SpaceName = 'l2' | 'ip' | 'cosine';

/** Search result: labels and distances of the nearest points, closest first. */
export interface SearchResult {
  /** Distances of the neighbours found (see SpaceName), ascending. */
  distances: number[];
  /** Labels of the neighbours found. */
  neighbors: number[];
}

/** Admits a label into the results of searchKnn. */
export type FilterFunction = (label: number) => boolean;

/** A point: an array of numbers (a Float32Array / Float64Array is accepted too). */
export type Point = number[] | Float32Array | Float64Array;

const SPACES: Record<SpaceName, Metric> = { l2: 'euclidean', ip: 'dot', cosine: 'cosine' };
const MAX_LABEL = 2 ** 32 - 1;
/** hnswlib's defaults. */
const DEFAULT_M = 16, DEFAULT_EF_CONSTRUCTION = 200, DEFAULT_SEED = 100, DEFAULT_EF = 10;

function fail(code: ErrorCode, message: string, details: Record<string, unknown> = {}): NearestError {
  return new NearestError(code, message, details);
}

function notInitialized(where: string): NearestError {
  return fail('INVALID_ARGUMENT', 'Search index has not been initialized, call `initIndex` in advance.', { where });
}

function checkSpace(spaceName: unknown, where: string): SpaceName {
  if (typeof spaceName !== 'string' || !(spaceName in SPACES)) {
    throw fail('INVALID_ARGUMENT', `Wrong space name, expected "l2", "ip", or "cosine". (${where} got ${JSON.stringify(spaceName)})`, { allowed: Object.keys(SPACES), received: spaceName });
  }
  return spaceName as SpaceName;
}

function checkInt(v: unknown, name: string, min: number, max: number, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw fail('INVALID_ARGUMENT', `${where}: ${name} must be an integer from ${min} to ${max}, got ${String(v)}`, { option: name, received: v, min, max });
  }
  return v;
}

function checkLabel(label: unknown, where: string): number {
  return checkInt(label, 'label', 0, MAX_LABEL, where);
}

/** A float32 copy of a point, checked (length, finite numbers); normalized for 'cosine'. */
function toPoint(point: unknown, dim: number, space: SpaceName, where: string): Float32Array {
  if (!Array.isArray(point) && !(point instanceof Float32Array) && !(point instanceof Float64Array)) {
    throw fail('INVALID_ARGUMENT', `Invalid the first argument type, must be an Array. (${where})`, { where });
  }
  if (point.length !== dim) {
    throw fail('DIMENSION_MISMATCH', `Invalid the given array length (expected ${dim}, but got ${point.length}).`, { expected: dim, received: point.length });
  }
  const out = new Float32Array(dim);
  for (let i = 0; i < dim; i++) {
    const x = point[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) {
      throw fail(typeof x === 'number' ? 'NON_FINITE_VALUE' : 'INVALID_ARGUMENT', `${where}: the point's value at ${i} must be a finite number, got ${String(x)}`, { at: i });
    }
    out[i] = x;
  }
  return space === 'cosine' ? normalize(out) : out;
}

// The file of an index is nearest's index file with, as its application data (readIndexAppData),
// what hnswlib's files also keep: a header of four u32 (version 1, maxElements, the count of
// marked-deleted points, 0), their labels as f64 and their points as f32, dim each. A file without
// it (what earlier versions wrote) reads as one with no marked points and a capacity of its size.
const APP_VERSION = 1, APP_HEADER = 16;

interface IndexFile { maxElements: number; marked: Map<number, Float32Array>; index: SavedIndex }

/** The application data of an index file: the capacity and the marked-deleted points. */
function appData(maxElements: number, marked: ReadonlyMap<number, Float32Array>, dim: number): Uint8Array {
  const count = marked.size;
  const app = new Uint8Array(APP_HEADER + count * 8 + count * dim * 4);
  new Uint32Array(app.buffer, 0, 4).set([APP_VERSION, maxElements, count, 0]);
  const labels = new Float64Array(app.buffer, APP_HEADER, count), points = new Float32Array(app.buffer, APP_HEADER + count * 8, count * dim);
  let i = 0;
  for (const [label, point] of marked) { labels[i] = label; points.set(point, i * dim); i++; }
  return app;
}

/** A NearestError for a file that could not be read (NOT_FOUND when it does not exist), with hnswlib-node's text. */
function openError(path: string, e: unknown): NearestError {
  const code = (e as { code?: string }).code;
  return new NearestError(code === 'ENOENT' ? 'NOT_FOUND' : 'INVALID_ARGUMENT', `Hnswlib Error: failed to open file: ${path} (${(e as Error).message})`, { path, cause: code }, { cause: e });
}

function corruptFile(path: string, why: string): NearestError {
  return fail('CORRUPT_FILE', `Hnswlib Error: ${path} is not a readable index file: ${why}`, { path });
}

function parseFile(bytes: Uint8Array, path: string): IndexFile {
  const index = indexFromBuffer(bytes), dim = index.dim;
  const app = readIndexAppData(bytes);
  if (app === null) return { maxElements: index.size, marked: new Map(), index };
  const head = app.length >= APP_HEADER ? new Uint32Array(app.buffer, app.byteOffset, 4) : null;
  if (!head || head[0] !== APP_VERSION) throw corruptFile(path, head ? `version ${head[0]} is not ${APP_VERSION}` : 'truncated header');
  const maxElements = head[1]!, count = head[2]!;
  if (app.length !== APP_HEADER + count * 8 + count * dim * 4) throw corruptFile(path, `its marked-point block is not ${count} points of ${dim} values`);
  const labels = new Float64Array(app.buffer, app.byteOffset + APP_HEADER, count);
  const points = new Float32Array(app.buffer, app.byteOffset + APP_HEADER + count * 8, count * dim);
  const marked = new Map<number, Float32Array>();
  for (let i = 0; i < count; i++) {
    const label = labels[i]!;
    if (!Number.isInteger(label) || label < 0 || label > MAX_LABEL || marked.has(label) || index.has(label)) throw corruptFile(path, `bad marked label ${label}`);
    marked.set(label, points.slice(i * dim, (i + 1) * dim));
  }
  if (index.size + count > maxElements) throw corruptFile(path, `${index.size + count} points for a capacity of ${maxElements}`);
  return { maxElements, marked, index };
}

async function readIndexFile(path: string): Promise<IndexFile> {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (e) {
    throw openError(path, e);
  }
  return parseFile(bytes, path);
}

/** hnswlib's distance of a hit (float32, as the addon returns it). */
function distanceOf(space: SpaceName, hit: { score: number; distance: number }): number {
  return Math.fround(space === 'l2' ? hit.distance * hit.distance : 1 - hit.score);
}

function toResult(space: SpaceName, hits: { id: number; score: number; distance: number }[]): SearchResult {
  const distances = new Array<number>(hits.length), neighbors = new Array<number>(hits.length);
  for (let i = 0; i < hits.length; i++) { distances[i] = distanceOf(space, hits[i]!); neighbors[i] = hits[i]!.id; }
  return { distances, neighbors };
}

function checkK(k: unknown, maxElements: number): number {
  checkInt(k, 'numNeighbors', 0, Number.MAX_SAFE_INTEGER, 'searchKnn');
  if ((k as number) > maxElements) {
    throw fail('INVALID_ARGUMENT', `Invalid the number of k-nearest neighbors (cannot be given a value greater than \`maxElements\`: ${maxElements}).`, { received: k, max: maxElements });
  }
  return k as number;
}

function checkFilter(filter: unknown): FilterFunction | undefined {
  if (filter === undefined || filter === null) return undefined;
  if (typeof filter !== 'function') throw fail('INVALID_ARGUMENT', 'Invalid the third argument type, must be a Function.', { received: typeof filter });
  return filter as FilterFunction;
}

/** searchKnn of either class: checks, then the index's search with `options` (and the filter). */
function searchKnn(index: HnswIndex | FlatIndex, space: SpaceName, maxElements: number, query: Point, numNeighbors: number, filter: unknown, options: { efSearch?: number }): SearchResult {
  const q = toPoint(query, index.dim, space, 'searchKnn');
  const k = checkK(numNeighbors, maxElements);
  const f = checkFilter(filter);
  if (k === 0 || index.size === 0) return { distances: [], neighbors: [] };
  return toResult(space, index.search(q, k, f ? { ...options, filter: f } : options));
}

function checkFilename(filename: unknown, where: string): string {
  if (typeof filename !== 'string' || filename === '') throw fail('INVALID_ARGUMENT', `Invalid the first argument type, must be a string. (${where})`, { where });
  return filename;
}

function readFileSyncOrThrow(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw openError(path, e);
  }
}

/** The loaded index, checked against the space and dimension this object was made with. */
function checkLoaded<T extends SavedIndex>(index: SavedIndex, kind: new (...args: never[]) => T, space: SpaceName, dim: number, what: string): T {
  if (!(index instanceof kind)) throw fail('INVALID_ARGUMENT', `readIndex: the file holds no ${what} index`, { expected: what });
  if (index.dim !== dim) throw fail('DIMENSION_MISMATCH', `readIndex: the file's index has dim ${index.dim}, this object ${dim}`, { expected: dim, received: index.dim });
  if (index.metric !== SPACES[space]) throw fail('INVALID_ARGUMENT', `readIndex: the file's index has metric '${index.metric}', this object's space '${space}' needs '${SPACES[space]}'`, { expected: SPACES[space], received: index.metric });
  return index;
}

/** A metric space of hnswlib-node: distances between two points. */
abstract class Space {
  protected readonly dim: number;
  constructor(numDimensions: number) { this.dim = checkInt(numDimensions, 'numDimensions', 1, 65536, this.constructor.name); }
  protected points(a: Point, b: Point, space: SpaceName): [Float32Array, Float32Array] {
    const where = `${this.constructor.name}.distance`;
    return [toPoint(a, this.dim, space, where), toPoint(b, this.dim, space, where)];
  }
  getNumDimensions(): number { return this.dim; }
}

/** The squared Euclidean distance between two points. */
export class L2Space extends Space {
  /** sum((a_i − b_i)²), in float32 like hnswlib. */
  distance(pointA: Point, pointB: Point): number {
    const [a, b] = this.points(pointA, pointB, 'l2');
    let s = 0;
    for (let i = 0; i < this.dim; i++) { const d = a[i]! - b[i]!; s += d * d; }
    return Math.fround(s);
  }
}

/** One minus the inner product of two points. */
export class InnerProductSpace extends Space {
  /** 1 − sum(a_i · b_i), in float32 like hnswlib. */
  distance(pointA: Point, pointB: Point): number {
    const [a, b] = this.points(pointA, pointB, 'ip');
    let s = 0;
    for (let i = 0; i < this.dim; i++) s += a[i]! * b[i]!;
    return Math.fround(1 - s);
  }
}

/** Options of `HierarchicalNSW.initIndex({ ... })`. */
export interface InitIndexOptions {
  maxElements: number;
  m?: number;
  efConstruction?: number;
  randomSeed?: number;
  allowReplaceDeleted?: boolean;
}

/**
 * Approximate nearest-neighbour search on an HNSW graph (nearest's HnswIndex), with
 * hnswlib-node's API.
 *
 * ```ts
 * const index = new HierarchicalNSW('l2', 5);
 * index.initIndex(1000, 16, 200, 100);
 * index.addPoint([0, 1, 2, 3, 4], 0);
 * index.searchKnn([1, 4, 2, 3, 4], 1); // { distances: [...], neighbors: [0] }
 * ```
 *
 * Memory: the HnswIndex's (about dim·4 + (2m + 1)·4 bytes per point), plus dim·4 bytes per
 * marked-deleted point (kept for unmarkDelete).
 */
export class HierarchicalNSW {
  private readonly space: SpaceName;
  private readonly dim: number;
  private index: HnswIndex | null = null;
  private maxElements = 0;
  private ef = DEFAULT_EF;
  private allowReplaceDeleted = false;
  /** Marked-deleted points (out of the graph, kept for unmarkDelete), in marking order. */
  private readonly marked = new Map<number, Float32Array>();

  /**
   * @param spaceName 'l2' (squared Euclidean), 'ip' (1 − dot) or 'cosine' (1 − cosine).
   * @param numDimensions The dimension of the points, 1 to 65536.
   */
  constructor(spaceName: SpaceName, numDimensions: number) {
    if (arguments.length !== 2) throw fail('INVALID_ARGUMENT', `Expected 2 arguments, but got ${arguments.length}.`, { received: arguments.length });
    this.space = checkSpace(spaceName, 'HierarchicalNSW');
    this.dim = checkInt(numDimensions, 'numDimensions', 1, 65536, 'HierarchicalNSW');
  }

  /**
   * Makes an empty index for up to `maxElements` points (a second call starts over).
   * @param m links per node (2·m on the bottom level); default 16.
   * @param efConstruction beam width while building; default 200.
   * @param randomSeed seed of the level draws; default 100.
   * @param allowReplaceDeleted lets addPoint(…, true) reuse marked-deleted points; default false.
   */
  initIndex(maxElements: number | InitIndexOptions, m?: number, efConstruction?: number, randomSeed?: number, allowReplaceDeleted?: boolean): void {
    if (typeof maxElements === 'object' && maxElements !== null) {
      ({ maxElements, m, efConstruction, randomSeed, allowReplaceDeleted } = maxElements);
    }
    const max = checkInt(maxElements, 'maxElements', 0, MAX_LABEL, 'initIndex');
    const mm = checkInt(m ?? DEFAULT_M, 'm', 2, 1024, 'initIndex');
    const efc = checkInt(efConstruction ?? DEFAULT_EF_CONSTRUCTION, 'efConstruction', 1, 100000, 'initIndex');
    const seed = checkInt(randomSeed ?? DEFAULT_SEED, 'randomSeed', 0, MAX_LABEL, 'initIndex');
    if (allowReplaceDeleted !== undefined && typeof allowReplaceDeleted !== 'boolean') throw fail('INVALID_ARGUMENT', 'initIndex: allowReplaceDeleted must be a boolean', { option: 'allowReplaceDeleted' });
    this.index = new HnswIndex({ dim: this.dim, metric: SPACES[this.space], m: mm, efConstruction: efc, seed });
    this.maxElements = max;
    this.allowReplaceDeleted = allowReplaceDeleted ?? false;
    this.marked.clear();
  }

  private get live(): HnswIndex {
    if (!this.index) throw notInitialized('HierarchicalNSW');
    return this.index;
  }

  /**
   * Adds a point under `label`. A label the index holds gets the new point (a marked-deleted one is
   * unmarked). With `replaceDeleted` (and allowReplaceDeleted at initIndex) a new label takes the
   * place of a marked-deleted point, which is then gone. Full index: CAPACITY_EXCEEDED.
   */
  addPoint(point: Point, label: number, replaceDeleted = false): void {
    const index = this.live;
    const v = toPoint(point, this.dim, this.space, 'addPoint');
    checkLabel(label, 'addPoint');
    if (index.has(label)) {
      index.remove(label);
    } else if (this.marked.has(label)) {
      this.marked.delete(label);
    } else if (replaceDeleted) {
      if (!this.allowReplaceDeleted) throw fail('INVALID_ARGUMENT', 'Hnswlib Error: Replacement of deleted elements is disabled in constructor', {});
      const victim = this.marked.keys().next();
      if (!victim.done) this.marked.delete(victim.value);
      else this.checkRoom(1);
    } else {
      this.checkRoom(1);
    }
    index.add(v, [label]);
  }

  /**
   * Adds many points at once (an extension of hnswlib-node's API: one HnswIndex.add, built on all
   * cores). Labels must be new to the index and distinct; all-or-nothing.
   */
  addPoints(points: Point[], labels: number[]): void {
    const index = this.live;
    if (!Array.isArray(points) || !Array.isArray(labels) || points.length !== labels.length) {
      throw fail('INVALID_ARGUMENT', 'addPoints: points and labels must be arrays of the same length', { received: [Array.isArray(points) ? points.length : typeof points, Array.isArray(labels) ? labels.length : typeof labels] });
    }
    const rows = new Float32Array(points.length * this.dim);
    for (let i = 0; i < points.length; i++) {
      rows.set(toPoint(points[i], this.dim, this.space, 'addPoints'), i * this.dim);
      checkLabel(labels[i], 'addPoints');
      if (this.marked.has(labels[i]!)) throw fail('DUPLICATE_ID', `addPoints: label ${labels[i]} is marked deleted (addPoint replaces it)`, { label: labels[i] });
    }
    this.checkRoom(points.length);
    index.add(rows, labels);
  }

  private checkRoom(n: number): void {
    if (this.getCurrentCount() + n > this.maxElements) {
      throw fail('CAPACITY_EXCEEDED', `Hnswlib Error: The number of elements exceeds the specified limit (${this.maxElements}; resizeIndex raises it)`, { max: this.maxElements, count: this.getCurrentCount(), adding: n });
    }
  }

  /** Marks a point deleted: searches skip it; it keeps its label and place until unmarkDelete or a replacing addPoint. */
  markDelete(label: number): void {
    const index = this.live;
    checkLabel(label, 'markDelete');
    if (this.marked.has(label)) throw fail('INVALID_ARGUMENT', `Hnswlib Error: The requested to delete element is already deleted (label ${label})`, { label });
    const v = index.get(label);
    if (!v) throw fail('NOT_FOUND', `Hnswlib Error: Label not found (label ${label})`, { label });
    index.remove(label);
    this.marked.set(label, v);
  }

  /** Undoes markDelete. */
  unmarkDelete(label: number): void {
    const index = this.live;
    checkLabel(label, 'unmarkDelete');
    const v = this.marked.get(label);
    if (!v) {
      if (index.has(label)) throw fail('INVALID_ARGUMENT', `Hnswlib Error: The requested to undelete element is not deleted (label ${label})`, { label });
      throw fail('NOT_FOUND', `Hnswlib Error: Label not found (label ${label})`, { label });
    }
    index.add(v, [label]);
    this.marked.delete(label);
  }

  /** Changes the capacity; below the current count (marked-deleted points included) is refused. */
  resizeIndex(newMaxElements: number): void {
    this.live;
    const max = checkInt(newMaxElements, 'newMaxElements', 0, MAX_LABEL, 'resizeIndex');
    if (max < this.getCurrentCount()) {
      throw fail('INVALID_ARGUMENT', `Hnswlib Error: Cannot resize, max element is less than the current number of elements (${this.getCurrentCount()})`, { received: max, count: this.getCurrentCount() });
    }
    this.maxElements = max;
  }

  /**
   * The `numNeighbors` nearest points (fewer when fewer pass), closest first. `numNeighbors` may not
   * exceed getMaxElements(). The beam width is max(getEf(), numNeighbors).
   */
  searchKnn(queryPoint: Point, numNeighbors: number, filter?: FilterFunction): SearchResult {
    return searchKnn(this.live, this.space, this.maxElements, queryPoint, numNeighbors, filter, { efSearch: Math.max(1, this.ef) });
  }

  /** All labels, marked-deleted ones included. */
  getIdsList(): number[] {
    if (!this.index) return [];
    const out: number[] = [];
    const s = this.index.exportState();
    for (let slot = 0; slot < s.size; slot++) if (s.deleted[slot] === 0) out.push(s.ids[slot]!);
    for (const label of this.marked.keys()) out.push(label);
    return out;
  }

  /** The stored point of a label (normalized for 'cosine'); a marked-deleted or absent label is NOT_FOUND. */
  getPoint(label: number): number[] {
    const index = this.live;
    checkLabel(label, 'getPoint');
    const v = index.get(label);
    if (!v) throw fail('NOT_FOUND', `Hnswlib Error: Label not found (label ${label})`, { label });
    return Array.from(v);
  }

  /** The capacity (0 before initIndex). */
  getMaxElements(): number { return this.maxElements; }

  /** Points held, marked-deleted ones included (0 before initIndex). */
  getCurrentCount(): number { return this.index ? this.index.size + this.marked.size : 0; }

  getNumDimensions(): number { return this.dim; }

  /** The search beam width (default 10; searches use at least numNeighbors). */
  getEf(): number { this.live; return this.ef; }

  setEf(ef: number): void {
    this.live;
    this.ef = checkInt(ef, 'ef', 0, 100000, 'setEf');
  }

  private writable(): HnswIndex {
    if (!this.index) throw fail('INVALID_ARGUMENT', 'Search index is not constructed.', {});
    return this.index;
  }

  /**
   * Saves the index (atomically): its points, its capacity and its marked-deleted points, which
   * readIndex restores as marked (unmarkDelete brings them back). Resolves to true.
   */
  async writeIndex(filename: string): Promise<boolean> {
    const path = checkFilename(filename, 'writeIndex');
    await saveIndex(this.writable(), path, { appData: appData(this.maxElements, this.marked, this.dim) });
    return true;
  }

  /** writeIndex, synchronously. */
  writeIndexSync(filename: string): void {
    const path = checkFilename(filename, 'writeIndexSync');
    writeFileAtomicSync(path, indexToBuffer(this.writable(), { appData: appData(this.maxElements, this.marked, this.dim) }));
  }

  /**
   * Loads an index written by writeIndex (of this space and dimension), replacing this one: its
   * points, capacity and marked-deleted points; ef returns to 10. Resolves to true.
   */
  async readIndex(filename: string, allowReplaceDeleted = false): Promise<boolean> {
    this.adopt(await readIndexFile(checkFilename(filename, 'readIndex')), allowReplaceDeleted);
    return true;
  }

  /** readIndex, synchronously. */
  readIndexSync(filename: string, allowReplaceDeleted = false): void {
    const path = checkFilename(filename, 'readIndexSync');
    this.adopt(parseFile(readFileSyncOrThrow(path), path), allowReplaceDeleted);
  }

  private adopt(file: IndexFile, allowReplaceDeleted: boolean): void {
    this.index = checkLoaded(file.index, HnswIndex, this.space, this.dim, 'HNSW');
    this.maxElements = file.maxElements;
    this.ef = DEFAULT_EF;
    this.allowReplaceDeleted = allowReplaceDeleted === true;
    this.marked.clear();
    for (const [label, point] of file.marked) this.marked.set(label, point);
  }
}

/**
 * Exact nearest-neighbour search (nearest's FlatIndex on its SIMD kernels), with hnswlib-node's
 * BruteforceSearch API. removePoint of an absent label does nothing.
 */
export class BruteforceSearch {
  private readonly space: SpaceName;
  private readonly dim: number;
  private index: FlatIndex | null = null;
  private maxElements = 0;

  constructor(spaceName: SpaceName, numDimensions: number) {
    if (arguments.length !== 2) throw fail('INVALID_ARGUMENT', `Expected 2 arguments, but got ${arguments.length}.`, { received: arguments.length });
    this.space = checkSpace(spaceName, 'BruteforceSearch');
    this.dim = checkInt(numDimensions, 'numDimensions', 1, 65536, 'BruteforceSearch');
  }

  /** Makes an empty index for up to `maxElements` points (a second call starts over). */
  initIndex(maxElements: number): void {
    this.maxElements = checkInt(maxElements, 'maxElements', 0, MAX_LABEL, 'initIndex');
    this.index = new FlatIndex({ dim: this.dim, metric: SPACES[this.space] });
  }

  private get live(): FlatIndex {
    if (!this.index) throw notInitialized('BruteforceSearch');
    return this.index;
  }

  /** Adds a point under `label`; a label already held gets the new point. Full index: CAPACITY_EXCEEDED. */
  addPoint(point: Point, label: number): void {
    const index = this.live;
    const v = toPoint(point, this.dim, this.space, 'addPoint');
    checkLabel(label, 'addPoint');
    if (index.has(label)) index.remove(label);
    else if (index.size >= this.maxElements) {
      throw fail('CAPACITY_EXCEEDED', `Hnswlib Error: The number of elements exceeds the specified limit (${this.maxElements})`, { max: this.maxElements });
    }
    index.add(v, [label]);
  }

  /** Removes a point (an absent label is ignored). */
  removePoint(label: number): void {
    this.live.remove(checkLabel(label, 'removePoint'));
  }

  /** The exact `numNeighbors` nearest points (fewer when fewer pass), closest first. */
  searchKnn(queryPoint: Point, numNeighbors: number, filter?: FilterFunction): SearchResult {
    return searchKnn(this.live, this.space, this.maxElements, queryPoint, numNeighbors, filter, {});
  }

  getMaxElements(): number { return this.maxElements; }
  getCurrentCount(): number { return this.index?.size ?? 0; }
  getNumDimensions(): number { return this.dim; }

  private writable(): FlatIndex {
    if (!this.index) throw fail('INVALID_ARGUMENT', 'Search index is not constructed.', {});
    return this.index;
  }

  /** Saves the index in nearest's format (atomically); resolves to true. */
  async writeIndex(filename: string): Promise<boolean> {
    await saveIndex(this.writable(), checkFilename(filename, 'writeIndex'), { appData: appData(this.maxElements, new Map(), this.dim) });
    return true;
  }

  writeIndexSync(filename: string): void {
    writeFileAtomicSync(checkFilename(filename, 'writeIndexSync'), indexToBuffer(this.writable(), { appData: appData(this.maxElements, new Map(), this.dim) }));
  }

  /** Loads an index written by writeIndex, with its capacity. */
  async readIndex(filename: string): Promise<boolean> {
    this.adopt(await readIndexFile(checkFilename(filename, 'readIndex')));
    return true;
  }

  readIndexSync(filename: string): void {
    const path = checkFilename(filename, 'readIndexSync');
    this.adopt(parseFile(readFileSyncOrThrow(path), path));
  }

  private adopt(file: IndexFile): void {
    this.index = checkLoaded(file.index, FlatIndex, this.space, this.dim, 'flat');
    this.maxElements = file.maxElements;
  }
}

/** The module as hnswlib-node's CommonJS export object (what `import hnswlib from 'hnswlib-node'` gives). */
const hnswlib = { HierarchicalNSW, BruteforceSearch, L2Space, InnerProductSpace };
export default hnswlib;
