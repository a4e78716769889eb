// What the framework adapters (nearest/langchain, nearest/llamaindex) share: the record layout of a
// document in a nearest store, metadata as JSON, copies of stored values, and saving a store to a
// directory / copying one out of it.
//
// A document is one record of the store: its id (a string), its embedding, and as the record's
// metadata `{ pageContent, metadata, ... }` (an adapter may keep more fields beside these two), so
// that a durable store holds everything a search hands back and a store one adapter wrote reads
// with the other. Like the adapters, this module imports only the package's public API.
import {
  FlatIndex, NearestError, VectorStore,
  type DurableVectorStore, type JsonValue, type Metric, type RecordId, type StoreHit, type StoreIndexOptions, type StoreSearchOptions,
} from '../index.js';

/** What the store keeps per document (an adapter may add fields). */
export interface DocRecord {
  pageContent: string;
  metadata: Record<string, JsonValue>;
}

/** A nearest store in memory or durable. */
export type AnyStore<R> = VectorStore<R> | DurableVectorStore<R>;

/**
 * Values (rows × dim) up to which an exact scan runs on the calling thread: about 0.1 ms of work,
 * less than handing the search to a worker thread and waking up for its answer.
 */
const INLINE_SCAN_VALUES = 1 << 20;

/** Stores whose index scans every row (flat), by store; an IVF store still exact until trained is not cached. */
const scans = new WeakMap<object, boolean>();

/**
 * A search, on the calling thread when it is short, on a worker thread (`searchAsync`) when it is
 * long. A graph or IVF search, or a scan of at most INLINE_SCAN_VALUES values, costs tens of
 * microseconds: handing it to a worker would cost more than it does (LangChain's HNSWLib, for one,
 * searches on the calling thread too). A long exact scan goes to a worker, so the event loop stays
 * free while it runs. Both give the same hits.
 */
export function searchStore<R>(store: AnyStore<R>, query: number[] | Float32Array, k: number, options: StoreSearchOptions): Promise<StoreHit<R>[]> {
  let scan = scans.get(store);
  if (scan === undefined) {
    const index = store.stats().index;
    scan = index === 'Flat' || index.includes('exact until');
    if (!index.includes('exact until')) scans.set(store, scan);
  }
  const rows = options.ids !== undefined ? options.ids.length : scan ? store.size : 0;
  if (rows * store.dim <= INLINE_SCAN_VALUES) {
    try {
      return Promise.resolve(store.search(query, k, options));
    } catch (e) {
      return Promise.reject(e);
    }
  }
  return store.searchAsync(query, k, options);
}

/** Records per write when copying a store (save / load). */
const COPY_BATCH = 4096;

/** An INVALID_ARGUMENT error of an adapter's NearestVectorStore (`message` starts with the method's name). */
export function invalid(message: string, details: Record<string, unknown> = {}): NearestError {
  return new NearestError('INVALID_ARGUMENT', `NearestVectorStore.${message}`, details);
}

/** The constructor's options, checked: an object (or nothing) of these keys, with a non-empty `directory` if any. */
export function checkOptions<O extends { directory?: string }>(options: unknown, keys: readonly string[]): O {
  if (options === undefined || options === null) return {} as O;
  if (typeof options !== 'object' || Array.isArray(options)) throw invalid('constructor: options must be an object', {});
  for (const key of Object.keys(options)) {
    if (!keys.includes(key)) throw invalid(`constructor: unknown option "${key}" (allowed: ${keys.join(', ')})`, { option: key, allowed: keys });
  }
  const o = options as O;
  if (o.directory !== undefined && (typeof o.directory !== 'string' || o.directory === '')) throw invalid('constructor: directory must be a non-empty path', { option: 'directory' });
  return o;
}

/** A count (k, fetchK, similarityTopK): an integer ≥ 0. */
export function checkCount(n: unknown, name: string, where: string): number {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw invalid(`${where}: ${name} must be an integer ≥ 0, got ${String(n)}`, { option: name, received: n });
  return n;
}

/** Metadata as JSON: object properties that are undefined are dropped (as JSON.stringify does); the store refuses anything else JSON cannot hold. */
export function jsonMetadata(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(jsonMetadata);
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = jsonMetadata(v);
  return out;
}

/**
 * A mutable deep copy of frozen stored JSON (plain objects, arrays and primitives: what the store
 * keeps). A hand-written walk: structuredClone costs microseconds per call, as much as a search.
 */
export function thaw<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(thaw) as T;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const v = thaw((value as Record<string, unknown>)[key]);
    // An own "__proto__" key (JSON.parse makes them) stays a key instead of setting the prototype.
    if (key === '__proto__') Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
    else out[key] = v;
  }
  return out as T;
}

/** The page content and metadata of a stored record (a record the CLI or server wrote has only metadata). */
export function unpack<R extends DocRecord = DocRecord>(stored: unknown): R {
  const r = stored as Partial<DocRecord> | undefined;
  if (r && typeof r === 'object' && typeof r.pageContent === 'string' && r.metadata && typeof r.metadata === 'object') return r as R;
  return { pageContent: '', metadata: (stored && typeof stored === 'object' && !Array.isArray(stored) ? stored : {}) as Record<string, JsonValue> } as R;
}

