// FlatIndex: exact k-nearest-neighbour search over float32 rows (FAISS IndexFlat semantics), and
// the oracle every approximate index is tested against.
//
// Single queries scan the rows in chunks with the SIMD scan kernels (memory-bound: one pass over
// n·dim·4 bytes) and keep a bounded heap. Batches run the register-blocked dot kernel over packed
// query panels on all cores (compute-bound), then re-score each query's candidates with the same
// kernels as single search, so both paths return identical results.
import { IdMap } from '../storage/id-map.js';
import { NearestError, invalidArgument } from '../errors.js';
import type { BackendChoice } from '../distance/backend.js';
import { BatchMetric, batchScratchBytes, runBatch, UNIT, type BatchParams, type FlatBatchJob } from '../distance/batch.js';
import { alignUp } from '../distance/kernels.js';
import { cosineKey, keyToDistance, keyToScore, type Metric } from '../distance/metric.js';
import { availableThreads, runParallel, sharedBuffer } from '../parallel/pool.js';
import { TopK } from '../distance/topk.js';
import { CHUNK, RowStore } from '../storage/row-store.js';
import { unitRows } from './normalize.js';
import { FLAT_COSINE, FLAT_DOT, FLAT_EUCLIDEAN, flatOutBytes, flatScratchBytes, scanInto, type FlatScanJob } from './flat-jobs.js';
import { PendingReads, type Read } from './reads.js';
import { emptyBatch, slotHits } from './results.js';
import type { BatchOptions, BatchResult, IdFilter, RemovableIndex, SearchHit, SearchOptions, VectorIndex } from './types.js';
import { checkBatchK, checkDim, checkK, checkMetric, checkOptions, checkThreads, describe, newIds as newIdsFor, toIdList, toRows, toVector, type VectorLike, type VectorsLike } from './validate.js';

/** Options of `new FlatIndex(...)`. */
export interface FlatIndexOptions {
  /** Vector dimension, 1 to 65536. */
  dim: number;
  /** Similarity measure; default 'cosine'. */
  metric?: Metric;
  /** Kernel backend: 'auto' (WebAssembly SIMD when available), 'wasm' (required) or 'js'. */
  backend?: BackendChoice;
  /** Default threads for searchBatch (the calling thread included); default: all cores. */
  threads?: number;
}

/** Statistics of an index. */
export interface IndexStats {
  /** Kernel backend in use: 'wasm-simd128' or 'js-reference'. */
  kernels: string;
  size: number;
  dim: number;
  metric: Metric;
  /** Bytes held: kernel memory (rows and scratch) plus id maps and norms. */
  memoryBytes: number;
}

const QUERY_CHUNK = 1024;

let nextUid = 1;


/** A FlatIndex as plain arrays. */
export interface FlatState { dim: number; metric: Metric; rows: Float32Array; ids: Float64Array; nextId: number }

/** Turns an id filter into a predicate (validated once per call). */
export function toIdPredicate(filter: unknown, where: string): ((id: number) => boolean) | null {
  if (filter === undefined) return null;
  if (typeof filter === 'function') return filter as (id: number) => boolean;
  if (filter instanceof Set) return (id) => (filter as ReadonlySet<number>).has(id);
  if (filter instanceof Uint8Array) return (id) => filter[id] === 1;
  throw invalidArgument(`${where}: filter must be a function (id) => boolean, a Set of ids or a Uint8Array bitmap indexed by id, got ${describe(filter)}`, { where });
}

/**
 * Exact search. `new FlatIndex({ dim, metric })`; `add` appends rows (ids default to consecutive
 * integers from the current size); `search` and `searchBatch` return the exact k best, best first,
 * ties broken by the smaller id. Memory: n·dim·4 bytes of rows plus 16 bytes per row.
 */
export class FlatIndex implements VectorIndex, RemovableIndex {
  readonly dim: number;
  readonly metric: Metric;
  /** Default threads for searchBatch. */
  readonly threads: number;
  private readonly rows: RowStore;
  /** slot -> id (shared memory, for worker threads). */
  private slotIds = new Float64Array(sharedBuffer(16 * 8));
  /** id -> slot. */
  private readonly idSlots = new IdMap();
  /** slot -> |x|^2 (euclidean) or 1/|x| (cosine, 0 for zero rows); empty for dot. */
  private norms = new Float64Array(sharedBuffer(16 * 8));
  /** Next id handed out when `add` is called without ids. */
  private nextId = 0;
  /** Searches in flight on worker threads (settled before any change). */
  private readonly reads = new PendingReads();
  /** Names the current state for worker threads' caches; every change makes a new one. */
  private readonly uid = `flat${nextUid++}`;
  private generation = 0;

