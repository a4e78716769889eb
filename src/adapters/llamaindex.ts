// nearest/llamaindex: NearestVectorStore, a LlamaIndex.TS vector store (BaseVectorStore of
// @llamaindex/core, an optional peer dependency) on nearest's VectorStore, in memory or durable.
//
// Each node is one record of the store (the layout of ./records.ts): its id (the node id), its
// embedding, and as the record's metadata `{ pageContent: text, metadata, node, refDocId,
// lengths }`: `node` is the rest of the node's JSON (type, relationships, excluded keys,
// templates), `refDocId` its source document's id (what `delete` matches), `lengths` the length of
// every array-valued metadata key. LlamaIndex's MetadataFilters become our filter on
// `metadata.<key>`; `lengths.<key>` tells arrays from scalars, which our filter language (MongoDB's
// rule: a condition on an array matches its elements) cannot. What does not translate (text_match,
// keys that are not plain path segments) is evaluated exactly on every record. Like the server
// and the CLI, this module imports only the package's public API.
import type { BaseEmbedding } from '@llamaindex/core/embeddings';
import { Settings } from '@llamaindex/core/global';
import { jsonToNode, type BaseNode, type Metadata } from '@llamaindex/core/schema';
import {
  BaseVectorStore,
  type MetadataFilter, type MetadataFilters, type VectorStoreQuery, type VectorStoreQueryResult,
} from '@llamaindex/core/vector-store';
import {
  NearestError, VectorStore,
  type JsonValue, type Metric, type RecordId, type StoreIndexOptions,
} from '../index.js';
import {
  StoreHandle, checkCount, checkOptions, copyRecords, cosineCandidates, invalid, jsonMetadata, saveStore, searchStore, thaw, unpack,
  type AnyStore, type DocRecord,
} from './records.js';

/** Options of `new NearestVectorStore(options)`. */
export interface NearestVectorStoreOptions {
  /** 'cosine' (the default for a new store), 'euclidean' or 'dot'; an existing durable store keeps its own. */
  metric?: Metric;
  /** The index, as for `VectorStore`: `{ type: 'flat' }` (exact; the default), `{ type: 'hnsw', m: 16, ... }`, `{ type: 'ivf', nlist, ... }`. */
  index?: StoreIndexOptions;
  /** Makes the store durable in this directory (opened, or created on the first write): every write is on disk when its promise resolves. */
  directory?: string;
  /** Vector dimension; default: the length of the first embedding added (or the stored one). */
  dim?: number;
  /** Kernel backend ('auto' | 'wasm' | 'js'). */
  backend?: 'auto' | 'wasm' | 'js';
  /** The embedding model LlamaIndex embeds nodes and queries with for this store; default: `Settings.embedModel` (read when it is needed). */
  embedModel?: BaseEmbedding;
}

/**
 * Store-specific query parameters (`VectorStoreQuery.customParams`, or a retriever's
 * `customParams`). MMR fetches `mmrPrefetchK` candidates, default `mmrPrefetchFactor` (4) ×
 * similarityTopK, the default of LlamaIndex's own MMR-capable stores.
 */
export interface NearestQueryParams {
  mmrPrefetchK?: number;
  mmrPrefetchFactor?: number;
  /** HNSW beam width for this query (hnsw stores only). */
  efSearch?: number;
  /** IVF lists to scan for this query (ivf stores only). */
  nprobe?: number;
}

/** What the store keeps per node. */
interface NodeRecord extends DocRecord {
  /** The node's JSON without text, metadata and embedding. */
  node: Record<string, JsonValue>;
  /** The id of the node's source document (its SOURCE relationship), if it has one. */
  refDocId?: string;
  /** Length of every array-valued top-level metadata key (our filters on `metadata.k` cannot tell `x` from `[x]`). */
  lengths: Record<string, number>;
}

type Store = AnyStore<NodeRecord>;

