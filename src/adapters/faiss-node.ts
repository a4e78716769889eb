// nearest/faiss-node: faiss-node's API (Index, IndexFlatL2, IndexFlatIP, Index.fromFactory,
// MetricType) on nearest's FlatIndex / HnswIndex / IvfIndex, so code written for the native addon
// (LangChain community's FaissStore among it) runs without a native build. Also IndexHNSWFlat and
// normalize_L2 from FAISS's Python API, so FAISS examples port line by line.
//
// FAISS's conventions are kept: vectors and queries are flat arrays of n·d numbers; labels are
// positions 0 … ntotal − 1 in insertion order, and removeIds closes the gaps (later labels shift
// down, as IndexFlat::remove_ids does); L2 distances are squared; inner-product "distances" are the
// inner products (higher is closer); results are float32 values, padded with label −1 when fewer
// than k exist; mergeFrom empties the index merged in. Internally each vector gets a sequence
// number (its id in the nearest index, increasing in insertion order), so a label is the rank of
// the sequence number among those held. Error messages start with faiss-node's own text. Files and
// buffers are nearest's index format (docs/format.md), not FAISS's. Imports only the public API.
import { readFileSync } from 'node:fs';
import {
  FlatIndex, HnswIndex, IvfIndex, NearestError, createIndex, indexFromBuffer, indexToBuffer, normalize,
  type AnyIndex, type ErrorCode, type Metric,
} from '../index.js';
import { writeFileAtomicSync } from './sync-file.js';

/** FAISS's metric codes (faiss/MetricType.h); nearest implements METRIC_INNER_PRODUCT and METRIC_L2. */
export enum MetricType {
  METRIC_INNER_PRODUCT = 0,
  METRIC_L2 = 1,
  METRIC_L1 = 2,
  METRIC_Linf = 3,
  METRIC_Lp = 4,
  METRIC_Canberra = 20,
  METRIC_BrayCurtis = 21,
  METRIC_JensenShannon = 22,
  METRIC_Jaccard = 23,
}

/** Search results of nq queries: nq·k values each, query i's at [i·k, (i+1)·k). */
export interface SearchResult {
  /** Squared L2 distances (ascending) or inner products (descending); padding: +/−3.4028234663852886e38. */
  distances: number[];
  /** Labels; −1 where fewer than k vectors exist. */
  labels: number[];
}

/** Vectors as FAISS takes them: n·d numbers, row-major. */
export type Vectors = number[] | Float32Array | Float64Array;

const FLT_MAX = 3.4028234663852886e38;
/** FAISS's default M of 'HNSW' without a number. */
const FAISS_HNSW_M = 32;

function fail(code: ErrorCode, message: string, details: Record<string, unknown> = {}): NearestError {
  return new NearestError(code, message, details);
}

function metricOf(metric: unknown): Metric {
  if (metric === undefined || metric === null || metric === MetricType.METRIC_L2) return 'euclidean';
  if (metric === MetricType.METRIC_INNER_PRODUCT) return 'dot';
  throw fail('UNSUPPORTED', `Index.fromFactory: metric ${String(metric)} is not supported (supported: MetricType.METRIC_L2 = 1, MetricType.METRIC_INNER_PRODUCT = 0)`, { received: metric, allowed: [0, 1] });
}

function checkArity(args: IArguments, n: number): void {
  if (args.length !== n) throw fail('INVALID_ARGUMENT', `Expected ${n} argument${n === 1 ? '' : 's'}, but got ${args.length}.`, { expected: n, received: args.length });
}

