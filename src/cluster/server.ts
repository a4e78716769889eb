// `nearest serve --cluster`: the HTTP server of a query node. The same native (/v1) and Qdrant
// routes as a single-node server for collections, writes and searches, answered for the whole
// cluster by a ClusterNode, and the Chroma API (/api/v2, the same routes over a cluster backend,
// chroma.ts); writes answer with the commit LSN (native `lsn`, Qdrant `result.lsn`) and searches
// take `consistency: { afterLsn }`. Also GET /cluster (nodes, leases, placement,
// applied LSNs and lag), /healthz, /readyz (200 once the node has applied the WAL up to the position
// current at its start), /metrics (replayed changes, full rebuilds, fan-out retries), and the
// internal POST /cluster/v1/search that peers send shard searches to.
import type { AddressInfo } from 'node:net';
import { fastify, type FastifyInstance, type FastifyRequest } from 'fastify';
import client from 'prom-client';
import { NearestError, type JsonValue, type Metric, type RecordId } from '../index.js';
import { KeyChecker, type Access } from '../server/auth.js';
import { errorBody, loggedWireError } from '../server/errors.js';
import { decodeCursor, encodeCursor } from '../server/native/routes.js';
import { translateFilter } from '../server/qdrant/filter.js';
import { DISTANCE_TO_METRIC, METRIC_TO_DISTANCE, outVector, parseWithPayload, qdrantResponses, selectPayload } from '../server/qdrant/routes.js';
import { parseId } from '../server/qdrant/ids.js';
import { chromaPlugin } from '../server/chroma/routes.js';
import { clusterChromaBackend } from './chroma.js';
import { ClusterNode, type ClusterHit, type ClusterNodeOptions, type ClusterSearchOptions } from './node.js';

export interface ClusterServerOptions extends Omit<ClusterNodeOptions, 'log'> {
  host?: string;
  port?: number;
  /** Written on the lease for peers; default http://HOST:PORT as bound. */
  advertiseUrl?: string;
  readOnlyApiKey?: string;
  /** Shards of a collection made through the Chroma API; default 1. */
  chromaShards?: number;
  /** Replicas of each shard of a collection made through the Chroma API (at most the live nodes); default 2. */
  chromaReplicas?: number;
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  log?: (message: string) => void;
}

export interface ClusterServer {
  listen(): Promise<void>;
  /** Clean stop: drops this node's slot and lease (SIGTERM). */
  close(): Promise<void>;
  readonly url: string;
  readonly node: ClusterNode | undefined;
}

type Body = Record<string, unknown>;
const isObject = (v: unknown): v is Body => typeof v === 'object' && v !== null && !Array.isArray(v);
const bad = (message: string, details: Record<string, unknown> = {}): never => { throw new NearestError('INVALID_ARGUMENT', message, details); };


function only(b: unknown, keys: readonly string[], where: string): Body {
  if (!isObject(b)) bad(`${where}: expected a JSON object`);
  for (const k of Object.keys(b as Body)) if (!keys.includes(k)) bad(`${where}: unknown field "${k}" (accepted: ${keys.join(', ')})`, { field: k });
  return b as Body;
}

