// VectorStore: the store of a semantic-search app — records with string or numeric ids, a vector
// and JSON metadata, searched by similarity with MongoDB-style metadata filters applied during the
// search, over a flat, HNSW or IVF index of internal handles.
//
// One write path for the in-memory and the durable store: a call is validated once into an owned,
// canonical Mutation (vectors copied into one Float32Array as the caller gave them, metadata deep-
// copied into frozen plain JSON, auto ids assigned), which cannot fail to apply; the in-memory store
// applies it at once, the durable store (durable-store.ts) logs and fsyncs it first. Nothing a store
// hands out aliases what it stores: vectors are copies, metadata is deeply frozen.
import { NearestError, invalidArgument } from '../errors.js';
import type { Metric } from '../distance/metric.js';
import { FlatIndex } from '../indexes/flat.js';
import { HnswIndex } from '../indexes/hnsw/hnsw-index.js';
import { IvfIndex, type IvfEncoding } from '../indexes/ivf/ivf-index.js';
import { describeIndex } from '../indexes/factory.js';
import type { Read } from '../indexes/reads.js';
import { PendingReads } from '../indexes/reads.js';
import type { SearchHit } from '../indexes/types.js';
import { checkDim, checkK, checkMetric, checkOptions, describe, toRows, toVector, type VectorLike, type VectorsLike } from '../indexes/validate.js';
import { IdMap } from '../storage/id-map.js';
import { compileFilter } from './filter.js';
import { canonicalMetadata, type JsonValue } from './json.js';
import type { DurableOptions, DurableVectorStore } from './durable-store.js';

/** A record id: a string or a non-negative safe integer. */
export type RecordId = string | number;

/** A record as passed to `upsert`. */
export interface StoreRecord<M = unknown> {
  id: RecordId;
  vector: VectorLike;
  metadata?: M;
}

/** A record as returned by `get`: the vector is a copy, the metadata deeply frozen. */
export interface StoredRecord<M = unknown> {
  id: RecordId;
  vector: Float32Array;
  metadata: M | undefined;
}

/** One hit of `search`, best first. Its metadata is deeply frozen (shared, never copied). */
export interface StoreHit<M = unknown> {
  id: RecordId;
  /** Higher is more similar. */
  score: number;
  /** Lower is more similar. */
  distance: number;
  metadata: M | undefined;
}

/** Which index a store uses. */
export type StoreIndexOptions =
  | { type: 'flat' }
  | { type: 'hnsw'; m?: number; efConstruction?: number; efSearch?: number; quantization?: 'none' | 'int8'; seed?: number }
  | {
    type: 'ivf'; nlist: number; nprobe?: number; encoding?: IvfEncoding; refine?: boolean; refineFactor?: number;
    /** Train once the store holds this many vectors (exact search until then); default max(39·nlist, 1000). */
    trainAt?: number;
  };

/** Options of `new VectorStore(...)`. */
export interface VectorStoreOptions {
  /** Vector dimension. */
  dim: number;
  /** Default 'cosine'. */
  metric?: Metric;
  /**
   * The index behind the store: `{ type: 'flat' }` (exact, the default — right for small stores),
   * `{ type: 'hnsw', m, efConstruction, efSearch, quantization, seed }` (approximate, for large ones)
   * or `{ type: 'ivf', nlist, ... }`.
   */
  index?: StoreIndexOptions;
  /** Kernel backend ('auto' | 'wasm' | 'js'). */
  backend?: 'auto' | 'wasm' | 'js';
}

/** Options of `search`. */
export interface StoreSearchOptions {
  /** A metadata filter ($eq $ne $gt $gte $lt $lte $in $nin $exists $and $or $not), applied during the search. */
  filter?: Record<string, unknown>;
  /** HNSW beam width for this call (hnsw stores only). */
  efSearch?: number;
  /** IVF lists to scan for this call (ivf stores only, once trained). */
  nprobe?: number;
  /** IVF stores with refine: re-rank refineFactor·k candidates exactly (≥ 1). */
  refineFactor?: number;
  /** Scan every (matching) record exactly instead of using the index: the exact k best. */
  exact?: boolean;
  /** Only these records are considered (ids not in the store are ignored). */
  ids?: readonly RecordId[];
}

/**
 * A store's persisted search defaults (what `nearest tune` saves): used by every search that does
 * not pass its own. efSearch for hnsw stores; nprobe (and refineFactor with refine) for ivf ones.
 * An empty object means the index's own defaults.
 */
export interface SearchDefaults {
  efSearch?: number;
  nprobe?: number;
  refineFactor?: number;
}

/** Options of `searchAsync`. */
export interface StoreAsyncSearchOptions extends StoreSearchOptions {
  /** Worker threads this search may run on (the least busy is used); default: all cores. */
  threads?: number;
}

/** The search options stores take (searchAsync also takes `threads`). */
const SEARCH_OPTIONS = ['filter', 'efSearch', 'nprobe', 'refineFactor', 'exact', 'ids'];

