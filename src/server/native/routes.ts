// The native API under /v1: collections, records and searches, translated onto the service layer.
// Request shapes are checked by the TypeBox schemas (schemas.ts) before a handler runs; what they
// cannot say (exactly one of two fields, a cursor's content, vector values) is checked here or by
// the library, which throws NearestError for the error handler to map.
import type { FastifyInstance } from 'fastify';
import { NearestError, type RecordId } from '../../index.js';
import type { HitOutput, RecordOutput, VectorService } from '../service.js';
import { decodeVector, encodeVector, type VectorEncoding, type WireVector } from '../vectors.js';
import type {
  CountBody, CreateBody, DeleteBody, GetBody, NameParams, Schemas, ScrollBody, SearchBody, UpsertBody,
} from './schemas.js';

type Include = readonly ('metadata' | 'vector')[] | undefined;

interface WireRecord { id: RecordId; metadata?: unknown; vector?: number[] | string }
interface WireHit extends WireRecord { score: number; distance: number }

function toWire<T extends RecordOutput>(r: T, include: Include, dflt: readonly string[], enc: VectorEncoding | undefined): WireRecord {
  const inc = include ?? dflt;
  const out: WireRecord = { id: r.id };
  if (inc.includes('metadata') && r.metadata !== undefined) out.metadata = r.metadata;
  if (r.vector) out.vector = encodeVector(r.vector, enc ?? 'float');
  return out;
}

function hitToWire(h: HitOutput, include: Include, enc: VectorEncoding | undefined): WireHit {
  const out = toWire(h, include, ['metadata'], enc) as WireHit;
  out.score = h.score; out.distance = h.distance;
  return out;
}

const wants = (include: Include, dflt: boolean) => (include === undefined ? dflt : include.includes('vector'));

/** Scroll cursors: base64url of JSON { s: id } — opaque to clients, checked when they come back. */
function encodeCursor(id: RecordId): string {
  return Buffer.from(JSON.stringify({ s: id }), 'utf8').toString('base64url');
}