/** n·d numbers as float32 rows; `n` comes from the length. */
function toRows(x: unknown, d: number, which = 'first'): { rows: Float32Array; n: number } {
  if (!Array.isArray(x) && !(x instanceof Float32Array) && !(x instanceof Float64Array)) {
    throw fail('INVALID_ARGUMENT', `Invalid the ${which} argument type, must be an Array.`, { received: typeof x });
  }
  if (x.length % d !== 0) throw fail('DIMENSION_MISMATCH', `Invalid the given array length. (${x.length} values are not a whole number of ${d}-dimensional vectors)`, { dim: d, received: x.length });
  const rows = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (typeof v !== 'number') throw fail('INVALID_ARGUMENT', `Expected a Number as array item. (at: ${i})`, { at: i });
    if (!Number.isFinite(v)) throw fail('NON_FINITE_VALUE', `Expected a finite Number as array item. (at: ${i})`, { at: i });
    rows[i] = v;
  }
  return { rows, n: x.length / d };
}

function checkDim(d: unknown, where: string): number {
  if (typeof d !== 'number' || !Number.isInteger(d) || d < 1 || d > 65536) {
    throw fail('INVALID_ARGUMENT', `${where}: the dimension must be an integer from 1 to 65536, got ${String(d)}`, { received: d, min: 1, max: 65536 });
  }
  return d;
}

/** The ids an index holds, ascending (for a flat index: storage order need not be insertion order). */
function heldIds(index: AnyIndex): number[] {
  if (index instanceof FlatIndex) return Array.from(index.ids()).sort((a, b) => a - b);
  if (index instanceof IvfIndex && !index.isTrained) return [];
  const s = index.exportState() as unknown as { ids?: Float64Array; slotIds?: Float64Array; deleted?: Uint8Array; live?: Uint8Array; size?: number };
  const ids = s.ids ?? s.slotIds!;
  const alive = s.deleted ? (slot: number) => s.deleted![slot] === 0 : s.live ? (slot: number) => s.live![slot] === 1 : () => true;
  const n = index instanceof HnswIndex ? (s.size ?? ids.length) : ids.length;
  const out: number[] = [];
  for (let slot = 0; slot < n; slot++) if (alive(slot)) out.push(ids[slot]!);
  return out.sort((a, b) => a - b);
}

/**
 * A FAISS index: vectors get labels 0 … ntotal − 1 in the order added. `new Index(d)` is an exact
 * L2 index (as IndexFlatL2); `Index.fromFactory` makes any kind nearest's factory knows.
 */
export class Index {
  /** The nearest index behind this one. */
  protected inner: AnyIndex;
  /** Sequence numbers held, ascending: label i is order[i]. */
  private order: number[] = [];
  private nextSeq = 0;

  constructor(d: number) {
    this.inner = new FlatIndex({ dim: checkDim(d, this.constructor.name), metric: this.defaultMetric() });
  }

  /** The metric of `new X(d)`. */
  protected defaultMetric(): Metric { return 'euclidean'; }

  /** Builds an object of this class around an existing nearest index (read, fromBuffer, fromFactory). */
  protected static wrap<T extends Index>(this: new (d: number) => T, inner: AnyIndex): T {
    const out = Object.create(this.prototype) as T;
    const self = out as unknown as { inner: AnyIndex; order: number[]; nextSeq: number };
    self.inner = inner;
    self.order = heldIds(inner);
    self.nextSeq = self.order.length === 0 ? 0 : self.order[self.order.length - 1]! + 1;
    return out;
  }

  /** The number of vectors held. */
  ntotal(): number { return this.order.length; }

  /** The dimension of the vectors. */
  getDimension(): number { return this.inner.dim; }

  /** Whether add may be called: true except for an IVF index before train. */
  isTrained(): boolean { return this.inner instanceof IvfIndex ? this.inner.isTrained : true; }

  /** The nearest metric in use ('euclidean' for L2, 'dot' for inner product). */
  get metric(): Metric { return this.inner.metric; }

