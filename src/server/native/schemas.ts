// TypeBox schemas of the native API (/v1): Fastify validates requests and serialises responses with
// them, and @fastify/swagger turns them into /openapi.json, so the three never disagree. Bounds that
// depend on the server's limits (dim, batch size, k) are built from them.
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import type { ServerLimits } from '../options.js';
import { BASE64_PATTERN } from '../vectors.js';

const closed = { additionalProperties: false } as const;

/** The error body every failure carries. */
export const ErrorBody = Type.Object({
  error: Type.Object({
    code: Type.String({ description: 'A NearestError code (INVALID_ARGUMENT, DIMENSION_MISMATCH, NOT_FOUND, ALREADY_EXISTS, …) or UNAUTHORIZED, FORBIDDEN, TOO_MANY_REQUESTS, INTERNAL.' }),
    message: Type.String({ description: 'What was wrong and what was expected.' }),
    details: Type.Record(Type.String(), Type.Unknown(), { description: 'The same facts as data.' }),
  }),
}, { description: 'Every error response: { error: { code, message, details } }.' });

export const Metric = Type.Union([Type.Literal('cosine'), Type.Literal('euclidean'), Type.Literal('dot')], { description: "Default 'cosine'." });

export const RecordIdIn = Type.Union([
  Type.String({ minLength: 1, maxLength: 1024 }),
  Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
], { description: 'A string (1 to 1,024 characters) or a non-negative safe integer; 7 and "7" are different ids.' });

/** Ids and vectors in responses: described, not re-checked on the way out. */
const RecordIdOut = Type.Unsafe<string | number>({ description: 'The record id: a string or a non-negative integer.' });
const VectorOut = Type.Unsafe<number[] | string>({ description: "The vector: JSON numbers, or base64 of little-endian float32 with vectorEncoding: 'base64'." });

export const Include = Type.Array(Type.Union([Type.Literal('metadata'), Type.Literal('vector')]), {
  uniqueItems: true, maxItems: 2, description: "What to return besides the id (and score and distance for hits).",
});
export const VectorEncoding = Type.Union([Type.Literal('float'), Type.Literal('base64')], { description: "How returned vectors are written; default 'float'." });

export const IndexSpec = Type.Union([
  Type.String({ maxLength: 64, description: "An index factory string: 'Flat', 'HNSW32', 'HNSW16,SQ8', 'IVF1024,Flat', 'IVF256,SQ8', 'IVF1024,PQ32,RFlat'." }),
  Type.Object({ type: Type.Union([Type.Literal('flat'), Type.Literal('hnsw'), Type.Literal('ivf')]) }, {
    additionalProperties: true,
    description: "Store index options: { type: 'flat' } | { type: 'hnsw', m, efConstruction, efSearch, quantization: 'none'|'int8' } | { type: 'ivf', nlist, nprobe, encoding, refine, refineFactor, trainAt }; unknown keys are refused.",
  }),
]);

export const CollectionName = Type.Object({
  name: Type.String({ description: "1 to 255 of A–Z a–z 0–9 '_' '.' '-', not starting with '.' or '-'." }),
}, closed);

export const CollectionInfo = Type.Object({
  name: Type.String(),
  createdAt: Type.String({ description: 'ISO 8601.' }),
  status: Type.Union([Type.Literal('ready'), Type.Literal('readOnly'), Type.Literal('damaged')]),
  size: Type.Integer({ description: 'Records held.' }),
  dim: Type.Integer(),
  metric: Type.String(),
  index: Type.String({ description: 'The index as a factory string.' }),
  kernels: Type.String(),
  memoryBytes: Type.Number({ description: 'Bytes held in memory (index and record table; an estimate).' }),
  logBytes: Type.Number({ description: 'Bytes in the write-ahead log since the last compaction.' }),
  lastCompaction: Type.Union([Type.String(), Type.Null()]),
  seq: Type.Integer({ description: 'The last log sequence number applied.' }),
});

