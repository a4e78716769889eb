// HnswIndex: approximate k-NN on a Hierarchical Navigable Small World graph (Malkov & Yashunin),
// with optional int8 traversal re-ranked on float32 rows, parallel build and batch search on worker
// threads over shared memory, tombstone deletion with slot reuse and graph repair, and filters that
// fall back to an exact scan when they are selective.
import { IdMap } from '../../storage/id-map.js';
import { NearestError, invalidArgument } from '../../errors.js';
import type { BackendChoice } from '../../distance/backend.js';
import { alignUp } from '../../distance/kernels.js';
import { keyToDistance, keyToScore, type Metric } from '../../distance/metric.js';
import { TopK } from '../../distance/topk.js';
import { availableThreads, runParallel, sharedBuffer } from '../../parallel/pool.js';
import { CHUNK, RowStore } from '../../storage/row-store.js';
import { toIdPredicate, type IndexStats } from '../flat.js';
import { CODE_META, META_ORIGIN, META_STEP, ScalarQuantizer } from '../quant/sq8.js';
import { PendingReads, type Read } from '../reads.js';
import { emptyBatch, fillBatch, slotHits } from '../results.js';
import type { BatchOptions, BatchResult, RemovableIndex, SearchHit, VectorIndex } from '../types.js';
import { checkBatchK, checkDim, checkK, checkMetric, checkOptions, checkThreads, describe, newIds as newIdsFor, toIdList, toRows, toVector, type VectorLike, type VectorsLike } from '../validate.js';
import { prng } from '../random.js';
import { HnswCore, tombstoneFilter, type SlotFilter } from './core.js';
import { ENTRY, Graph, MAX_LEVEL, UPPER_USED, type GraphPlace } from './graph.js';
import { runBuild, runSearch, searchQuery, type HnswJob, type HnswShape } from './jobs.js';
import { COSINE, DOT, EUCLIDEAN, scratchBytes, Space, wasmScratchAt, wasmScratchBytes, type WasmGraph, type WasmSearch } from './space.js';

/** Default links per node (hnswlib's M): factory strings without a number and IVF's HNSW quantizer use it too. */
export const DEFAULT_M = 16;

/** Options of `new HnswIndex(...)`. */
export interface HnswIndexOptions {
  /** Vector dimension, 1 to 65536. */
  dim: number;
  /** Similarity measure; default 'cosine'. */
  metric?: Metric;
  /** Links per node on upper levels (2·m on level 0); default 16. Memory: (2m + 1)·4 bytes per vector. */
  m?: number;
  /** Beam width while building; default 200. Higher builds slower and better graphs. */
  efConstruction?: number;
  /** Default beam width while searching; default 64 (raised to k when smaller). */
  efSearch?: number;
  /** Seed of the level draws; one thread with one seed gives the same graph every time. */
  seed?: number;
  /** 'int8': traverse on 8-bit codes (dim bytes per vector more) and re-rank with float32. Default 'none'. */
  quantization?: 'none' | 'int8';
  /** Kernel backend ('auto' | 'wasm' | 'js'). */
  backend?: BackendChoice;
  /** Threads for building and searchBatch (the calling thread included); default: all cores. */
  threads?: number;
}

/** Per-call HNSW search options. */
export interface HnswSearchOptions {
  /** Beam width for this call (≥ 1; raised to k when smaller). */
  efSearch?: number;
  /** Only ids passing the filter are returned; k come back whenever k pass. */
  filter?: ((id: number) => boolean) | ReadonlySet<number> | Uint8Array;
  /** Scan every (admitted) vector exactly instead of walking the graph: the exact k best. */
  exact?: boolean;
}

/** Per-call HNSW batch options. */
export interface HnswBatchOptions extends HnswSearchOptions { threads?: number }

/** Tombstones are unlinked for reuse once at least this many (and 1% of the slots) exist. */
const UNLINK_MIN = 64;
/** Below this many live vectors the int8 quantizer is re-fitted on every add. */
const RETRAIN_LIMIT = 4096;
/** Slot lists of worker scratch (brute-force chunks and neighbour lists). */
const WORKER_LIST = 1024;
/** Parallel build only pays off for batches at least this large. */
const PARALLEL_MIN = 256;

/**
 * Where the per-slot arrays of an index with room for `capacity` slots live in the arena the graph
 * is walked in (the rows', or the int8 codes' with int8 traversal), above that store's room (byte
 * offsets): 1/|x| or |x|² (f64), the level-0 lists (i32, `stride0` words a slot), the tombstones
 * (u8), the codes' constants (CODE_META f64 a slot, int8 only) and the slots' locks (i32). The
 * WebAssembly search reads them there; then comes the calling thread's search scratch, then the
 * worker threads'.
 */
interface SlotLayout { normsOff: number; level0Off: number; deletedOff: number; codeMetaOff: number; locksOff: number; scratchOff: number; end: number }