  /** Adds n = x.length / d vectors, labelled ntotal … ntotal + n − 1. */
  add(x: Vectors): void {
    checkArity(arguments, 1);
    const { rows, n } = toRows(x, this.inner.dim);
    if (n === 0) return;
    if (!this.isTrained()) throw fail('NOT_TRAINED', 'Error: the index is not trained (call train(x) first)', {});
    const ids = new Float64Array(n);
    for (let i = 0; i < n; i++) ids[i] = this.nextSeq + i;
    this.inner.add(rows, ids);
    this.nextSeq += n;
    for (let i = 0; i < n; i++) this.order.push(ids[i]!);
  }

  /** Trains an IVF / PQ index on n = x.length / d vectors; a no-op for flat and HNSW indexes. */
  train(x: Vectors): void {
    checkArity(arguments, 1);
    const { rows, n } = toRows(x, this.inner.dim);
    if (this.inner instanceof IvfIndex && n > 0) this.inner.train(rows);
  }

  /** The label of a sequence number (order is ascending). */
  private labelOf(seq: number): number {
    const order = this.order;
    if (seq < order.length && order[seq] === seq) return seq; // nothing before it was removed
    let lo = 0, hi = order.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1, v = order[mid]!;
      if (v === seq) return mid;
      if (v < seq) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
  }

  /**
   * The k nearest of each of the nq = x.length / d queries: nq·k labels and distances. k may not
   * exceed ntotal. Exact for flat indexes; approximate (efSearch / nprobe defaults) for HNSW / IVF.
   */
  search(x: Vectors, k: number): SearchResult {
    checkArity(arguments, 2);
    if (!Array.isArray(x) && !(x instanceof Float32Array) && !(x instanceof Float64Array)) throw fail('INVALID_ARGUMENT', 'Invalid the first argument type, must be an Array.', {});
    if (typeof k !== 'number') throw fail('INVALID_ARGUMENT', 'Invalid the second argument type, must be a Number.', { received: typeof k });
    if (!Number.isInteger(k) || k < 0) throw fail('INVALID_ARGUMENT', `Invalid the number of k (must be an integer ≥ 0, got ${k}).`, { received: k });
    if (k > this.ntotal()) throw fail('INVALID_ARGUMENT', `Invalid the number of k (cannot be given a value greater than \`ntotal\`: ${this.ntotal()}).`, { received: k, max: this.ntotal() });
    const { rows, n } = toRows(x, this.inner.dim);
    const distances = new Array<number>(n * k), labels = new Array<number>(n * k);
    const l2 = this.inner.metric === 'euclidean';
    const d = this.inner.dim;
    for (let q = 0; q < n; q++) {
      const hits = k === 0 ? [] : this.inner.search(rows.subarray(q * d, (q + 1) * d), k);
      for (let j = 0; j < k; j++) {
        const hit = hits[j];
        const at = q * k + j;
        if (!hit) { labels[at] = -1; distances[at] = l2 ? FLT_MAX : -FLT_MAX; continue; }
        labels[at] = this.labelOf(hit.id);
        distances[at] = Math.fround(l2 ? hit.distance * hit.distance : hit.score);
      }
    }
    return { distances, labels };
  }

  /**
   * Removes vectors by label (absent and repeated labels are ignored) and returns how many were
   * removed; the labels after each removed one shift down (FAISS's IndexFlat behaviour). O(ntotal).
   */
  removeIds(ids: number[]): number {
    checkArity(arguments, 1);
    if (!Array.isArray(ids)) throw fail('INVALID_ARGUMENT', 'Invalid the first argument type, must be an Array.', {});
    const drop = new Set<number>();
    for (let i = 0; i < ids.length; i++) {
      const label = ids[i];
      if (typeof label !== 'number') throw fail('INVALID_ARGUMENT', `Expected a Number as array item. (at: ${i})`, { at: i });
      if (Number.isInteger(label) && label >= 0 && label < this.order.length) drop.add(this.order[label]!);
    }
    if (drop.size === 0) return 0;
    const removed = this.inner.remove([...drop]);
    this.order = this.order.filter((seq) => !drop.has(seq));
    return removed;
  }