interface SearchPlan {
  q: Float32Array;
  k: number;
  options: Record<string, unknown>;
  exact: boolean;
  /** Which handles may be returned (null: all). */
  admit: ((h: number) => boolean) | null;
}

/** What `stats()` reports. */
export interface StoreStats {
  size: number;
  dim: number;
  metric: Metric;
  /** The index as a factory string ('Flat', 'HNSW16', 'IVF256,PQ16,RFlat'); an IVF store waiting for trainAt vectors says so. */
  index: string;
  kernels: string;
  /** Bytes held in memory: the index plus the record table (an estimate of JS object sizes). */
  memoryBytes: number;
  /** The search defaults in force ({} = the index's own; see setSearchDefaults). */
  searchDefaults: SearchDefaults;
  /** The index options with every parameter explicit (what a store of the same index is made with). */
  indexOptions: StoreIndexOptions;
}

/** An upsert as validated (owned vectors and metadata). */
export interface UpsertMutation { op: 'upsert'; ids: RecordId[]; vectors: Float32Array; metadata: (JsonValue | undefined)[] }

/** A validated, owned mutation: applying it cannot fail. */
export type Mutation =
  | UpsertMutation
  | { op: 'delete'; ids: RecordId[] }
  | { op: 'settings'; search: SearchDefaults };

/** Above this, automatic ids would stop being exact integers. */
const MAX_AUTO_ID = Number.MAX_SAFE_INTEGER;

/** A record id argument: a string or a non-negative safe integer. */
export function checkRecordId(id: unknown, where: string): RecordId {
  if (typeof id === 'string') return id;
  if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) return id;
  throw invalidArgument(`${where}: an id must be a string or a non-negative safe integer, got ${describe(id)}`, { where, received: describe(id) });
}

/** An array of record ids (never a string iterated character by character). */
export function checkRecordIds(ids: unknown, where: string): RecordId[] {
  if (!Array.isArray(ids)) throw invalidArgument(`${where}: ids must be an array of ids, got ${describe(ids)}${typeof ids === 'string' || typeof ids === 'number' ? ' (use delete(id) for one id)' : ''}`, { where, received: describe(ids) });
  return ids.map((id, i) => checkRecordId(id, `${where}[${i}]`));
}

/**
 * record id -> handle: numeric ids in an IdMap (4 bytes an id when they are dense), string ids in a
 * Map. The part of Map's surface the engine uses.
 */
class RecordIds {
  private readonly nums = new IdMap();
  private readonly strs = new Map<string, number>();
  /** Characters of the string ids held (for stats() without a walk over every id). */
  stringChars = 0;
  get size(): number { return this.nums.size + this.strs.size; }
  get stringIds(): number { return this.strs.size; }
  get(id: RecordId): number | undefined { return typeof id === 'number' ? this.nums.get(id) : this.strs.get(id); }
  has(id: RecordId): boolean { return this.get(id) !== undefined; }
  /** Sets id -> h; returns the handle it had before (one lookup less than get + set). */
  put(id: RecordId, h: number): number | undefined {
    if (typeof id === 'number') { const old = this.nums.get(id); this.nums.set(id, h); return old; }
    const old = this.strs.get(id);
    if (old === undefined) this.stringChars += id.length;
    this.strs.set(id, h);
    return old;
  }
  delete(id: RecordId): boolean {
    if (typeof id === 'number') return this.nums.delete(id);
    if (!this.strs.delete(id)) return false;
    this.stringChars -= id.length;
    return true;
  }
  *entries(): Generator<[RecordId, number]> { yield* this.nums.entries(); yield* this.strs.entries(); }
  *keys(): Generator<RecordId> { for (const [id] of this.entries()) yield id; }
  [Symbol.iterator](): Generator<[RecordId, number]> { return this.entries(); }
}

/** The store's options as stored (and compared on reopen): every index parameter made explicit. */
export interface ResolvedOptions { dim: number; metric: Metric; index: Record<string, unknown> }

/**
 * The state both stores share: the index over handles, the record table, and the rules of
 * validation and application. Internal: the public classes are VectorStore and DurableVectorStore.
 */
export class StoreEngine {
  readonly dim: number;
  readonly metric: Metric;
  readonly resolved: ResolvedOptions;
  index: FlatIndex | HnswIndex | IvfIndex;
  /** An IVF store's index while it waits for enough vectors to train (then `index` is flat). */
  ivfPending: { index: IvfIndex; trainAt: number } | null = null;
  /** record id -> handle (the index's id). */
  readonly handles = new RecordIds();
  /** handle -> record id (undefined for a free handle): an array, 8 bytes a record, not a Map. */
  private idOf: (RecordId | undefined)[] = [];
  /** handle -> metadata (undefined when a record has none). */
  private metaOf: (JsonValue | undefined)[] = [];
  /** Async searches in flight: settled (answered from the state they started on) before any change. */
  readonly reads = new PendingReads();
  /** Handles freed by deletes and replacements, reused first (so the tables stay dense). */
  private freeHandles: number[] = [];
  /** Handles ever assigned: [0, nextHandle). */
  nextHandle = 0;
  nextAuto = 0;
  /** Search parameters used when a search passes none (see SearchDefaults). */
  searchDefaults: Readonly<SearchDefaults> = Object.freeze({});
  /** ids named by validated mutations not applied yet (a durable store's queue): id -> count. */
  private readonly pending = new Map<number, number>();