/** Copies every record of a store, COPY_BATCH at a time. */
export async function copyRecords<R>(from: AnyStore<R>, write: (records: { id: RecordId; vector: Float32Array; metadata: R | undefined }[]) => unknown): Promise<void> {
  let batch: { id: RecordId; vector: Float32Array; metadata: R | undefined }[] = [];
  for (const [id, metadata] of from.entries()) {
    batch.push({ id, vector: from.get(id)!.vector, metadata });
    if (batch.length === COPY_BATCH) { await write(batch); batch = []; }
  }
  if (batch.length > 0) await write(batch);
}

/**
 * Writes `store` to `directory` in nearest's durable format (a temporary directory beside it,
 * compacted, then renamed over it), replacing a store saved there before; refuses a directory
 * that holds anything else (the error names `where`). A durable store saved to its own
 * directory (`ownDirectory`) compacts itself instead.
 */
export async function saveStore<R>(store: AnyStore<R>, directory: string, ownDirectory: string | undefined, where: string): Promise<void> {
  const fs = await import('node:fs/promises');
  const path = await import('node:path');
  const target = path.resolve(directory);
  if (ownDirectory !== undefined && path.resolve(ownDirectory) === target) {
    await (store as DurableVectorStore<R>).compact();
    return;
  }
  const existing = await fs.readdir(target).catch((e: NodeJS.ErrnoException) => { if (e.code === 'ENOENT') return null; throw e; });
  if (existing && existing.length > 0 && !existing.includes('snapshot.nrst')) {
    throw invalid(`${where}: ${target} exists and is not a nearest store directory (refusing to replace it)`, { directory: target });
  }
  const tmp = `${target}.tmp-${crypto.randomUUID()}`;
  const stats = store.stats();
  const out = await VectorStore.open<R>(tmp, { dim: store.dim, metric: store.metric, index: stats.indexOptions });
  try {
    await copyRecords(store, (records) => out.upsert(records));
    await out.compact();
  } finally {
    await out.close();
  }
  if (existing) {
    const old = `${target}.old-${crypto.randomUUID()}`;
    await fs.rename(target, old);
    await fs.rename(tmp, target);
    await fs.rm(old, { recursive: true, force: true });
  } else {
    await fs.rename(tmp, target);
  }
}

/** What an adapter's store is made of (the options of its constructor that reach VectorStore). */
export interface StoreSpec {
  dim?: number | undefined;
  metric?: Metric | undefined;
  index?: StoreIndexOptions | undefined;
  directory?: string | undefined;
  backend?: 'auto' | 'wasm' | 'js' | undefined;
}

/**
 * The store of an adapter, made when first needed: an in-memory store takes its dim from the
 * first vector (unless `dim` is given); a durable one opens `directory` on first use and creates
 * it on the first write. Opening is serialized (a first write and a search may race).
 */
export class StoreHandle<R> {
  store: AnyStore<R> | null = null;
  private opening: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(private readonly spec: StoreSpec, private readonly closedError: () => NearestError) {
    // Validate metric, index and backend now, not at the first write (a one-dimensional store is cheap).
    new VectorStore({ dim: spec.dim ?? 1, ...this.given() });
  }

  private given() {
    const { metric, index, backend } = this.spec;
    return { ...(metric ? { metric } : {}), ...(index ? { index } : {}), ...(backend ? { backend } : {}) };
  }

  /** The store, opened or created as needed; null while there is none and no dim to make one with. */
  ensure(dimHint?: number): Promise<AnyStore<R> | null> {
    if (this.closed) return Promise.reject(this.closedError());
    if (this.store) return Promise.resolve(this.store);
    const next = this.opening.then(async () => {
      if (!this.store) this.store = await this.create(dimHint);
      return this.store;
    });
    this.opening = next.catch(() => {});
    return next;
  }

  private async create(dimHint?: number): Promise<AnyStore<R> | null> {
    const { dim, directory } = this.spec;
    const given = this.given();
    const d = dim ?? dimHint;
    if (directory === undefined) return d === undefined ? null : new VectorStore<R>({ dim: d, ...given });
    try {
      // Without a dim the stored one is used (and a missing store is NOT_FOUND).
      return await VectorStore.open<R>(directory, { ...given, ...(dim !== undefined ? { dim } : {}) });
    } catch (e) {
      if (!(e instanceof NearestError && e.code === 'NOT_FOUND' && dim === undefined)) throw e;
      return dimHint === undefined ? null : VectorStore.open<R>(directory, { ...given, dim: dimHint });
    }
  }

  /** Closes a durable store (releases the directory's lock). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.opening;
    this.closed = true;
    const store = this.store;
    if (store && 'close' in store) await store.close();
  }
}

/**
 * The vectors of these records as MMR candidates: `rows` (row-major, one per record, in order) and
 * `sims(v)`, the cosine similarity of `v` to every candidate by position, computed by our kernels.
 */
export function cosineCandidates<R>(store: AnyStore<R>, ids: readonly RecordId[], backend?: 'auto' | 'wasm' | 'js'): { rows: Float32Array; sims: (v: ArrayLike<number>) => Float64Array } {
  const n = ids.length;
  const cands = new FlatIndex({ dim: store.dim, metric: 'cosine', threads: 1, ...(backend ? { backend } : {}) });
  const rows = new Float32Array(n * store.dim);
  ids.forEach((id, i) => rows.set(store.get(id)!.vector, i * store.dim));
  cands.add(rows);
  const sims = (v: ArrayLike<number>) => {
    const out = new Float64Array(n);
    for (const hit of cands.search(v as number[], n)) out[hit.id] = hit.score;
    return out;
  };
  return { rows, sims };
}
