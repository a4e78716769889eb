// The Qdrant-compatible API at Qdrant's root paths (/, /collections/...), an encapsulated Fastify
// plugin over the same VectorService as the native API: Qdrant's request shapes in, Qdrant's
// { result, status: "ok", time } out, and its own error handler so failures read
// { status: { error }, time } with Qdrant's status codes.
//
// Mapping: a collection is one of ours (size → dim; Cosine / Euclid / Dot → cosine / euclidean /
// dot; hnsw_config → an hnsw index, m: 0 → flat); a point is a record (id: an unsigned integer or a
// UUID, kept in canonical lower-case hyphenated form; payload: the metadata object). Scores follow
// Qdrant: Cosine → cosine similarity, Dot → dot product, Euclid → Euclidean distance (ascending).
// Cosine collections return stored vectors normalised, as Qdrant does.
//
// Anything whose meaning we do not implement (named or sparse vectors, prefetch, order_by, filter
// conditions we cannot express, ...) is a 400 naming it, never silently ignored.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { NearestError, type JsonValue, type Metric, type RecordId, type StoreIndexOptions } from '../../index.js';
import { loggedWireError } from '../errors.js';
import type { CollectionShape, HitOutput, RecordOutput, SearchParams, VectorService } from '../service.js';
import { translateFilter } from './filter.js';
import { parseId } from './ids.js';

/** The Qdrant API version this layer follows (GET / reports it, so clients' version checks pass). */
export const QDRANT_API_VERSION = '1.19.0';

type Body = Record<string, unknown>;
interface NameParams { name: string }

export const DISTANCE_TO_METRIC: Record<string, Metric> = { Cosine: 'cosine', Euclid: 'euclidean', Dot: 'dot' };
export const METRIC_TO_DISTANCE: Record<Metric, string> = { cosine: 'Cosine', euclidean: 'Euclid', dot: 'Dot' };

function invalid(message: string, details: Record<string, unknown> = {}): never {
  throw new NearestError('INVALID_ARGUMENT', message, details);
}

function isObject(v: unknown): v is Body {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Error handling of the plugin: Qdrant's body and statuses. */
function qdrantError(err: unknown, req: FastifyRequest, reply: FastifyReply, started: number): FastifyReply {
  const w = loggedWireError(err, req.log);
  const prefix = w.status === 404 ? 'Not found: ' : w.status === 400 ? 'Wrong input: ' : '';
  const message = w.code === 'INTERNAL' ? 'Service internal error: see the server log' : `${prefix}${w.message}`;
  return reply.code(w.status).send({ status: { error: message }, time: (performance.now() - started) / 1000 });
}

function parseIds(v: unknown, where: string): RecordId[] {
  if (!Array.isArray(v)) invalid(`${where}: expected an array of point ids`);
  return v.map((x, i) => parseId(x, `${where}[${i}]`));
}

/** The plain vector of a point or query; named / sparse / multi vectors are refused. */
function parseVector(v: unknown, where: string, dim: number): number[] {
  if (!Array.isArray(v)) {
    if (isObject(v)) invalid(`${where}: named, sparse and multi vectors are not supported by this server; send the vector as an array of numbers`);
    invalid(`${where}: expected an array of numbers`);
  }
  if (Array.isArray(v[0])) invalid(`${where}: multi vectors are not supported by this server`);
  if (v.length !== dim) throw new NearestError('DIMENSION_MISMATCH', `Vector dimension error: expected dim: ${dim}, got ${v.length}`, { expected: dim, received: v.length });
  for (let i = 0; i < v.length; i++) {
    if (typeof v[i] !== 'number' || !Number.isFinite(v[i])) invalid(`${where}[${i}]: expected a finite number`);
  }
  return v as number[];
}

function parsePayload(v: unknown, where: string): JsonValue | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) invalid(`${where}: a payload is a JSON object`);
  return v as JsonValue;
}

export type PayloadSelector = true | false | { include?: string[]; exclude?: string[] };

