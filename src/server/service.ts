// The service layer of the server: collections, records and searches over one Database, in the
// package's own vocabulary (RecordId, Float32Array vectors, Mongo-style filters, NearestError).
// Every wire API (native /v1 today; Qdrant- and Chroma-compatible ones beside it later) translates
// its requests into these calls and their results into its own shapes: nothing here knows about
// HTTP, JSON bodies or cursors as strings.
//
// It imports only the package's public API, like every part of src/server.
import {
  Database, NearestError, compileFilter, indexFromFactory,
  type CollectionOptions, type DurableStoreStats, type DurableVectorStore, type JsonValue,
  type Metric, type RecordId, type StoreAsyncSearchOptions, type StoreIndexOptions,
} from '../index.js';
import type { ServerLimits } from './options.js';

/** The factory-string parser now lives in the library (src/indexes/factory.ts); re-exported for the server's users. */
export { indexFromFactory };

/** How a collection is created: its dim, metric and index (options object or factory string). */
export interface CollectionSpec {
  dim: number;
  metric?: Metric;
  index?: StoreIndexOptions | string;
}

/** What the service tells about a collection. */
export interface CollectionDescription extends DurableStoreStats {
  name: string;
  createdAt: string;
  /** 'ready', 'readOnly' (the database was opened read-only) or 'damaged' (a read-only view of a damaged log). */
  status: 'ready' | 'readOnly' | 'damaged';
}

/** What a request needs to know of a collection, in O(1) (stats() estimates memory in O(size)). */
export interface CollectionShape {
  dim: number;
  metric: Metric;
  size: number;
  /** The kind of index (fixed for a collection's lifetime). */
  index: 'flat' | 'hnsw' | 'ivf';
}

/** A record to upsert. */
export interface RecordInput {
  id: RecordId;
  vector: Float32Array | readonly number[];
  metadata?: JsonValue;
}

/** A record read back; `vector` only when asked for. */
export interface RecordOutput {
  id: RecordId;
  metadata: JsonValue | undefined;
  vector?: Float32Array;
}

/** One search hit; `vector` only when asked for. */
export interface HitOutput extends RecordOutput {
  score: number;
  distance: number;
}

/** Options of a search. */
export interface SearchParams {
  k: number;
  filter?: Record<string, unknown>;
  efSearch?: number;
  nprobe?: number;
  /** IVF collections with refine: re-rank refineFactor·k candidates exactly. */
  refineFactor?: number;
  /** Keep only hits whose score is at least this (applied after the top k; never a default). */
  scoreThreshold?: number;
  withVector?: boolean;
  /** Only among these ids (missing ones are skipped). */
  ids?: readonly RecordId[];
  /** An exact scan instead of the index. */
  exact?: boolean;
}

/** Options of a scroll: records in id order (numbers ascending, then strings), from `start` on. */
export interface ScrollParams {
  limit: number;
  /** The first id of the page (inclusive), as returned in `next`; omit for the first page. */
  start?: RecordId;
  filter?: Record<string, unknown>;
  withVector?: boolean;
  /** Only among these ids (missing ones are skipped). */
  ids?: readonly RecordId[];
}

/** A page of a scroll; `next` is the first id of the following page, or null at the end. */
export interface ScrollPage {
  records: RecordOutput[];
  next: RecordId | null;
}