  constructor(options: FlatIndexOptions) {
    const o = checkOptions(options, ['dim', 'metric', 'backend', 'threads'], 'FlatIndex');
    if (options === undefined) throw invalidArgument('FlatIndex: options { dim } are required', {});
    this.dim = checkDim(o.dim, 'FlatIndex');
    this.metric = checkMetric(o.metric, 'cosine', 'FlatIndex');
    const backend = o.backend ?? 'auto';
    if (backend !== 'auto' && backend !== 'wasm' && backend !== 'js') {
      throw invalidArgument(`FlatIndex: backend must be 'auto', 'wasm' or 'js', got ${describe(backend)}`, { received: backend, allowed: ['auto', 'wasm', 'js'] });
    }
    this.threads = checkThreads(o.threads, availableThreads(), 'FlatIndex');
    this.rows = new RowStore(this.dim, backend);
  }

  /** Rows held. */
  get size(): number { return this.rows.size; }

  /** The kernel backend in use. */
  get kernels(): string { return this.rows.kernels.name; }

  /**
   * Appends vectors (a row-major Float32Array of n·dim values, or an array of vectors), with
   * optional ids (non-negative safe integers, unique). All-or-nothing: on any error nothing is added.
   */
  add(vectors: VectorsLike, ids?: ArrayLike<number>): void {
    this.reads.settleAll();
    this.generation++;
    const { data, n } = toRows(vectors, this.dim, 'FlatIndex.add');
    if (n === 0) return;
    const newIds = newIdsFor(ids, n, this.idSlots, this.nextId, 'FlatIndex.add');
    // Memory first (the id and norm arrays, then the rows): a failure leaves the index as it was.
    this.ensureMeta(this.rows.size + n);
    const first = this.rows.append(data, n);
    for (let i = 0; i < n; i++) {
      const slot = first + i;
      const id = newIds[i];
      this.slotIds[slot] = id;
      this.idSlots.set(id, slot);
      if (id >= this.nextId) this.nextId = id + 1;
      this.computeNorm(slot);
    }
  }

  private ensureMeta(size: number): void {
    if (size <= this.slotIds.length) return;
    const cap = Math.max(size, Math.ceil(this.slotIds.length * 1.5));
    const ids = new Float64Array(sharedBuffer(cap * 8));
    ids.set(this.slotIds.subarray(0, this.rows.size));
    this.slotIds = ids;
    if (this.metric !== 'dot') {
      const norms = new Float64Array(sharedBuffer(cap * 8));
      norms.set(this.norms.subarray(0, this.rows.size));
      this.norms = norms;
    }
  }

  private computeNorm(slot: number): void {
    if (this.metric === 'dot') return;
    const sq = this.rows.sqNorm(slot);
    this.norms[slot] = this.metric === 'euclidean' ? sq : sq > 0 ? 1 / Math.sqrt(sq) : 0;
  }

  /** Whether an id is present. */
  has(id: number): boolean { return this.idSlots.has(id); }

  /** A copy of the stored vector of an id, or undefined. */
  get(id: number): Float32Array | undefined {
    const slot = this.idSlots.get(id);
    return slot === undefined ? undefined : this.rows.read(slot);
  }

  /** The ids in the index, in storage order. */
  ids(): Float64Array { return this.slotIds.slice(0, this.rows.size); }

