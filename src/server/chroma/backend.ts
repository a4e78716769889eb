// What the Chroma-compatible API needs from the engine below it, so that one set of routes serves
// both a single `nearest serve` (serviceBackend: the VectorService of its database) and a cluster
// node (src/cluster/chroma.ts: PostgreSQL and the cluster's replicas).
//
// The Chroma layer does read-modify-write (add ignores ids that exist; upsert and update merge into
// what is stored; new records take the next insertion number), so `write` runs one write of a
// store at a time — across the whole deployment, not only this process — and hands `build` what is
// stored now. The catalog (tenants, databases, collections) is a set of JSON entries by key;
// `serialCatalog` runs its changes one at a time, and a `shared` backend's catalog may change in
// other processes, so the routes reload it per request.
import type { JsonValue, Metric, RecordId } from '../../index.js';
import type { VectorService } from '../service.js';
import { fromStored } from './records.js';

export interface ChromaLimits {
  /** Most ids per request, and the page size of scans. */
  batchSize: number;
  /** Most queries in one query request. */
  queries: number;
  /** Most collections in a database. */
  collections: number;
}

export interface StoredRow { id: RecordId; metadata: JsonValue | undefined; vector?: Float32Array | readonly number[] }
export interface StoredHit extends StoredRow { distance: number }
export interface NewRow { id: RecordId; vector: Float32Array | readonly number[]; metadata: JsonValue }

export interface StoreShape {
  dim: number;
  /** Records stored, where the backend knows it without a scan (undefined: unknown). */
  size: number | undefined;
  hnsw: boolean;
}

export interface StoreSearch {
  k: number;
  withVector: boolean;
  filter?: Record<string, unknown>;
  /** Only these records (exact). */
  ids?: readonly RecordId[];
  exact?: boolean;
  efSearch?: number;
}

export interface ChromaBackend {
  readonly limits: ChromaLimits;
  /** Other processes change the catalog and the stores too (reload the catalog per request). */
  readonly shared: boolean;
  loadCatalog(): Promise<{ key: string; entry: JsonValue }[]>;
  /** One durable change of the catalog: entries written and keys removed. */
  saveCatalog(put: readonly { key: string; entry: JsonValue }[], remove: readonly string[]): Promise<void>;
  /** Runs catalog changes one at a time (across the deployment). */
  serialCatalog<T>(fn: () => Promise<T>): Promise<T>;
  /** The store's dimension and size, or null when there is no such store. */
  shape(store: string): Promise<StoreShape | null>;
  /** Makes a store (a store that exists already, made meanwhile by another writer, is no error). */
  createStore(store: string, spec: { dim: number; metric: Metric; m: number; efConstruction: number }): Promise<void>;
  dropStore(store: string): Promise<void>;
  /**
   * Read-modify-write, one at a time per store: `build` gets the stored rows of `ids` (with vectors
   * when asked) and a source of insertion numbers, and returns the rows to write (nothing: no write).
   */
  write(store: string, ids: readonly RecordId[], withVector: boolean, build: (stored: Map<RecordId, StoredRow>, seq: () => number) => NewRow[]): Promise<void>;
  /** Deletes the ids that `pick` chooses (in the same turn as writes). */
  remove(store: string, pick: () => Promise<RecordId[]>): Promise<void>;
  /** Waits for the writes in flight to a store (before it is dropped). */
  settle(store: string): Promise<void>;
  /** Records matching a filter, among `ids` when given (metadata, no vectors), in any order. */
  select(store: string, filter?: Record<string, unknown>, ids?: readonly RecordId[]): Promise<StoredRow[]>;
  get(store: string, ids: readonly RecordId[], withVector: boolean): Promise<StoredRow[]>;
  count(store: string, filter?: Record<string, unknown>): Promise<number>;
  /** The k nearest to each query; distances as the engine gives them. */
  search(store: string, queries: readonly number[][], o: StoreSearch): Promise<StoredHit[][]>;
}

const CATALOG = '_chroma';

