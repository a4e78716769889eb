// VectorStore: the in-memory store of a semantic-search app — records with string or numeric ids,
// a vector and metadata, searched by similarity with MongoDB-style metadata filters applied during
// the search. Built on an exact FlatIndex over internal handles.
import { NearestError, invalidArgument } from '../errors.js';
import type { Metric } from '../distance/metric.js';
import { FlatIndex } from '../indexes/flat.js';
import { HnswIndex } from '../indexes/hnsw/hnsw-index.js';
import { IvfIndex, type IvfEncoding } from '../indexes/ivf/ivf-index.js';
import { checkDim, checkK, checkMetric, checkOptions, describe, toRows, toVector, type VectorLike, type VectorsLike } from '../indexes/validate.js';
import { compileFilter } from './filter.js';
import { storeOpener } from './open-hook.js';

/** A record id: a string or a non-negative safe integer. */
export type RecordId = string | number;

/** A record as passed to `upsert`. */
export interface StoreRecord<M = unknown> {
  id: RecordId;
  vector: VectorLike;
  metadata?: M;
}

/** A record as returned by `get`. */
export interface StoredRecord<M = unknown> {
  id: RecordId;
  vector: Float32Array;
  metadata: M | undefined;
}

/** One hit of `VectorStore.search`, best first. */
export interface StoreHit<M = unknown> {
  id: RecordId;
  /** Higher is more similar. */
  score: number;
  /** Lower is more similar. */
  distance: number;
  metadata: M | undefined;
}

/** Options of `new VectorStore(...)`. */
export interface VectorStoreOptions {
  /** Vector dimension. */
  dim: number;
  /** Default 'cosine'. */
  metric?: Metric;
  /**
   * The index behind the store: `{ type: 'flat' }` (exact, the default — right for small stores) or
   * `{ type: 'hnsw', m, efConstruction, efSearch, quantization, seed }` (approximate, for large ones).
   */
  index?: StoreIndexOptions;
  /** Kernel backend ('auto' | 'wasm' | 'js'). */
  backend?: 'auto' | 'wasm' | 'js';
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

/** A store's content as plain data (for io/ snapshots): the index and the record table. */
export interface StoreState {
  options: { dim: number; metric: Metric; index?: StoreIndexOptions };
  index: FlatIndex | HnswIndex | IvfIndex;
  /** [record id, handle, metadata] per record. */
  records: [RecordId, number, unknown][];
  nextHandle: number;
  nextAuto: number;
  /** Whether an IVF store is still waiting for trainAt vectors. */
  ivfPending: boolean;
}

/** Options of `VectorStore.search`. */
export interface StoreSearchOptions {
  /** A metadata filter ($eq $ne $gt $gte $lt $lte $in $nin $exists $and $or $not), applied during the search. */
  filter?: Record<string, unknown>;
  /** HNSW beam width for this call (hnsw stores only). */
  efSearch?: number;
  /** IVF lists to scan for this call (ivf stores only, once trained). */
  nprobe?: number;
}

function checkRecordId(id: unknown, where: string): RecordId {
  if (typeof id === 'string') return id;
  if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) return id;
  throw invalidArgument(`${where}: id must be a string or a non-negative safe integer, got ${describe(id)}`, { where, received: String(id) });
}

/**
 * An in-memory vector store. Auto ids (from `add`/`addBatch`) are insertion positions 0, 1, 2, …
 * (skipping numbers already taken by `upsert`). Every call validates all its input before changing
 * anything, so a call that throws leaves the store as it was.
 */
export class VectorStore<M = unknown> {
  readonly dim: number;
  readonly metric: Metric;
  private index: FlatIndex | HnswIndex | IvfIndex;
  /** An IVF store's index while it waits for enough vectors to train (then `index` is flat). */
  private ivfPending: { index: IvfIndex; trainAt: number } | null = null;
  /** record id -> handle (the FlatIndex id). */
  private readonly handles = new Map<RecordId, number>();
  /** handle -> record id and metadata. */
  private readonly records = new Map<number, { id: RecordId; metadata: M | undefined }>();
  private nextHandle = 0;
  private nextAuto = 0;

  private readonly options: VectorStoreOptions;