function slotLayout(home: RowStore, capacity: number, stride0: number, m0: number, codes: boolean): SlotLayout {
  const normsOff = alignUp(home.rowsOff + capacity * home.rowBytes);
  const level0Off = alignUp(normsOff + capacity * 8);
  const deletedOff = alignUp(level0Off + capacity * stride0 * 4);
  const codeMetaOff = alignUp(deletedOff + capacity);
  const locksOff = alignUp(codeMetaOff + (codes ? capacity * CODE_META * 8 : 0));
  const scratchOff = alignUp(locksOff + capacity * 4);
  return { normsOff, level0Off, deletedOff, codeMetaOff, locksOff, scratchOff, end: scratchOff + wasmScratchBytes(capacity, m0) };
}

function checkInt(v: unknown, name: string, min: number, max: number, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalidArgument(`${where}: ${name} must be an integer from ${min} to ${max}, got ${describe(v)}`, { where, option: name, received: v, min, max });
  }
  return v;
}

let nextUid = 1;

function checkExact(v: unknown, where: string): boolean {
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw invalidArgument(`${where}: exact must be a boolean, got ${describe(v)}`, { option: 'exact', received: v });
  return v;
}


/** An HnswIndex as plain arrays (slot order; `size` slots including tombstones). */
export interface HnswState {
  dim: number; metric: Metric; m: number; efConstruction: number; efSearch: number; quantization: 'none' | 'int8';
  /** PRNG position of level draws. */
  randomState: number;
  size: number;
  rows: Float32Array;
  /**
   * int8 traversal codes [size × dim] with, per slot, their step and origin (sq8.ts); with
   * quantization 'int8' and codes null (a file of the previous layout) they are re-encoded from
   * the rows with `quantMid`.
   */
  codes: Int8Array | null;
  quantSteps: Float32Array | null;
  quantOrigins: Uint8Array | null;
  /** Per-dimension centre of the codes (quantization 'int8'). */
  quantMid: Float32Array | null;
  level0: Int32Array;
  levels: Int8Array;
  upperOff: Int32Array;
  upper: Int32Array;
  deleted: Uint8Array;
  entry: number;
  maxLevel: number;
  ids: Float64Array;
  nextId: number;
}

/**
 * Approximate nearest-neighbour search on an HNSW graph. Same surface as FlatIndex; results are
 * best first with scores and distances computed exactly on float32 rows.
 */
export class HnswIndex implements VectorIndex, RemovableIndex {
  readonly dim: number;
  readonly metric: Metric;
  readonly m: number;
  readonly efConstruction: number;
  readonly efSearch: number;
  readonly quantization: 'none' | 'int8';
  readonly threads: number;
  private readonly metricCode: number;
  private readonly rows: RowStore;
  private readonly codes: RowStore | null;
  private readonly quantizer: ScalarQuantizer | null;
  private graph: Graph;
  private core: HnswCore;
  private slotIds: Float64Array;
  /** Per slot: 1/|x| (cosine) or |x|² (euclidean) of the float row. */
  private invNorms: Float64Array;
  /** Per slot: the constants of its int8 code (CODE_META values; sq8.ts). */
  private codeMeta: Float64Array;
  private readonly idSlots = new IdMap();
  /** Searches in flight on worker threads (settled before any change). */
  private readonly reads = new PendingReads();
  /** Names this index's current state for worker threads' caches; every add makes a new one. */
  private readonly uid = `hnsw${nextUid++}`;
  private generation = 0;
  private shapeCache: { generation: number; threads: number; shape: HnswShape | null } | null = null;
  /** The per-slot arrays' place in the home arena (see slotLayout). */
  private layout!: SlotLayout;
  /** The store whose arena holds the graph and the WebAssembly search: the codes with int8 traversal, else the rows. */
  private readonly home: RowStore;
  /** Slots of removed vectors still linked in the graph (traversed, never returned). */
  private readonly free: number[] = [];
  /** Slots of removed vectors taken out of the graph, ready for reuse. */
  private readonly unlinked: number[] = [];
  private nextId = 0;
  private random: { (): number; state: () => number };
  private readonly levelMult: number;