/** The backend of a single server: its VectorService (the catalog is its hidden collection `_chroma`). */
export function serviceBackend(service: VectorService): ChromaBackend {
  let catalogQueue: Promise<unknown> = Promise.resolve();
  const chains = new Map<string, Promise<unknown>>();
  const nextSeq = new Map<string, number>();
  const batch = service.limits.batchSize;

  function locked<T>(store: string, fn: () => Promise<T>): Promise<T> {
    const p = (chains.get(store) ?? Promise.resolve()).then(fn, fn);
    const tail = p.catch(() => {});
    chains.set(store, tail);
    void tail.then(() => { if (chains.get(store) === tail) chains.delete(store); });
    return p;
  }

  function takeSeq(store: string): number {
    let n = nextSeq.get(store);
    if (n === undefined) {
      n = 1;
      for (const r of service.select(store)) n = Math.max(n, fromStored(r.metadata).seq + 1);
    }
    nextSeq.set(store, n + 1);
    return n;
  }

  return {
    limits: service.limits,
    shared: false,
    async loadCatalog() {
      const out: { key: string; entry: JsonValue }[] = [];
      if (!service.hasCollection(CATALOG)) return out;
      let start: RecordId | undefined;
      for (;;) {
        const page = service.scroll(CATALOG, { limit: batch, ...(start !== undefined ? { start } : {}) });
        for (const r of page.records) out.push({ key: String(r.id), entry: r.metadata as JsonValue });
        if (page.next === null) return out;
        start = page.next;
      }
    },
    async saveCatalog(put, remove) {
      if (!service.hasCollection(CATALOG)) await service.createCollection(CATALOG, { dim: 1, metric: 'euclidean', index: { type: 'flat' } });
      if (put.length > 0) await service.upsert(CATALOG, put.map((e) => ({ id: e.key, vector: [0], metadata: e.entry })));
      if (remove.length > 0) await service.deleteIds(CATALOG, remove);
    },
    serialCatalog(fn) {
      const p = catalogQueue.then(fn, fn);
      catalogQueue = p.catch(() => {});
      return p;
    },
    async shape(store) {
      if (!service.hasCollection(store)) return null;
      const s = service.shape(store);
      return { dim: s.dim, size: s.size, hnsw: s.index === 'hnsw' };
    },
    async createStore(store, spec) {
      if (service.hasCollection(store)) return;
      await service.createCollection(store, { dim: spec.dim, metric: spec.metric, index: { type: 'hnsw', m: spec.m, efConstruction: spec.efConstruction } });
    },
    async dropStore(store) {
      nextSeq.delete(store);
      await service.dropCollection(store);
    },
    write(store, ids, withVector, build) {
      return locked(store, async () => {
        const stored = new Map(service.get(store, ids, withVector).map((r) => [r.id, r]));
        const rows = build(stored, () => takeSeq(store));
        if (rows.length > 0) await service.upsert(store, rows);
      });
    },
    remove(store, pick) {
      return locked(store, async () => {
        const ids = await pick();
        for (let i = 0; i < ids.length; i += batch) await service.deleteIds(store, ids.slice(i, i + batch));
      });
    },
    settle(store) { return locked(store, async () => {}); },
    async select(store, filter, ids) {
      if (ids === undefined) return service.select(store, filter);
      const out: StoredRow[] = [];
      for (let i = 0; i < ids.length; i += batch) out.push(...service.select(store, filter, ids.slice(i, i + batch)));
      return out;
    },
    async get(store, ids, withVector) {
      const out: StoredRow[] = [];
      for (let i = 0; i < ids.length; i += batch) out.push(...service.get(store, ids.slice(i, i + batch), withVector));
      return out;
    },
    async count(store, filter) { return service.count(store, filter); },
    async search(store, queries, o) {
      const p = { k: o.k, withVector: o.withVector, ...(o.filter !== undefined ? { filter: o.filter } : {}), ...(o.efSearch !== undefined && !o.exact && o.ids === undefined ? { efSearch: o.efSearch } : {}) };
      if (o.ids === undefined && !o.exact) return service.searchBatch(store, queries, p);
      // Exact among ids: scans of at most a batch of ids each, merged.
      const ids = o.ids;
      return Promise.all(queries.map(async (q) => {
        if (ids === undefined) return service.searchExact(store, q, p);
        const hits: StoredHit[] = [];
        for (let i = 0; i < ids.length; i += batch) hits.push(...await service.searchExact(store, q, { ...p, ids: ids.slice(i, i + batch) }));
        return ids.length <= batch ? hits : hits.sort((a, b) => a.distance - b.distance).slice(0, o.k);
      }));
    },
  };
}