/** Qdrant's with_payload (absent: `dflt`), checked. */
export function parseWithPayload(v: unknown, dflt: boolean): PayloadSelector {
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'boolean') return v;
  const strings = (x: unknown, w: string): string[] => {
    if (!Array.isArray(x) || x.some((s) => typeof s !== 'string')) invalid(`with_payload.${w}: expected an array of payload keys`);
    return x as string[];
  };
  if (Array.isArray(v)) return { include: strings(v, 'include') };
  if (isObject(v)) {
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === 'include') return { include: strings(v.include, 'include') };
    if (keys.length === 1 && keys[0] === 'exclude') return { exclude: strings(v.exclude, 'exclude') };
  }
  return invalid('with_payload: expected a boolean, an array of keys, { include: [...] } or { exclude: [...] }');
}

function parseWithVector(v: unknown, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt;
  if (typeof v === 'boolean') return v;
  return invalid('with_vector: named vectors are not supported by this server; pass true or false');
}

function getPath(o: unknown, path: string[]): unknown {
  let cur = o;
  for (const p of path) {
    if (!isObject(cur) || !Object.prototype.hasOwnProperty.call(cur, p)) return undefined;
    cur = cur[p];
  }
  return cur;
}

/** The payload a selector picks (nested keys as dotted paths). */
export function selectPayload(meta: JsonValue | undefined, sel: PayloadSelector): Body | undefined {
  if (sel === false) return undefined;
  const full = isObject(meta) ? meta : {};
  if (sel === true) return full;
  if (sel.include) {
    const out: Body = {};
    for (const k of sel.include) {
      const path = k.split('.');
      const v = getPath(full, path);
      if (v === undefined) continue;
      let at = out;
      for (const p of path.slice(0, -1)) { if (!isObject(at[p])) at[p] = {}; at = at[p] as Body; }
      at[path[path.length - 1]!] = v;
    }
    return out;
  }
  const out: Body = JSON.parse(JSON.stringify(full)) as Body;
  for (const k of sel.exclude ?? []) {
    const path = k.split('.');
    const parent = getPath(out, path.slice(0, -1));
    if (isObject(parent)) delete parent[path[path.length - 1]!];
  }
  return out;
}

/** A stored vector as Qdrant returns it: normalised under Cosine. */
export function outVector(v: ArrayLike<number>, metric: Metric): number[] {
  if (metric !== 'cosine') return Array.from(v);
  let n = 0;
  for (let i = 0; i < v.length; i++) n += v[i]! * v[i]!;
  if (n === 0) return Array.from(v);
  const s = 1 / Math.sqrt(n);
  return Array.from(v, (x) => x * s);
}

interface PointOut { id: RecordId; payload?: Body; vector?: number[]; [k: string]: unknown }

function pointOut(r: RecordOutput, sel: PayloadSelector, metric: Metric): PointOut {
  const out: PointOut = { id: r.id };
  const payload = selectPayload(r.metadata, sel);
  if (payload !== undefined) out.payload = payload;
  if (r.vector) out.vector = outVector(r.vector, metric);
  return out;
}

function scoredOut(h: HitOutput, sel: PayloadSelector, metric: Metric): PointOut {
  const p = pointOut(h, sel, metric);
  return { id: p.id, version: 0, score: metric === 'euclidean' ? h.distance : h.score, ...(p.payload !== undefined ? { payload: p.payload } : {}), ...(p.vector !== undefined ? { vector: p.vector } : {}) };
}

/** Refuses request members whose meaning this server does not implement (null counts as absent). */
function refuse(b: Body, keys: readonly string[], where: string): void {
  for (const k of keys) {
    if (b[k] !== undefined && b[k] !== null) invalid(`${where}: "${k}" is not supported by this server`, { field: k });
  }
}

function limitOf(v: unknown, dflt: number, where: string): number {
  if (v === undefined || v === null) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) invalid(`${where}: expected a non-negative integer`);
  return v;
}

function hnswOf(index: string): { m: number } | null {
  const m = /^HNSW(\d+)/.exec(index);
  return m ? { m: Number(m[1]) } : null;
}