const OPTION_KEYS = ['metric', 'index', 'directory', 'dim', 'backend', 'embedModel'];
const PARAM_KEYS = ['mmrPrefetchK', 'mmrPrefetchFactor', 'efSearch', 'nprobe'];
/** LlamaIndex's filter operators, as the strings of its FilterOperator enum. */
export const FILTER_OPERATORS = ['==', '!=', '>', '>=', '<', '<=', 'in', 'nin', 'any', 'all', 'text_match', 'contains', 'is_empty'] as const;
const CONDITIONS = ['and', 'or'];
/** Stands in for an embedding model while none is given (BaseVectorStore's constructor would read Settings.embedModel at once, and throw when it is unset). */
const LAZY_EMBED_MODEL = Object.freeze({}) as BaseEmbedding;
const DEFAULT_MMR_PREFETCH_FACTOR = 4;
const DEFAULT_MMR_THRESHOLD = 0.5;

/**
 * A LlamaIndex.TS vector store on nearest: exact or HNSW / IVF search on WebAssembly SIMD
 * kernels, in memory, or durable in a directory (`{ directory }`: a write-ahead log, fsynced
 * before a write's promise resolves). It stores text (`storesText` is true), so
 * `VectorStoreIndex.fromVectorStore(store)` needs no document store.
 *
 * Scores (`similarities`) are higher-is-better: cosine similarity for 'cosine' (the default; the
 * number SimpleVectorStore reports), the dot product for 'dot', minus the Euclidean distance for
 * 'euclidean'. A long exact scan runs on a worker thread (`searchAsync`); a graph or IVF search,
 * or a short scan, on the calling thread (see searchStore in records.ts).
 */
export class NearestVectorStore extends BaseVectorStore<Store | null, NearestQueryParams> {
  storesText = true;
  declare embedModel: BaseEmbedding;

  /** The options given (without embedModel). */
  readonly options: Omit<NearestVectorStoreOptions, 'embedModel'>;
  private readonly handle: StoreHandle<NodeRecord>;

  /** A store; nothing is created until it is needed (a durable one opens `directory` on first use and creates it on the first write). */
  constructor(options: NearestVectorStoreOptions = {}) {
    const o = checkOptions<NearestVectorStoreOptions>(options, OPTION_KEYS);
    super({ embedModel: o.embedModel ?? LAZY_EMBED_MODEL });
    // The embedding model: the one given, else Settings.embedModel when LlamaIndex asks for it.
    let model: BaseEmbedding | undefined = o.embedModel;
    Object.defineProperty(this, 'embedModel', {
      get: () => model ?? Settings.embedModel,
      set: (m: BaseEmbedding) => { model = m === LAZY_EMBED_MODEL ? undefined : m; },
      enumerable: true,
      configurable: true,
    });
    const { embedModel: _, ...rest } = o;
    this.options = rest;
    this.handle = new StoreHandle<NodeRecord>(rest, () => new NearestError('CLOSED', 'NearestVectorStore: the store is closed', {}));
  }

  private get store(): Store | null {
    return this.handle.store;
  }

  /** The nearest store behind this one (null until it has been opened or created). */
  client(): Store | null {
    return this.store;
  }

  /** Nodes held (0 before the store exists). */
  get size(): number {
    return this.store?.size ?? 0;
  }

  private ensure(dimHint?: number): Promise<Store | null> {
    return this.handle.ensure(dimHint);
  }

  /**
   * Adds nodes with their embeddings (`node.embedding`, required) under their node ids and returns
   * the ids, in order. A node id the store holds is replaced (a repeated one keeps its last node).
   * Nodes are not modified; their metadata and fields must be JSON (undefined properties are dropped).
   */
  async add(nodes: BaseNode[]): Promise<string[]> {
    if (!Array.isArray(nodes)) throw invalid('add: nodes must be an array of nodes', {});
    if (nodes.length === 0) return [];
    const records = new Map<string, { id: string; vector: number[]; metadata: NodeRecord }>();
    const ids = nodes.map((node, i) => {
      if (!node || typeof node !== 'object' || typeof node.toMutableJSON !== 'function') throw invalid(`add: node ${i} is not a LlamaIndex node`, { index: i });
      const id = node.id_;
      if (typeof id !== 'string' || id === '') throw invalid(`add: the id_ of node ${i} must be a non-empty string`, { index: i });
      const vector = node.embedding;
      if (!Array.isArray(vector)) throw invalid(`add: node ${i} (${id}) has no embedding (embed nodes before adding them, e.g. through VectorStoreIndex)`, { index: i, id });
      records.delete(id);
      records.set(id, { id, vector, metadata: toRecord(node) });
      return id;
    });
    const first = records.values().next().value!;
    const store = await this.ensure(first.vector.length);
    if (!store) throw invalid('add: the first embedding has no length', {});
    await store.upsert([...records.values()]);
    return ids;
  }