  constructor(options: VectorStoreOptions, where = 'VectorStore') {
    if (options === undefined) throw invalidArgument(`${where}: options { dim } are required`, {});
    const o = checkOptions(options, ['dim', 'metric', 'index', 'backend'], where);
    this.dim = checkDim(o.dim, where);
    this.metric = checkMetric(o.metric, 'cosine', where);
    const backend = (o.backend as 'auto' | 'wasm' | 'js' | undefined) ?? 'auto';
    const idx = o.index === undefined ? { type: 'flat' } : o.index;
    const type = typeof idx === 'object' && idx !== null ? (idx as { type?: unknown }).type : idx;
    if (type === 'flat') {
      checkOptions(idx, ['type'], `${where}.index`);
      this.index = new FlatIndex({ dim: this.dim, metric: this.metric, backend });
      this.resolved = { dim: this.dim, metric: this.metric, index: { type: 'flat' } };
    } else if (type === 'hnsw') {
      const { type: _t, ...params } = checkOptions(idx, ['type', 'm', 'efConstruction', 'efSearch', 'quantization', 'seed'], `${where}.index`);
      const h = new HnswIndex({ dim: this.dim, metric: this.metric, backend, ...params });
      this.index = h;
      this.resolved = { dim: this.dim, metric: this.metric, index: { type: 'hnsw', m: h.m, efConstruction: h.efConstruction, efSearch: h.efSearch, quantization: h.quantization, ...(params.seed !== undefined ? { seed: params.seed } : {}) } };
    } else if (type === 'ivf') {
      const { type: _t, trainAt, ...params } = checkOptions(idx, ['type', 'nlist', 'nprobe', 'encoding', 'refine', 'refineFactor', 'trainAt'], `${where}.index`);
      // The store returns vectors from get(): keep exact ones unless told otherwise.
      const refine = params.refine ?? (params.encoding !== undefined && params.encoding !== 'flat');
      const ivf = new IvfIndex({ dim: this.dim, metric: this.metric, backend, ...(params as { nlist: number }), refine: refine as boolean });
      const need = ivf.minTrainSize;
      const at = trainAt === undefined ? Math.max(39 * ivf.nlist, 1000, need) : trainAt;
      if (typeof at !== 'number' || !Number.isSafeInteger(at) || at < need) {
        throw invalidArgument(`${where}.index: trainAt must be an integer ≥ ${need} (training ${describeIndex(ivf)} needs that many vectors), got ${describe(at)}`, { where, received: describe(at), min: need });
      }
      this.ivfPending = { index: ivf, trainAt: at };
      this.index = new FlatIndex({ dim: this.dim, metric: this.metric, backend });
      this.resolved = { dim: this.dim, metric: this.metric, index: { type: 'ivf', nlist: ivf.nlist, nprobe: ivf.nprobe, encoding: params.encoding ?? 'flat', refine: ivf.refine, ...(ivf.refine ? { refineFactor: ivf.refineFactor } : {}), trainAt: at } };
    } else {
      throw new NearestError('UNSUPPORTED', `${where}: index type ${describe(type)} is not available; allowed: flat, hnsw, ivf`, { received: describe(type), allowed: ['flat', 'hnsw', 'ivf'] });
    }
  }

  get size(): number { return this.handles.size; }

  /** Whether `id` exists or a queued mutation names it. */
  private taken(id: number): boolean { return this.handles.has(id) || this.pending.has(id); }

  private autoIds(n: number, where: string): number[] {
    const out: number[] = [];
    let next = this.nextAuto;
    while (out.length < n) {
      if (next > MAX_AUTO_ID) {
        throw new NearestError('CAPACITY_EXCEEDED', `${where}: automatic ids have reached 2^53 − 1 (ids above it are not exact integers); pass explicit ids with upsert`, { where, next });
      }
      if (!this.taken(next)) out.push(next);
      next++;
    }
    return out;
  }

  private metadataOf(list: readonly unknown[] | undefined, n: number, where: string): (JsonValue | undefined)[] {
    if (list === undefined) return new Array(n).fill(undefined);
    if (!Array.isArray(list) || list.length !== n) {
      throw invalidArgument(`${where}: got ${Array.isArray(list) ? list.length : describe(list)} metadata entries for ${n} vectors`, { where, expected: n });
    }
    return list.map((m, i) => canonicalMetadata(m, `${where}: metadata[${i}]`));
  }

  /** Validates `add(vector, metadata)`; reserves the auto id. */
  prepareAdd(vector: unknown, metadata: unknown, where: string): UpsertMutation {
    const v = toVector(vector, this.dim, where);
    const meta = canonicalMetadata(metadata, `${where}: metadata`);
    return this.reserveAuto({ op: 'upsert', ids: this.autoIds(1, where), vectors: v === vector ? v.slice() : v, metadata: [meta] });
  }