function parseMmr(v: unknown, dfltCandidates: number): { diversity: number; candidates: number } {
  if (!isObject(v)) return invalid('query.mmr: expected { diversity, candidates_limit }');
  for (const k of Object.keys(v)) if (k !== 'diversity' && k !== 'candidates_limit' && v[k] !== null && v[k] !== undefined) invalid(`query.mmr.${k}: not supported (supported: diversity, candidates_limit)`);
  const d = v.diversity ?? 0.5;
  if (typeof d !== 'number' || !(d >= 0 && d <= 1)) invalid('query.mmr.diversity: expected a number from 0 (relevance only) to 1 (diversity only)');
  const n = limitOf(v.candidates_limit, dfltCandidates, 'query.mmr.candidates_limit');
  return { diversity: d, candidates: n };
}

/** Qdrant's similarity between two vectors: cosine, dot product, or minus the Euclidean distance. */
function similarity(metric: Metric, a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0, na = 0, nb = 0, l2 = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!;
    dot += x * y; na += x * x; nb += y * y; l2 += (x - y) * (x - y);
  }
  if (metric === 'euclidean') return -Math.sqrt(l2);
  if (metric === 'dot') return dot;
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

/**
 * Greedy MMR over candidates carrying vectors (Carbonell & Goldstein; Qdrant's variant): first the
 * most relevant, then repeatedly the one maximising λ·sim(query) − (1 − λ)·max sim(selected).
 * O(limit · candidates · dim).
 */
function maximalMarginalRelevance(cands: HitOutput[], query: number[], metric: Metric, lambda: number, limit: number): HitOutput[] {
  const rel = cands.map((h) => similarity(metric, query, h.vector!));
  const maxSim = new Array<number>(cands.length).fill(-Infinity);
  const taken = new Array<boolean>(cands.length).fill(false);
  const out: HitOutput[] = [];
  while (out.length < Math.min(limit, cands.length)) {
    let best = -1, bestScore = -Infinity;
    for (let i = 0; i < cands.length; i++) {
      if (taken[i]) continue;
      const score = out.length === 0 ? rel[i]! : lambda * rel[i]! - (1 - lambda) * maxSim[i]!;
      if (best === -1 || score > bestScore) { best = i; bestScore = score; }
    }
    taken[best] = true;
    out.push(cands[best]!);
    for (let i = 0; i < cands.length; i++) {
      if (!taken[i]) maxSim[i] = Math.max(maxSim[i]!, similarity(metric, cands[i]!.vector!, cands[best]!.vector!));
    }
  }
  return out;
}

const ObjectBody = Type.Object({}, { additionalProperties: true });
const NameSchema = Type.Object({ name: Type.String() });

/**
 * Qdrant's response shapes for an encapsulated scope: times every request, answers failures as
 * { status: { error }, time } with Qdrant's statuses, and returns the { result, status, time } maker.
 */
export function qdrantResponses(app: FastifyInstance): (req: FastifyRequest, result: unknown) => { result: unknown; status: 'ok'; time: number } {
  const startedAt = new WeakMap<FastifyRequest, number>();
  app.addHook('onRequest', async (req) => { startedAt.set(req, performance.now()); });
  app.setErrorHandler((err, req, reply) => qdrantError(err, req, reply, startedAt.get(req) ?? performance.now()));
  return (req, result) => ({ result, status: 'ok', time: (performance.now() - (startedAt.get(req) ?? performance.now())) / 1000 });
}