export function schemas(limits: ServerLimits) {
  const VectorIn = Type.Union([
    Type.Array(Type.Number(), { minItems: 1, maxItems: limits.dim, description: 'JSON numbers.' }),
    Type.String({ pattern: BASE64_PATTERN, maxLength: Math.ceil((limits.dim * 4) / 3) + 4, description: 'Base64 of little-endian float32, 4 bytes a component.' }),
  ]);
  const Filter = Type.Record(Type.String(), Type.Unknown(), {
    description: 'A metadata filter: { field: value }, $eq $ne $gt $gte $lt $lte $in $nin $exists $and $or $not, dotted paths.',
  });
  const Ids = Type.Array(RecordIdIn, { maxItems: limits.batchSize });
  const Record = Type.Object({ id: RecordIdIn, vector: VectorIn, metadata: Type.Optional(Type.Unknown({ description: 'Any JSON value.' })) }, closed);
  const RecordOut = Type.Object({ id: RecordIdOut, metadata: Type.Optional(Type.Unknown()), vector: Type.Optional(VectorOut) });
  const Hit = Type.Object({ id: RecordIdOut, score: Type.Number({ description: 'Higher is more similar.' }), distance: Type.Number({ description: 'Lower is more similar.' }), metadata: Type.Optional(Type.Unknown()), vector: Type.Optional(VectorOut) });
  const Hits = Type.Array(Hit);
  const errors = { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 413: ErrorBody, 429: ErrorBody, 503: ErrorBody };

  return {
    errors,
    createCollection: {
      params: CollectionName,
      body: Type.Object({ dim: Type.Integer({ minimum: 1, maximum: limits.dim }), metric: Type.Optional(Metric), index: Type.Optional(IndexSpec) }, closed),
      response: { 201: CollectionInfo, 409: ErrorBody, ...errors },
    },
    listCollections: { response: { 200: Type.Object({ collections: Type.Array(CollectionInfo) }), ...errors } },
    getCollection: { params: CollectionName, response: { 200: CollectionInfo, ...errors } },
    deleteCollection: { params: CollectionName, response: { 200: Type.Object({ deleted: Type.Boolean() }), ...errors } },
    upsert: {
      params: CollectionName,
      querystring: Type.Object({
        firstId: Type.Optional(Type.String({ pattern: '^(0|[1-9][0-9]{0,15})$', description: 'application/octet-stream only: the id of the first row; rows get firstId, firstId + 1, … (at most 2^53 − 1). Without it the store assigns ids and returns them.' })),
      }, closed),
      // Per content type: JSON records, or raw rows (validated by the handler; no text parsing).
      body: {
        content: {
          'application/json': { schema: Type.Object({ records: Type.Array(Record, { maxItems: limits.batchSize }) }, closed) },
          'application/octet-stream': { schema: Type.Unsafe<Buffer>({ description: 'Binary: n × dim little-endian float32 values, row after row (n = bytes / (dim × 4), at most the batch limit); no metadata. (No type here: Ajv would check a Buffer as a string.)' }) },
        },
      },
      response: {
        200: Type.Object({
          upserted: Type.Integer(),
          ids: Type.Optional(Type.Array(Type.Integer(), { description: 'application/octet-stream without firstId: the ids the store assigned, in row order.' })),
        }),
        ...errors,
      },
    },
    getRecords: {
      params: CollectionName,
      body: Type.Object({ ids: Ids, include: Type.Optional(Include), vectorEncoding: Type.Optional(VectorEncoding) }, closed),
      response: { 200: Type.Object({ records: Type.Array(RecordOut) }), ...errors },
    },
    deleteRecords: {
      params: CollectionName,
      body: Type.Object({ ids: Type.Optional(Ids), filter: Type.Optional(Filter) }, { ...closed, description: 'Exactly one of ids or filter.' }),
      response: { 200: Type.Object({ deleted: Type.Integer() }), ...errors },
    },
    count: {
      params: CollectionName,
      body: Type.Object({ filter: Type.Optional(Filter) }, closed),
      response: { 200: Type.Object({ count: Type.Integer() }), ...errors },
    },
    scroll: {
      params: CollectionName,
      body: Type.Object({
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: limits.batchSize, description: 'Records per page; default 100.' })),
        cursor: Type.Optional(Type.String({ maxLength: 2048, description: 'nextCursor of the previous page.' })),
        filter: Type.Optional(Filter),
        include: Type.Optional(Include),
        vectorEncoding: Type.Optional(VectorEncoding),
      }, closed),
      response: { 200: Type.Object({ records: Type.Array(RecordOut), nextCursor: Type.Union([Type.String(), Type.Null()], { description: 'Pass it as cursor for the next page; null at the end.' }) }), ...errors },
    },
    search: {
      params: CollectionName,
      body: Type.Object({
        vector: Type.Optional(VectorIn),
        vectors: Type.Optional(Type.Array(VectorIn, { minItems: 1, maxItems: limits.queries, description: 'A batch of queries (instead of vector).' })),
        k: Type.Integer({ minimum: 1, maximum: limits.k }),
        filter: Type.Optional(Filter),
        efSearch: Type.Optional(Type.Integer({ minimum: 1, description: 'HNSW beam width for this search (hnsw collections).' })),
        nprobe: Type.Optional(Type.Integer({ minimum: 1, description: 'IVF lists to scan for this search (ivf collections).' })),
        refineFactor: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'IVF collections with refine: re-rank refineFactor·k candidates exactly.' })),
        exact: Type.Optional(Type.Boolean({ description: 'Scan every (matching) record exactly instead of using the index: the exact k best. Takes no efSearch, nprobe or refineFactor.' })),
        ids: Type.Optional(Type.Array(Type.Union([Type.Integer({ minimum: 0 }), Type.String({ minLength: 1 })]), { maxItems: limits.batchSize, description: 'Search only among these records (missing ids are skipped).' })),
        include: Type.Optional(Include),
        vectorEncoding: Type.Optional(VectorEncoding),
        scoreThreshold: Type.Optional(Type.Number({ description: 'Keep only hits with score ≥ this. No default: without it, the k best come back whatever their scores.' })),
      }, { ...closed, description: 'Exactly one of vector or vectors.' }),
      response: {
        200: Type.Object({
          hits: Type.Optional(Hits),
          results: Type.Optional(Type.Array(Type.Object({ hits: Hits }))),
        }, { description: 'hits (best first) for a vector; results, one { hits } per query in order, for vectors.' }),
        ...errors,
      },
    },
  };
}

export type Schemas = ReturnType<typeof schemas>;
type S = Schemas;
export type CreateBody = Static<S['createCollection']['body']>;
export type UpsertBody = Static<S['upsert']['body']['content']['application/json']['schema']>;
export type UpsertQuery = Static<S['upsert']['querystring']>;
export type GetBody = Static<S['getRecords']['body']>;
export type DeleteBody = Static<S['deleteRecords']['body']>;
export type CountBody = Static<S['count']['body']>;
export type ScrollBody = Static<S['scroll']['body']>;
export type SearchBody = Static<S['search']['body']>;
export type NameParams = Static<typeof CollectionName>;
export type { TSchema };