  /**
   * A view (no copy) of the rows of slots [from, to), in storage order (the order of `ids()`). The
   * view is of kernel memory: valid until the next call that changes or grows the index — take a
   * fresh one for every chunk you process (snapshot writers stream rows this way).
   */
  rowView(from: number, to: number): Float32Array {
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || to < from || to > this.rows.size) {
      throw invalidArgument(`FlatIndex.rowView: slots [${from}, ${to}) are not within [0, ${this.rows.size})`, { from, to, size: this.rows.size });
    }
    const at = this.rows.rowOffset(from) >> 2;
    return this.rows.arena.f32().subarray(at, at + (to - from) * this.dim);
  }

  /**
   * Removes one id or an array / typed array of ids (absent ids are ignored, as FAISS remove_ids
   * does); returns how many were removed. The last row moves into each freed slot: O(dim) per id.
   */
  remove(ids: number | ArrayLike<number>): number {
    this.reads.settleAll();
    this.generation++;
    const list = toIdList(ids, 'FlatIndex.remove');
    let removed = 0;
    for (const id of list) {
      const slot = this.idSlots.get(id);
      if (slot === undefined) continue;
      const last = this.rows.size - 1;
      this.idSlots.delete(id);
      if (slot !== last) {
        this.rows.move(last, slot);
        const lastId = this.slotIds[last];
        this.slotIds[slot] = lastId;
        this.norms[slot] = this.norms[last];
        this.idSlots.set(lastId, slot);
      }
      this.rows.truncate(last);
      removed++;
    }
    return removed;
  }

  /**
   * The exact k best rows for a query, best first (ties: smaller id first). Returns fewer than k
   * only when fewer rows (passing the filter) exist. O(n·dim).
   */
  search(query: VectorLike, k: number, options?: SearchOptions): SearchHit[] {
    const o = checkOptions(options, ['filter'], 'FlatIndex.search');
    const q = toVector(query, this.dim, 'FlatIndex.search');
    checkK(k, 'FlatIndex.search');
    const allow = toIdPredicate(o.filter, 'FlatIndex.search');
    const n = this.rows.size;
    if (n === 0) return [];
    const heap = new TopK(Math.min(k, n));
    this.scan(q, heap, allow);
    const keys = new Float64Array(heap.size);
    const ids = new Float64Array(heap.size);
    const count = heap.drain(keys, ids, null);
    const hits: SearchHit[] = new Array(count);
    for (let i = 0; i < count; i++) {
      hits[i] = { id: ids[i], score: keyToScore(this.metric, keys[i]), distance: keyToDistance(this.metric, keys[i]) };
    }
    return hits;
  }

  /**
   * `search` off the calling thread: the scan runs on one of the worker threads (up to `threads`,
   * default the index's), so the event loop stays free. Same results as `search`. A change to the
   * index while searches are in flight first waits for them (they see the index as it was).
   */
  searchAsync(query: VectorLike, k: number, options?: BatchOptions): Promise<SearchHit[]> {
    try {
      return this.readAsync(query, k, options, 'FlatIndex.searchAsync').promise;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** @internal A search in flight (stores settle theirs before they change). */
  readAsync(query: VectorLike, k: number, options: BatchOptions | undefined, where: string): Read<SearchHit[]> {
    const o = checkOptions(options, ['filter', 'threads'], where);
    const q = toVector(query, this.dim, where);
    checkK(k, where);
    const threads = Math.min(checkThreads(o.threads, this.threads, where), availableThreads());
    const allow = toIdPredicate(o.filter, where);
    const n = this.rows.size;
    if (n === 0) return this.reads.start(null, 0, () => {}, () => []);
    const kk = Math.min(k, n), dim = this.dim;
    const query32 = new Float32Array(sharedBuffer(dim * 4));
    query32.set(this.metric === 'cosine' ? unitRows(q, 1, dim) : q);
    let bits: Uint8Array | null = null;
    if (allow) {
      bits = new Uint8Array(sharedBuffer(n));
      for (let s = 0; s < n; s++) bits[s] = allow(this.slotIds[s]) ? 1 : 0;
    }
    const stride = flatScratchBytes(dim), base = alignUp(this.rows.end);
    const handle = this.rows.arena.handle();
    if (handle) this.rows.reserveBytes(base + threads * stride);
    const job: FlatScanJob = {
      kind: 'flat-scan', state: `${this.uid}.${this.generation}`,
      shape: {
        handle: handle!, dim, metric: this.metric === 'euclidean' ? FLAT_EUCLIDEAN : this.metric === 'cosine' ? FLAT_COSINE : FLAT_DOT,
        rowsOff: this.rows.rowsOff, n, norms: this.norms.buffer, ids: this.slotIds.buffer, scratchBase: base, scratchStride: stride,
      },
      query: query32.buffer, k: kk, allow: bits ? bits.buffer : null, out: sharedBuffer(flatOutBytes(kk)),
    };
    const local = (): void => scanInto(this.rows.arena, job, this.rows.queryOff, this.rows.outOff);
    return this.reads.start(handle ? job : null, threads, local,
      () => slotHits(new Int32Array(job.out, 0, kk), new Float64Array(job.out, alignUp(kk * 4), kk), this.slotIds, this.metric));
  }

  /**
   * Scans all rows against `q` chunk by chunk with the SIMD scan kernels; `visit` receives each
   * chunk's raw kernel outputs: |q-x|² for euclidean, q·x for dot, and for cosine q̂·x with the
   * query normalised first (in float64, so that a tiny query keeps its direction).
   */
  private scanChunks(q: Float32Array, visit: (start: number, count: number, out: Float32Array, base: number) => void): void {
    const rows = this.rows, kr = rows.kernels, dim = this.dim, n = rows.size;
    rows.setQuery(this.metric === 'cosine' ? unitRows(q, 1, dim) : q);
    for (let start = 0; start < n; start += CHUNK) {
      const count = Math.min(CHUNK, n - start);
      if (this.metric === 'euclidean') kr.scanL2sqF32(rows.queryOff, rows.rowOffset(start), count, dim, rows.outOff);
      else kr.scanDotF32(rows.queryOff, rows.rowOffset(start), count, dim, rows.outOff);
      visit(start, count, rows.arena.f32(), rows.outOff >> 2);
    }
  }

  /** Scans all rows against `q`, pushing (key, id, slot) into `heap`. */
  private scan(q: Float32Array, heap: TopK, allow: ((id: number) => boolean) | null): void {
    const metric = this.metric, norms = this.norms, slotIds = this.slotIds;
    this.scanChunks(q, (start, count, out, base) => {
      let threshold = heap.threshold;
      for (let i = 0; i < count; i++) {
        const v = out[base + i];
        const slot = start + i;
        const key = metric === 'euclidean' ? v : metric === 'cosine' ? cosineKey(v * norms[slot]) : -v;
        if (key > threshold) continue;
        const id = slotIds[slot];
        if (allow !== null && !allow(id)) continue;
        heap.push(key, id, slot);
        threshold = heap.threshold;
      }
    });
  }

  /**
   * The internal keys of every row against `query` in storage order: squared Euclidean distance
   * (euclidean), minus the cosine similarity or minus the dot product. O(n·dim), one scan.
   */
  distancesTo(query: VectorLike): Float64Array {
    const q = toVector(query, this.dim, 'FlatIndex.distancesTo');
    const out = new Float64Array(this.rows.size);
    const metric = this.metric, norms = this.norms;
    this.scanChunks(q, (start, count, raw, base) => {
      for (let i = 0; i < count; i++) {
        const v = raw[base + i];
        out[start + i] = metric === 'euclidean' ? v : metric === 'cosine' ? cosineKey(v * norms[start + i]) : -v;
      }
    });
    return out;
  }

  /**
   * Exact search for many queries at once (a row-major Float32Array of nq·dim values or an array of
   * vectors): blocked matrix-multiply kernel, spread over `threads` cores (default: the index's).
   * Returns nq·k ids/scores/distances, row-major; id −1 where fewer than k rows match (nq·k at
   * most MAX_BATCH_RESULTS; working memory grows with nq·min(k, size) only).
   */
  searchBatch(queries: VectorsLike, k: number, options?: BatchOptions): BatchResult {
    // Batch scratch goes above the rows, where async searches keep theirs: let those finish.
    this.reads.settleAll();
    const o = checkOptions(options, ['filter', 'threads'], 'FlatIndex.searchBatch');
    const { data: raw, n: nq } = toRows(queries, this.dim, 'FlatIndex.searchBatch');
    checkBatchK(k, nq, 'FlatIndex.searchBatch');
    const threads = checkThreads(o.threads, this.threads, 'FlatIndex.searchBatch');
    const allow = toIdPredicate(o.filter, 'FlatIndex.searchBatch');
    const result = emptyBatch(nq, k);
    const n = this.rows.size;
    if (n === 0 || nq === 0) return result;

    // The kernels work with kk = min(k, n) hits per query; the rest of each row stays −1.
    const dim = this.dim, kk = Math.min(k, n);
    const data = this.metric === 'cosine' ? unitRows(raw, nq, dim) : raw; // the batch engine takes unit queries
    const candidates = Math.min(n, 2 * kk + 16);
    const chunk = Math.min(QUERY_CHUNK, Math.ceil(nq / UNIT) * UNIT);
    const normsOff = alignUp(this.rows.end);
    const idsOff = alignUp(normsOff + n * 8);
    const allowOff = allow ? alignUp(idsOff + n * 8) : -1;
    const queriesOff = alignUp(allow ? allowOff + n : idsOff + n * 8);
    const outSlotsOff = alignUp(queriesOff + chunk * dim * 4);
    const outKeysOff = alignUp(outSlotsOff + chunk * kk * 4);
    const scratchOff = alignUp(outKeysOff + chunk * kk * 8);
    const scratchBytes = batchScratchBytes(dim, candidates);
    const arena = this.rows.arena;
    arena.grow(scratchOff + threads * scratchBytes);

    const buf = arena.f32().buffer;
    if (this.metric !== 'dot') new Float64Array(buf, normsOff, n).set(this.norms.subarray(0, n));
    new Float64Array(buf, idsOff, n).set(this.slotIds.subarray(0, n));
    if (allow) {
      const bits = new Uint8Array(buf, allowOff, n);
      for (let s = 0; s < n; s++) bits[s] = allow(this.slotIds[s]) ? 1 : 0;
    }
    const metric = this.metric === 'euclidean' ? BatchMetric.Euclidean : this.metric === 'cosine' ? BatchMetric.Cosine : BatchMetric.Dot;
    for (let q0 = 0; q0 < nq; q0 += chunk) {
      const m = Math.min(chunk, nq - q0);
      arena.f32().set(data.subarray(q0 * dim, (q0 + m) * dim), queriesOff >> 2);
      const params: BatchParams = {
        metric, dim, n, rowsOff: this.rows.rowsOff, normsOff, idsOff, allowOff, queriesOff, nq: m, k: kk, candidates,
        outSlotsOff, outKeysOff, scratchOff, scratchBytes,
      };
      const handle = arena.handle();
      const job: FlatBatchJob | null = handle ? { kind: 'flat-batch', handle, params } : null;
      runParallel(job, Math.min(threads, Math.ceil(m / UNIT)), (control, thread) => runBatch(arena, params, control, 0, thread));
      const view = arena.f32().buffer;
      const slots = new Int32Array(view, outSlotsOff, m * kk);
      const keys = new Float64Array(view, outKeysOff, m * kk);
      for (let i = 0; i < m * kk; i++) {
        const slot = slots[i];
        if (slot < 0) continue;
        const at = (q0 + Math.floor(i / kk)) * k + (i % kk);
        result.ids[at] = this.slotIds[slot];
        result.scores[at] = keyToScore(this.metric, keys[i]);
        result.distances[at] = keyToDistance(this.metric, keys[i]);
      }
    }
    return result;
  }

  /** The index as plain arrays (for io/: files and buffers). Rows and ids in storage order. */
  exportState(): FlatState {
    const n = this.rows.size;
    const at = this.rows.rowsOff >> 2;
    return { dim: this.dim, metric: this.metric, rows: this.rows.arena.f32().subarray(at, at + n * this.dim), ids: this.slotIds.subarray(0, n), nextId: this.nextId };
  }

  /** Rebuilds an index from exportState() output (validated like add: typed errors on bad data). */
  static fromState(s: FlatState, options: { backend?: BackendChoice; threads?: number } = {}): FlatIndex {
    const index = new FlatIndex({ dim: s.dim, metric: s.metric, ...options });
    index.add(s.rows, s.ids);
    index.nextId = Math.max(index.nextId, s.nextId);
    return index;
  }

  /** Size, kernels and memory in use. */
  stats(): IndexStats {
    const n = this.rows.size;
    return {
      kernels: this.kernels,
      size: n,
      dim: this.dim,
      metric: this.metric,
      memoryBytes: this.rows.arena.byteLength + this.slotIds.byteLength + (this.metric === 'dot' ? 0 : this.norms.byteLength) + n * 40,
    };
  }
}