  /** Validates `addBatch(vectors, metadatas)`; reserves the auto ids. */
  prepareAddBatch(vectors: unknown, metadatas: unknown, where: string): UpsertMutation {
    const { data, n } = toRows(vectors as VectorsLike, this.dim, where);
    const meta = this.metadataOf(metadatas as unknown[] | undefined, n, where);
    return this.reserveAuto({ op: 'upsert', ids: this.autoIds(n, where), vectors: data === vectors ? data.slice() : data, metadata: meta });
  }

  /** Automatic ids continue after the largest numeric id seen. */
  private bumpAuto(ids: readonly RecordId[]): void {
    for (const id of ids) if (typeof id === 'number' && id >= this.nextAuto) this.nextAuto = id + 1;
  }

  private reserveAuto(m: UpsertMutation): UpsertMutation {
    this.bumpAuto(m.ids);
    return m;
  }

  /** Validates `upsert(records)`. */
  prepareUpsert(records: unknown, where: string): UpsertMutation {
    const list = Array.isArray(records) ? records : [records];
    const ids: RecordId[] = [];
    const seen = new Set<RecordId>();
    const vectors = new Float32Array(list.length * this.dim);
    const metadata: (JsonValue | undefined)[] = [];
    list.forEach((r, i) => {
      const at = Array.isArray(records) ? `${where}[${i}]` : where;
      if (typeof r !== 'object' || r === null) throw invalidArgument(`${at}: a record must be an object { id, vector, metadata? }, got ${describe(r)}`, { where: at });
      const rec = checkOptions(r, ['id', 'vector', 'metadata'], at);
      const id = checkRecordId(rec.id, at);
      if (seen.has(id)) throw new NearestError('DUPLICATE_ID', `${where}: id ${JSON.stringify(id)} appears twice in one call`, { id, position: i });
      seen.add(id);
      vectors.set(toVector(rec.vector, this.dim, at), i * this.dim);
      metadata.push(canonicalMetadata(rec.metadata, `${at}.metadata`));
      ids.push(id);
    });
    return this.reserveAuto({ op: 'upsert', ids, vectors, metadata });
  }

  /**
   * Validates `upsertRows(ids, vectors, metadata?)`: the columnar upsert — ids, row-major vectors
   * (n·dim, or an array of vectors) and optional metadata per row, without a record object per row.
   */
  prepareUpsertRows(ids: unknown, vectors: unknown, metadata: unknown, where: string): UpsertMutation {
    const list = checkRecordIds(ids, `${where}: ids`);
    const { data, n } = toRows(vectors as VectorsLike, this.dim, where);
    if (n !== list.length) throw invalidArgument(`${where}: got ${list.length} ids for ${n} vectors`, { where, expected: n, received: list.length });
    const seen = new Set<RecordId>();
    for (let i = 0; i < n; i++) {
      const id = list[i];
      if (seen.has(id)) throw new NearestError('DUPLICATE_ID', `${where}: id ${JSON.stringify(id)} appears twice in one call`, { id, position: i });
      seen.add(id);
    }
    const meta = this.metadataOf(metadata as unknown[] | undefined, n, where);
    return this.reserveAuto({ op: 'upsert', ids: list, vectors: data === vectors ? data.slice() : data, metadata: meta });
  }