  constructor(options: HnswIndexOptions) {
    const where = 'HnswIndex';
    const o = checkOptions(options, ['dim', 'metric', 'm', 'efConstruction', 'efSearch', 'seed', 'quantization', 'backend', 'threads'], where);
    if (options === undefined) throw invalidArgument('HnswIndex: options { dim } are required', {});
    this.dim = checkDim(o.dim, where);
    this.metric = checkMetric(o.metric, 'cosine', where);
    this.m = checkInt(o.m ?? DEFAULT_M, 'm', 2, 256, where);
    this.efConstruction = checkInt(o.efConstruction ?? 200, 'efConstruction', 1, 100000, where);
    this.efSearch = checkInt(o.efSearch ?? 64, 'efSearch', 1, 100000, where);
    const seed = checkInt(o.seed ?? 100, 'seed', 0, 2 ** 32 - 1, where);
    const q = o.quantization ?? 'none';
    if (q !== 'none' && q !== 'int8') throw invalidArgument(`${where}: quantization must be 'none' or 'int8', got ${describe(q)}`, { received: q, allowed: ['none', 'int8'] });
    this.quantization = q;
    const backend = o.backend ?? 'auto';
    if (backend !== 'auto' && backend !== 'wasm' && backend !== 'js') {
      throw invalidArgument(`${where}: backend must be 'auto', 'wasm' or 'js', got ${describe(backend)}`, { received: backend, allowed: ['auto', 'wasm', 'js'] });
    }
    this.threads = checkThreads(o.threads, availableThreads(), where);
    this.metricCode = this.metric === 'euclidean' ? EUCLIDEAN : this.metric === 'cosine' ? COSINE : DOT;
    this.rows = new RowStore(this.dim, backend as BackendChoice);
    this.codes = q === 'int8' ? new RowStore(this.dim, backend as BackendChoice, 1) : null;
    this.quantizer = q === 'int8' ? new ScalarQuantizer(this.dim, this.metric) : null;
    this.random = prng(seed);
    this.levelMult = 1 / Math.log(this.m);
    const cap = 16;
    this.home = this.codes ?? this.rows;
    this.layout = slotLayout(this.home, cap, 2 * this.m + 1, 2 * this.m, this.codes !== null);
    this.home.reserveBytes(this.layout.end);
    this.graph = Graph.create(cap, this.m, this.upperFor(cap), this.place());
    this.slotIds = new Float64Array(sharedBuffer(cap * 8));
    this.invNorms = this.normsView(cap);
    this.codeMeta = this.codeMetaView(cap);
    this.core = new HnswCore(this.graph, this.mainSpace(), false);
    this.core.space.setWasmSearch(this.mainWasm(cap), cap);
  }

  /** Level 0, the tombstones and the locks in the home arena, at the current layout. */
  private place(): GraphPlace {
    const l = this.layout;
    return { buffer: this.home.arena.u8().buffer, level0Off: l.level0Off, deletedOff: l.deletedOff, locksOff: l.locksOff };
  }

  private normsView(capacity: number): Float64Array {
    return new Float64Array(this.home.arena.u8().buffer, this.layout.normsOff, capacity);
  }

  private codeMetaView(capacity: number): Float64Array {
    return this.codes ? new Float64Array(this.home.arena.u8().buffer, this.layout.codeMetaOff, capacity * CODE_META) : new Float64Array(1);
  }

  /** Where the WebAssembly search finds the graph, at the current layout. */
  private wasmGraph(): WasmGraph {
    const l = this.layout;
    return { level0Off: l.level0Off, stride0: 2 * this.m + 1, normsOff: l.normsOff, deletedOff: l.deletedOff, locksOff: l.locksOff, codeMetaOff: l.codeMetaOff };
  }

  /** The calling thread's WebAssembly search (its scratch at the layout's scratchOff), for `capacity` slots. */
  private mainWasm(capacity: number): WasmSearch {
    return wasmScratchAt(this.layout.scratchOff, capacity, 2 * this.m, this.wasmGraph());
  }

  private upperFor(capacity: number): number {
    return Math.ceil(capacity * (this.m + 1) * 1.5 / (this.m - 1)) + 64 * (this.m + 1);
  }

  private mainSpace(): Space {
    const r = this.rows, c = this.codes;
    return new Space({
      dim: this.dim, metric: this.metricCode,
      rows: r.arena, rowsOff: r.rowsOff, rowScratch: { queryOff: r.queryOff, slotsOff: r.slotsOff, outOff: r.outOff },
      codes: c ? c.arena : null, codesOff: c ? c.rowsOff : 0, codeScratch: c ? { queryOff: c.queryOff, slotsOff: c.slotsOff, outOff: c.outOff } : null,
      quantizer: this.quantizer, invNorms: this.invNorms, codeMeta: this.codeMeta, maxList: CHUNK,
    });
  }

  /** Live vectors. */
  get size(): number { return this.idSlots.size; }

  /** The kernel backend in use. */
  get kernels(): string { return this.rows.kernels.name; }