  /**
   * Appends the vectors of another flat index of the same dimension and metric (labels continue
   * after ntotal) and empties it, as FAISS's merge_from does.
   */
  mergeFrom(otherIndex: Index): void {
    checkArity(arguments, 1);
    if (otherIndex === null || typeof otherIndex !== 'object') throw fail('INVALID_ARGUMENT', 'Invalid argument type, must be an object.', {});
    if (!(otherIndex instanceof Index)) throw fail('INVALID_ARGUMENT', 'Invalid argument: not a faiss-node Index of nearest', {});
    if (otherIndex === this) throw fail('INVALID_ARGUMENT', 'Invalid argument: an index cannot merge itself', {});
    if (otherIndex.getDimension() !== this.getDimension()) throw fail('DIMENSION_MISMATCH', 'The merging index must have the same dimension.', { expected: this.getDimension(), received: otherIndex.getDimension() });
    if (otherIndex.metric !== this.metric) throw fail('INVALID_ARGUMENT', `Error: the merging index must have the same metric ('${this.metric}', got '${otherIndex.metric}')`, {});
    if (!(this.inner instanceof FlatIndex) || !(otherIndex.inner instanceof FlatIndex)) {
      throw fail('UNSUPPORTED', 'Error: mergeFrom is supported between flat indexes only', {});
    }
    const other = otherIndex.inner, d = this.getDimension();
    const rows = new Float32Array(otherIndex.order.length * d);
    otherIndex.order.forEach((seq, i) => rows.set(other.get(seq)!, i * d));
    if (otherIndex.order.length > 0) this.add(rows);
    otherIndex.inner = new FlatIndex({ dim: d, metric: other.metric });
    otherIndex.order = [];
    otherIndex.nextSeq = 0;
  }

  /** Writes the index to a file (nearest's format, atomically). */
  write(fname: string): void {
    checkArity(arguments, 1);
    if (typeof fname !== 'string') throw fail('INVALID_ARGUMENT', 'Invalid the first argument type, must be a string.', {});
    writeFileAtomicSync(fname, indexToBuffer(this.inner));
  }

  /** The index as bytes (nearest's format). */
  toBuffer(): Buffer {
    const bytes = indexToBuffer(this.inner);
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Reads an index written by write (an instance of the class it is called on). */
  static read<T extends Index>(this: (new (d: number) => T) & typeof Index, fname: string): T {
    checkArity(arguments, 1);
    if (typeof fname !== 'string') throw fail('INVALID_ARGUMENT', 'Invalid the first argument type, must be a string.', {});
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(readFileSync(fname));
    } catch (e) {
      const code = (e as { code?: string }).code;
      const why = code === 'ENOENT' ? 'No such file or directory' : (e as Error).message;
      throw new NearestError(code === 'ENOENT' ? 'NOT_FOUND' : 'INVALID_ARGUMENT', `Error in ${this.name}.read: could not open ${fname} for reading: ${why}`, { path: fname, cause: code }, { cause: e });
    }
    return this.fromBytes(bytes) as T;
  }

  /** Reads an index from toBuffer's bytes (an instance of the class it is called on). */
  static fromBuffer<T extends Index>(this: (new (d: number) => T) & typeof Index, src: Uint8Array): T {
    checkArity(arguments, 1);
    if (!(src instanceof Uint8Array)) throw fail('INVALID_ARGUMENT', 'Invalid the first argument type, must be a buffer.', {});
    return this.fromBytes(src) as T;
  }

  private static fromBytes(this: (new (d: number) => Index) & typeof Index, bytes: Uint8Array): Index {
    const inner = indexFromBuffer(bytes);
    this.accepts(inner);
    return this.wrap(inner);
  }

  /** Refuses an index this class cannot stand for (IndexFlatL2.read of an HNSW file, say). */
  protected static accepts(_inner: AnyIndex): void { /* Index takes any */ }