  /**
   * Validates search defaults against this store's index: efSearch (1–100000) for hnsw; nprobe
   * (1–nlist) and refineFactor (1–65536, refine only) for ivf; nothing for flat. Unknown keys and
   * parameters of another index type are INVALID_ARGUMENT (never ignored).
   */
  checkSearchDefaults(defaults: unknown, where: string): SearchDefaults {
    if (typeof defaults !== 'object' || defaults === null || Array.isArray(defaults)) throw invalidArgument(`${where}: search defaults must be an object { efSearch } or { nprobe, refineFactor }, got ${describe(defaults)}`, { where });
    const o = checkOptions(defaults, ['efSearch', 'nprobe', 'refineFactor'], where);
    const ivf = this.index instanceof IvfIndex ? this.index : this.ivfPending?.index;
    const out: SearchDefaults = {};
    const int = (key: keyof SearchDefaults, max: number, applies: boolean, why: string) => {
      const v = o[key];
      if (v === undefined) return;
      if (!applies) throw invalidArgument(`${where}: ${key} applies to ${why} only; this store's index is ${this.describe()}`, { option: key });
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1 || v > max) throw invalidArgument(`${where}: ${key} must be an integer from 1 to ${max}, got ${describe(v)}`, { option: key, min: 1, max, received: describe(v) });
      out[key] = v;
    };
    int('efSearch', 100000, this.index instanceof HnswIndex, 'hnsw stores');
    int('nprobe', ivf?.nlist ?? 1, ivf !== undefined, 'ivf stores');
    int('refineFactor', 1 << 16, ivf?.refine === true, 'ivf stores with refine');
    return out;
  }

  /** Validates `setSearchDefaults(defaults)`. */
  prepareSettings(defaults: unknown, where: string): Mutation {
    return { op: 'settings', search: this.checkSearchDefaults(defaults, where) };
  }

  /** Validates `delete(id)` / `deleteMany(ids)`. */
  prepareDelete(ids: RecordId[]): Mutation {
    return { op: 'delete', ids: [...new Set(ids)] };
  }

  /** Marks a validated mutation as queued (its numeric ids count as taken for auto ids; strings never collide with them). */
  hold(m: Mutation): void {
    if (m.op !== 'upsert') return;
    for (const id of m.ids) if (typeof id === 'number') this.pending.set(id, (this.pending.get(id) ?? 0) + 1);
  }

  /** Undoes hold() (after apply or a failed write). */
  unhold(m: Mutation): void {
    if (m.op !== 'upsert') return;
    for (const id of m.ids) {
      if (typeof id !== 'number') continue;
      const c = this.pending.get(id)! - 1;
      if (c > 0) this.pending.set(id, c); else this.pending.delete(id);
    }
  }

  /** Applies a validated mutation; returns how many records a delete removed (0 for upserts). */
  apply(m: Mutation): number {
    this.reads.settleAll();
    if (m.op === 'settings') {
      this.searchDefaults = Object.freeze({ ...m.search });
      return 0;
    }
    if (m.op === 'delete') {
      let n = 0;
      const gone: number[] = [];
      for (const id of m.ids) {
        const h = this.handles.get(id);
        if (h === undefined) continue;
        gone.push(h); n++;
        this.handles.delete(id);
      }
      if (gone.length > 0) { this.index.remove(gone); this.release(gone); }
      return n;
    }
    const n = m.ids.length;
    const handles = new Float64Array(n);
    for (let i = 0; i < n; i++) handles[i] = this.freeHandles.length > 0 ? this.freeHandles.pop()! : this.nextHandle++;
    this.index.add(m.vectors, handles);
    const replaced: number[] = [];
    for (let i = 0; i < n; i++) {
      const id = m.ids[i], h = handles[i];
      const old = this.handles.put(id, h);
      if (old !== undefined) replaced.push(old);
      this.idOf[h] = id;
      this.metaOf[h] = m.metadata[i];
    }
    this.bumpAuto(m.ids); // for mutations replayed from a log (prepared ones reserved already)
    if (replaced.length > 0) { this.index.remove(replaced); this.release(replaced); }
    this.maybeTrain();
    return 0;
  }

  private release(handles: number[]): void {
    for (const h of handles) { this.idOf[h] = undefined; this.metaOf[h] = undefined; this.freeHandles.push(h); }
  }

  /** The metadata of a handle. */
  metadataAt(h: number): JsonValue | undefined { return this.metaOf[h]; }

  /** Every record as [id, handle, metadata], in handle order. */
  *records(): Generator<[RecordId, number, JsonValue | undefined]> {
    for (let h = 0; h < this.nextHandle; h++) { const id = this.idOf[h]; if (id !== undefined) yield [id, h, this.metaOf[h]]; }
  }

  /**
   * Restores the record table from a snapshot: call begin(nextHandle), then put() per record,
   * then end() (which rebuilds the free list). CORRUPT_FILE-worthy inconsistencies return false.
   */
  restoreBegin(nextHandle: number): void {
    this.nextHandle = nextHandle;
    this.idOf = new Array(nextHandle).fill(undefined);
    this.metaOf = new Array(nextHandle).fill(undefined);
  }
  restorePut(id: RecordId, h: number, metadata: JsonValue | undefined): boolean {
    this.reads.settleAll();
    if (h >= this.nextHandle || this.idOf[h] !== undefined || this.handles.has(id)) return false;
    this.handles.put(id, h); this.idOf[h] = id; this.metaOf[h] = metadata;
    return true;
  }
  restoreEnd(): void {
    this.freeHandles = [];
    for (let h = this.nextHandle - 1; h >= 0; h--) if (this.idOf[h] === undefined) this.freeHandles.push(h);
  }

  /** An IVF store trains on everything it holds once it holds `trainAt` vectors. */
  private maybeTrain(): void {
    const pending = this.ivfPending;
    if (!pending || this.index.size < pending.trainAt) return;
    const flat = this.index as FlatIndex;
    const handles = flat.ids();
    const rows = flat.rowView(0, handles.length).slice(); // storage order, the order of ids()
    pending.index.train(rows);
    pending.index.add(rows, handles);
    this.index = pending.index;
    this.ivfPending = null;
  }

  get(id: RecordId): StoredRecord<unknown> | undefined {
    const h = this.handles.get(id);
    if (h === undefined) return undefined;
    return { id, vector: this.index.get(h)!, metadata: this.metaOf[h] };
  }

  search(query: unknown, k: unknown, options: unknown, where: string): StoreHit<unknown>[] {
    const plan = this.planSearch(query, k, options, where, false);
    return plan === null ? [] : this.toStoreHits(this.searchHere(plan));
  }

  /** A planned search on this thread (IVF has no exact path of its own: scanExact). */
  private searchHere(plan: SearchPlan): SearchHit[] {
    const index = this.index;
    return index instanceof IvfIndex && plan.exact ? this.scanExact(plan) : index.search(plan.q, plan.k, plan.options);
  }

  /**
   * `search` off the calling thread (HNSW and flat indexes: a worker thread; IVF: this thread, for
   * now). In flight, it sees the store as it was when called: the next change settles it first.
   */
  searchAsync(query: unknown, k: unknown, options: unknown, where: string): Read<StoreHit<unknown>[]> {
    const plan = this.planSearch(query, k, options, where, true);
    const index = this.index;
    if (plan === null) return this.reads.start(null, 0, () => {}, () => []);
    let inner: Read<SearchHit[]>;
    if (index instanceof HnswIndex) inner = index.readAsync(plan.q, plan.k, plan.options, where, 'hits') as Read<SearchHit[]>;
    else if (index instanceof FlatIndex) inner = index.readAsync(plan.q, plan.k, plan.options, where);
    else {
      const hits = this.toStoreHits(this.searchHere(plan));
      return this.reads.start(null, 0, () => {}, () => hits);
    }
    return this.reads.derive(inner, (hits) => this.toStoreHits(hits));
  }

  /** Validates a search; null when the store is empty or `ids` names no record. */
  private planSearch(query: unknown, k: unknown, options: unknown, where: string, async: boolean): SearchPlan | null {
    const o = checkOptions(options, async ? [...SEARCH_OPTIONS, 'threads'] : SEARCH_OPTIONS, where);
    const q = toVector(query, this.dim, where);
    checkK(k, where);
    const predicate = o.filter === undefined ? null : compileFilter(o.filter);
    if (o.exact !== undefined && typeof o.exact !== 'boolean') throw invalidArgument(`${where}: exact must be a boolean, got ${describe(o.exact)}`, { option: 'exact' });
    const exact = o.exact === true;
    if (o.efSearch !== undefined && !(this.index instanceof HnswIndex)) throw invalidArgument(`${where}: efSearch applies to hnsw stores only`, { option: 'efSearch' });
    if (o.nprobe !== undefined && !(this.index instanceof IvfIndex) && !this.ivfPending) throw invalidArgument(`${where}: nprobe applies to ivf stores only`, { option: 'nprobe' });
    const ivf = this.index instanceof IvfIndex ? this.index : this.ivfPending?.index;
    if (o.refineFactor !== undefined && !ivf?.refine) throw invalidArgument(`${where}: refineFactor applies to ivf stores with refine only`, { option: 'refineFactor' });
    if (exact && (o.efSearch !== undefined || o.nprobe !== undefined || o.refineFactor !== undefined)) {
      throw invalidArgument(`${where}: an exact search takes no efSearch, nprobe or refineFactor`, { option: 'exact' });
    }
    let only: Set<number> | null = null;
    if (o.ids !== undefined) {
      if (!Array.isArray(o.ids)) throw invalidArgument(`${where}: ids must be an array of record ids, got ${describe(o.ids)}`, { option: 'ids' });
      only = new Set();
      for (const id of o.ids as unknown[]) {
        const h = this.handles.get(checkRecordId(id, `${where}.ids`));
        if (h !== undefined) only.add(h);
      }
    }
    if (this.handles.size === 0 || (only !== null && only.size === 0)) return null;
    const meta = this.metaOf;
    const admit = predicate && only ? (h: number) => only.has(h) && predicate(meta[h])
      : predicate ? (h: number) => predicate(meta[h]) : only ? (h: number) => only.has(h) : null;
    const indexOptions: Record<string, unknown> = admit ? { filter: admit } : {};
    const index = this.index;
    const d = this.searchDefaults;
    if (index instanceof HnswIndex) {
      const ef = o.efSearch ?? (exact ? undefined : d.efSearch);
      if (ef !== undefined) indexOptions.efSearch = ef;
      if (exact) indexOptions.exact = true;
    }
    if (index instanceof IvfIndex) {
      // (An IVF store waiting to train searches its flat index: exactly, so nprobe means nothing yet.)
      const nprobe = o.nprobe ?? d.nprobe, refineFactor = o.refineFactor ?? d.refineFactor;
      if (nprobe !== undefined) indexOptions.nprobe = nprobe;
      if (refineFactor !== undefined) indexOptions.refineFactor = refineFactor;
    } else if (o.threads !== undefined) indexOptions.threads = o.threads;
    return { q, k: k as number, options: indexOptions, exact, admit };
  }

  /** An exact scan for indexes without one of their own (IVF): every admitted record's vector. */
  private scanExact(plan: SearchPlan): SearchHit[] {
    const exact = new FlatIndex({ dim: this.dim, metric: this.metric, threads: 1 });
    const handles: number[] = [];
    for (const [, h] of this.handles) if (plan.admit === null || plan.admit(h)) handles.push(h);
    const rows = new Float32Array(handles.length * this.dim);
    for (let i = 0; i < handles.length; i++) rows.set(this.index.get(handles[i])!, i * this.dim);
    exact.add(rows, handles);
    return exact.search(plan.q, plan.k);
  }

  private toStoreHits(hits: readonly SearchHit[]): StoreHit<unknown>[] {
    const meta = this.metaOf, idOf = this.idOf;
    return hits.map((hit) => ({ id: idOf[hit.id]!, score: hit.score, distance: hit.distance, metadata: meta[hit.id] }));
  }

  /** The index as a factory string. */
  describe(): string {
    return this.ivfPending ? `${describeIndex(this.ivfPending.index)} (exact until ${this.ivfPending.trainAt} vectors, then trained)` : describeIndex(this.index);
  }

  stats(): StoreStats {
    // Record table: a map entry (~30 bytes) and two array slots per record, plus the id strings
    // (kept as a running count: stats() is O(1)).
    const idBytes = this.handles.stringIds * 16 + this.handles.stringChars * 2;
    return {
      size: this.size, dim: this.dim, metric: this.metric, index: this.describe(), kernels: this.index.kernels,
      memoryBytes: this.index.stats().memoryBytes + this.size * 30 + this.nextHandle * 16 + idBytes,
      searchDefaults: { ...this.searchDefaults },
      indexOptions: structuredClone(this.resolved.index) as StoreIndexOptions,
    };
  }

  /**
   * Rebuilds the index from the records (a reindex, or an engine restored from a snapshot). Graph
   * and flat indexes are filled in batches of about 2% (each on all the index's threads), reporting
   * `onProgress(done, total)` after each; an IVF index trains on everything, so it is one batch.
   */
  adoptIndexFrom(other: StoreEngine, onProgress?: (done: number, total: number) => void): void {
    const n = other.size;
    const ids: RecordId[] = new Array(n), vectors = new Float32Array(n * this.dim), metadata: (JsonValue | undefined)[] = new Array(n);
    let i = 0;
    for (const [id, h] of other.handles) {
      ids[i] = id; vectors.set(other.index.get(h)!, i * this.dim); metadata[i] = other.metaOf[h]; i++;
    }
    const step = this.ivfPending ? Math.max(n, 1) : Math.max(4096, Math.ceil(n / 50));
    onProgress?.(0, n);
    for (let from = 0; from < n; from += step) {
      const to = Math.min(n, from + step);
      this.apply({ op: 'upsert', ids: ids.slice(from, to), vectors: vectors.subarray(from * this.dim, to * this.dim), metadata: metadata.slice(from, to) });
      onProgress?.(to, n);
    }
    this.nextAuto = Math.max(this.nextAuto, other.nextAuto);
  }
}

