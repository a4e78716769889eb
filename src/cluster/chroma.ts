// The Chroma API of a cluster node: the same routes as `nearest serve` (src/server/chroma), over a
// backend made of the cluster. The catalog (tenants, databases, collections) is the `chroma` space
// of nearest.documents in PostgreSQL, changed under an advisory lock and read again per request, so
// every node sees a collection the moment another made it. A Chroma collection's records are a
// cluster collection `chroma-UUID`, made at the first add with `shards` and `replicas` (serve's
// --chroma-shards and --chroma-replicas; replicas capped at the live nodes).
//
// Writes are read-modify-writes in one PostgreSQL transaction that locks the collection's row
// (ClusterNode.transact), so two nodes writing the same collection take turns, and each reads what
// the last one committed. Chroma clients cannot ask to read their writes (no afterLsn), so a write
// is acknowledged once every live replica of its collection has applied it (or after 5 s: the
// write is durable in PostgreSQL either way, and a replica that slow is lagging).
import { NearestError, compileFilter, type RecordId } from '../index.js';
import type { ChromaBackend, StoredHit, StoredRow } from '../server/chroma/backend.js';
import { DEFAULT_LIMITS } from '../server/options.js';
import type { ClusterNode } from './node.js';

const SPACE = 'chroma';

export interface ClusterChromaOptions {
  /** Shards of a collection made through the Chroma API; default 1. */
  shards?: number;
  /** Replicas of each shard, at most the live nodes; default 2. */
  replicas?: number;
  log?: (message: string) => void;
}

export function clusterChromaBackend(n: ClusterNode, o: ClusterChromaOptions = {}): ChromaBackend {
  const batch = DEFAULT_LIMITS.batchSize;
  const applied = async (store: string, lsn: string) => {
    if (!(await n.waitReplicas(store, lsn))) o.log?.(`a replica of ${store} had not applied ${lsn} within 5 s of the write`);
  };
  const chunks = <T>(list: readonly T[]) => Array.from({ length: Math.ceil(list.length / batch) }, (_, i) => list.slice(i * batch, (i + 1) * batch));

  return {
    limits: { batchSize: batch, queries: DEFAULT_LIMITS.queries, collections: DEFAULT_LIMITS.collections },
    shared: true,
    async loadCatalog() { return (await n.loadDocuments(SPACE)).map((d) => ({ key: d.key, entry: d.value })); },
    saveCatalog(put, remove) { return n.saveDocuments(SPACE, put.map((p) => ({ key: p.key, value: p.entry })), remove); },
    serialCatalog(fn) { return n.serialDocuments(SPACE, fn); },
    async shape(store) {
      const c = await n.findCollection(store);
      if (!c) return null;
      return { dim: c.dim, size: undefined, hnsw: typeof c.index === 'object' && c.index !== null && (c.index as { type?: string }).type === 'hnsw' };
    },
    async createStore(store, spec) {
      if (await n.findCollection(store)) return;
      try {
        await n.createCollection(store, {
          dim: spec.dim, metric: spec.metric, index: { type: 'hnsw', m: spec.m, efConstruction: spec.efConstruction },
          shards: o.shards ?? 1, replicas: Math.min(o.replicas ?? 2, n.liveNodes().length),
        });
      } catch (e) {
        if ((e as { code?: string }).code !== 'ALREADY_EXISTS') throw e;
        // Being made meanwhile through another node: it is ready (visible) once its placement is.
        for (const deadline = Date.now() + 10_000; !(await n.findCollection(store));) {
          if (Date.now() > deadline) throw new NearestError('UNAVAILABLE', `collection ${store} is being made by another node and was not ready within 10 s`, {});
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    },
    async dropStore(store) { await n.dropCollection(store); },
    async write(store, ids, withVector, build) {
      const r = await n.transact(store, ids, withVector, build);
      if (r.count > 0) await applied(store, r.lsn);
    },
    async remove(store, pick) {
      let lsn: string | null = null;
      for (const part of chunks(await pick())) { const r = await n.delete(store, part); if (r.count > 0) lsn = r.lsn; }
      if (lsn !== null) await applied(store, lsn);
    },
    async settle() {}, // writes are PostgreSQL transactions: a drop waits for their locks
    async select(store, filter, ids) {
      if (ids !== undefined) {
        const test = filter === undefined ? null : compileFilter(filter);
        const out: StoredRow[] = [];
        for (const part of chunks(ids)) for (const r of await n.get(store, part, false)) if (!test || test(r.metadata)) out.push({ id: r.id, metadata: r.metadata });
        return out;
      }
      const out: StoredRow[] = [];
      let start: RecordId | undefined;
      for (;;) {
        const page = await n.scan(store, { limit: batch, withPayload: true, ...(filter !== undefined ? { filter } : {}), ...(start !== undefined ? { start } : {}) });
        for (const r of page.records) out.push({ id: r.id, metadata: r.metadata });
        if (page.next === null) return out;
        start = page.next;
      }
    },
    async get(store, ids, withVector) {
      const out: StoredRow[] = [];
      for (const part of chunks(ids)) for (const r of await n.get(store, part, withVector)) out.push({ id: r.id, metadata: r.metadata, ...(r.vector ? { vector: r.vector } : {}) });
      return out;
    },
    async count(store, filter) { return (await n.scan(store, { limit: 0, ...(filter !== undefined ? { filter } : {}) })).count; },
    search(store, queries, s) {
      return Promise.all(queries.map(async (q): Promise<StoredHit[]> => {
        const hits = await n.search(store, q, s.k, {
          ...(s.filter !== undefined ? { filter: s.filter } : {}), ...(s.exact ? { exact: true } : {}),
          ...(s.efSearch !== undefined && !s.exact ? { efSearch: s.efSearch } : {}), ...(s.ids !== undefined ? { ids: s.ids } : {}),
        });
        const vectors = s.withVector && hits.length > 0 ? new Map((await n.get(store, hits.map((h) => h.id), true)).map((r) => [r.id, r.vector])) : null;
        return hits.map((h) => ({ id: h.id, distance: h.distance, metadata: h.metadata, ...(vectors ? { vector: vectors.get(h.id) ?? [] } : {}) }));
      }));
    },
  };
}