  private ensureCapacity(slots: number): void {
    if (slots <= this.graph.capacity) return;
    const old = this.graph.capacity, cap = Math.max(slots, Math.ceil(old * 1.5));
    const stride0 = this.graph.stride0, from = this.layout, to = slotLayout(this.home, cap, stride0, 2 * this.m, this.codes !== null);
    const dirty = this.home.arena.byteLength; // memory past this is new, hence zero (and untouched)
    this.home.reserveBytes(to.end); // the one step that can fail: nothing has changed yet
    // Move the per-slot arrays up (the highest first: every one moves up, past its old place and
    // below the next one's new place), then clear their new room where it held something: leaving
    // new memory untouched keeps it out of the process's resident set until it is used.
    const u8 = this.home.arena.u8();
    const clear = (from: number, to: number) => { if (from < Math.min(to, dirty)) u8.fill(0, from, Math.min(to, dirty)); };
    if (this.codes) {
      u8.copyWithin(to.codeMetaOff, from.codeMetaOff, from.codeMetaOff + old * CODE_META * 8);
      clear(to.codeMetaOff + old * CODE_META * 8, to.codeMetaOff + cap * CODE_META * 8);
    }
    u8.copyWithin(to.deletedOff, from.deletedOff, from.deletedOff + old);
    clear(to.deletedOff + old, to.deletedOff + cap);
    u8.copyWithin(to.level0Off, from.level0Off, from.level0Off + old * stride0 * 4);
    clear(to.level0Off + old * stride0 * 4, to.level0Off + cap * stride0 * 4);
    u8.copyWithin(to.normsOff, from.normsOff, from.normsOff + old * 8);
    clear(to.normsOff + old * 8, to.normsOff + cap * 8);
    clear(to.locksOff, to.locksOff + cap * 4); // no lock is held between calls
    this.layout = to;
    this.graph = this.graph.grow(cap, this.upperFor(cap), this.place());
    const ids = new Float64Array(sharedBuffer(cap * 8)); ids.set(this.slotIds); this.slotIds = ids;
    this.invNorms = this.normsView(cap);
    this.codeMeta = this.codeMetaView(cap);
    this.core.setGraph(this.graph);
    this.core.space.invNorms = this.invNorms;
    this.core.space.codeMeta = this.codeMeta;
    this.core.space.setWasmSearch(this.mainWasm(cap), cap, dirty);
  }

  private drawLevel(random: () => number): number {
    return Math.min(60, Math.floor(-Math.log(1 - random()) * this.levelMult));
  }

  /** Makes room in the upper-level pool for `words` more words (so reserveUpper cannot fail). */
  private ensureUpper(words: number): void {
    const g = this.graph;
    if (g.meta[UPPER_USED] + words <= g.upper.length) return;
    this.graph = g.grow(g.capacity, Math.max(g.upper.length * 2, g.meta[UPPER_USED] + words));
    this.core.setGraph(this.graph);
  }

  /**
   * Adds vectors (row-major Float32Array of n·dim or an array of vectors) with optional ids
   * (non-negative safe integers, unique; default: consecutive from the largest id + 1). Freed slots
   * of removed vectors are reused. All-or-nothing: everything is validated and all memory is
   * reserved before anything changes, so a call that throws (bad input, CAPACITY_EXCEEDED) leaves
   * the index as it was.
   */
  add(vectors: VectorsLike, ids?: ArrayLike<number>): void {
    this.reads.settleAll();
    this.generation++;
    const where = 'HnswIndex.add';
    const { data, n } = toRows(vectors, this.dim, where);
    if (n === 0) return;
    const newIds = newIdsFor(ids, n, this.idSlots, this.nextId, where);
    const dim = this.dim;

    // Plan without changing anything. Slots of removed vectors are reused once they are unlinked
    // from the graph, which is done for all tombstones at once when enough have piled up (1% of the
    // slots, at least UNLINK_MIN): the pass over every list is then paid for by many reuses, and at
    // most that many slots sit idle. New slots get levels drawn from a copy of the generator.
    const unlink = this.unlinked.length < n && this.free.length >= Math.max(UNLINK_MIN, Math.ceil(this.rows.size / 100));
    const reuseCount = Math.min(n, this.unlinked.length + (unlink ? this.free.length : 0));
    const appendCount = n - reuseCount;
    const first = this.rows.size;
    const random = prng(this.random.state());
    const levels = new Int8Array(appendCount);
    let upperWords = 0;
    for (let j = 0; j < appendCount; j++) { levels[j] = this.drawLevel(random); upperWords += levels[j] * (this.m + 1); }

    // Memory, the one thing that can still fail (CAPACITY_EXCEEDED); capacity is not state.
    this.ensureCapacity(first + appendCount);
    this.ensureUpper(upperWords);
    this.rows.reserveBytes(this.rows.rowOffset(first + appendCount));
    if (this.codes) this.codes.reserveBytes(this.codes.rowOffset(first + appendCount));

    // Commit.
    this.random = random;
    if (this.quantizer) this.fitQuantizer(data, n);
    if (unlink) this.unlinkFree();
    const reuse = this.unlinked.splice(this.unlinked.length - reuseCount).reverse();
    const slots = new Int32Array(sharedBuffer(n * 4));
    for (let j = 0; j < reuse.length; j++) {
      const slot = reuse[j];
      const part = data.subarray(j * dim, (j + 1) * dim);
      this.rows.write(slot, part, 1);
      slots[j] = slot;
    }
    if (appendCount > 0) this.rows.append(data.subarray(reuse.length * dim), appendCount);
    for (let j = 0; j < appendCount; j++) {
      const slot = first + j;
      slots[reuseCount + j] = slot;
      this.graph.levels[slot] = levels[j];
      this.graph.reserveUpper(slot, levels[j]);
    }
    if (this.codes) {
      const codes = new Int8Array(n * dim), meta = new Float64Array(n * CODE_META);
      this.quantizer!.encode(data, 0, n, codes, meta);
      for (let j = 0; j < reuse.length; j++) this.codes.write(reuse[j], codes.subarray(j * dim), 1);
      if (appendCount > 0) this.codes.append(codes.subarray(reuse.length * dim), appendCount);
      for (let j = 0; j < n; j++) this.codeMeta.set(meta.subarray(j * CODE_META, (j + 1) * CODE_META), slots[j] * CODE_META);
    }
    for (let j = 0; j < n; j++) {
      const slot = slots[j], id = newIds[j];
      this.slotIds[slot] = id;
      this.idSlots.set(id, slot);
      if (id >= this.nextId) this.nextId = id + 1;
      this.setNorms(slot);
      this.graph.deleted[slot] = 0;
    }
    this.build(slots, n);
  }