  /**
   * An index from a FAISS factory string: 'Flat', 'HNSW<M>[,Flat]' ('HNSW' alone: M = 32, as in
   * FAISS), 'IVF<nlist>,Flat' / ',SQ8' / ',PQ<m>', 'PQ<m>', ... (nearest's factory; docs/tuning.md).
   * `metric`: MetricType.METRIC_L2 (default) or MetricType.METRIC_INNER_PRODUCT.
   */
  static fromFactory(dims: number, descriptor: string, metric: MetricType = MetricType.METRIC_L2): Index {
    if (arguments.length < 2) throw fail('INVALID_ARGUMENT', `Expected 2 or 3 arguments, but got ${arguments.length}.`, { received: arguments.length });
    if (typeof dims !== 'number') throw fail('INVALID_ARGUMENT', 'Invalid the first argument type, must be a number.', {});
    if (typeof descriptor !== 'string') throw fail('INVALID_ARGUMENT', 'Invalid the second argument type, must be a string.', {});
    const spec = descriptor.split(',').map((t) => t.trim()).map((t, i) => (i === 0 && t === 'HNSW' ? `HNSW${FAISS_HNSW_M}` : t)).join(',');
    return Index.wrap(createIndex(spec, { dim: checkDim(dims, 'Index.fromFactory'), metric: metricOf(metric) }));
  }
}

/** Exact search by squared L2 distance (FAISS IndexFlatL2). */
export class IndexFlatL2 extends Index {
  protected static override accepts(inner: AnyIndex): void {
    if (!(inner instanceof FlatIndex) || inner.metric !== 'euclidean') throw fail('INVALID_ARGUMENT', `Error: the index read is not an IndexFlatL2 (${inner.constructor.name}, metric '${inner.metric}')`, {});
  }
}

/** Exact maximum inner product search (FAISS IndexFlatIP); distances are the inner products. */
export class IndexFlatIP extends Index {
  protected override defaultMetric(): Metric { return 'dot'; }
  protected static override accepts(inner: AnyIndex): void {
    if (!(inner instanceof FlatIndex) || inner.metric !== 'dot') throw fail('INVALID_ARGUMENT', `Error: the index read is not an IndexFlatIP (${inner.constructor.name}, metric '${inner.metric}')`, {});
  }
}

/**
 * An HNSW graph over full vectors (FAISS IndexHNSWFlat(d, M, metric), from FAISS's Python API;
 * faiss-node has it only through fromFactory). Searches are approximate: nearest's HnswIndex with
 * efConstruction 200 and efSearch 64 (FAISS: 40 and 16).
 */
export class IndexHNSWFlat extends Index {
  constructor(d: number, M = FAISS_HNSW_M, metric: MetricType = MetricType.METRIC_L2) {
    super(d);
    if (typeof M !== 'number' || !Number.isInteger(M) || M < 2) throw fail('INVALID_ARGUMENT', `IndexHNSWFlat: M must be an integer ≥ 2, got ${String(M)}`, { received: M });
    this.inner = new HnswIndex({ dim: d, metric: metricOf(metric), m: M });
  }
  protected static override accepts(inner: AnyIndex): void {
    if (!(inner instanceof HnswIndex)) throw fail('INVALID_ARGUMENT', `Error: the index read is not an IndexHNSWFlat (${inner.constructor.name})`, {});
  }
}

/**
 * Scales each d-dimensional vector of x (n·d numbers) to unit L2 norm, in place, as FAISS's
 * normalize_L2 does (zero vectors stay zero). `d` defaults to x.length (one vector).
 */
export function normalize_L2<T extends Vectors>(x: T, d: number = x.length): T {
  if (x.length === 0) return x;
  return normalize(x as Float32Array, d) as unknown as T;
}

/** The module as faiss-node's CommonJS export object (what `import faiss from 'faiss-node'` gives). */
const faiss = { Index, IndexFlatL2, IndexFlatIP, IndexHNSWFlat, MetricType, normalize_L2 };
export default faiss;
