// The Chroma-compatible API under /api/v2 (what the chromadb 3.x client calls), an encapsulated
// Fastify plugin with its own error handler so failures read { error, message } with Chroma's
// statuses (wire.ts). It runs over a ChromaBackend (backend.ts): a single server's VectorService
// (the same as the native and Qdrant APIs) or a cluster node.
//
// Mapping: tenants, databases and collections are kept by the catalog (catalog.ts); a collection's
// records live in our collection `chroma-UUID` (created at the first add, with the dimension of
// its first embedding; l2 / cosine / ip → euclidean / cosine / dot; an HNSW index with
// max_neighbors → m and ef_construction → efConstruction); a record's document, uri and insertion
// number are reserved keys of its metadata (records.ts); where / where_document translate in
// where.ts. Distances are Chroma's: l2 the squared Euclidean distance, cosine 1 − cos, ip 1 − dot.
//
// Chroma semantics kept: add ignores ids that exist; upsert and update merge metadata (a null
// value removes the key) and keep the document, uri and embedding not given; update skips ids
// that do not exist; get returns insertion order; a filtered query is exact over the records that
// pass the filters. Writes to one collection run one at a time (each reads what the previous one
// wrote: merges, "add ignores existing" and insertion numbers need that): the backend's `write`.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NearestError, type JsonValue, type Metric, type RecordId } from '../../index.js';
import type { ChromaBackend, NewRow, StoredHit } from './backend.js';
import { ChromaCatalog, DEFAULT_DATABASE, DEFAULT_TENANT, storeOf, type CollectionEntry, type HnswConfig, type Space } from './catalog.js';
import { fromStored, mergeMetadata, toStored, type ChromaMetadata, type ChromaParts, type Scalar } from './records.js';
import { compileWhereDocument, translateWhere, type DocumentPredicate } from './where.js';
import {
  ChromaError, bodyOf, chromaError, embeddings, includeList, invalid, isObject, metadata, metadatas, nullableStrings,
  optional, shortFloat, str, strings, typeError, u32, embedding, type Include,
} from './wire.js';

/** The Chroma server version this layer follows (GET /api/v2/version). */
export const CHROMA_VERSION = '1.0.0';

type Body = Record<string, unknown>;
type Db = { tenant: string; database: string };
type ColParams = Db & { collection_id: string };

const METRIC: Record<Space, Metric> = { l2: 'euclidean', cosine: 'cosine', ip: 'dot' };
const SPACES: readonly Space[] = ['l2', 'cosine', 'ip'];
const DEFAULT_HNSW: HnswConfig = { space: 'l2', ef_construction: 100, ef_search: 100, max_neighbors: 16, resize_factor: 1.2, sync_threshold: 1000 };
/** hnsw:* collection metadata keys and the configuration members they set. */
const HNSW_METADATA: Record<string, keyof HnswConfig | null> = {
  'hnsw:space': 'space', 'hnsw:construction_ef': 'ef_construction', 'hnsw:search_ef': 'ef_search', 'hnsw:M': 'max_neighbors',
  'hnsw:resize_factor': 'resize_factor', 'hnsw:sync_threshold': 'sync_threshold', 'hnsw:num_threads': null, 'hnsw:batch_size': null,
};
const HNSW_CREATE = ['space', 'ef_construction', 'ef_search', 'max_neighbors', 'num_threads', 'resize_factor', 'sync_threshold', 'batch_size'];
const HNSW_UPDATE = ['ef_search', 'max_neighbors', 'num_threads', 'resize_factor', 'sync_threshold', 'batch_size'];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const COLLECTION_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$/;

function checkCollectionName(name: string, field: string): string {
  if (!COLLECTION_NAME.test(name)) invalid(`Validation error: ${field}: Expected a name containing 3-512 characters from [a-zA-Z0-9._-], starting and ending with a character in [a-zA-Z0-9]. Got: ${name.slice(0, 600)}`);
  if (name.includes('..')) invalid(`Validation error: ${field}: Expected a name that does not contains two consecutive periods (..). Got ${name}`);
  return name;
}