  /** Stores the per-slot norm traversal keys need (1/|x| of the float row, under cosine). */
  private setNorms(slot: number): void {
    if (this.metricCode === COSINE) {
      const sq = this.rows.sqNorm(slot);
      this.invNorms[slot] = sq > 0 ? 1 / Math.sqrt(sq) : 0;
    }
  }

  /** Re-encodes the first `count` stored rows (codes and their constants) with the current centre. */
  private encodeStored(count: number): void {
    if (count === 0) return;
    const at = this.rows.rowsOff >> 2;
    const codes = new Int8Array(count * this.dim);
    this.quantizer!.encode(this.rows.arena.f32().subarray(at, at + count * this.dim), 0, count, codes, this.codeMeta);
    this.codes!.write(0, codes, count);
  }

  /** Re-fits the int8 centre while the index is small (re-encoding what is stored). */
  private fitQuantizer(data: Float32Array, n: number): void {
    const live = this.rows.size;
    if (live > 0 && live + n > RETRAIN_LIMIT) return;
    const all = new Float32Array((live + n) * this.dim);
    if (live > 0) all.set(this.rows.arena.f32().subarray(this.rows.rowsOff >> 2, (this.rows.rowsOff >> 2) + live * this.dim));
    all.set(data.subarray(0, n * this.dim), live * this.dim);
    this.quantizer!.train(all, live + n);
    this.encodeStored(live);
  }

  /** Unlinks every tombstone from the graph (HnswCore.unlink) and makes its slot reusable. */
  private unlinkFree(): void {
    const size = this.rows.size, g = this.graph, meta = g.meta;
    const gone = new Uint8Array(size);
    for (const slot of this.free) gone[slot] = 1;
    if (meta[ENTRY] >= 0 && gone[meta[ENTRY]]) {
      // A new entry point: the highest live slot (every tombstone is being unlinked or already
      // was, so none can serve); none left means an empty graph.
      let best = -1, bestLevel = -1;
      for (let s = 0; s < size; s++) {
        if (g.deleted[s] === 0 && g.levels[s] > bestLevel) { best = s; bestLevel = g.levels[s]; }
      }
      meta[ENTRY] = best;
      meta[MAX_LEVEL] = bestLevel;
    }
    this.core.unlink(gone, size);
    for (const slot of this.free) this.unlinked.push(slot);
    this.free.length = 0;
  }

  /** Inserts `slots` into the graph, on several threads when the batch is large. */
  private build(slots: Int32Array, n: number): void {
    let start = 0;
    if (this.graph.meta[ENTRY] < 0) { this.core.insert(slots[0], this.efConstruction); start = 1; }
    const rest = slots.subarray(start);
    const count = n - start;
    if (count === 0) return;
    const threads = count >= PARALLEL_MIN ? this.threads : 1;
    const shape = threads > 1 ? this.shape(threads) : null;
    const job: HnswJob | null = shape ? { kind: 'hnsw', shape, op: 'build', efConstruction: this.efConstruction, slots: (rest.buffer as ArrayBufferLike), count } : null;
    if (job && start > 0) {
      // Workers read the slot list from the buffer's start: hand them a fresh one.
      const copy = new Int32Array(sharedBuffer(count * 4)); copy.set(rest); job.slots = copy.buffer;
    }
    runParallel(job, threads, (control) => {
      this.core.concurrent = job !== null;
      try { runBuild(this.core, rest, count, this.efConstruction, control); } finally { this.core.concurrent = false; }
    });
  }