  /** Deletes every node whose source document (ref_doc_id, `node.sourceNode.nodeId`) is `refDocId`; none is not an error. */
  async delete(refDocId: string, _deleteOptions?: object): Promise<void> {
    if (typeof refDocId !== 'string') throw invalid('delete: refDocId must be a string', { received: typeof refDocId });
    const store = await this.ensure();
    if (!store || store.size === 0) return;
    const ids: RecordId[] = [];
    for (const [id, stored] of store.entries()) if ((stored as NodeRecord | undefined)?.refDocId === refDocId) ids.push(id);
    if (ids.length > 0) await store.deleteMany(ids);
  }

  /** Deletes nodes by node id (missing ids are ignored). */
  async deleteNodes(nodeIds: string[]): Promise<void> {
    if (!Array.isArray(nodeIds) || nodeIds.some((id) => typeof id !== 'string')) throw invalid('deleteNodes: nodeIds must be an array of strings', {});
    const store = await this.ensure();
    if (store && nodeIds.length > 0) await store.deleteMany(nodeIds);
  }

  /** The nodes of these ids (without embeddings), in the order asked, skipping ids the store does not hold. */
  async getNodes(nodeIds: string[]): Promise<BaseNode[]> {
    if (!Array.isArray(nodeIds)) throw invalid('getNodes: nodeIds must be an array of strings', {});
    const store = await this.ensure();
    if (!store) return [];
    return nodeIds.filter((id) => store.has(id)).map((id) => toNode(id, store.metadataOf(id)));
  }

  /**
   * The `similarityTopK` nodes most similar to `queryEmbedding`, best first: `{ ids, similarities,
   * nodes }`. `filters` (MetadataFilters, nested ones too) and `docIds` (node ids) restrict the
   * candidates. Mode 'default' or 'mmr' (LlamaIndex's rule, `mmrThreshold` default 0.5; see the
   * docs); other modes are UNSUPPORTED. similarityTopK 0 gives nothing, beyond the store's size all.
   */
  async query(query: VectorStoreQuery<NearestQueryParams>, _options?: object): Promise<VectorStoreQueryResult> {
    const where = 'query';
    if (!query || typeof query !== 'object') throw invalid(`${where}: pass a VectorStoreQuery`, {});
    const k = checkCount(query.similarityTopK, 'similarityTopK', where);
    const mode = query.mode ?? 'default';
    if (mode !== 'default' && mode !== 'mmr') {
      throw new NearestError('UNSUPPORTED', `NearestVectorStore.query: mode '${String(mode)}' is not supported (supported: default, mmr)`, { option: 'mode', received: mode, allowed: ['default', 'mmr'] });
    }
    if (!Array.isArray(query.queryEmbedding)) throw invalid(`${where}: queryEmbedding must be an array of numbers`, { option: 'queryEmbedding' });
    const params = checkParams(query.customParams);
    const compiled = query.filters === undefined || query.filters === null ? null : compileFilters(query.filters);
    if (query.docIds !== undefined && query.docIds !== null && (!Array.isArray(query.docIds) || query.docIds.some((id) => typeof id !== 'string'))) throw invalid(`${where}: docIds must be an array of node ids`, { option: 'docIds' });
    let threshold = DEFAULT_MMR_THRESHOLD;
    if (mode === 'mmr' && query.mmrThreshold !== undefined && query.mmrThreshold !== null) {
      threshold = query.mmrThreshold;
      if (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= 1)) throw invalid(`${where}: mmrThreshold must be a number in [0, 1], got ${String(threshold)}`, { option: 'mmrThreshold' });
    }
    const store = await this.ensure();
    if (k === 0 || !store || store.size === 0 || compiled?.never) return { ids: [], similarities: [], nodes: [] };