  constructor(options: VectorStoreOptions) {
    this.options = options;
    const o = checkOptions(options, ['dim', 'metric', 'index', 'backend'], 'VectorStore');
    if (options === undefined) throw invalidArgument('VectorStore: options { dim } are required', {});
    this.dim = checkDim(o.dim, 'VectorStore');
    this.metric = checkMetric(o.metric, 'cosine', 'VectorStore');
    const backend = (o.backend as 'auto' | 'wasm' | 'js' | undefined) ?? 'auto';
    const type = o.index === undefined ? 'flat' : (o.index as { type?: unknown }).type;
    if (type === 'flat') {
      checkOptions(o.index, ['type'], 'VectorStore.index');
      this.index = new FlatIndex({ dim: this.dim, metric: this.metric, backend });
    } else if (type === 'hnsw') {
      const { type: _type, ...params } = checkOptions(o.index, ['type', 'm', 'efConstruction', 'efSearch', 'quantization', 'seed'], 'VectorStore.index');
      this.index = new HnswIndex({ dim: this.dim, metric: this.metric, backend, ...params });
    } else if (type === 'ivf') {
      const { type: _type, trainAt, ...params } = checkOptions(o.index, ['type', 'nlist', 'nprobe', 'encoding', 'refine', 'refineFactor', 'trainAt'], 'VectorStore.index');
      // The store returns vectors from get(): keep exact ones unless told otherwise.
      const refine = params.refine ?? (params.encoding !== undefined && params.encoding !== 'flat');
      const ivf = new IvfIndex({ dim: this.dim, metric: this.metric, backend, ...(params as { nlist: number }), refine: refine as boolean });
      const at = trainAt === undefined ? Math.max(39 * ivf.nlist, 1000) : trainAt;
      if (typeof at !== 'number' || !Number.isInteger(at) || at < ivf.nlist) {
        throw invalidArgument(`VectorStore.index: trainAt must be an integer ≥ nlist (${ivf.nlist}), got ${describe(at)}`, { received: at });
      }
      this.ivfPending = { index: ivf, trainAt: at };
      this.index = new FlatIndex({ dim: this.dim, metric: this.metric, backend });
    } else {
      throw new NearestError('UNSUPPORTED', `VectorStore: index type ${describe(type)} is not available; allowed: flat, hnsw, ivf`, { received: type, allowed: ['flat', 'hnsw', 'ivf'] });
    }
  }

  /** Records held. */
  get size(): number { return this.records.size; }

  /**
   * Opens (or creates) a durable store in directory `dir` (Node.js): every mutation's promise
   * resolves only once it is on disk (write-ahead log, fsync, group commit); see DurableVectorStore.
   */
  static open<M = unknown>(dir: string, options: VectorStoreOptions & { readOnly?: boolean; compactBytes?: number }): Promise<import('../io/durable-store.js').DurableVectorStore<M>> {
    return storeOpener()(dir, options) as Promise<import('../io/durable-store.js').DurableVectorStore<M>>;
  }

  /** The store as plain data (io/ writes it into snapshots). */
  exportState(): StoreState {
    const records: [RecordId, number, unknown][] = [];
    for (const [handle, r] of this.records) records.push([r.id, handle, r.metadata]);
    return {
      options: { dim: this.dim, metric: this.metric, ...(this.options.index ? { index: this.options.index } : {}) },
      index: this.index, records, nextHandle: this.nextHandle, nextAuto: this.nextAuto, ivfPending: this.ivfPending !== null,
    };
  }

  /** Rebuilds a store from exportState() output (io/ snapshots). */
  static fromState<M>(s: StoreState, backend?: 'auto' | 'wasm' | 'js'): VectorStore<M> {
    const store = new VectorStore<M>({ ...s.options, ...(backend ? { backend } : {}) });
    if (s.ivfPending) {
      if (!(s.index instanceof FlatIndex)) throw invalidArgument('VectorStore.fromState: a pending IVF store holds a flat index', {});
    } else if (store.ivfPending) store.ivfPending = null;
    store.index = s.index;
    for (const [id, handle, metadata] of s.records) {
      store.handles.set(id, handle);
      store.records.set(handle, { id, metadata: metadata as M });
    }
    store.nextHandle = s.nextHandle;
    store.nextAuto = s.nextAuto;
    return store;
  }

  /** The kernel backend in use. */
  get kernels(): string { return this.index.kernels; }

  private autoIds(n: number): number[] {
    const ids: number[] = [];
    let next = this.nextAuto;
    while (ids.length < n) {
      if (!this.handles.has(next)) ids.push(next);
      next++;
    }
    return ids;
  }

  /** Adds one vector with optional metadata; returns its auto id. */
  add(vector: VectorLike, metadata?: M): number {
    const v = toVector(vector, this.dim, 'VectorStore.add');
    const [id] = this.autoIds(1);
    this.insert([id], v, [metadata]);
    return id;
  }

  /** Adds many vectors (array of vectors or row-major Float32Array) with optional metadata; returns their auto ids. */
  addBatch(vectors: VectorsLike, metadatas?: readonly (M | undefined)[]): number[] {
    const { data, n } = toRows(vectors, this.dim, 'VectorStore.addBatch');
    if (metadatas !== undefined && (!Array.isArray(metadatas) || metadatas.length !== n)) {
      throw invalidArgument(`VectorStore.addBatch: got ${Array.isArray(metadatas) ? metadatas.length : describe(metadatas)} metadata entries for ${n} vectors`, { expected: n });
    }
    const ids = this.autoIds(n);
    this.insert(ids, data, metadatas ?? new Array(n).fill(undefined));
    return ids;
  }