/** The read side both stores share. */
export abstract class StoreReads<M = unknown> {
  /** @internal */
  protected abstract readonly engine: StoreEngine;
  /** @internal Throws when reads are no longer allowed (a closed durable store). */
  protected readable(_where: string): void {}

  /** Vector dimension. */
  get dim(): number { return this.engine.dim; }
  /** The metric. */
  get metric(): Metric { return this.engine.metric; }
  /** Records held. */
  get size(): number { return this.engine.size; }
  /** The kernel backend in use. */
  get kernels(): string { return this.engine.index.kernels; }

  /** The record of an id (vector copied, metadata frozen), or undefined. */
  get(id: RecordId): StoredRecord<M> | undefined {
    this.readable('get');
    return this.engine.get(checkRecordId(id, `${this.constructor.name}.get`)) as StoredRecord<M> | undefined;
  }

  /** The metadata of an id (frozen; undefined when the record has none or is absent), without copying its vector. */
  metadataOf(id: RecordId): M | undefined {
    this.readable('metadataOf');
    const h = this.engine.handles.get(checkRecordId(id, `${this.constructor.name}.metadataOf`));
    return h === undefined ? undefined : this.engine.metadataAt(h) as M | undefined;
  }

  /** Whether an id is present. */
  has(id: RecordId): boolean { this.readable('has'); return this.engine.handles.has(checkRecordId(id, `${this.constructor.name}.has`)); }