    const options: { filter?: Record<string, unknown>; ids?: RecordId[]; efSearch?: number; nprobe?: number } = {};
    if (params.efSearch !== undefined) options.efSearch = params.efSearch;
    if (params.nprobe !== undefined) options.nprobe = params.nprobe;
    let ids: RecordId[] | undefined = query.docIds ?? undefined;
    if (compiled && compiled.filter === null) {
      // Not expressible in our filter language: evaluate exactly on every candidate record.
      const admit = compiled.exact;
      const from: Iterable<RecordId> = ids ?? (function* () { for (const [id] of store.entries()) yield id; })();
      ids = [];
      for (const id of from) if (store.has(id) && admit(unpack<NodeRecord>(store.metadataOf(id)))) ids.push(id);
    } else if (compiled) {
      options.filter = compiled.filter!;
    }
    if (ids !== undefined) {
      if (ids.length === 0) return { ids: [], similarities: [], nodes: [] };
      options.ids = ids;
    }
    const fetch = mode === 'mmr'
      ? Math.max(k, params.mmrPrefetchK ?? Math.ceil(k * (params.mmrPrefetchFactor ?? DEFAULT_MMR_PREFETCH_FACTOR)))
      : k;
    let hits = await searchStore(store, query.queryEmbedding, Math.min(fetch, store.size), options);
    if (mode === 'mmr') hits = mmrPick(store, hits, query.queryEmbedding, k, threshold, this.options.backend);
    return {
      ids: hits.map((h) => String(h.id)),
      similarities: hits.map((h) => h.score),
      nodes: hits.map((h) => toNode(h.id, h.metadata)),
    };
  }

  /**
   * Writes the store to the directory `path` in nearest's durable format (what `fromPersistPath`,
   * `new NearestVectorStore({ directory })` and `VectorStore.open` read), replacing a store saved
   * there before; a directory holding anything else is refused. A durable store persisting to its
   * own directory compacts it (its writes are on disk already).
   */
  async persist(path: string): Promise<void> {
    if (typeof path !== 'string' || path === '') throw invalid('persist: path must be a non-empty directory path', {});
    const store = await this.ensure();
    if (!store) throw invalid('persist: the store has no dimension yet (add a node, or pass { dim })', {});
    await saveStore(store, path, this.options.directory, 'persist');
  }

  /**
   * Reads a store written by `persist` into a new in-memory NearestVectorStore (the directory is
   * only read; the index is rebuilt with the saved options). To keep writing to the directory,
   * construct `new NearestVectorStore({ directory })` instead. NOT_FOUND when there is no store.
   */
  static async fromPersistPath(path: string, embedModel?: BaseEmbedding): Promise<NearestVectorStore> {
    if (typeof path !== 'string' || path === '') throw invalid('fromPersistPath: path must be a non-empty directory path', {});
    const src = await VectorStore.open<NodeRecord>(path, { readOnly: true });
    try {
      const out = new NearestVectorStore({ dim: src.dim, metric: src.metric, index: src.stats().indexOptions, ...(embedModel ? { embedModel } : {}) });
      const store = (await out.ensure())!;
      await copyRecords(src, (records) => store.upsert(records));
      return out;
    } finally {
      await src.close();
    }
  }

  /** `fromPersistPath` (the name SimpleVectorStore's loader has; the directory is nearest's store directory). */
  static fromPersistDir(path: string, embedModel?: BaseEmbedding): Promise<NearestVectorStore> {
    return NearestVectorStore.fromPersistPath(path, embedModel);
  }

  /** Closes a durable store (its writes are on disk already; releases the directory's lock). Idempotent. */
  async close(): Promise<void> {
    await this.handle.close();
  }
}