function optInt(v: unknown, name: string, min: number, max: number): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`, { field: name });
  return v as number;
}

function consistencyOf(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  const c = only(v, ['afterLsn'], 'consistency');
  if (typeof c.afterLsn !== 'string') bad('consistency.afterLsn must be an LSN string such as "0/1A2B3C"');
  return c.afterLsn as string;
}


/** A Qdrant filter in our terms: the metadata filter, and the ids of its has_id conditions. */
function qdrantFilter(f: unknown): { filter?: Body; ids?: RecordId[] } {
  const t = translateFilter(f);
  return { ...(t.filter ? { filter: t.filter } : {}), ...(t.ids !== undefined ? { ids: t.ids } : {}) };
}

function hitOut(h: ClusterHit): Body {
  return { id: h.id, score: h.score, distance: h.distance, ...(h.metadata !== undefined ? { metadata: h.metadata } : {}) };
}

export function createClusterServer(options: ClusterServerOptions): ClusterServer {
  const host = options.host ?? '127.0.0.1';
  let url = `http://${host}:${options.port ?? 0}`;
  let app: FastifyInstance | undefined;
  let node: ClusterNode | undefined;
  let closing: Promise<void> | null = null;
  const keys = new KeyChecker(options.apiKey, options.readOnlyApiKey);
  const registry = new client.Registry();

  async function build(n: ClusterNode): Promise<FastifyInstance> {
    const a = fastify({ logger: { level: options.logLevel ?? 'warn' }, bodyLimit: 64 << 20, onProtoPoisoning: 'error', onConstructorPoisoning: 'error' });
    a.setErrorHandler((err, req, reply) => { const w = loggedWireError(err, req.log); return reply.code(w.status).send(errorBody(w)); });
    a.setNotFoundHandler((req, reply) => reply.code(404).send(errorBody({ status: 404, code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.slice(0, 200)}`, details: {} })));
    a.addHook('onRequest', async (req) => {
      const access = (req.routeOptions.config as { access?: Access } | undefined)?.access ?? (req.method === 'GET' ? 'read' : 'write');
      if (access !== 'public') keys.authorize(access, req.headers);
    });
    // Counters read from the node at scrape time (they only grow, so reset + inc gives the value).
    const counter = (name: string, help: string, pick: () => number) => new client.Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(pick()); } });
    counter('nearest_cluster_replayed_changes_total', 'Row changes applied from the replication stream.', () => n.counters.replayedChanges);
    counter('nearest_cluster_full_rebuilds_total', 'Replicas built from the table because there was no local copy.', () => n.counters.fullRebuilds);
    counter('nearest_cluster_resyncs_total', 'Local replicas reconciled with the table after the slot was lost.', () => n.counters.resyncs);
    counter('nearest_cluster_fanout_retries_total', 'Shard searches retried on another replica.', () => n.counters.fanoutRetries);
    counter('nearest_cluster_skipped_source_rows_total', 'Rows of a followed table left out (no usable vector or id).', () => n.counters.skippedSourceRows);
    new client.Gauge({ name: 'nearest_cluster_ready', help: '1 once this node has applied the WAL current at its start.', registers: [registry], collect() { this.set(n.isReady ? 1 : 0); } });
    new client.Gauge({ name: 'nearest_cluster_applied_lsn_bytes', help: 'The WAL position this node has applied, as a byte offset.', registers: [registry], collect() { this.set(Number(n.appliedPosition)); } });

    const pub = { config: { access: 'public' as const } };
    a.get('/healthz', pub, async () => ({ status: 'ok' }));
    a.get('/readyz', pub, async (_req, reply) => (n.isReady ? { status: 'ready', appliedLsn: n.appliedLsn } : reply.code(503).send({ status: 'catching up', appliedLsn: n.appliedLsn })));
    a.get('/metrics', async (_req, reply) => { reply.type(registry.contentType); return registry.metrics(); });
    a.get('/cluster', async () => n.status());
    a.post('/cluster/rebalance', async (req) => {
      const b = only(req.body ?? {}, ['dryRun'], 'body');
      if (b.dryRun !== undefined && typeof b.dryRun !== 'boolean') bad('dryRun must be a boolean');
      return n.rebalance({ dryRun: b.dryRun === true });
    });
    a.post('/cluster/v1/get', async (req) => {
      const b = only(req.body, ['collection', 'keys', 'withVector', 'afterLsn'], 'body');
      if (typeof b.collection !== 'string' || !Array.isArray(b.keys) || !b.keys.every((k) => typeof k === 'string')) bad('body: { collection, keys } are required');
      await n.findCollection(b.collection as string);
      return n.getLocal(b as never);
    });
    a.post('/cluster/v1/scan', async (req) => {
      const b = only(req.body, ['collection', 'shards', 'filter', 'start', 'limit', 'withVector', 'withPayload', 'keys'], 'body');
      if (typeof b.collection !== 'string' || !Array.isArray(b.shards) || typeof b.limit !== 'number') bad('body: { collection, shards, limit } are required');
      await n.findCollection(b.collection as string);
      return n.scanLocal(b as never);
    });
    a.post('/cluster/v1/wait', async (req) => {
      const b = only(req.body, ['collection', 'lsn', 'waitMs'], 'body');
      if (typeof b.collection !== 'string' || typeof b.lsn !== 'string' || typeof b.waitMs !== 'number') bad('body: { collection, lsn, waitMs } are required');
      await n.findCollection(b.collection as string);
      return n.waitApplied(b.collection as string, b.lsn as string, b.waitMs as number);
    });
    a.post('/cluster/v1/refresh', async () => { await n.refresh(); return { refreshed: true }; });
    a.post('/cluster/v1/search', async (req) => {
      const b = only(req.body, ['collection', 'shards', 'vector', 'k', 'filter', 'exact', 'efSearch', 'nprobe', 'afterLsn', 'waitMs', 'ids'], 'body');
      if (typeof b.collection !== 'string' || !Array.isArray(b.shards) || !Array.isArray(b.vector) || typeof b.k !== 'number') bad('body: { collection, shards, vector, k } are required');
      await n.findCollection(b.collection as string);
      return n.searchShards(b as never);
    });

    // --- native ---
    a.get('/v1/collections', async () => ({ collections: n.listCollections().map((c) => ({ name: c.name, dim: c.dim, metric: c.metric, shards: c.shards, replicas: c.replicas, createdAt: c.createdAt })) }));
    a.put<{ Params: { name: string } }>('/v1/collections/:name', async (req, reply) => {
      const b = only(req.body, ['dim', 'metric', 'index', 'shards', 'replicas', 'source'], 'body');
      const c = await n.createCollection(req.params.name, {
        dim: b.dim as number, ...(b.metric !== undefined ? { metric: b.metric as Metric } : {}), ...(b.index !== undefined ? { index: b.index as string } : {}),
        shards: optInt(b.shards, 'shards', 1, 256) ?? 1, replicas: optInt(b.replicas, 'replicas', 1, 64) ?? 1,
        ...(b.source !== undefined ? { source: b.source as never } : {}),
      });
      return reply.code(201).send({ name: c.name, dim: c.dim, metric: c.metric, shards: c.shards, replicas: c.replicas, createdAt: c.createdAt });
    });
    const collectionOf = async (name: string) => {
      const c = await n.findCollection(name);
      if (!c) throw new NearestError('NOT_FOUND', `no collection ${JSON.stringify(name)}`, { name });
      return c;
    };
    a.get<{ Params: { name: string } }>('/v1/collections/:name', async (req) => {
      const c = await collectionOf(req.params.name);
      return { name: c.name, dim: c.dim, metric: c.metric, shards: c.shards, replicas: c.replicas, createdAt: c.createdAt, ...(c.source ? { source: c.source } : {}), localSize: n.localSizes()[c.name] ?? 0 };
    });
    a.delete<{ Params: { name: string } }>('/v1/collections/:name', async (req) => {
      if (!(await n.dropCollection(req.params.name))) throw new NearestError('NOT_FOUND', `no collection named ${JSON.stringify(req.params.name)}`, { name: req.params.name });
      return { deleted: true };
    });
    // Ids, vectors and metadata are checked by ClusterNode (the same rules for every route).
    a.post<{ Params: { name: string } }>('/v1/collections/:name/records', async (req) => {
      await collectionOf(req.params.name);
      const b = only(req.body, ['records'], 'body');
      if (!Array.isArray(b.records)) bad('records must be an array');
      const records = (b.records as unknown[]).map((r, i) => {
        const x = only(r, ['id', 'vector', 'metadata'], `records[${i}]`);
        return { id: x.id as RecordId, vector: x.vector as number[], ...(x.metadata !== undefined ? { metadata: x.metadata as JsonValue } : {}) };
      });
      const r = await n.upsert(req.params.name, records);
      return { upserted: r.count, lsn: r.lsn };
    });
    a.post<{ Params: { name: string } }>('/v1/collections/:name/records/get', async (req) => {
      await collectionOf(req.params.name);
      const b = only(req.body, ['ids', 'include', 'consistency'], 'body');
      if (!Array.isArray(b.ids)) bad('ids must be an array');
      if (b.include !== undefined && (!Array.isArray(b.include) || !b.include.every((x) => x === 'metadata' || x === 'vector'))) bad("include: an array of 'metadata' and 'vector'");
      const include = (b.include as string[] | undefined) ?? ['metadata'];
      const records = await n.get(req.params.name, b.ids as RecordId[], include.includes('vector'), consistencyOf(b.consistency));
      return { records: records.map((r) => ({ id: r.id, ...(include.includes('metadata') && r.metadata !== undefined ? { metadata: r.metadata } : {}), ...(r.vector ? { vector: r.vector } : {}) })) };
    });
    a.post<{ Params: { name: string } }>('/v1/collections/:name/records/delete', async (req) => {
      await collectionOf(req.params.name);
      const b = only(req.body, ['ids', 'filter'], 'body');
      if ((b.ids === undefined) === (b.filter === undefined)) bad('give exactly one of ids or filter');
      if (b.ids !== undefined && !Array.isArray(b.ids)) bad('ids must be an array');
      if (b.filter !== undefined && !isObject(b.filter)) bad('filter must be an object');
      const r = b.ids !== undefined ? await n.delete(req.params.name, b.ids as RecordId[]) : await n.deleteWhere(req.params.name, b.filter as Body);
      return { deleted: r.count, lsn: r.lsn };
    });
    a.post<{ Params: { name: string } }>('/v1/collections/:name/records/count', async (req) => {
      await collectionOf(req.params.name);
      const b = only(req.body ?? {}, ['filter'], 'body');
      if (b.filter !== undefined && !isObject(b.filter)) bad('filter must be an object');
      return { count: (await n.scan(req.params.name, { limit: 0, ...(b.filter !== undefined ? { filter: b.filter as Body } : {}) })).count };
    });
    a.post<{ Params: { name: string } }>('/v1/collections/:name/records/scroll', async (req) => {
      await collectionOf(req.params.name);
      const b = only(req.body ?? {}, ['filter', 'cursor', 'limit', 'include'], 'body');
      if (b.filter !== undefined && !isObject(b.filter)) bad('filter must be an object');
      if (b.include !== undefined && (!Array.isArray(b.include) || !b.include.every((x) => x === 'metadata' || x === 'vector'))) bad("include: an array of 'metadata' and 'vector'");
      const include = (b.include as string[] | undefined) ?? ['metadata'];
      const limit = optInt(b.limit, 'limit', 1, 10000) ?? 100;
      const start = b.cursor === undefined || b.cursor === null ? undefined : decodeCursor(String(b.cursor));
      const page = await n.scan(req.params.name, {
        limit, withVector: include.includes('vector'), withPayload: include.includes('metadata'),
        ...(b.filter !== undefined ? { filter: b.filter as Body } : {}), ...(start !== undefined ? { start } : {}),
      });
      return { records: page.records, nextCursor: page.next === null ? null : encodeCursor(page.next) };
    });
    a.post<{ Params: { name: string } }>('/v1/collections/:name/search', async (req) => {
      await collectionOf(req.params.name);
      const b = only(req.body, ['vector', 'k', 'filter', 'exact', 'efSearch', 'nprobe', 'consistency'], 'body');
      if (b.exact !== undefined && typeof b.exact !== 'boolean') bad('exact must be a boolean');
      if (b.filter !== undefined && !isObject(b.filter)) bad('filter must be an object');
      const o: ClusterSearchOptions = {};
      if (b.filter !== undefined) o.filter = b.filter as Body;
      if (b.exact) o.exact = true;
      const ef = optInt(b.efSearch, 'efSearch', 1, 100000), np = optInt(b.nprobe, 'nprobe', 1, 1 << 20), after = consistencyOf(b.consistency);
      if (ef !== undefined) o.efSearch = ef;
      if (np !== undefined) o.nprobe = np;
      if (after !== undefined) o.afterLsn = after;
      const k = optInt(b.k, 'k', 1, 10000);
      if (k === undefined) bad('k is required');
      return { hits: (await n.search(req.params.name, b.vector as number[], k!, o)).map(hitOut) };
    });

    // --- Qdrant ---
    await a.register(async (q) => {
      const ok = qdrantResponses(q);
      // Qdrant's ?wait=true (the client's default): answer once the change is visible — here, once
      // every live replica of the collection has applied it (the write is durable before, either way).
      const completed = async (req: FastifyRequest<{ Params: { name: string } }>, lsn: string) => {
        const wait = (req.query as Record<string, unknown>).wait;
        const applied = wait === 'true' || wait === '' ? await n.waitReplicas(req.params.name, lsn) : true;
        return { operation_id: 0, status: applied && (wait === 'true' || wait === '') ? 'completed' : 'acknowledged', lsn };
      };
      q.get('/collections', async (req) => ok(req, { collections: n.listCollections().map((c) => ({ name: c.name })) }));
      q.get<{ Params: { name: string } }>('/collections/:name', async (req) => {
        const c = await collectionOf(req.params.name);
        return ok(req, {
          status: 'green', optimizer_status: 'ok', points_count: null, segments_count: c.shards,
          config: { params: { vectors: { size: c.dim, distance: METRIC_TO_DISTANCE[c.metric] }, shard_number: c.shards, replication_factor: c.replicas } },
        });
      });
      q.put<{ Params: { name: string } }>('/collections/:name', async (req) => {
        const b = only(req.body, ['vectors', 'shard_number', 'replication_factor', 'hnsw_config', 'on_disk_payload', 'write_consistency_factor', 'source'], 'body');
        const v = isObject(b.vectors) ? b.vectors : bad('vectors: expected { size, distance }');
        const metric = DISTANCE_TO_METRIC[v.distance as string] ?? bad(`vectors.distance must be Cosine, Euclid or Dot, got ${JSON.stringify(v.distance)}`);
        const hnsw = isObject(b.hnsw_config) && typeof b.hnsw_config.m === 'number' ? `HNSW${b.hnsw_config.m}` : undefined;
        await n.createCollection(req.params.name, {
          dim: v.size as number, metric, ...(hnsw ? { index: hnsw } : {}),
          shards: optInt(b.shard_number, 'shard_number', 1, 256) ?? 1, replicas: optInt(b.replication_factor, 'replication_factor', 1, 64) ?? 1,
          ...(b.source !== undefined && b.source !== null ? { source: b.source as never } : {}),
        });
        return ok(req, true);
      });
      q.delete<{ Params: { name: string } }>('/collections/:name', async (req) => ok(req, await n.dropCollection(req.params.name)));
      q.put<{ Params: { name: string } }>('/collections/:name/points', async (req) => {
        await collectionOf(req.params.name);
        const b = only(req.body, ['points', 'shard_key'], 'body');
        if (!Array.isArray(b.points)) bad('points must be an array (the batch form is not supported in cluster mode)');
        const last = new Map<RecordId, { id: RecordId; vector: number[]; metadata?: JsonValue }>();
        (b.points as unknown[]).forEach((p, i) => {
          const x = only(p, ['id', 'vector', 'payload'], `points[${i}]`);
          const id = parseId(x.id, `points[${i}].id`);
          if (!Array.isArray(x.vector)) bad(`points[${i}].vector: expected an array of numbers (named vectors are not supported)`);
          last.set(id, { id, vector: x.vector as number[], ...(x.payload !== undefined && x.payload !== null ? { metadata: x.payload as JsonValue } : {}) });
        });
        const r = await n.upsert(req.params.name, [...last.values()]);
        return ok(req, await completed(req, r.lsn));
      });
      q.post<{ Params: { name: string } }>('/collections/:name/points', async (req) => {
        const c = await collectionOf(req.params.name);
        const b = only(req.body, ['ids', 'with_payload', 'with_vector', 'consistency', 'shard_key'], 'body');
        if (!Array.isArray(b.ids)) bad('ids must be an array of point ids');
        const withVector = b.with_vector === true, withPayload = parseWithPayload(b.with_payload, true);
        const got = await n.get(req.params.name, (b.ids as unknown[]).map((id, i) => parseId(id, `ids[${i}]`)), withVector, consistencyOf(isObject(b.consistency) ? b.consistency : undefined));
        return ok(req, got.map((r) => {
          const payload = selectPayload(r.metadata, withPayload);
          return { id: r.id, ...(payload !== undefined ? { payload } : {}), ...(r.vector ? { vector: outVector(r.vector, c.metric) } : {}) };
        }));
      });
      q.get<{ Params: { name: string; id: string } }>('/collections/:name/points/:id', async (req) => {
        const c = await collectionOf(req.params.name);
        const raw = /^\d+$/.test(req.params.id) ? Number(req.params.id) : req.params.id;
        const got = await n.get(req.params.name, [parseId(raw, 'id')], true);
        if (got.length === 0) throw new NearestError('NOT_FOUND', `no point ${req.params.id}`, { id: req.params.id });
        return ok(req, { id: got[0].id, payload: got[0].metadata ?? {}, vector: outVector(got[0].vector!, c.metric) });
      });
      q.post<{ Params: { name: string } }>('/collections/:name/points/delete', async (req) => {
        await collectionOf(req.params.name);
        const b = only(req.body, ['points', 'filter', 'shard_key'], 'body');
        let r: { count: number; lsn: string };
        if (Array.isArray(b.points)) r = await n.delete(req.params.name, (b.points as unknown[]).map((id, i) => parseId(id, `points[${i}]`)));
        else if (b.filter !== undefined && b.filter !== null) { const f = qdrantFilter(b.filter); r = await n.deleteWhere(req.params.name, f.filter ?? {}, f.ids); }
        else return bad('expected points (ids) or filter');
        return ok(req, await completed(req, r.lsn));
      });
      // Payload updates (set merges, overwrite replaces, delete drops keys, clear empties), by points or filter.
      const payloadRoute = (method: 'post' | 'put', path: string, op: 'merge' | 'overwrite' | 'deleteKeys' | 'clear') =>
        q[method]<{ Params: { name: string } }>(`/collections/:name/points/${path}`, async (req) => {
          await collectionOf(req.params.name);
          const b = only(req.body, ['payload', 'keys', 'points', 'filter', 'key', 'shard_key'], 'body');
          if (b.key !== undefined && b.key !== null) bad('key (a nested path) is not supported in cluster mode');
          let select: { ids?: RecordId[]; filter?: Body };
          if (Array.isArray(b.points)) select = { ids: (b.points as unknown[]).map((id, i) => parseId(id, `points[${i}]`)) };
          else if (b.filter !== undefined && b.filter !== null) { const f = qdrantFilter(b.filter); select = { filter: f.filter ?? {}, ...(f.ids ? { ids: f.ids } : {}) }; }
          else select = bad('expected points (ids) or filter');
          const r = await n.updatePayload(req.params.name, select, op, op === 'deleteKeys' ? b.keys : b.payload);
          return ok(req, await completed(req, r.lsn));
        });
      payloadRoute('post', 'payload', 'merge');
      payloadRoute('put', 'payload', 'overwrite');
      payloadRoute('post', 'payload/delete', 'deleteKeys');
      payloadRoute('post', 'payload/clear', 'clear');
      q.post<{ Params: { name: string } }>('/collections/:name/points/count', async (req) => {
        await collectionOf(req.params.name);
        const b = only(req.body ?? {}, ['filter', 'exact', 'shard_key'], 'body');
        const f = qdrantFilter(b.filter);
        return ok(req, { count: (await n.scan(req.params.name, { limit: 0, ...f })).count });
      });
      q.post<{ Params: { name: string } }>('/collections/:name/points/scroll', async (req) => {
        const c = await collectionOf(req.params.name);
        const b = only(req.body ?? {}, ['filter', 'limit', 'offset', 'with_payload', 'with_vector', 'order_by', 'shard_key', 'consistency'], 'body');
        if (b.order_by !== undefined && b.order_by !== null) bad('order_by is not supported in cluster mode');
        const f = qdrantFilter(b.filter);
        const limit = optInt(b.limit, 'limit', 1, 10000) ?? 10;
        const page = await n.scan(req.params.name, {
          limit, withVector: b.with_vector === true, withPayload: true, ...f, ...(b.offset !== undefined && b.offset !== null ? { start: parseId(b.offset, 'offset') } : {}),
        });
        const withPayload = parseWithPayload(b.with_payload, true);
        return ok(req, {
          points: page.records.map((r) => {
            const payload = selectPayload(r.metadata, withPayload);
            return { id: r.id, ...(payload !== undefined ? { payload } : {}), ...(r.vector ? { vector: outVector(r.vector, c.metric) } : {}) };
          }),
          next_page_offset: page.next,
        });
      });
      const search = async (req: FastifyRequest<{ Params: { name: string } }>, vectorField: 'vector' | 'query') => {
        const c = await collectionOf(req.params.name);
        const b = only(req.body, [vectorField, 'limit', 'filter', 'params', 'with_payload', 'with_vector', 'score_threshold', 'consistency', 'offset'], 'body');
        if (!Array.isArray(b[vectorField])) bad(`${vectorField}: expected an array of numbers`);
        const limit = optInt(b.limit, 'limit', 1, 10000) ?? 10;
        const offset = optInt(b.offset, 'offset', 0, 10000) ?? 0;
        const o: ClusterSearchOptions = {};
        const f = qdrantFilter(b.filter);
        if (f.filter) o.filter = f.filter;
        if (f.ids) o.ids = f.ids;
        if (b.params !== undefined && b.params !== null) {
          const p = only(b.params, ['exact', 'hnsw_ef', 'indexed_only'], 'params');
          if (p.exact === true) o.exact = true;
          const ef = optInt(p.hnsw_ef, 'params.hnsw_ef', 1, 100000);
          if (ef !== undefined) o.efSearch = ef;
        }
        const after = consistencyOf(isObject(b.consistency) ? b.consistency : undefined);
        if (after !== undefined) o.afterLsn = after;
        let hits = await n.search(req.params.name, b[vectorField] as number[], limit + offset, o);
        hits = hits.slice(offset);
        const score = (h: ClusterHit) => (c.metric === 'euclidean' ? h.distance : h.score);
        if (typeof b.score_threshold === 'number') {
          const t = b.score_threshold;
          hits = hits.filter((h) => (c.metric === 'euclidean' ? score(h) <= t : score(h) >= t));
        }
        const withPayload = parseWithPayload(b.with_payload, false);
        return hits.map((h) => {
          const payload = selectPayload(h.metadata, withPayload);
          return { id: h.id, version: 0, score: score(h), ...(payload !== undefined ? { payload } : {}) };
        });
      };
      q.post<{ Params: { name: string } }>('/collections/:name/points/search', async (req) => ok(req, await search(req, 'vector')));
      q.post<{ Params: { name: string } }>('/collections/:name/points/query', async (req) => ok(req, { points: await search(req, 'query') }));
    });
    // --- Chroma (/api/v2) ---
    await a.register(chromaPlugin, {
      backend: clusterChromaBackend(n, {
        ...(options.chromaShards !== undefined ? { shards: options.chromaShards } : {}),
        ...(options.chromaReplicas !== undefined ? { replicas: options.chromaReplicas } : {}),
        ...(options.log ? { log: options.log } : {}),
      }),
    });
    await a.ready();
    return a;
  }

  return {
    async listen() {
      node = await ClusterNode.start({ ...options, ...(options.log ? { log: options.log } : {}) });
      try {
        app = await build(node);
        await app.listen({ host, port: options.port ?? 0 });
      } catch (e) {
        await app?.close().catch(() => {});
        await node.stop({ deregister: false });
        throw e;
      }
      const addr = app.server.address() as AddressInfo;
      url = `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;
      node.setUrl(options.advertiseUrl ?? url);
    },
    close() {
      closing ??= (async () => {
        const a = app;
        if (a) { const t = setTimeout(() => a.server.closeAllConnections(), 2000); try { await a.close(); } finally { clearTimeout(t); } }
        await node?.stop({ deregister: true });
      })();
      return closing;
    },
    get url() { return url; },
    get node() { return node; },
  };
}