  /** Every id, in no particular order. */
  keys(): RecordId[] { this.readable('keys'); return [...this.engine.handles.keys()]; }

  /** Every record's id and metadata (frozen; no vectors are copied), in internal handle order. */
  *entries(): Generator<[RecordId, M | undefined]> {
    this.readable('entries');
    for (const [id, , meta] of this.engine.records()) yield [id, meta as M | undefined];
  }

  /** How many records match a metadata filter (all records without one). */
  count(filter?: Record<string, unknown>): number {
    this.readable('count');
    if (filter === undefined) return this.engine.size;
    const match = compileFilter(filter);
    let n = 0;
    for (const [, , meta] of this.engine.records()) if (match(meta)) n++;
    return n;
  }

  /**
   * The k records most similar to `query`, best first (exact ties in a deterministic order: by
   * internal handle, which deletes free for reuse).
   * With a filter, only matching records are considered and k come back whenever k match.
   */
  search(query: VectorLike, k: number, options?: StoreSearchOptions): StoreHit<M>[] {
    this.readable('search');
    return this.engine.search(query, k, options, `${this.constructor.name}.search`) as StoreHit<M>[];
  }

  /**
   * `search` off the calling thread, so the event loop stays free: HNSW and flat stores search on
   * a worker thread over the same memory (IVF stores, for now, on this one). It answers for the
   * store as it was when called: a write that comes while it is in flight waits for it (a search
   * sees all of a write or none of it).
   */
  searchAsync(query: VectorLike, k: number, options?: StoreAsyncSearchOptions): Promise<StoreHit<M>[]> {
    try {
      this.readable('searchAsync');
      return this.engine.searchAsync(query, k, options, `${this.constructor.name}.searchAsync`).promise as Promise<StoreHit<M>[]>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Size, dim, metric, the index as a factory string, kernels and memory. */
  stats(): StoreStats { return this.engine.stats(); }
}

/**
 * An in-memory vector store. Auto ids (from `add`/`addBatch`) are 0, 1, 2, … (skipping numbers
 * taken by `upsert`). Every call validates all its input before changing anything, so a call that
 * throws leaves the store as it was. Metadata must be JSON (stored as a frozen deep copy).
 */
export class VectorStore<M = unknown> extends StoreReads<M> {
  /** @internal */
  protected readonly engine: StoreEngine;

  constructor(options: VectorStoreOptions) {
    super();
    this.engine = new StoreEngine(options);
  }

  /**
   * Opens (or creates) a durable store in directory `dir` (Node.js): every mutation's promise
   * resolves only once it is on disk (write-ahead log, fsync, group commit). `dim` is required only
   * to create one; see DurableVectorStore.
   */
  static async open<M = unknown>(dir: string, options?: DurableOptions): Promise<DurableVectorStore<M>> {
    const { DurableVectorStore } = await import('./durable-store.js');
    return DurableVectorStore.open<M>(dir, options);
  }

  /**
   * Rebuilds a damaged durable store's log (Node.js): keeps every intact record, also those after
   * the damage, and saves the damaged bytes beside it; see DurableVectorStore.repair.
   */
  static async repair(dir: string, options?: { fileSystem?: import('../io/fs.js').FileSystem }): Promise<import('./durable-store.js').RepairReport> {
    const { DurableVectorStore } = await import('./durable-store.js');
    return DurableVectorStore.repair(dir, options);
  }

  /** Adds one vector with optional metadata; returns its auto id. */
  add(vector: VectorLike, metadata?: M): number {
    const m = this.engine.prepareAdd(vector, metadata, 'VectorStore.add');
    this.engine.apply(m);
    return m.ids[0] as number;
  }

  /** Adds many vectors (array of vectors or row-major Float32Array) with optional metadata; returns their auto ids. */
  addBatch(vectors: VectorsLike, metadatas?: readonly (M | undefined)[]): number[] {
    const m = this.engine.prepareAddBatch(vectors, metadatas, 'VectorStore.addBatch');
    this.engine.apply(m);
    return m.ids as number[];
  }

  /**
   * Inserts or replaces records `{ id, vector, metadata }` (one or an array). All records are
   * validated first; an id repeated within the call is DUPLICATE_ID.
   */
  upsert(records: StoreRecord<M> | readonly StoreRecord<M>[]): void {
    this.engine.apply(this.engine.prepareUpsert(records, 'VectorStore.upsert'));
  }

  /**
   * Columnar `upsert` for bulk loads: `ids[i]` gets row i of `vectors` (a row-major Float32Array
   * of n·dim values, or an array of vectors) and `metadata?.[i]`. The same checks and semantics
   * as `upsert`, without an object per record.
   */
  upsertRows(ids: readonly RecordId[], vectors: VectorsLike, metadata?: readonly (M | undefined)[]): void {
    this.engine.apply(this.engine.prepareUpsertRows(ids, vectors, metadata, 'VectorStore.upsertRows'));
  }

  /**
   * Sets the search parameters used by searches that pass none of their own: `{ efSearch }` for an
   * hnsw store, `{ nprobe, refineFactor }` for an ivf one; `{}` restores the index's own. Replaces
   * the previous defaults whole. INVALID_ARGUMENT for a parameter the index does not have.
   */
  setSearchDefaults(defaults: SearchDefaults): void {
    this.engine.apply(this.engine.prepareSettings(defaults, 'VectorStore.setSearchDefaults'));
  }

  /** Deletes a record; returns whether it existed. */
  delete(id: RecordId): boolean {
    return this.engine.apply(this.engine.prepareDelete([checkRecordId(id, 'VectorStore.delete')])) === 1;
  }

  /** Deletes records (an array of ids); returns how many existed. */
  deleteMany(ids: readonly RecordId[]): number {
    return this.engine.apply(this.engine.prepareDelete(checkRecordIds(ids, 'VectorStore.deleteMany')));
  }
}