function checkParams(params: unknown): NearestQueryParams {
  if (params === undefined || params === null) return {};
  if (typeof params !== 'object' || Array.isArray(params)) throw invalid('query: customParams must be an object', {});
  for (const key of Object.keys(params)) {
    if (!PARAM_KEYS.includes(key)) throw invalid(`query: unknown customParams key "${key}" (allowed: ${PARAM_KEYS.join(', ')})`, { option: key, allowed: PARAM_KEYS });
  }
  const p = params as NearestQueryParams;
  for (const key of ['mmrPrefetchK', 'efSearch', 'nprobe'] as const) {
    if (p[key] !== undefined && (!Number.isSafeInteger(p[key]) || p[key]! < 1)) throw invalid(`query: customParams.${key} must be an integer ≥ 1, got ${String(p[key])}`, { option: key });
  }
  if (p.mmrPrefetchFactor !== undefined && !(typeof p.mmrPrefetchFactor === 'number' && p.mmrPrefetchFactor >= 1 && Number.isFinite(p.mmrPrefetchFactor))) {
    throw invalid(`query: customParams.mmrPrefetchFactor must be a finite number ≥ 1, got ${String(p.mmrPrefetchFactor)}`, { option: 'mmrPrefetchFactor' });
  }
  return p;
}

/** The record of a node: text, metadata, the rest of its JSON, its source document, its array lengths. */
function toRecord(node: BaseNode): NodeRecord {
  const { text, metadata, embedding: _, ...rest } = node.toMutableJSON() as { text?: unknown; metadata?: Metadata; embedding?: unknown } & Record<string, unknown>;
  const meta = jsonMetadata(metadata ?? {}) as Record<string, JsonValue>;
  const lengths: Record<string, number> = {};
  for (const [key, value] of Object.entries(meta)) if (Array.isArray(value)) lengths[key] = value.length;
  const refDocId = node.relationships?.SOURCE && !Array.isArray(node.relationships.SOURCE) ? node.relationships.SOURCE.nodeId : undefined;
  return {
    pageContent: typeof text === 'string' ? text : '',
    metadata: meta,
    node: jsonMetadata(rest) as Record<string, JsonValue>,
    ...(typeof refDocId === 'string' ? { refDocId } : {}),
    lengths,
  };
}

/** The node of a stored record (a fresh, mutable one; a record another writer made becomes a TextNode). */
function toNode(id: RecordId, stored: unknown): BaseNode {
  const r = unpack<NodeRecord>(stored);
  const rest = r.node && typeof r.node === 'object' ? thaw(r.node) : {};
  return jsonToNode({ type: 'TEXT', ...rest, id_: String(id), text: r.pageContent, metadata: thaw(r.metadata) });
}

/**
 * LlamaIndex's MMR rule (getTopKMMREmbeddings of @llamaindex/core, the Python one's too): the
 * first pick is the candidate most similar to the query; each next one maximises `threshold ·
 * sim(query, d) − (1 − threshold) · sim(d, last pick)`, cosine similarities computed by our
 * kernels. The hits keep their search scores.
 */
function mmrPick<H extends { id: RecordId; score: number }>(store: Store, hits: H[], query: number[], k: number, threshold: number, backend?: 'auto' | 'wasm' | 'js'): H[] {
  const n = hits.length;
  if (n === 0) return hits;
  const dim = store.dim;
  const { rows, sims } = cosineCandidates(store, hits.map((h) => h.id), backend);
  const relevance = sims(query);
  const taken = new Uint8Array(n);
  const picked: number[] = [];
  let overlap: Float64Array | null = null;
  while (picked.length < Math.min(k, n)) {
    let best = -1, bestScore = -Infinity;
    for (let i = 0; i < n; i++) {
      if (taken[i]) continue;
      const score = overlap === null ? relevance[i]! : threshold * relevance[i]! - (1 - threshold) * overlap[i]!;
      if (score > bestScore || best < 0) { best = i; bestScore = score; }
    }
    picked.push(best);
    taken[best] = 1;
    if (picked.length < Math.min(k, n)) overlap = sims(rows.subarray(best * dim, (best + 1) * dim));
  }
  return picked.map((i) => hits[i]!);
}