  /** The shared description of this index for worker threads; grows arenas for their scratch. */
  private shape(threads: number): HnswShape | null {
    const rowsHandle = this.rows.arena.handle();
    const codesHandle = this.codes ? this.codes.arena.handle() : null;
    if (!rowsHandle || (this.codes && !codesHandle) || !(this.graph.level0.buffer instanceof SharedArrayBuffer)) return null;
    // Per worker thread: kernel scratch in each arena, then (in the home arena, above the graph)
    // the WebAssembly search's scratch.
    const wasmBytes = wasmScratchBytes(this.graph.capacity, 2 * this.m), codes = this.codes;
    const rowStride = alignUp(scratchBytes(this.dim * 4, WORKER_LIST)) + (codes ? 0 : wasmBytes);
    const rowBase = alignUp(codes ? this.rows.end : this.layout.end);
    this.rows.reserveBytes(rowBase + (threads - 1) * rowStride);
    let codeBase = 0, codeStride = 0;
    if (codes) {
      codeStride = alignUp(scratchBytes(this.dim, WORKER_LIST)) + wasmBytes;
      codeBase = alignUp(this.layout.end);
      codes.reserveBytes(codeBase + (threads - 1) * codeStride);
    }
    const q = this.quantizer;
    return {
      dim: this.dim, metric: this.metricCode,
      rows: rowsHandle, rowsOff: this.rows.rowsOff, codes: codesHandle, codesOff: this.codes ? this.codes.rowsOff : 0,
      quant: q ? { mid: q.mid, metric: this.metric } : null,
      graph: this.graph.buffers, invNorms: this.invNorms.buffer, invNormsOff: this.invNorms.byteOffset,
      codeMeta: this.codeMeta.buffer, codeMetaOff: this.codeMeta.byteOffset, codeMetaLength: this.codeMeta.length, ids: this.slotIds.buffer,
      rowScratchBase: rowBase, codeScratchBase: codeBase, rowStride, codeStride, maxList: WORKER_LIST,
      wasm: this.wasmGraph(), wasmScratchOff: alignUp(scratchBytes(codes ? this.dim : this.dim * 4, WORKER_LIST)),
    };
  }

  /**
   * Marks one id or an array / typed array of ids removed (never returned again; absent ids are
   * ignored); their slots are reused by later adds. Returns how many were present.
   */
  remove(ids: number | ArrayLike<number>): number {
    this.reads.settleAll();
    const list = toIdList(ids, 'HnswIndex.remove');
    let removed = 0;
    for (const id of list) {
      const slot = this.idSlots.get(id);
      if (slot === undefined) continue;
      this.idSlots.delete(id);
      this.graph.deleted[slot] = 1;
      this.free.push(slot);
      removed++;
    }
    return removed;
  }

  /** Whether an id is present. */
  has(id: number): boolean { return this.idSlots.has(id); }

  /** A copy of the stored vector of an id, or undefined. */
  get(id: number): Float32Array | undefined {
    const slot = this.idSlots.get(id);
    return slot === undefined ? undefined : this.rows.read(slot);
  }

  private slotFilter(pred: ((id: number) => boolean) | null): SlotFilter {
    const deleted = this.graph.deleted, ids = this.slotIds;
    if (pred) return (slot) => deleted[slot] === 0 && pred(ids[slot]);
    return this.free.length + this.unlinked.length > 0 ? tombstoneFilter(deleted) : null;
  }

  // Per-query scratch of the calling thread, reused so searches allocate (almost) nothing.
  private readonly keyScratch = new Float64Array(CHUNK);
  private lastTop: TopK | null = null;
  private topFor(k: number): TopK {
    if (!this.lastTop || this.lastTop.k !== k) this.lastTop = new TopK(k);
    return this.lastTop;
  }

  /** Whether a filter admitting about `matches` vectors is better served by an exact scan. */
  private preferExact(matches: number, k: number): boolean {
    return matches <= Math.max(2 * k, 0.02 * this.size);
  }

  private estimateMatches(filter: unknown, pred: (id: number) => boolean): number {
    if (filter instanceof Set) return filter.size;
    if (filter instanceof Uint8Array) { let c = 0; for (let i = 0; i < filter.length; i++) c += filter[i] === 1 ? 1 : 0; return Math.min(c, this.size); }
    const size = this.rows.size, deleted = this.graph.deleted;
    const samples = Math.min(size, 512);
    let tried = 0, passed = 0;
    for (let i = 0; i < samples; i++) {
      const slot = Math.floor((i * size) / samples);
      if (deleted[slot]) continue;
      tried++;
      if (pred(this.slotIds[slot])) passed++;
    }
    return tried === 0 ? 0 : (passed / tried) * this.size;
  }

  private efFor(o: Record<string, unknown>, where: string): number {
    return o.efSearch === undefined ? this.efSearch : checkInt(o.efSearch, 'efSearch', 1, 100000, where);
  }

  /**
   * The approximately k best vectors for a query, best first (ties: smaller id). `efSearch` trades
   * speed for recall; with a filter, k results come back whenever k vectors pass it.
   */
  search(query: VectorLike, k: number, options?: HnswSearchOptions): SearchHit[] {
    const where = 'HnswIndex.search';
    const o = checkOptions(options, ['efSearch', 'filter', 'exact'], where);
    const q = toVector(query, this.dim, where);
    checkK(k, where);
    const ef = this.efFor(o, where);
    const pred = toIdPredicate(o.filter, where);
    const forceExact = checkExact(o.exact, where);
    if (this.size === 0) return [];
    const exact = forceExact || (pred !== null && this.preferExact(this.estimateMatches(o.filter, pred), k));
    const allow = this.slotFilter(pred);
    const top = this.topFor(Math.min(k, this.size));
    this.core.space.setQuery(q);
    searchQuery(this.core, top.k, ef, allow, exact, this.rows.size, this.slotIds, top, this.keyScratch);
    const keys = new Float64Array(top.size), ids = new Float64Array(top.size);
    const count = top.drain(keys, ids, null);
    const hits: SearchHit[] = new Array(count);
    for (let i = 0; i < count; i++) hits[i] = { id: ids[i], score: keyToScore(this.metric, keys[i]), distance: keyToDistance(this.metric, keys[i]) };
    return hits;
  }

