// The native API under /v1: collections, records and searches, translated onto the service layer.
// Request shapes are checked by the TypeBox schemas (schemas.ts) before a handler runs; what they
// cannot say (exactly one of two fields, a cursor's content, vector values) is checked here or by
// the library, which throws NearestError for the error handler to map.
import type { FastifyInstance } from 'fastify';
import { NearestError, type RecordId } from '../../index.js';
import type { HitOutput, RecordOutput, VectorService } from '../service.js';
import { decodeVector, encodeVector, float32View, type VectorEncoding, type WireVector } from '../vectors.js';
import type {
  CountBody, CreateBody, DeleteBody, GetBody, NameParams, Schemas, ScrollBody, SearchBody, UpsertBody, UpsertQuery,
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
export function encodeCursor(id: RecordId): string {
  return Buffer.from(JSON.stringify({ s: id }), 'utf8').toString('base64url');
}

export function decodeCursor(c: string): RecordId {
  let v: unknown;
  try { v = JSON.parse(Buffer.from(c, 'base64url').toString('utf8')); } catch { v = undefined; }
  const s = (typeof v === 'object' && v !== null ? (v as { s?: unknown }).s : undefined);
  if ((typeof s === 'string' && s !== '') || (typeof s === 'number' && Number.isSafeInteger(s) && s >= 0)) return s;
  throw new NearestError('INVALID_ARGUMENT', 'cursor: not a cursor this server issued (pass nextCursor of the previous page, or omit it for the first page)', { received: c.slice(0, 64) });
}

/**
 * A binary upsert: the body is n × dim little-endian float32 rows (n from its length), ids
 * firstId, firstId + 1, … or, without firstId, assigned by the store (and returned).
 */
async function upsertRows(service: VectorService, name: string, body: Buffer, firstIdText: string | undefined): Promise<{ upserted: number; ids?: number[] }> {
  const { dim } = service.shape(name);
  const rowBytes = dim * 4;
  if (body.byteLength === 0 || body.byteLength % rowBytes !== 0) {
    throw new NearestError('INVALID_ARGUMENT', `body: ${body.byteLength} bytes is not a whole, non-zero number of rows of ${dim} little-endian float32 values (${rowBytes} bytes each)`, { bytes: body.byteLength, dim, rowBytes });
  }
  const rows = float32View(body, true);
  const n = body.byteLength / rowBytes;
  if (firstIdText === undefined) {
    const ids = await service.addRows(name, rows);
    return { upserted: ids.length, ids };
  }
  const firstId = Number(firstIdText);
  if (n - 1 > Number.MAX_SAFE_INTEGER - firstId) { // (firstId + n - 1 would round)
    throw new NearestError('INVALID_ARGUMENT', `firstId: ${n} rows from ${firstIdText} pass 2^53 − 1, the largest integer id`, { firstId: firstIdText, rows: n, max: Number.MAX_SAFE_INTEGER });
  }
  const records = Array.from({ length: n }, (_, i) => ({ id: firstId + i, vector: rows.subarray(i * dim, (i + 1) * dim) }));
  return { upserted: await service.upsert(name, records) };
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

  // One route, two bodies: JSON records, or application/octet-stream rows. The binary parser is
  // registered in this scope only, so other routes still answer 415 to octet-stream bodies.
  void app.register(async (scope) => {
    scope.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => { done(null, body); });
    scope.post<{ Params: NameParams; Querystring: UpsertQuery; Body: UpsertBody | Buffer | string }>('/v1/collections/:name/records', {
      config: write,
      schema: {
        ...tags('records'),
        summary: 'Insert or replace records (all or nothing; answered once on disk)',
        description: 'JSON { records }, or application/octet-stream: n × dim little-endian float32 rows, ids from ?firstId=N (consecutive) or assigned by the store and returned.',
        ...s.upsert,
      },
    }, async (req) => {
      const { name } = req.params;
      const body = req.body;
      if (Buffer.isBuffer(body)) return upsertRows(service, name, body, req.query.firstId);
      if (req.query.firstId !== undefined) throw new NearestError('INVALID_ARGUMENT', 'firstId: only for application/octet-stream bodies (JSON records carry their ids)', {});
      if (typeof body !== 'object' || body === null) throw new NearestError('INVALID_ARGUMENT', 'body: expected JSON { records: [...] } (application/json) or float32 rows (application/octet-stream)', {});
      const records = body.records.map((r, i) => ({
        id: r.id, vector: decodeVector(r.vector as WireVector, `records[${i}].vector`), ...(r.metadata !== undefined ? { metadata: r.metadata as never } : {}),
      }));
      return { upserted: await service.upsert(name, records) };
    });
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
      ...(b.refineFactor !== undefined ? { refineFactor: b.refineFactor } : {}),
      ...(b.exact !== undefined ? { exact: b.exact } : {}),
      ...(b.ids !== undefined ? { ids: b.ids } : {}),
      ...(b.scoreThreshold !== undefined ? { scoreThreshold: b.scoreThreshold } : {}),
      withVector: wants(b.include, false),
    };
    if (b.vector !== undefined) {
      const hits = await service.search(req.params.name, decodeVector(b.vector as WireVector, 'vector'), params);
      return { hits: hits.map((h) => hitToWire(h, b.include, b.vectorEncoding)) };
    }
    const queries = b.vectors!.map((v, i) => decodeVector(v as WireVector, `vectors[${i}]`));
    const results = await service.searchBatch(req.params.name, queries, params);
    return { results: results.map((hits) => ({ hits: hits.map((h) => hitToWire(h, b.include, b.vectorEncoding)) })) };
  });
}