// --- MetadataFilters: validation, translation to our filter, exact evaluation ---

/** A compiled MetadataFilters: `filter` is our equivalent (null when there is none), `exact` the predicate on a record, `never` when nothing can match. */
interface CompiledFilters {
  filter: Record<string, unknown> | null;
  exact: (r: NodeRecord) => boolean;
  never: boolean;
}

type Scalar = string | number | boolean;

/** A top-level metadata key that is also a plain path segment of our filters. */
const PLAIN_KEY = /^[^.$][^.]*$/;

function isScalar(v: unknown): v is Scalar {
  return typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

/**
 * Validates MetadataFilters (conditions 'and' (default) / 'or', nested MetadataFilters allowed)
 * and compiles them. Semantics (v: the node's metadata[key], own top-level key, no dotted paths;
 * every operator but is_empty is false when v is missing): == / != strict equality; > >= < <=
 * number with number or string with string (other types never match); in / nin: v strictly equal
 * to one / none of the list; any / all / contains: v is an array holding one / every / the value;
 * text_match: v is a string containing the value; is_empty: v missing, null, '' or [].
 */
function compileFilters(filters: MetadataFilters, where = 'filters'): CompiledFilters {
  const exact = compileExact(filters, where, 0);
  const filter = translate(filters, 0);
  return { exact, filter: filter === NEVER ? null : filter, never: filter === NEVER };
}

const NEVER = Object.freeze({}) as Record<string, unknown>;

function isGroup(f: unknown): f is MetadataFilters {
  return !!f && typeof f === 'object' && Array.isArray((f as MetadataFilters).filters);
}

function compileExact(group: unknown, where: string, depth: number): (r: NodeRecord) => boolean {
  if (depth > 64) throw invalid(`query: ${where} nests deeper than 64 levels`, { location: where });
  if (!isGroup(group)) throw invalid(`query: ${where} must be MetadataFilters ({ filters: [...], condition? })`, { location: where });
  const condition = group.condition ?? 'and';
  if (!CONDITIONS.includes(condition)) throw invalid(`query: ${where}.condition '${String(condition)}' is not a condition (allowed: ${CONDITIONS.join(', ')})`, { location: `${where}.condition`, received: condition, allowed: CONDITIONS });
  const parts = group.filters.map((f, i) => isGroup(f) ? compileExact(f, `${where}.filters[${i}]`, depth + 1) : compileLeaf(f, `${where}.filters[${i}]`));
  return condition === 'and' ? (r) => parts.every((p) => p(r)) : (r) => parts.some((p) => p(r));
}

function compileLeaf(f: MetadataFilter, at: string): (r: NodeRecord) => boolean {
  if (!f || typeof f !== 'object') throw invalid(`query: ${at} must be a MetadataFilter ({ key, operator, value })`, { location: at });
  const { key, operator: op, value: x } = f;
  if (typeof key !== 'string' || key === '') throw invalid(`query: ${at}.key must be a non-empty string`, { location: `${at}.key` });
  if (!(FILTER_OPERATORS as readonly string[]).includes(op)) {
    throw invalid(`query: unknown filter operator '${String(op)}' at ${at} (allowed: ${FILTER_OPERATORS.join(', ')})`, { location: `${at}.operator`, operator: op, allowed: [...FILTER_OPERATORS] });
  }
  const bad = (expected: string) => invalid(`query: operator '${op}' at ${at} expects ${expected} as value, got ${Array.isArray(x) ? 'an array' : typeof x}`, { location: `${at}.value`, operator: op, expected });
  const get = (r: NodeRecord): unknown => (Object.prototype.hasOwnProperty.call(r.metadata, key) ? r.metadata[key] : undefined);
  const present = (test: (v: unknown) => boolean) => (r: NodeRecord) => { const v = get(r); return v !== undefined && test(v); };
  switch (op) {
    case '==': case '!=': {
      if (!isScalar(x)) throw bad('a string, finite number or boolean');
      return op === '==' ? present((v) => v === x) : present((v) => v !== x);
    }
    case '>': case '>=': case '<': case '<=': {
      if (typeof x !== 'string' && !(typeof x === 'number' && Number.isFinite(x))) throw bad('a finite number or a string');
      const kind = typeof x;
      const cmp = op === '>' ? (v: Scalar) => v > x : op === '>=' ? (v: Scalar) => v >= x : op === '<' ? (v: Scalar) => v < x : (v: Scalar) => v <= x;
      return present((v) => typeof v === kind && cmp(v as Scalar));
    }
    case 'in': case 'nin': case 'any': case 'all': {
      if (!Array.isArray(x) || !(x as unknown[]).every(isScalar)) throw bad('an array of strings, finite numbers or booleans');
      const list = x as Scalar[];
      if (op === 'in') return present((v) => list.some((e) => e === v));
      if (op === 'nin') return present((v) => !list.some((e) => e === v));
      if (op === 'any') return present((v) => Array.isArray(v) && list.some((e) => v.includes(e)));
      return present((v) => Array.isArray(v) && list.every((e) => v.includes(e)));
    }
    case 'contains': {
      if (!isScalar(x)) throw bad('a string, finite number or boolean');
      return present((v) => Array.isArray(v) && v.includes(x));
    }
    case 'text_match': {
      if (typeof x !== 'string') throw bad('a string');
      return present((v) => typeof v === 'string' && v.includes(x));
    }
    default: // is_empty
      return (r) => { const v = get(r); return v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0); };
  }
}