  /**
   * Many queries at once on `threads` threads; nq·k ids/scores/distances row-major, id −1 where
   * missing (nq·k at most MAX_BATCH_RESULTS; working memory grows with nq·min(k, size) only).
   */
  searchBatch(queries: VectorsLike, k: number, options?: HnswBatchOptions): BatchResult {
    const plan = this.planBatch(queries, k, options, 'HnswIndex.searchBatch');
    if (plan.job === null) return plan.result;
    const t = Math.min(plan.threads, plan.job.nq!);
    const shape = t > 1 ? this.shape(t) : null;
    const job = plan.job;
    if (shape) job.shape = shape;
    runParallel(shape ? job : null, t, (control) => runSearch(this.core, job, control, this.slotIds));
    return this.collectBatch(plan.result, job);
  }

  /**
   * `search` off the calling thread: the query runs on one of the index's worker threads (up to
   * `threads`, default the index's), so the event loop stays free. Same results as `search`. A
   * change to the index while searches are in flight first waits for them (they see the index as
   * it was when they started).
   */
  async searchAsync(query: VectorLike, k: number, options?: HnswBatchOptions): Promise<SearchHit[]> {
    const where = 'HnswIndex.searchAsync';
    const q = toVector(query, this.dim, where);
    checkK(k, where);
    return this.readAsync(q, k, options, where, 'hits').promise as Promise<SearchHit[]>;
  }

  /** `searchBatch` off the calling thread, as one job on one worker thread. */
  async searchBatchAsync(queries: VectorsLike, k: number, options?: HnswBatchOptions): Promise<BatchResult> {
    return this.readAsync(queries, k, options, 'HnswIndex.searchBatchAsync', 'batch').promise as Promise<BatchResult>;
  }

  /**
   * @internal A search in flight (stores settle theirs before they change): the whole batch, or
   * the first query's hits with float64 scores like `search`.
   */
  readAsync(queries: VectorsLike, k: number, options: HnswBatchOptions | undefined, where: string, as: 'batch' | 'hits'): Read<BatchResult | SearchHit[]> {
    const plan = this.planBatch(queries, k, options, where);
    const job = plan.job;
    if (job === null) return this.reads.start(null, 0, () => {}, () => as === 'batch' ? plan.result : []);
    const threads = Math.min(plan.threads, availableThreads());
    // One shape per state, made for enough threads (workers 1..threads: shape(threads + 1)).
    let c = this.shapeCache;
    if (!c || c.generation !== this.generation || c.threads < threads + 1) {
      c = this.shapeCache = { generation: this.generation, threads: threads + 1, shape: this.shape(threads + 1) };
    }
    const shape = c.shape;
    if (shape) { job.shape = shape; job.state = `${this.uid}.${this.generation}`; }
    const collect: () => BatchResult | SearchHit[] = as === 'batch' ? () => this.collectBatch(plan.result, job)
      : () => slotHits(new Int32Array(job.outSlots!), new Float64Array(job.outKeys!), this.slotIds, this.metric);
    return this.reads.start(shape ? job : null, threads, () => runSearch(this.core, job, new Int32Array(4), this.slotIds), collect);
  }

  /** Validates a batch search and lays out its job (null when there is nothing to search). */
  private planBatch(queries: VectorsLike, k: number, options: HnswBatchOptions | undefined, where: string): { job: HnswJob | null; result: BatchResult; threads: number } {
    const o = checkOptions(options, ['efSearch', 'filter', 'threads', 'exact'], where);
    const { data, n: nq } = toRows(queries, this.dim, where);
    checkBatchK(k, nq, where);
    const ef = this.efFor(o, where);
    const forceExact = checkExact(o.exact, where);
    const threads = checkThreads(o.threads, this.threads, where);
    const pred = toIdPredicate(o.filter, where);
    const result = emptyBatch(nq, k);
    if (this.size === 0 || nq === 0) return { job: null, result, threads };
    // Threads find kk = min(k, size) hits per query; the rest of each row stays −1.
    const kk = Math.min(k, this.size);
    const size = this.rows.size;
    let allowBuf: ArrayBufferLike | null = null, exact = false;
    const tombstones = pred === null && this.free.length + this.unlinked.length > 0;
    if (pred) {
      const bits = new Uint8Array(sharedBuffer(size));
      const deleted = this.graph.deleted;
      let matches = 0;
      for (let s = 0; s < size; s++) {
        const ok = deleted[s] === 0 && (pred === null || pred(this.slotIds[s]));
        bits[s] = ok ? 1 : 0;
        if (ok) matches++;
      }
      allowBuf = bits.buffer;
      exact = pred !== null && this.preferExact(matches, kk);
    }
    exact ||= forceExact;
    const qbuf = new Float32Array(sharedBuffer(nq * this.dim * 4)); qbuf.set(data);
    const job: HnswJob = {
      kind: 'hnsw', op: 'search', shape: null!, queries: qbuf.buffer, nq, k: kk, ef, size, allow: allowBuf, tombstones, exact,
      outSlots: sharedBuffer(nq * kk * 4), outKeys: sharedBuffer(nq * kk * 8),
    };
    return { job, result, threads };
  }