function checkName(name: string, field: string): string {
  if (name.length < 3 || name.length > 512) invalid(`Validation error: ${field}: expected 3 to 512 characters, got ${name.length}`);
  return name;
}

/** Applies one HNSW parameter (from metadata or configuration) after checking it; `where` names it in errors. */
function setHnsw(h: HnswConfig, key: keyof HnswConfig, v: unknown, where: string): void {
  const bad = (expected: string): never => invalid(`Invalid HNSW parameters: ${where}: expected ${expected}, got ${JSON.stringify(v)}`);
  if (key === 'space') {
    if (!SPACES.includes(v as Space)) bad('one of l2, cosine, ip');
    h.space = v as Space;
  } else if (key === 'resize_factor') {
    if (typeof v !== 'number' || !(v > 0)) bad('a positive number');
    h.resize_factor = v as number;
  } else {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad('a non-negative integer');
    const n = v as number;
    if (key === 'max_neighbors' && (n < 2 || n > 256)) bad('an integer from 2 to 256 on this server');
    if ((key === 'ef_construction' && (n < 1 || n > 100_000)) || (key === 'ef_search' && n > 100_000)) bad(key === 'ef_search' ? 'at most 100000' : 'an integer from 1 to 100000');
    h[key] = n;
  }
}

/** Collection metadata: scalars only, not empty (Chroma's rules), hnsw:* keys checked. */
function collectionMetadata(v: unknown, path: string): ChromaMetadata {
  const m = metadata(v, path, false) as ChromaMetadata;
  if (Object.keys(m).length === 0) invalid(`Validation error: ${path}: Metadata cannot be empty`);
  return m;
}

function hnswFromMetadata(h: HnswConfig, m: ChromaMetadata | null): void {
  if (!m) return;
  for (const [k, v] of Object.entries(m)) {
    if (!k.startsWith('hnsw:')) continue;
    if (!(k in HNSW_METADATA)) invalid(`Invalid HNSW parameters: unknown field \`${k}\`, expected one of ${Object.keys(HNSW_METADATA).join(', ')}`);
    const key = HNSW_METADATA[k];
    if (key) setHnsw(h, key, v, k);
  }
}

/** A configuration's hnsw member (create or update), checked member by member. */
function hnswFromConfiguration(h: HnswConfig, v: unknown, path: string, allowed: readonly string[]): void {
  if (v === undefined || v === null) return;
  if (!isObject(v)) typeError(path, 'an object');
  for (const [k, x] of Object.entries(v)) {
    if (!allowed.includes(k)) typeError(`${path}.${k}`, `one of ${allowed.join(', ')} (unknown field)`);
    if (x === null || x === undefined || k === 'num_threads' || k === 'batch_size') continue;
    setHnsw(h, k as keyof HnswConfig, x, `${path}.${k}`);
  }
}

function embeddingFunctionOf(v: unknown, path: string): JsonValue | null {
  if (v === undefined || v === null) return null;
  if (!isObject(v) || (v.type !== 'legacy' && v.type !== 'known')) typeError(path, "{ type: 'legacy' } or { type: 'known', name, config }");
  if (v.type === 'known') str(v.name, `${path}.name`);
  return v as JsonValue;
}

function configurationMembers(v: unknown, path: string): Body {
  if (v === undefined || v === null) return {};
  if (!isObject(v)) typeError(path, 'an object');
  for (const k of Object.keys(v)) if (k !== 'hnsw' && k !== 'spann' && k !== 'embedding_function') typeError(`${path}.${k}`, 'one of hnsw, spann, embedding_function (unknown field)');
  if (v.spann !== undefined && v.spann !== null && !isObject(v.spann)) typeError(`${path}.spann`, 'an object');
  return v;
}