/** Our filter for validated MetadataFilters; null when some part has none, NEVER when nothing matches. */
function translate(group: MetadataFilters, depth: number): Record<string, unknown> | null {
  const condition = group.condition ?? 'and';
  const parts: Record<string, unknown>[] = [];
  for (const f of group.filters) {
    const t = isGroup(f) ? translate(f, depth + 1) : translateLeaf(f);
    if (t === null) return null;
    parts.push(t);
  }
  if (condition === 'and') {
    if (parts.includes(NEVER)) return NEVER;
    return parts.length === 0 ? {} : parts.length === 1 ? parts[0]! : { $and: parts };
  }
  const live = parts.filter((p) => p !== NEVER);
  return live.length === 0 ? NEVER : live.length === 1 ? live[0]! : { $or: live };
}

function translateLeaf(f: MetadataFilter): Record<string, unknown> | null {
  if (!PLAIN_KEY.test(f.key)) return null;
  const m = `metadata.${f.key}`, a = `lengths.${f.key}`;
  const scalar = { [a]: { $exists: false } }, array = { [a]: { $exists: true } };
  const x = f.value;
  switch (f.operator) {
    case '==': return { [m]: x, ...scalar };
    case '!=': return { $and: [{ [m]: { $exists: true } }, { $or: [array, { [m]: { $ne: x } }] }] };
    case '>': return { [m]: { $gt: x }, ...scalar };
    case '>=': return { [m]: { $gte: x }, ...scalar };
    case '<': return { [m]: { $lt: x }, ...scalar };
    case '<=': return { [m]: { $lte: x }, ...scalar };
    case 'in': return (x as Scalar[]).length === 0 ? NEVER : { [m]: { $in: x }, ...scalar };
    case 'nin': return { $and: [{ [m]: { $exists: true } }, { $or: [array, { [m]: { $nin: x } }] }] };
    case 'any': return (x as Scalar[]).length === 0 ? NEVER : { [m]: { $in: x }, ...array };
    case 'all': return (x as Scalar[]).length === 0 ? array : { $and: [array, ...(x as Scalar[]).map((e) => ({ [m]: e }))] };
    case 'contains': return { [m]: x, ...array };
    case 'is_empty': return { $or: [{ [m]: { $exists: false } }, { [m]: null, ...scalar }, { [m]: '', ...scalar }, { [a]: 0 }] };
    default: return null; // text_match: no substring operator in our language
  }
}