  private insert(ids: RecordId[], data: Float32Array, metadatas: readonly (M | undefined)[]): void {
    const handles = new Float64Array(ids.length);
    for (let i = 0; i < ids.length; i++) handles[i] = this.nextHandle + i;
    this.index.add(data, handles);
    this.nextHandle += ids.length;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      this.handles.set(id, handles[i]);
      this.records.set(handles[i], { id, metadata: metadatas[i] });
      if (typeof id === 'number' && id >= this.nextAuto) this.nextAuto = id + 1;
    }
    this.maybeTrain();
  }

  /** An IVF store trains on everything it holds once it holds `trainAt` vectors. */
  private maybeTrain(): void {
    const pending = this.ivfPending;
    if (!pending || this.index.size < pending.trainAt) return;
    const flat = this.index as FlatIndex;
    const handles = flat.ids();
    const rows = new Float32Array(handles.length * this.dim);
    handles.forEach((h, i) => rows.set(flat.get(h)!, i * this.dim));
    pending.index.train(rows);
    pending.index.add(rows, handles);
    this.index = pending.index;
    this.ivfPending = null;
  }

  /**
   * Inserts or replaces records `{ id, vector, metadata }` (one or an array). All records are
   * validated first; an id repeated within the call is DUPLICATE_ID.
   */
  upsert(records: StoreRecord<M> | readonly StoreRecord<M>[]): void {
    const list = Array.isArray(records) ? records as readonly StoreRecord<M>[] : [records as StoreRecord<M>];
    const ids: RecordId[] = [];
    const seen = new Set<RecordId>();
    const data = new Float32Array(list.length * this.dim);
    const metadatas: (M | undefined)[] = [];
    list.forEach((r, i) => {
      const rec = checkOptions(r, ['id', 'vector', 'metadata'], `VectorStore.upsert[${i}]`);
      const id = checkRecordId(rec.id, `VectorStore.upsert[${i}]`);
      if (seen.has(id)) throw new NearestError('DUPLICATE_ID', `VectorStore.upsert: id ${JSON.stringify(id)} appears twice in one call`, { id, position: i });
      seen.add(id);
      data.set(toVector(rec.vector, this.dim, `VectorStore.upsert[${i}]`), i * this.dim);
      ids.push(id);
      metadatas.push(rec.metadata as M | undefined);
    });
    const replaced: number[] = [];
    for (const id of ids) {
      const h = this.handles.get(id);
      if (h !== undefined) replaced.push(h);
    }
    this.insert(ids, data, metadatas);
    this.index.remove(replaced);
    for (const h of replaced) this.records.delete(h);
  }

  /** The record of an id, or undefined. */
  get(id: RecordId): StoredRecord<M> | undefined {
    const h = this.handles.get(id);
    if (h === undefined) return undefined;
    return { id, vector: this.index.get(h)!, metadata: this.records.get(h)!.metadata };
  }

  /** Whether an id is present. */
  has(id: RecordId): boolean { return this.handles.has(id); }

  /** Deletes a record; returns whether it existed. */
  delete(id: RecordId): boolean {
    const h = this.handles.get(id);
    if (h === undefined) return false;
    this.index.remove([h]);
    this.handles.delete(id);
    this.records.delete(h);
    return true;
  }

  /**
   * The k records most similar to `query`, best first (ties: earlier insertion first). With a
   * filter, only matching records are considered and k come back whenever k match.
   */
  search(query: VectorLike, k: number, options?: StoreSearchOptions): StoreHit<M>[] {
    const o = checkOptions(options, ['filter', 'efSearch', 'nprobe'], 'VectorStore.search');
    const q = toVector(query, this.dim, 'VectorStore.search');
    checkK(k, 'VectorStore.search');
    const predicate = o.filter === undefined ? null : compileFilter(o.filter);
    if (this.records.size === 0) return [];
    const records = this.records;
    const filter = predicate ? { filter: (h: number) => predicate(records.get(h)!.metadata) } : {};
    let hits;
    if (o.efSearch !== undefined && !(this.index instanceof HnswIndex)) throw invalidArgument('VectorStore.search: efSearch applies to hnsw stores only', { option: 'efSearch' });
    if (o.nprobe !== undefined && !(this.index instanceof IvfIndex) && !this.ivfPending) throw invalidArgument('VectorStore.search: nprobe applies to ivf stores only', { option: 'nprobe' });
    if (this.index instanceof HnswIndex) hits = this.index.search(q, k, o.efSearch === undefined ? filter : { ...filter, efSearch: o.efSearch as number });
    else if (this.index instanceof IvfIndex) hits = this.index.search(q, k, o.nprobe === undefined ? filter : { ...filter, nprobe: o.nprobe as number });
    else hits = this.index.search(q, k, filter);
    return hits.map((hit) => {
      const r = records.get(hit.id)!;
      return { id: r.id, score: hit.score, distance: hit.distance, metadata: r.metadata };
    });
  }
}