interface RecordSet {
  ids: string[];
  embeddings: (number[] | null)[] | undefined;
  metadatas: (Record<string, Scalar | null> | null)[] | undefined;
  documents: (string | null)[] | undefined;
  uris: (string | null)[] | undefined;
}

function uniqueIds(ids: string[]): void {
  const seen = new Set<string>();
  const dups = new Set<string>();
  for (const id of ids) {
    if (id === '') invalid('Empty ID, ID must have at least one character');
    if (seen.has(id)) dups.add(id);
    seen.add(id);
  }
  if (dups.size > 0) throw new NearestError('DUPLICATE_ID', `Expected IDs to be unique, found duplicates of: ${[...dups].slice(0, 5).join(', ')}`, { ids: [...dups].slice(0, 5) });
}

/** The records of add, upsert or update (Chroma's length and id rules; embeddings required to add or upsert). */
function recordSet(b: Body, op: 'add' | 'upsert' | 'update'): RecordSet {
  if (b.ids === undefined) typeError('ids', 'an array of strings (missing field `ids`)');
  const r: RecordSet = {
    ids: strings(b.ids, 'ids'),
    embeddings: optional(b, 'embeddings', (v, p) => embeddings(v, p, op === 'update')),
    metadatas: optional(b, 'metadatas', (v, p) => metadatas(v, p, op !== 'add')),
    documents: optional(b, 'documents', nullableStrings),
    uris: optional(b, 'uris', nullableStrings),
  };
  for (const list of [r.embeddings, r.metadatas, r.documents, r.uris]) {
    if (list !== undefined && list.length !== r.ids.length) invalid('Inconsistent number of IDs, embeddings, documents, URIs and metadatas');
  }
  uniqueIds(r.ids);
  if (op !== 'update' && r.embeddings === undefined && r.ids.length > 0) {
    invalid(`${op}: embeddings are required by this server (it computes no embeddings; pass them, or use an embedding function in the client)`);
  }
  return r;
}

function dimensionError(expected: number, got: number): never {
  throw new NearestError('DIMENSION_MISMATCH', `Collection expecting embedding with dimension of ${expected}, got ${got}`, { expected, received: got });
}