  /** The job's slots as ids, scores and distances (before the next change reuses any slot). */
  private collectBatch(result: BatchResult, job: HnswJob): BatchResult {
    return fillBatch(result, job.k!, new Int32Array(job.outSlots!), new Float64Array(job.outKeys!), this.slotIds, this.metric);
  }

  /** The index as plain arrays (for io/: files and buffers). */
  /** The index as plain data for io/: views of its memory (no copies), valid until the next change. */
  exportState(): HnswState {
    const g = this.graph, n = this.rows.size, dim = this.dim;
    const at = this.rows.rowsOff >> 2;
    return {
      dim, metric: this.metric, m: this.m, efConstruction: this.efConstruction, efSearch: this.efSearch, quantization: this.quantization,
      randomState: this.random.state(), size: n,
      rows: this.rows.arena.f32().subarray(at, at + n * dim),
      codes: this.codes ? this.codes.arena.i8().subarray(this.codes.rowsOff, this.codes.rowsOff + n * dim) : null,
      quantSteps: this.codes ? Float32Array.from({ length: n }, (_, slot) => this.codeMeta[slot * CODE_META + META_STEP]) : null,
      quantOrigins: this.codes ? Uint8Array.from({ length: n }, (_, slot) => this.codeMeta[slot * CODE_META + META_ORIGIN]) : null,
      quantMid: this.quantizer ? this.quantizer.mid.slice() : null,
      level0: g.level0.subarray(0, n * g.stride0), levels: g.levels.subarray(0, n), upperOff: g.upperOff.subarray(0, n),
      upper: g.upper.subarray(0, g.meta[UPPER_USED]), deleted: g.deleted.subarray(0, n), entry: g.meta[ENTRY], maxLevel: g.meta[MAX_LEVEL],
      ids: this.slotIds.subarray(0, n), nextId: this.nextId,
    };
  }

  /** Rebuilds an index from exportState() output; the caller (io/) has validated the graph. */
  static fromState(s: HnswState, options: { backend?: BackendChoice; threads?: number } = {}): HnswIndex {
    const index = new HnswIndex({ dim: s.dim, metric: s.metric, m: s.m, efConstruction: s.efConstruction, efSearch: s.efSearch, quantization: s.quantization, ...options });
    index.random = prng(s.randomState); // mulberry32's whole state is its seed-like counter
    const n = s.size;
    index.ensureCapacity(n);
    if (n > 0) index.rows.append(s.rows, n);
    if (index.codes) {
      const quantizer = index.quantizer!;
      quantizer.mid.set(s.quantMid!);
      quantizer.centreChanged();
      if (s.codes) {
        if (n > 0) index.codes.append(s.codes, n);
        for (let slot = 0; slot < n; slot++) quantizer.constants(s.codes, slot * s.dim, s.quantSteps![slot], s.quantOrigins![slot], index.codeMeta, slot * CODE_META);
      } else if (n > 0) {
        index.codes.append(new Int8Array(n * s.dim), n);
        index.encodeStored(n);
      }
    }
    let g = index.graph;
    if (s.upper.length > g.upper.length) { g = g.grow(g.capacity, s.upper.length); index.graph = g; index.core.setGraph(g); }
    g.level0.set(s.level0); g.levels.set(s.levels); g.upperOff.set(s.upperOff); g.upper.set(s.upper); g.deleted.set(s.deleted);
    g.meta[ENTRY] = s.entry; g.meta[MAX_LEVEL] = s.maxLevel; g.meta[UPPER_USED] = s.upper.length;
    for (let slot = 0; slot < n; slot++) {
      index.slotIds[slot] = s.ids[slot];
      if (s.deleted[slot]) index.free.push(slot);
      else index.idSlots.set(s.ids[slot], slot);
      index.setNorms(slot);
    }
    index.nextId = s.nextId;
    return index;
  }

  /** Size, kernels and memory in use. */
  stats(): IndexStats & { m: number; efConstruction: number; efSearch: number; quantization: string; levels: number } {
    const g = this.graph;
    // Level 0, tombstones, locks, norms and code constants are in the home arena (counted with it).
    const graphBytes = g.levels.byteLength + g.upperOff.byteLength + g.upper.byteLength;
    return {
      kernels: this.kernels, size: this.size, dim: this.dim, metric: this.metric,
      memoryBytes: this.rows.arena.byteLength + (this.codes ? this.codes.arena.byteLength : 0) + graphBytes + this.slotIds.byteLength + this.size * 40,
      m: this.m, efConstruction: this.efConstruction, efSearch: this.efSearch, quantization: this.quantization, levels: g.meta[MAX_LEVEL] + 1,
    };
  }
}