/** Total order of record ids: numbers ascending, then strings by UTF-16 code units. */
export function compareIds(a: RecordId, b: RecordId): number {
  if (typeof a === 'number') return typeof b === 'number' ? a - b : -1;
  if (typeof b === 'number') return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Depth and node count of a JSON value (a filter), to refuse oversized ones before compiling. */
function measure(v: unknown, depth: number, acc: { nodes: number; depth: number }, limits: ServerLimits): void {
  acc.nodes++;
  if (depth > acc.depth) acc.depth = depth;
  if (acc.nodes > limits.filterNodes || acc.depth > limits.filterDepth) return;
  if (Array.isArray(v)) { for (const x of v) measure(x, depth + 1, acc, limits); return; }
  if (typeof v === 'object' && v !== null) for (const k of Object.keys(v)) measure((v as Record<string, unknown>)[k], depth + 1, acc, limits);
}

/** The ids of `only` that the store holds, each once; every id of the store without `only`. */
function idsOf(s: DurableVectorStore, only: readonly RecordId[] | undefined): RecordId[] {
  if (only === undefined) return s.keys();
  const seen = new Set<RecordId>();
  return only.filter((id) => (seen.has(id) || !s.has(id) ? false : (seen.add(id), true)));
}

/** The ids (among `only`, as idsOf) whose metadata passes `predicate` (every one without it). */
function matching(s: DurableVectorStore, predicate: ((m: unknown) => boolean) | null, only: readonly RecordId[] | undefined): RecordId[] {
  const ids = idsOf(s, only);
  return predicate === null ? ids : ids.filter((id) => predicate(s.metadataOf(id)));
}

/** Collections, records and searches over one Database (see the file comment). */
export class VectorService {
  readonly db: Database;
  readonly limits: ServerLimits;
  /** Per collection: writes submitted and not yet settled, and a gate that filter deletes close. */
  private readonly writes = new Map<string, { pending: Set<Promise<unknown>>; gate: Promise<void> }>();
  /** Index kinds by collection, learnt once (dropCollection forgets them). */
  private readonly kinds = new Map<string, CollectionShape['index']>();

  private constructor(db: Database, limits: ServerLimits) {
    this.db = db; this.limits = limits;
  }

  /** Opens (or creates) the database in `dir`. */
  static async open(dir: string, limits: ServerLimits, options: { readOnly?: boolean } = {}): Promise<VectorService> {
    return new VectorService(await Database.open(dir, options.readOnly ? { readOnly: true } : {}), limits);
  }

  /** Closes the database (waiting for every write in flight). */
  close(): Promise<void> { return this.db.close(); }

  // --- collections ---

  private store(name: string): DurableVectorStore {
    return this.db.collection(name);
  }

  /** A collection's description; NOT_FOUND if there is none. */
  describeCollection(name: string): CollectionDescription {
    const s = this.store(name);
    const entry = this.db.listCollections().find((c) => c.name === name)!;
    return this.describeStore(name, entry.createdAt, s);
  }

  private describeStore(name: string, createdAt: string, s: DurableVectorStore): CollectionDescription {
    const st = s.stats();
    return { name, createdAt, ...st, status: st.damage ? 'damaged' : st.readOnly ? 'readOnly' : 'ready' };
  }

  /** A collection's dim, metric, size and index kind, in O(1) after the first call; NOT_FOUND if there is none. */
  shape(name: string): CollectionShape {
    const s = this.store(name);
    let kind = this.kinds.get(name);
    if (kind === undefined) {
      const index = s.stats().index;
      kind = index.startsWith('HNSW') ? 'hnsw' : index.startsWith('IVF') ? 'ivf' : 'flat';
      this.kinds.set(name, kind);
    }
    return { dim: s.dim, metric: s.metric, size: s.size, index: kind };
  }

  /** Every collection, in creation order. */
  listCollections(): CollectionDescription[] {
    return this.db.listCollections().map((c) => this.describeStore(c.name, c.createdAt, this.store(c.name)));
  }

  /** Whether a collection exists. */
  hasCollection(name: string): boolean { return this.db.hasCollection(name); }

  /** Creates a collection; ALREADY_EXISTS if taken, CAPACITY_EXCEEDED beyond the collection limit. */
  async createCollection(name: string, spec: CollectionSpec): Promise<CollectionDescription> {
    if (typeof spec.dim === 'number' && spec.dim > this.limits.dim) {
      throw new NearestError('INVALID_ARGUMENT', `dim must be at most ${this.limits.dim} on this server, got ${spec.dim}`, { max: this.limits.dim, received: spec.dim });
    }
    if (!this.db.hasCollection(name) && this.db.listCollections().length >= this.limits.collections) {
      throw new NearestError('CAPACITY_EXCEEDED', `this server holds at most ${this.limits.collections} collections`, { max: this.limits.collections });
    }
    const index = typeof spec.index === 'string' ? indexFromFactory(spec.index) : spec.index;
    const options: CollectionOptions = { dim: spec.dim };
    if (spec.metric !== undefined) options.metric = spec.metric;
    if (index !== undefined) options.index = index;
    await this.db.createCollection(name, options);
    return this.describeCollection(name);
  }

  /** Drops a collection; resolves with whether it existed. */
  async dropCollection(name: string): Promise<boolean> {
    const gone = await this.db.dropCollection(name);
    this.kinds.delete(name);
    if (gone) this.writes.delete(name);
    return gone;
  }

  // --- writes ---

  private writeState(name: string): { pending: Set<Promise<unknown>>; gate: Promise<void> } {
    let w = this.writes.get(name);
    if (!w) { w = { pending: new Set(), gate: Promise.resolve() }; this.writes.set(name, w); }
    return w;
  }

  /**
   * Runs a write on a collection. Writes submit to the store at once (so concurrent ones share an
   * fsync), except while a filter delete holds the gate.
   */
  private async write<T>(name: string, fn: (s: DurableVectorStore) => Promise<T>): Promise<T> {
    const w = this.writeState(name);
    await w.gate;
    const s = this.store(name);
    const p = fn(s);
    w.pending.add(p);
    try { return await p; } finally { w.pending.delete(p); }
  }

  private checkBatch(n: number, what: string): void {
    if (n > this.limits.batchSize) {
      throw new NearestError('CAPACITY_EXCEEDED', `${what}: at most ${this.limits.batchSize} per request on this server, got ${n}`, { max: this.limits.batchSize, received: n });
    }
  }

  private checkFilter(filter: Record<string, unknown> | undefined): void {
    if (filter === undefined) return;
    const acc = { nodes: 0, depth: 0 };
    measure(filter, 1, acc, this.limits);
    if (acc.nodes > this.limits.filterNodes) throw new NearestError('INVALID_ARGUMENT', `filter: at most ${this.limits.filterNodes} values on this server`, { max: this.limits.filterNodes });
    if (acc.depth > this.limits.filterDepth) throw new NearestError('INVALID_ARGUMENT', `filter: nests at most ${this.limits.filterDepth} levels on this server`, { max: this.limits.filterDepth });
  }

  /** Inserts or replaces records (one durable batch: all or nothing); resolves once on disk. */
  upsert(name: string, records: readonly RecordInput[]): Promise<number> {
    this.checkBatch(records.length, 'records');
    this.store(name); // NOT_FOUND before anything else
    return this.write(name, async (s) => { await s.upsert(records.map((r) => ({ id: r.id, vector: r.vector as Float32Array, metadata: r.metadata }))); return records.length; });
  }

  /**
   * Adds `rows` (row-major, n × dim) without metadata under ids the store assigns (unused integers
   * after the largest numeric id it has seen); one durable batch; resolves with the ids in row order.
   */
  addRows(name: string, rows: Float32Array): Promise<number[]> {
    const dim = this.store(name).dim;
    this.checkBatch(Math.floor(rows.length / dim), 'rows');
    return this.write(name, (s) => s.addBatch(rows));
  }

  /** Deletes records by id; resolves with how many existed, once on disk. */
  deleteIds(name: string, ids: readonly RecordId[]): Promise<number> {
    this.checkBatch(ids.length, 'ids');
    this.store(name);
    return this.write(name, (s) => s.deleteMany(ids));
  }

  /**
   * Runs `submit` alone on a collection: earlier writes settle first, later ones wait until it has
   * submitted its write, so what it reads is a state no concurrent write straddles. `submit`
   * returns the write it submitted (or null for none).
   */
  private async exclusive(name: string, submit: (s: DurableVectorStore) => Promise<number> | null): Promise<number> {
    this.store(name);
    const w = this.writeState(name);
    let open!: () => void;
    const previous = w.gate;
    w.gate = new Promise<void>((r) => { open = r; });
    try {
      await previous;
      await Promise.allSettled([...w.pending]);
      const p = submit(this.store(name)); // submitted before the gate opens
      open();
      return p === null ? 0 : await p;
    } finally {
      open();
    }
  }

  /**
   * Deletes every record matching a filter (among `only`, if given); resolves with how many, once
   * on disk. Runs exclusively (see exclusive), so the filter sees a consistent state.
   */
  async deleteWhere(name: string, filter: Record<string, unknown>, only?: readonly RecordId[]): Promise<number> {
    this.checkFilter(filter);
    if (only !== undefined) this.checkBatch(only.length, 'ids');
    const predicate = compileFilter(filter);
    return this.exclusive(name, (s) => {
      const ids = matching(s, predicate, only);
      return ids.length === 0 ? null : s.deleteMany(ids);
    });
  }

  /**
   * Rewrites the metadata of the selected records with `update(old)` (vectors kept) as one durable
   * batch; resolves with how many records it rewrote, once on disk. Selection: `ids` (each must
   * exist: NOT_FOUND naming the first missing one, and nothing changes), or `filter` (among `ids`
   * if both are given, and then missing ids are skipped). Runs exclusively, so no concurrent write
   * is lost between the read and the write.
   */
  async updateMetadata(
    name: string, select: { ids?: readonly RecordId[]; filter?: Record<string, unknown> },
    update: (old: JsonValue | undefined) => JsonValue | undefined,
  ): Promise<number> {
    if (select.ids === undefined && select.filter === undefined) throw new NearestError('INVALID_ARGUMENT', 'updateMetadata: select by ids or by filter', {});
    if (select.ids !== undefined) this.checkBatch(select.ids.length, 'ids');
    this.checkFilter(select.filter);
    const predicate = select.filter === undefined ? null : compileFilter(select.filter);
    return this.exclusive(name, (s) => {
      if (predicate === null) {
        const missing = select.ids!.find((id) => !s.has(id));
        if (missing !== undefined) throw new NearestError('NOT_FOUND', `no record with id ${JSON.stringify(missing)}`, { id: missing });
      }
      const ids = matching(s, predicate, select.ids);
      if (ids.length === 0) return null;
      this.checkBatch(ids.length, 'records');
      return s.upsert(ids.map((id) => {
        const r = s.get(id)!;
        return { id, vector: r.vector, metadata: update(r.metadata as JsonValue | undefined) };
      })).then(() => ids.length);
    });
  }

  // --- reads ---

  /** The records of the given ids that exist, in the order given. */
  get(name: string, ids: readonly RecordId[], withVector: boolean): RecordOutput[] {
    this.checkBatch(ids.length, 'ids');
    const s = this.store(name);
    const out: RecordOutput[] = [];
    for (const id of ids) {
      const r = s.get(id);
      if (r) out.push(withVector ? { id: r.id, metadata: r.metadata as JsonValue | undefined, vector: r.vector } : { id: r.id, metadata: r.metadata as JsonValue | undefined });
    }
    return out;
  }

  /** How many records match a filter (all of them without one). */
  count(name: string, filter?: Record<string, unknown>, only?: readonly RecordId[]): number {
    this.checkFilter(filter);
    if (only !== undefined) this.checkBatch(only.length, 'ids');
    const s = this.store(name);
    if (filter === undefined && only === undefined) return s.size;
    return matching(s, filter === undefined ? null : compileFilter(filter), only).length;
  }

  /**
   * Every record matching a filter (among `only`, if given), without vectors, in id order: what
   * paging through `scroll` to the end gives, with one sort instead of one a page.
   */
  select(name: string, filter?: Record<string, unknown>, only?: readonly RecordId[]): RecordOutput[] {
    this.checkFilter(filter);
    if (only !== undefined) this.checkBatch(only.length, 'ids');
    const s = this.store(name);
    return matching(s, filter === undefined ? null : compileFilter(filter), only).sort(compareIds)
      .map((id) => ({ id, metadata: s.metadataOf(id) as JsonValue | undefined }));
  }

  /** A page of records in id order (see ScrollParams). */
  scroll(name: string, p: ScrollParams): ScrollPage {
    this.checkBatch(p.limit, 'limit');
    this.checkFilter(p.filter);
    const predicate = p.filter === undefined ? null : compileFilter(p.filter);
    if (p.ids !== undefined) this.checkBatch(p.ids.length, 'ids');
    const s = this.store(name);
    let ids = idsOf(s, p.ids);
    if (p.start !== undefined) { const start = p.start; ids = ids.filter((id) => compareIds(id, start) >= 0); }
    ids.sort(compareIds);
    const records: RecordOutput[] = [];
    for (const id of ids) {
      const metadata = s.metadataOf(id) as JsonValue | undefined; // no vector copy unless asked for
      if (predicate && !predicate(metadata)) continue;
      if (records.length === p.limit) return { records, next: id };
      records.push(p.withVector ? { id, metadata, vector: s.get(id)!.vector } : { id, metadata });
    }
    return { records, next: null };
  }

  /**
   * The k nearest records to one query, best first, searched on a worker thread (the event loop
   * stays free). With `ids`, only those records; with `exact`, an exact scan of every (matching)
   * record whatever the index.
   */
  async search(name: string, query: Float32Array | readonly number[], p: SearchParams): Promise<HitOutput[]> {
    this.checkSearch(p);
    if (p.ids !== undefined) this.checkBatch(p.ids.length, 'ids');
    const s = this.store(name);
    const options: StoreAsyncSearchOptions = { threads: this.limits.searchThreads };
    if (p.filter !== undefined) options.filter = p.filter;
    if (p.efSearch !== undefined) options.efSearch = p.efSearch;
    if (p.nprobe !== undefined) options.nprobe = p.nprobe;
    if (p.refineFactor !== undefined) options.refineFactor = p.refineFactor;
    if (p.ids !== undefined) options.ids = p.ids;
    if (p.exact) options.exact = true;
    let hits = await s.searchAsync(query as Float32Array, p.k, options);
    if (p.scoreThreshold !== undefined) { const t = p.scoreThreshold; hits = hits.filter((h) => h.score >= t); }
    return hits.map((h) => {
      const out: HitOutput = { id: h.id, score: h.score, distance: h.distance, metadata: h.metadata as JsonValue | undefined };
      if (p.withVector) out.vector = s.get(h.id)!.vector;
      return out;
    });
  }

  /** The k nearest records to each query (the same options for all), best first. */
  searchBatch(name: string, queries: readonly (Float32Array | readonly number[])[], p: SearchParams): Promise<HitOutput[][]> {
    if (queries.length > this.limits.queries) {
      throw new NearestError('CAPACITY_EXCEEDED', `vectors: at most ${this.limits.queries} queries per request on this server, got ${queries.length}`, { max: this.limits.queries, received: queries.length });
    }
    return Promise.all(queries.map((q) => this.search(name, q, p)));
  }

  /**
   * The k nearest records to one query by an exact scan of every record (whatever the index), best
   * first; the same score and distance conventions as `search`. O(size · dim).
   */
  searchExact(name: string, query: Float32Array | readonly number[], p: SearchParams): Promise<HitOutput[]> {
    if (p.efSearch !== undefined || p.nprobe !== undefined) throw new NearestError('INVALID_ARGUMENT', 'an exact search takes no efSearch or nprobe', {});
    return this.search(name, query, { ...p, exact: true });
  }

  private checkSearch(p: SearchParams): void {
    if (p.k > this.limits.k) throw new NearestError('INVALID_ARGUMENT', `k must be at most ${this.limits.k} on this server, got ${p.k}`, { max: this.limits.k, received: p.k });
    this.checkFilter(p.filter);
  }


}