/** Registers the Chroma-compatible routes (through app.register, so its error handler is its own). */
export async function chromaPlugin(app: FastifyInstance, opts: { backend: ChromaBackend }): Promise<void> {
  const backend = opts.backend;
  const catalog = await ChromaCatalog.open(backend);
  const read = { access: 'read' as const };
  const write = { access: 'write' as const };
  const batch = backend.limits.batchSize;

  app.setErrorHandler((err, req, reply) => chromaError(err, req, reply));
  // Other nodes change a shared catalog: each request reads it as it is now.
  if (backend.shared) app.addHook('preHandler', async () => { await catalog.reload(); });

  const shapeOf = (c: CollectionEntry) => backend.shape(storeOf(c));

  async function ensureStore(c: CollectionEntry, dim: number): Promise<string> {
    const name = storeOf(c);
    await backend.createStore(name, { dim, metric: METRIC[c.hnsw.space], m: c.hnsw.max_neighbors, efConstruction: c.hnsw.ef_construction });
    return name;
  }

  function checkDims(dim0: number | undefined, list: readonly (readonly number[] | null)[]): number {
    let dim = dim0 ?? -1;
    for (const e of list) {
      if (e === null) continue;
      if (dim === -1) dim = e.length;
      else if (e.length !== dim) dimensionError(dim, e.length);
    }
    return dim;
  }

  // --- lookups ---

  const dbOf = (p: Db) => ({ tenant: p.tenant, database: p.database });
  const missingCollection = (key: string, dot = '') => new NearestError('NOT_FOUND', `Collection [${key}] does not exists${dot}`, { collection: key });

  /** A collection named in a path by name (or, failing that, by id). */
  function byNameOrId(p: ColParams): CollectionEntry {
    const c = catalog.byName(p.tenant, p.database, p.collection_id) ?? catalog.byId(p.collection_id);
    if (!c || c.tenant !== p.tenant || c.database !== p.database) throw missingCollection(p.collection_id);
    return c;
  }

  /** A collection named in a path by id (record routes and modify, as in Chroma). */
  function byId(p: ColParams): CollectionEntry {
    if (!UUID.test(p.collection_id)) invalid('Collection ID is not a valid UUIDv4');
    const c = catalog.byId(p.collection_id.toLowerCase());
    if (!c || c.tenant !== p.tenant || c.database !== p.database) throw missingCollection(p.collection_id, '.');
    return c;
  }

  async function collectionJson(c: CollectionEntry) {
    const shape = await shapeOf(c);
    return {
      id: c.id, name: c.name,
      configuration_json: { hnsw: c.hnsw, spann: null, embedding_function: c.embeddingFunction },
      metadata: c.metadata, dimension: shape ? shape.dim : null,
      tenant: c.tenant, database: c.database, log_position: 0, version: 0,
    };
  }

  // --- server ---

  app.get('/api/v2/heartbeat', { config: read, schema: { hide: true } }, async () => ({ 'nanosecond heartbeat': Date.now() * 1e6 }));
  app.get('/api/v2/version', { config: read, schema: { hide: true } }, async (_req, reply) => reply.type('application/json').send(JSON.stringify(CHROMA_VERSION)));
  app.get('/api/v2/healthcheck', { config: read, schema: { hide: true } }, async () => ({ is_executor_ready: true }));
  app.get('/api/v2/pre-flight-checks', { config: read, schema: { hide: true } }, async () => ({ max_batch_size: batch }));
  app.get('/api/v2/auth/identity', { config: read, schema: { hide: true } }, async () => ({ user_id: '', tenant: DEFAULT_TENANT, databases: [DEFAULT_DATABASE] }));
  app.post('/api/v2/reset', { config: write, schema: { hide: true } }, async () => { throw new ChromaError(403, 'ChromaError', 'Reset is disabled by config'); });
  app.all('/api/v1/*', { config: read, schema: { hide: true } }, async () => { throw new ChromaError(410, 'Unimplemented', 'The v1 API is deprecated. Please use /v2 apis'); });

  // --- tenants and databases ---

  app.post('/api/v2/tenants', { config: write, schema: { hide: true } }, async (req) => {
    const b = bodyOf(req);
    if (b.name === undefined) typeError('name', 'a string (missing field `name`)');
    await catalog.createTenant(checkName(str(b.name, 'name'), 'name'));
    return {};
  });

  app.get<{ Params: { tenant_name: string } }>('/api/v2/tenants/:tenant_name', { config: read, schema: { hide: true } }, async (req) => {
    if (!catalog.hasTenant(req.params.tenant_name)) throw new NearestError('NOT_FOUND', `Tenant [${req.params.tenant_name}] not found`, {});
    return { name: req.params.tenant_name };
  });

  const page = (req: FastifyRequest) => {
    const q = req.query as Record<string, unknown>;
    const num = (k: string): number | undefined => {
      const v = q[k];
      if (v === undefined) return undefined;
      if (typeof v !== 'string' || !/^\d{1,10}$/.test(v) || Number(v) > 0xffffffff) invalid(`Failed to deserialize query string: ${k}: expected an unsigned integer`);
      return Number(v);
    };
    const offset = num('offset') ?? 0;
    const limit = num('limit');
    return <T>(list: T[]) => list.slice(offset, limit === undefined ? undefined : offset + limit);
  };

  app.get<{ Params: { tenant: string } }>('/api/v2/tenants/:tenant/databases', { config: read, schema: { hide: true } }, async (req) => page(req)(catalog.listDatabases(req.params.tenant)));

  app.post<{ Params: { tenant: string } }>('/api/v2/tenants/:tenant/databases', { config: write, schema: { hide: true } }, async (req) => {
    const b = bodyOf(req);
    if (b.name === undefined) typeError('name', 'a string (missing field `name`)');
    await catalog.createDatabase(req.params.tenant, checkName(str(b.name, 'name'), 'database_name'));
    return {};
  });

  app.get<{ Params: Db }>('/api/v2/tenants/:tenant/databases/:database', { config: read, schema: { hide: true } }, async (req) => {
    const d = catalog.database(req.params.tenant, req.params.database);
    if (!d) throw new NearestError('NOT_FOUND', `Database [${req.params.database}] not found. Are you sure it exists?`, {});
    return d;
  });

  app.delete<{ Params: Db }>('/api/v2/tenants/:tenant/databases/:database', { config: write, schema: { hide: true } }, async (req) => {
    const cols = catalog.list(req.params.tenant, req.params.database);
    await Promise.all(cols.map((c) => backend.settle(storeOf(c)))); // writes in flight settle first
    await catalog.deleteDatabase(req.params.tenant, req.params.database);
    return {};
  });

  // --- collections ---

  const DB = '/api/v2/tenants/:tenant/databases/:database';

  app.get<{ Params: Db }>(`${DB}/collections`, { config: read, schema: { hide: true } }, async (req) => Promise.all(page(req)(catalog.list(req.params.tenant, req.params.database)).map(collectionJson)));

  app.get<{ Params: Db }>(`${DB}/collections_count`, { config: read, schema: { hide: true } }, async (req) => catalog.list(req.params.tenant, req.params.database).length);

  app.post<{ Params: Db }>(`${DB}/collections`, { config: write, schema: { hide: true } }, async (req) => {
    const b = bodyOf(req);
    const { tenant, database } = dbOf(req.params);
    if (b.name === undefined) typeError('name', 'a string (missing field `name`)');
    const name = checkCollectionName(str(b.name, 'name'), 'name');
    const getOrCreate = optional(b, 'get_or_create', (v, p) => (typeof v === 'boolean' ? v : typeError(p, 'a boolean'))) ?? false;
    const meta = optional(b, 'metadata', collectionMetadata) ?? null;
    const config = configurationMembers(b.configuration, 'configuration');
    const hnsw = { ...DEFAULT_HNSW };
    hnswFromMetadata(hnsw, meta);
    hnswFromConfiguration(hnsw, config.hnsw, 'configuration.hnsw', HNSW_CREATE);
    const embeddingFunction = embeddingFunctionOf(config.embedding_function, 'configuration.embedding_function');
    return catalog.serial(async () => {
      if (!catalog.database(tenant, database)) invalid(`Database [${database}] does not exist`);
      const existing = catalog.byName(tenant, database, name);
      if (existing) {
        if (getOrCreate) return collectionJson(existing);
        throw new NearestError('ALREADY_EXISTS', `Collection [${name}] already exists`, { name });
      }
      if (catalog.list(tenant, database).length >= backend.limits.collections) {
        throw new NearestError('CAPACITY_EXCEEDED', `this server holds at most ${backend.limits.collections} Chroma collections in a database`, { max: backend.limits.collections });
      }
      const c: CollectionEntry = { id: crypto.randomUUID(), name, tenant, database, metadata: meta, hnsw, embeddingFunction };
      await catalog.putCollection(c);
      return collectionJson(c);
    });
  });

  app.get<{ Params: ColParams }>(`${DB}/collections/:collection_id`, { config: read, schema: { hide: true } }, async (req) => collectionJson(byNameOrId(req.params)));

  app.delete<{ Params: ColParams }>(`${DB}/collections/:collection_id`, { config: write, schema: { hide: true } }, async (req) => {
    const c = byNameOrId(req.params);
    await backend.settle(storeOf(c));
    await catalog.serial(async () => {
      if (catalog.byId(c.id)) await catalog.deleteCollection(c);
    });
    return {};
  });

  app.put<{ Params: ColParams }>(`${DB}/collections/:collection_id`, { config: write, schema: { hide: true } }, async (req) => {
    const b = bodyOf(req);
    const c0 = byId(req.params);
    const newName = optional(b, 'new_name', str);
    if (newName !== undefined) checkCollectionName(newName, 'new_name');
    const newMeta = optional(b, 'new_metadata', collectionMetadata);
    const config = configurationMembers(b.new_configuration, 'new_configuration');
    const embeddingFunction = config.embedding_function === undefined ? undefined : embeddingFunctionOf(config.embedding_function, 'new_configuration.embedding_function');
    await catalog.serial(async () => {
      const c = catalog.byId(c0.id);
      if (!c) throw missingCollection(c0.id);
      const hnsw = { ...c.hnsw };
      hnswFromConfiguration(hnsw, config.hnsw, 'new_configuration.hnsw', HNSW_UPDATE);
      if (hnsw.max_neighbors !== c.hnsw.max_neighbors && await shapeOf(c)) {
        throw new NearestError('UNSUPPORTED', 'new_configuration.hnsw.max_neighbors: this server cannot change max_neighbors of a collection that holds records (its index is built with it)', {});
      }
      if (newName !== undefined && newName !== c.name && catalog.byName(c.tenant, c.database, newName)) {
        throw new NearestError('ALREADY_EXISTS', `Collection [${newName}] already exists`, { name: newName });
      }
      await catalog.putCollection({
        ...c, hnsw,
        ...(newName !== undefined ? { name: newName } : {}),
        ...(newMeta !== undefined ? { metadata: newMeta } : {}),
        ...(embeddingFunction !== undefined ? { embeddingFunction } : {}),
      });
    });
    return {};
  });

  // --- records ---

  const COL = `${DB}/collections/:collection_id`;

  app.post<{ Params: ColParams }>(`${COL}/add`, { config: write, schema: { hide: true } }, async (req, reply) => {
    const b = bodyOf(req);
    const c = byId(req.params);
    const r = recordSet(b, 'add');
    const dim = checkDims((await shapeOf(c))?.dim, r.embeddings ?? []);
    if (r.ids.length > 0) {
      const store = await ensureStore(c, dim);
      checkDims((await backend.shape(store))?.dim, r.embeddings ?? []); // made meanwhile by another writer, with another dimension
      await backend.write(store, r.ids, false, (existing, seq) => {
        const out: NewRow[] = [];
        r.ids.forEach((id, i) => {
          if (existing.has(id)) return; // Chroma ignores an add of an existing id
          const parts: ChromaParts = { metadata: mergeMetadata(null, r.metadatas?.[i]), document: r.documents?.[i] ?? null, uri: r.uris?.[i] ?? null, seq: seq() };
          out.push({ id, vector: r.embeddings![i]!, metadata: toStored(parts) });
        });
        return out;
      });
    }
    return reply.code(201).send({});
  });

  /** upsert and update: Chroma's merge of what is given into what is stored. */
  const merge = (op: 'upsert' | 'update') => async (req: FastifyRequest<{ Params: ColParams }>) => {
    const b = bodyOf(req);
    const c = byId(req.params);
    const r = recordSet(b, op);
    const shape = await shapeOf(c);
    const dim = checkDims(shape?.dim, r.embeddings ?? []);
    if (r.ids.length === 0 || (op === 'update' && shape === null)) return {};
    const store = await ensureStore(c, dim);
    if (!shape) checkDims((await backend.shape(store))?.dim, r.embeddings ?? []);
    await backend.write(store, r.ids, op === 'update', (old, seq) => {
      const out: NewRow[] = [];
      r.ids.forEach((id, i) => {
        const prev = old.get(id);
        if (!prev && op === 'update') return; // Chroma's update skips missing ids
        const was = prev ? fromStored(prev.metadata) : null;
        const parts: ChromaParts = {
          metadata: mergeMetadata(was?.metadata ?? null, r.metadatas?.[i]),
          document: r.documents?.[i] ?? was?.document ?? null,
          uri: r.uris?.[i] ?? was?.uri ?? null,
          seq: was ? was.seq : seq(),
        };
        const vector = r.embeddings?.[i] ?? prev!.vector!;
        out.push({ id, vector, metadata: toStored(parts) });
      });
      return out;
    });
    return {};
  };
  app.post<{ Params: ColParams }>(`${COL}/upsert`, { config: write, schema: { hide: true } }, merge('upsert'));
  app.post<{ Params: ColParams }>(`${COL}/update`, { config: write, schema: { hide: true } }, merge('update'));

  /** The selection of get, query and delete: ids, where and where_document, checked. */
  const selection = (b: Body) => {
    const ids = optional(b, 'ids', strings);
    const filter = translateWhere(b.where);
    const doc = compileWhereDocument(b.where_document);
    return { ids, filter, doc };
  };

  /** The records a selection picks, in insertion order, without vectors. */
  async function selected(store: string, s: { ids: string[] | undefined; filter: Record<string, unknown> | undefined; doc: DocumentPredicate | undefined }): Promise<{ id: RecordId; parts: ChromaParts }[]> {
    const rows: { id: RecordId; parts: ChromaParts }[] = [];
    const seen = new Set<RecordId>();
    for (const r of await backend.select(store, s.filter, s.ids)) {
      if (seen.has(r.id)) continue;
      seen.add(r.id);
      const parts = fromStored(r.metadata);
      if (s.doc && !s.doc(parts.document)) continue;
      rows.push({ id: r.id, parts });
    }
    return rows.sort((a, b) => a.parts.seq - b.parts.seq);
  }

  const includeOf = (b: Body, dflt: Include[]) => (b.include === undefined || b.include === null ? dflt : includeList(b.include, 'include'));
  const vectorOut = (v: Float32Array | readonly number[]) => Array.from(v, shortFloat);

  app.post<{ Params: ColParams }>(`${COL}/get`, { config: read, schema: { hide: true } }, async (req) => {
    const b = bodyOf(req);
    const c = byId(req.params);
    const sel = selection(b);
    const include = includeOf(b, ['documents', 'metadatas']);
    const limit = optional(b, 'limit', u32);
    const offset = optional(b, 'offset', u32) ?? 0;
    const store = (await shapeOf(c)) ? storeOf(c) : null;
    let rows = store ? await selected(store, sel) : [];
    rows = rows.slice(offset, limit === undefined ? undefined : offset + limit);
    const has = (k: Include) => include.includes(k);
    let vectors: (Float32Array | readonly number[])[] = [];
    if (has('embeddings') && store && rows.length > 0) {
      const got = new Map((await backend.get(store, rows.map((r) => r.id), true)).map((x) => [x.id, x.vector!]));
      vectors = rows.map((r) => got.get(r.id)!);
    }
    return {
      ids: rows.map((r) => r.id),
      embeddings: has('embeddings') ? vectors.map(vectorOut) : null,
      documents: has('documents') ? rows.map((r) => r.parts.document) : null,
      uris: has('uris') ? rows.map((r) => r.parts.uri) : null,
      metadatas: has('metadatas') ? rows.map((r) => r.parts.metadata) : null,
      include,
    };
  });

  app.get<{ Params: ColParams }>(`${COL}/count`, { config: read, schema: { hide: true } }, async (req) => {
    const c = byId(req.params);
    return (await shapeOf(c)) ? backend.count(storeOf(c)) : 0;
  });

  app.post<{ Params: ColParams }>(`${COL}/query`, { config: read, schema: { hide: true } }, async (req) => {
    const b = bodyOf(req);
    const c = byId(req.params);
    if (b.query_embeddings === undefined) typeError('query_embeddings', 'an array of embeddings (missing field `query_embeddings`)');
    if (!Array.isArray(b.query_embeddings)) typeError('query_embeddings', 'an array of embeddings');
    const queries = b.query_embeddings.map((q, i) => embedding(q, `query_embeddings[${i}]`));
    const n = optional(b, 'n_results', u32) ?? 10;
    const sel = selection(b);
    const include = includeOf(b, ['documents', 'metadatas', 'distances']);
    if (queries.length > backend.limits.queries) {
      throw new NearestError('CAPACITY_EXCEEDED', `query_embeddings: at most ${backend.limits.queries} queries per request on this server, got ${queries.length}`, { max: backend.limits.queries });
    }
    const shape = await shapeOf(c), store = storeOf(c);
    let results: StoredHit[][];
    if (!shape) results = queries.map(() => []);
    else {
      for (const q of queries) if (q.length !== shape.dim) dimensionError(shape.dim, q.length);
      const k = Math.min(n, shape.size ?? n);
      const withVector = include.includes('embeddings');
      const efSearch = shape.hnsw ? { efSearch: Math.min(100_000, Math.max(c.hnsw.ef_search, k, 1)) } : {};
      if (k === 0 || queries.length === 0) results = queries.map(() => []);
      else if (sel.ids === undefined && sel.doc === undefined && sel.filter === undefined) {
        results = await backend.search(store, queries, { k, withVector, ...efSearch });
      } else {
        // Filtered: exact over the records that pass (as Chroma answers a filtered query by brute
        // force over the allowed ids), unless a where-only filter passes too many to list.
        const allowed = sel.doc === undefined && sel.ids === undefined && sel.filter !== undefined && await backend.count(store, sel.filter) > batch
          ? null : (await selected(store, sel)).map((r) => r.id);
        if (allowed === null) results = await backend.search(store, queries, { k, withVector, filter: sel.filter!, ...efSearch });
        else if (allowed.length === 0) results = queries.map(() => []);
        else results = await backend.search(store, queries, { k, withVector, ids: allowed, exact: true });
      }
    }
    const space = c.hnsw.space;
    // Chroma computes distances in float32 and prints them so; the same rounding here.
    const distance = (h: StoredHit) => shortFloat(Math.fround(space === 'l2' ? h.distance * h.distance : space === 'ip' ? 1 + h.distance : h.distance));
    const has = (k: Include) => include.includes(k);
    const parts = results.map((hits) => hits.map((h) => fromStored(h.metadata)));
    return {
      ids: results.map((hits) => hits.map((h) => h.id)),
      embeddings: has('embeddings') ? results.map((hits) => hits.map((h) => vectorOut(h.vector!))) : null,
      documents: has('documents') ? parts.map((ps) => ps.map((p) => p.document)) : null,
      uris: has('uris') ? parts.map((ps) => ps.map((p) => p.uri)) : null,
      metadatas: has('metadatas') ? parts.map((ps) => ps.map((p) => p.metadata)) : null,
      distances: has('distances') ? results.map((hits) => hits.map(distance)) : null,
      include,
    };
  });

  app.post<{ Params: ColParams }>(`${COL}/delete`, { config: write, schema: { hide: true } }, async (req) => {
    const b = bodyOf(req);
    const c = byId(req.params);
    const sel = selection(b);
    if (!(await shapeOf(c))) return {};
    const store = storeOf(c);
    await backend.remove(store, async () => {
      if (sel.filter === undefined && sel.doc === undefined) return sel.ids ?? []; // Chroma: delete {} deletes nothing
      return (await selected(store, sel)).map((r) => r.id);
    });
    return {};
  });

  app.post<{ Params: ColParams }>(`${COL}/fork`, { config: write, schema: { hide: true } }, async () => {
    throw new ChromaError(400, 'InvalidArgumentError', 'Collection forking is not supported by this server');
  });

  // Paths under /api/v2 this API does not have: Chroma's error body.
  app.all('/api/v2/*', { config: read, schema: { hide: true } }, async (req) => {
    throw new NearestError('NOT_FOUND', `no route ${req.method} ${req.url.slice(0, 200)} on this server (see docs/server.md for the Chroma API it offers)`, {});
  });
}