function decodeCursor(c: string): RecordId {
  let v: unknown;
  try { v = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')); } catch { v = undefined; }
  const s = (typeof v === 'object' && v !== null ? (v as { s?: unknown }).s : undefined);
  if ((typeof s === 'string' && s !== '') || (typeof s === 'number' && Number.isSafeInteger(s) && s >= 0)) return s;
  throw new NearestError('INVALID_ARGUMENT', 'cursor: not a cursor this server issued (pass nextCursor of the previous page, or omit it for the first page)', { received: c.slice(0, 64) });
}

/** Registers the /v1 routes on an app whose error handler maps NearestError. */
export function registerNativeRoutes(app: FastifyInstance, service: VectorService, s: Schemas): void {
  const read = { access: 'read' as const };
  const write = { access: 'write' as const };
  const tags = (t: string) => ({ tags: [t] });

  app.get('/v1/collections', {
    config: read,
    schema: { ...tags('collections'), summary: 'List collections', ...s.listCollections },
  }, async () => ({ collections: service.listCollections() }));

  app.put<{ Params: NameParams; Body: CreateBody }>('/v1/collections/:name', {
    config: write,
    schema: { ...tags('collections'), summary: 'Create a collection', ...s.createCollection },
  }, async (req, reply) => {
    const { dim, metric, index } = req.body;
    const info = await service.createCollection(req.params.name, { dim, ...(metric !== undefined ? { metric } : {}), ...(index !== undefined ? { index: index as never } : {}) });
    return reply.code(201).send(info);
  });

  app.get<{ Params: NameParams }>('/v1/collections/:name', {
    config: read,
    schema: { ...tags('collections'), summary: 'Describe a collection', ...s.getCollection },
  }, async (req) => service.describeCollection(req.params.name));

  app.delete<{ Params: NameParams }>('/v1/collections/:name', {
    config: write,
    schema: { ...tags('collections'), summary: 'Delete a collection and its records', ...s.deleteCollection },
  }, async (req) => {
    const name = req.params.name;
    if (!(await service.dropCollection(name))) {
      throw new NearestError('NOT_FOUND', `no collection named ${JSON.stringify(name)}`, { name });
    }
    return { deleted: true };
  });

  app.post<{ Params: NameParams; Body: UpsertBody }>('/v1/collections/:name/records', {
    config: write,
    schema: { ...tags('records'), summary: 'Insert or replace records (all or nothing; answered once on disk)', ...s.upsert },
  }, async (req) => {
    const records = req.body.records.map((r, i) => ({
      id: r.id, vector: decodeVector(r.vector as WireVector, `records[${i}].vector`), ...(r.metadata !== undefined ? { metadata: r.metadata as never } : {}),
    }));
    return { upserted: await service.upsert(req.params.name, records) };
  });

  app.post<{ Params: NameParams; Body: GetBody }>('/v1/collections/:name/records/get', {
    config: read,
    schema: { ...tags('records'), summary: 'Get records by id (missing ids are left out)', ...s.getRecords },
  }, async (req) => {
    const { ids, include, vectorEncoding } = req.body;
    const rows = service.get(req.params.name, ids, wants(include, true));
    return { records: rows.map((r) => toWire(r, include, ['metadata', 'vector'], vectorEncoding)) };
  });

  app.post<{ Params: NameParams; Body: DeleteBody }>('/v1/collections/:name/records/delete', {
    config: write,
    schema: { ...tags('records'), summary: 'Delete records by ids or by filter', ...s.deleteRecords },
  }, async (req) => {
    const { ids, filter } = req.body;
    if ((ids === undefined) === (filter === undefined)) {
      throw new NearestError('INVALID_ARGUMENT', 'records/delete: pass exactly one of ids or filter', { given: Object.keys(req.body) });
    }
    const deleted = ids !== undefined ? await service.deleteIds(req.params.name, ids) : await service.deleteWhere(req.params.name, filter!);
    return { deleted };
  });

  app.post<{ Params: NameParams; Body: CountBody }>('/v1/collections/:name/records/count', {
    config: read,
    schema: { ...tags('records'), summary: 'Count records (matching a filter)', ...s.count },
  }, async (req) => ({ count: service.count(req.params.name, req.body.filter) }));

  app.post<{ Params: NameParams; Body: ScrollBody }>('/v1/collections/:name/records/scroll', {
    config: read,
    schema: { ...tags('records'), summary: 'Page through records in id order (numbers ascending, then strings)', ...s.scroll },
  }, async (req) => {
    const { limit, cursor, filter, include, vectorEncoding } = req.body;
    const page = service.scroll(req.params.name, {
      limit: limit ?? 100,
      ...(cursor !== undefined ? { start: decodeCursor(cursor) } : {}),
      ...(filter !== undefined ? { filter } : {}),
      withVector: wants(include, false),
    });
    return {
      records: page.records.map((r) => toWire(r, include, ['metadata'], vectorEncoding)),
      nextCursor: page.next === null ? null : encodeCursor(page.next),
    };
  });

  app.post<{ Params: NameParams; Body: SearchBody }>('/v1/collections/:name/search', {
    config: read,
    schema: { ...tags('search'), summary: 'The k most similar records to a vector (or to each of vectors)', ...s.search },
  }, async (req) => {
    const b = req.body;
    if ((b.vector === undefined) === (b.vectors === undefined)) {
      throw new NearestError('INVALID_ARGUMENT', 'search: pass exactly one of vector (one query) or vectors (a batch)', { given: Object.keys(b) });
    }
    const params = {
      k: b.k,
      ...(b.filter !== undefined ? { filter: b.filter } : {}),
      ...(b.efSearch !== undefined ? { efSearch: b.efSearch } : {}),
      ...(b.nprobe !== undefined ? { nprobe: b.nprobe } : {}),
      ...(b.scoreThreshold !== undefined ? { scoreThreshold: b.scoreThreshold } : {}),
      withVector: wants(b.include, false),
    };
    if (b.vector !== undefined) {
      const hits = service.search(req.params.name, decodeVector(b.vector as WireVector, 'vector'), params);
      return { hits: hits.map((h) => hitToWire(h, b.include, b.vectorEncoding)) };
    }
    const queries = b.vectors!.map((v, i) => decodeVector(v as WireVector, `vectors[${i}]`));
    const results = service.searchBatch(req.params.name, queries, params);
    return { results: results.map((hits) => ({ hits: hits.map((h) => hitToWire(h, b.include, b.vectorEncoding)) })) };
  });
}