/** Registers the Qdrant-compatible routes (call through app.register, so its error handler is its own). */
export async function qdrantPlugin(app: FastifyInstance, opts: { service: VectorService; version: string }): Promise<void> {
  const service = opts.service;
  const read = { access: 'read' as const };
  const write = { access: 'write' as const };
  const ok = qdrantResponses(app);

  const missing = (name: string) => new NearestError('NOT_FOUND', `Collection \`${name}\` doesn't exist!`, { name });
  const describe = (name: string) => {
    if (!service.hasCollection(name)) throw missing(name);
    return service.shape(name);
  };
  const updated = (req: FastifyRequest) => ok(req, { operation_id: 0, status: 'completed' });
  const schema = (extra: Record<string, unknown> = {}) => ({ hide: true, params: NameSchema, ...extra });
  const bodySchema = schema({ body: ObjectBody });

  app.get('/', { config: read, schema: { hide: true } }, async () => ({ title: 'qdrant - vector search engine (nearest)', version: QDRANT_API_VERSION, nearest: opts.version }));

  // --- collections ---

  app.get('/collections', { config: read, schema: { hide: true } }, async (req) => ok(req, { collections: service.listCollections().map((c) => ({ name: c.name })) }));

  app.get<{ Params: NameParams }>('/collections/:name/exists', { config: read, schema: schema() }, async (req) => ok(req, { exists: service.hasCollection(req.params.name) }));

  app.get<{ Params: NameParams }>('/collections/:name', { config: read, schema: schema() }, async (req) => {
    if (!service.hasCollection(req.params.name)) throw missing(req.params.name);
    const c = service.describeCollection(req.params.name);
    const hnsw = hnswOf(c.index);
    return ok(req, {
      status: c.status === 'damaged' ? 'red' : 'green',
      optimizer_status: 'ok',
      indexed_vectors_count: hnsw ? c.size : 0,
      points_count: c.size,
      segments_count: 1,
      config: {
        params: { vectors: { size: c.dim, distance: METRIC_TO_DISTANCE[c.metric] }, shard_number: 1, replication_factor: 1, write_consistency_factor: 1, on_disk_payload: false },
        hnsw_config: { m: hnsw ? hnsw.m : 0, ef_construct: 200, full_scan_threshold: 0, max_indexing_threads: 0, on_disk: false },
        optimizer_config: { deleted_threshold: 0.2, vacuum_min_vector_number: 1000, default_segment_number: 0, max_segment_size: null, memmap_threshold: null, indexing_threshold: 0, flush_interval_sec: 0, max_optimization_threads: null },
        wal_config: { wal_capacity_mb: 32, wal_segments_ahead: 0 },
        quantization_config: null,
      },
      payload_schema: {},
    });
  });

  app.put<{ Params: NameParams; Body: Body }>('/collections/:name', { config: write, schema: bodySchema }, async (req) => {
    const b = req.body;
    refuse(b, ['sparse_vectors', 'quantization_config', 'sharding_method', 'init_from', 'strict_mode_config'], 'create collection');
    const v = b.vectors;
    if (!isObject(v) || typeof v.size !== 'number') invalid('vectors: expected { size, distance } (named vectors are not supported by this server)');
    for (const k of Object.keys(v)) if (!['size', 'distance', 'on_disk', 'hnsw_config', 'datatype'].includes(k) || (k === 'datatype' && v[k] !== 'float32' && v[k] != null)) invalid(`vectors.${k}: not supported by this server (supported: size, distance, hnsw_config; datatype float32)`);
    if (!Number.isSafeInteger(v.size) || (v.size as number) < 1) invalid('vectors.size: expected a positive integer');
    const metric = DISTANCE_TO_METRIC[v.distance as string];
    if (metric === undefined) invalid(`vectors.distance: expected one of Cosine, Euclid, Dot, got ${JSON.stringify(v.distance)}`);
    const h = { ...(isObject(b.hnsw_config) ? b.hnsw_config : {}), ...(isObject(v.hnsw_config) ? v.hnsw_config : {}) };
    for (const k of Object.keys(h)) if (!['m', 'ef_construct', 'full_scan_threshold', 'max_indexing_threads', 'on_disk', 'payload_m'].includes(k)) invalid(`hnsw_config.${k}: not supported by this server`);
    const m = h.m ?? 16;
    if (typeof m !== 'number' || !Number.isSafeInteger(m) || m < 0) invalid('hnsw_config.m: expected a non-negative integer');
    let index: StoreIndexOptions;
    if (m === 0) index = { type: 'flat' };
    else {
      const ef = h.ef_construct ?? 100;
      if (typeof ef !== 'number' || !Number.isSafeInteger(ef) || ef < 4) invalid('hnsw_config.ef_construct: expected an integer ≥ 4');
      index = { type: 'hnsw', m, efConstruction: ef };
    }
    if (service.hasCollection(req.params.name)) throw new NearestError('ALREADY_EXISTS', `Collection \`${req.params.name}\` already exists!`, { name: req.params.name });
    await service.createCollection(req.params.name, { dim: v.size as number, metric, index });
    return ok(req, true);
  });

  app.delete<{ Params: NameParams }>('/collections/:name', { config: write, schema: schema() }, async (req) => ok(req, await service.dropCollection(req.params.name)));

  // --- points ---

  app.put<{ Params: NameParams; Body: Body }>('/collections/:name/points', { config: write, schema: bodySchema }, async (req) => {
    const c = describe(req.params.name);
    const b = req.body;
    refuse(b, ['shard_key', 'update_filter'], 'upsert');
    let records: { id: RecordId; vector: number[]; metadata?: JsonValue }[];
    if (Array.isArray(b.points) && (b.batch === undefined || b.batch === null)) {
      records = b.points.map((p: unknown, i) => {
        if (!isObject(p)) invalid(`points[${i}]: expected { id, vector, payload }`);
        for (const k of Object.keys(p)) if (k !== 'id' && k !== 'vector' && k !== 'payload') invalid(`points[${i}].${k}: not supported`);
        const payload = parsePayload(p.payload, `points[${i}].payload`);
        return { id: parseId(p.id, `points[${i}].id`), vector: parseVector(p.vector, `points[${i}].vector`, c.dim), ...(payload !== undefined ? { metadata: payload } : {}) };
      });
    } else if (isObject(b.batch) && (b.points === undefined || b.points === null)) {
      const { ids, vectors, payloads } = b.batch;
      if (!Array.isArray(ids) || !Array.isArray(vectors) || ids.length !== vectors.length) invalid('batch: expected { ids, vectors, payloads? } with as many vectors as ids');
      if (payloads !== undefined && payloads !== null && (!Array.isArray(payloads) || payloads.length !== ids.length)) invalid('batch.payloads: expected as many payloads as ids');
      records = ids.map((id, i) => {
        const payload = parsePayload((payloads as unknown[] | undefined | null)?.[i], `batch.payloads[${i}]`);
        return { id: parseId(id, `batch.ids[${i}]`), vector: parseVector(vectors[i], `batch.vectors[${i}]`, c.dim), ...(payload !== undefined ? { metadata: payload } : {}) };
      });
    } else {
      return invalid('upsert: expected { points: [...] } or { batch: { ids, vectors, payloads } }');
    }
    // Qdrant keeps the last of repeated ids in one request.
    const last = new Map<RecordId, (typeof records)[number]>();
    for (const r of records) { last.delete(r.id); last.set(r.id, r); }
    await service.upsert(req.params.name, [...last.values()]);
    return updated(req);
  });

  app.post<{ Params: NameParams; Body: Body }>('/collections/:name/points', { config: read, schema: bodySchema }, async (req) => {
    const c = describe(req.params.name);
    const b = req.body;
    refuse(b, ['shard_key'], 'retrieve');
    const ids = parseIds(b.ids, 'ids');
    const sel = parseWithPayload(b.with_payload, true);
    const withVector = parseWithVector(b.with_vector, false);
    const seen = new Set<RecordId>();
    const unique = ids.filter((id) => (seen.has(id) ? false : (seen.add(id), true)));
    return ok(req, service.get(req.params.name, unique, withVector).map((r) => pointOut(r, sel, c.metric)));
  });

  app.post<{ Params: NameParams; Body: Body }>('/collections/:name/points/delete', { config: write, schema: bodySchema }, async (req) => {
    describe(req.params.name);
    const b = req.body;
    refuse(b, ['shard_key'], 'delete');
    const hasPoints = b.points !== undefined && b.points !== null;
    const hasFilter = b.filter !== undefined && b.filter !== null;
    if (hasPoints === hasFilter) invalid('delete: pass exactly one of points (ids) or filter');
    if (hasPoints) await service.deleteIds(req.params.name, parseIds(b.points, 'points'));
    else {
      const f = translateFilter(b.filter);
      await service.deleteWhere(req.params.name, f.filter ?? {}, f.ids);
    }
    return updated(req);
  });

  app.post<{ Params: NameParams; Body: Body }>('/collections/:name/points/count', { config: read, schema: bodySchema }, async (req) => {
    describe(req.params.name);
    const b = req.body;
    refuse(b, ['shard_key'], 'count');
    const f = translateFilter(b.filter);
    return ok(req, { count: service.count(req.params.name, f.filter, f.ids) });
  });

  app.post<{ Params: NameParams; Body: Body }>('/collections/:name/points/scroll', { config: read, schema: bodySchema }, async (req) => {
    const c = describe(req.params.name);
    const b = req.body;
    refuse(b, ['shard_key', 'order_by'], 'scroll');
    const f = translateFilter(b.filter);
    const limit = limitOf(b.limit, 10, 'limit');
    if (limit === 0) invalid('limit: expected at least 1');
    const page = service.scroll(req.params.name, {
      limit,
      ...(b.offset !== undefined && b.offset !== null ? { start: parseId(b.offset, 'offset') } : {}),
      ...(f.filter !== undefined ? { filter: f.filter } : {}),
      ...(f.ids !== undefined ? { ids: f.ids } : {}),
      withVector: parseWithVector(b.with_vector, false),
    });
    const sel = parseWithPayload(b.with_payload, true);
    return ok(req, { points: page.records.map((r) => pointOut(r, sel, c.metric)), next_page_offset: page.next });
  });

  // --- payload updates (vectors kept; one durable batch each) ---

  /** The selection of a payload update: points (ids, each must exist) and/or a filter. */
  const selection = (b: Body, what: string) => {
    refuse(b, ['shard_key'], what);
    const hasPoints = b.points !== undefined && b.points !== null;
    const hasFilter = b.filter !== undefined && b.filter !== null;
    if (!hasPoints && !hasFilter) invalid(`${what}: pass points (ids) or a filter`);
    const f = hasFilter ? translateFilter(b.filter) : {};
    const ids = hasPoints ? parseIds(b.points, 'points') : undefined;
    const within = f.ids === undefined ? null : new Set(f.ids);
    const only = ids !== undefined && within !== null ? ids.filter((id) => within.has(id)) : ids ?? f.ids;
    return { ...(only !== undefined ? { ids: only } : {}), ...(hasFilter ? { filter: f.filter ?? {} } : {}) };
  };
  const copyOf = (m: JsonValue | undefined): Body => (isObject(m) ? JSON.parse(JSON.stringify(m)) as Body : {});
  const pointMissing = (e: unknown) => {
    if (e instanceof NearestError && e.code === 'NOT_FOUND' && 'id' in e.details) throw new NearestError('NOT_FOUND', `No point with id ${String(e.details.id)} found`, e.details);
    throw e;
  };

  const setPayload = (overwrite: boolean) => async (req: FastifyRequest<{ Params: NameParams; Body: Body }>) => {
    describe(req.params.name);
    const b = req.body;
    if (b.key !== undefined && b.key !== null) invalid('set payload: "key" (setting under a nested path) is not supported by this server');
    const payload = parsePayload(b.payload, 'payload');
    if (payload === undefined) invalid('payload: expected a JSON object');
    const sel = selection(b, overwrite ? 'overwrite payload' : 'set payload');
    const fresh = payload as Body;
    await service.updateMetadata(req.params.name, sel, (old) => (overwrite ? fresh : { ...copyOf(old), ...fresh }) as JsonValue).catch(pointMissing);
    return updated(req);
  };
  app.post<{ Params: NameParams; Body: Body }>('/collections/:name/points/payload', { config: write, schema: bodySchema }, setPayload(false));
  app.put<{ Params: NameParams; Body: Body }>('/collections/:name/points/payload', { config: write, schema: bodySchema }, setPayload(true));

  app.post<{ Params: NameParams; Body: Body }>('/collections/:name/points/payload/delete', { config: write, schema: bodySchema }, async (req) => {
    describe(req.params.name);
    const b = req.body;
    const keys = b.keys;
    if (!Array.isArray(keys) || keys.some((k) => typeof k !== 'string' || k === '')) invalid('keys: expected an array of payload keys');
    const sel = selection(b, 'delete payload');
    await service.updateMetadata(req.params.name, sel, (old) => {
      const m = copyOf(old);
      for (const k of keys as string[]) {
        const path = k.split('.');
        const parent = getPath(m, path.slice(0, -1));
        if (isObject(parent)) delete parent[path[path.length - 1]!];
      }
      return m as JsonValue;
    }).catch(pointMissing);
    return updated(req);
  });

  app.post<{ Params: NameParams; Body: Body }>('/collections/:name/points/payload/clear', { config: write, schema: bodySchema }, async (req) => {
    describe(req.params.name);
    await service.updateMetadata(req.params.name, selection(req.body, 'clear payload'), () => ({})).catch(pointMissing);
    return updated(req);
  });

  // --- search ---

  /** Runs a nearest search with Qdrant's limit, offset, params and score_threshold. */
  const nearest = async (name: string, metric: Metric, index: CollectionShape['index'], vector: number[], b: Body, k: number): Promise<HitOutput[]> => {
    const offset = limitOf(b.offset, 0, 'offset');
    const f = translateFilter(b.filter);
    const p: SearchParams = { k: k + offset, withVector: parseWithVector(b.with_vector, false), ...(f.filter !== undefined ? { filter: f.filter } : {}), ...(f.ids !== undefined ? { ids: f.ids } : {}) };
    let exact = false;
    const params = b.params;
    if (params !== undefined && params !== null) {
      if (!isObject(params)) invalid('params: expected { hnsw_ef, exact }');
      for (const key of Object.keys(params)) {
        const v = params[key];
        if (v === null || v === undefined) continue;
        if (key === 'exact') { if (typeof v !== 'boolean') invalid('params.exact: expected a boolean'); exact = v; }
        else if (key === 'hnsw_ef') {
          if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) invalid('params.hnsw_ef: expected a positive integer');
          if (index === 'hnsw' && f.ids === undefined) p.efSearch = Math.max(v, k + offset); // the beam is at least the results asked for
        } else if (key === 'indexed_only' || key === 'quantization') { /* no unindexed segments, no quantized rescoring: no effect */ }
        else invalid(`params.${key}: not supported by this server (supported: hnsw_ef, exact)`);
      }
    }
    if (p.k === 0) return [];
    let hits = await (exact ? service.searchExact(name, vector, p) : service.search(name, vector, p));
    hits = hits.slice(offset);
    if (b.score_threshold !== undefined && b.score_threshold !== null) {
      const t = b.score_threshold;
      if (typeof t !== 'number' || !Number.isFinite(t)) invalid('score_threshold: expected a number');
      hits = hits.filter((h) => (metric === 'euclidean' ? h.distance <= t : h.score >= t));
    }
    return hits;
  };

  /** A legacy search request (`points/search`, or one of `points/search/batch`). */
  const runSearch = async (name: string, c: CollectionShape, b: Body) => {
    if (!isObject(b)) invalid('search: expected a search request object');
    refuse(b, ['shard_key'], 'search');
    if (b.vector === undefined) invalid('search: vector is required');
    const vector = parseVector(b.vector, 'vector', c.dim);
    if (b.limit === undefined || b.limit === null) invalid('search: limit is required');
    const hits = await nearest(name, c.metric, c.index, vector, b, limitOf(b.limit, 10, 'limit'));
    const sel = parseWithPayload(b.with_payload, false);
    return hits.map((h) => scoredOut(h, sel, c.metric));
  };

  /** A universal query (`points/query`, or one of `points/query/batch`). */
  const runQuery = async (name: string, c: CollectionShape, b: Body) => {
    if (!isObject(b)) invalid('query: expected a query request object');
    refuse(b, ['shard_key', 'prefetch', 'lookup_from'], 'query');
    if (b.using !== undefined && b.using !== null && b.using !== '') invalid('query: "using" (named vectors) is not supported by this server');
    let q = b.query;
    let mmr: { diversity: number; candidates: number } | null = null;
    const limit = limitOf(b.limit, 10, 'limit');
    if (isObject(q)) {
      const qq = q;
      const keys = Object.keys(qq).filter((k) => qq[k] !== undefined && qq[k] !== null);
      if (!keys.includes('nearest') || keys.some((k) => k !== 'nearest' && k !== 'mmr')) invalid(`query: ${keys.join(', ') || '{}'} is not supported by this server (supported: a vector, { nearest: vector }, { nearest: vector, mmr: { diversity, candidates_limit } })`);
      if (qq.mmr !== undefined && qq.mmr !== null) mmr = parseMmr(qq.mmr, limit + limitOf(b.offset, 0, 'offset'));
      q = qq.nearest;
    }
    if (q === undefined || q === null) invalid('query: a query vector is required by this server (queries without one are not supported)');
    if (!Array.isArray(q)) invalid('query: a point id or other query kinds are not supported by this server; pass a vector');
    const vector = parseVector(q, 'query', c.dim);
    const sel = parseWithPayload(b.with_payload, false);
    if (mmr === null) {
      const hits = await nearest(name, c.metric, c.index, vector, b, limit);
      return { points: hits.map((h) => scoredOut(h, sel, c.metric)) };
    }
    // MMR: the candidates_limit nearest (filter, params and score_threshold apply to them), then
    // Qdrant's greedy selection; the points keep their query scores, in the order selected.
    const offset = limitOf(b.offset, 0, 'offset');
    const candidates = await nearest(name, c.metric, c.index, vector, { ...b, offset: 0, with_vector: true }, mmr.candidates);
    const picked = maximalMarginalRelevance(candidates, vector, c.metric, 1 - mmr.diversity, limit + offset).slice(offset);
    const withVector = parseWithVector(b.with_vector, false);
    return { points: picked.map((h) => scoredOut(withVector ? h : { ...h, vector: undefined }, sel, c.metric)) };
  };

  /** The requests of a batch: every one is checked before any runs (so one bad request fails the batch). */
  const batchOf = (b: Body): Body[] => {
    const list = b.searches;
    if (!Array.isArray(list)) invalid('searches: expected an array of requests');
    if (list.length > service.limits.queries) throw new NearestError('CAPACITY_EXCEEDED', `searches: at most ${service.limits.queries} per request on this server, got ${list.length}`, { max: service.limits.queries, received: list.length });
    return list as Body[];
  };

  app.post<{ Params: NameParams; Body: Body }>('/collections/:name/points/search', { config: read, schema: bodySchema }, async (req) => ok(req, await runSearch(req.params.name, describe(req.params.name), req.body)));

  app.post<{ Params: NameParams; Body: Body }>('/collections/:name/points/search/batch', { config: read, schema: bodySchema }, async (req) => {
    const c = describe(req.params.name);
    return ok(req, await Promise.all(batchOf(req.body).map((b) => runSearch(req.params.name, c, b))));
  });

  app.post<{ Params: NameParams; Body: Body }>('/collections/:name/points/query', { config: read, schema: bodySchema }, async (req) => ok(req, await runQuery(req.params.name, describe(req.params.name), req.body)));

  app.post<{ Params: NameParams; Body: Body }>('/collections/:name/points/query/batch', { config: read, schema: bodySchema }, async (req) => {
    const c = describe(req.params.name);
    return ok(req, await Promise.all(batchOf(req.body).map((b) => runQuery(req.params.name, c, b))));
  });

  app.get<{ Params: NameParams & { id: string } }>('/collections/:name/points/:id', { config: read, schema: { hide: true, params: Type.Object({ name: Type.String(), id: Type.String() }) } }, async (req) => {
    const c = describe(req.params.name);
    const raw = req.params.id;
    const id = parseId(/^\d+$/.test(raw) ? Number(raw) : raw, 'id');
    const [r] = service.get(req.params.name, [id], true);
    if (!r) throw new NearestError('NOT_FOUND', `No point with id ${raw} found`, { id: raw });
    return ok(req, pointOut(r, true, c.metric));
  });

  // Paths under /collections this API does not have: Qdrant's error body (after any route above).
  app.all('/collections/*', { config: read, schema: { hide: true } }, async (req) => {
    const path = req.url.length > 200 ? `${req.url.slice(0, 200)}…` : req.url;
    throw new NearestError('NOT_FOUND', `no route ${req.method} ${path} on this server (see docs/server.md for the Qdrant API it offers)`, {});
  });

  // Payload indexes speed up Qdrant's filtered search; filters here need none (they are evaluated
  // on the records), so creating or deleting one checks the collection and changes nothing.
  app.put<{ Params: NameParams; Body: Body }>('/collections/:name/index', { config: write, schema: bodySchema }, async (req) => {
    describe(req.params.name);
    if (typeof req.body.field_name !== 'string' || req.body.field_name === '') invalid('field_name: expected a payload key');
    return updated(req);
  });

  app.delete<{ Params: NameParams & { field: string } }>('/collections/:name/index/:field', { config: write, schema: { hide: true, params: Type.Object({ name: Type.String(), field: Type.String() }) } }, async (req) => {
    describe(req.params.name);
    return updated(req);
  });
}
