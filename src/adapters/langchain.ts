// nearest/langchain: NearestVectorStore, a LangChain.js vector store (SaveableVectorStore of
// @langchain/core, an optional peer dependency) on nearest's VectorStore, in memory or durable.
//
// Each LangChain document is one record of the store: its id (a string), its embedding, and as the
// record's metadata `{ pageContent, metadata }`, so that a durable store holds everything a search
// hands back. Metadata filters are ours (Mongo-style, on the document's metadata: their field paths
// are rewritten under `metadata.`); a predicate on the Document is also accepted. Like the server
// and the CLI, this module imports only the package's public API.
import { Document, type DocumentInterface } from '@langchain/core/documents';
import type { EmbeddingsInterface } from '@langchain/core/embeddings';
import { SaveableVectorStore, type MaxMarginalRelevanceSearchOptions } from '@langchain/core/vectorstores';
import {
  NearestError, VectorStore, compileFilter,
  type Metric, type RecordId, type StoreIndexOptions,
} from '../index.js';
import {
  StoreHandle, checkCount, checkOptions, copyRecords, cosineCandidates, invalid, jsonMetadata, saveStore, searchStore, thaw, unpack,
  type AnyStore, type DocRecord,
} from './records.js';

/**
 * A filter of NearestVectorStore searches and deletes: either a metadata filter in nearest's
 * language (`{ source: 'a.md', year: { $gte: 2020 } }`, `$and` / `$or` / `$not`, dotted paths),
 * applied on the documents' metadata during the search, or a predicate on the Document (evaluated
 * on every record first, O(n) per call; the Document it gets is frozen).
 */
export type NearestFilter = Record<string, unknown> | ((doc: DocumentInterface) => boolean);

/** Options of `new NearestVectorStore(embeddings, options)` (and of fromTexts / fromDocuments). */
export interface NearestVectorStoreArgs {
  /** Vector dimension; default: the length of the first embedding added (or the stored one). */
  dim?: number;
  /** 'cosine' (the default for a new store), 'euclidean' or 'dot'; an existing durable store keeps its own. */
  metric?: Metric;
  /** The index, as for `VectorStore`: `{ type: 'flat' }` (exact; the default), `{ type: 'hnsw', m: 16, ... }`, `{ type: 'ivf', nlist, ... }`. */
  index?: StoreIndexOptions;
  /** Makes the store durable in this directory (opened, or created on the first write): every write is on disk when its promise resolves. */
  directory?: string;
  /** Kernel backend ('auto' | 'wasm' | 'js'). */
  backend?: 'auto' | 'wasm' | 'js';
}

/** Options of `addVectors` / `addDocuments`. */
export interface NearestAddOptions {
  /** One id per document; an entry left undefined falls back to the Document's id, then to a new UUID. */
  ids?: (string | undefined | null)[];
}

/** Parameters of `delete`: ids (missing ones are ignored) or a filter. */
export interface NearestDeleteParams {
  ids?: string[];
  filter?: NearestFilter;
}

type Store = AnyStore<DocRecord>;

const ARG_KEYS = ['dim', 'metric', 'index', 'directory', 'backend'];

/** Our filter on the record `{ pageContent, metadata }`, from one on the document's metadata. */
function underMetadata(filter: Record<string, unknown>, depth = 0): Record<string, unknown> {
  if (depth > 64) throw invalid('filter: nests deeper than 64 levels', {});
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(filter)) {
    if (key === '$and' || key === '$or') {
      out[key] = Array.isArray(value) ? value.map((f) => (f && typeof f === 'object' && !Array.isArray(f) ? underMetadata(f as Record<string, unknown>, depth + 1) : f)) : value;
    } else if (key === '$not') {
      out[key] = value && typeof value === 'object' && !Array.isArray(value) ? underMetadata(value as Record<string, unknown>, depth + 1) : value;
    } else if (key.startsWith('$')) {
      out[key] = value; // the store names the unknown operator
    } else {
      out[`metadata.${key}`] = value;
    }
  }
  return out;
}

function checkFilter(filter: unknown, where: string): NearestFilter | undefined {
  if (filter === undefined || filter === null) return undefined;
  if (typeof filter === 'function') return filter as NearestFilter;
  if (typeof filter === 'object' && !Array.isArray(filter)) return filter as NearestFilter;
  throw invalid(`${where}: filter must be a metadata filter object or a predicate on the Document, got ${typeof filter}`, { option: 'filter' });
}

/**
 * A LangChain vector store on nearest: exact or HNSW / IVF search on WebAssembly SIMD kernels, in
 * memory, or durable in a directory (`{ directory }`: a write-ahead log, fsynced before a write's
 * promise resolves).
 *
 * Scores are similarities, higher is better: cosine similarity in [−1, 1] for 'cosine' (the
 * default; the same number MemoryVectorStore reports), the dot product for 'dot', minus the
 * Euclidean distance for 'euclidean'. Ids are strings; adding a document under an id the store
 * holds replaces it. A long exact scan (a flat index of more than about a million values) runs on a
 * worker thread (`searchAsync`), so the event loop stays free; a graph or IVF search, or a short
 * scan, runs on the calling thread, where it costs less than the hand-off.
 */
export class NearestVectorStore extends SaveableVectorStore {
  declare FilterType: NearestFilter;

  /** The options given (dim, metric, index, directory). */
  readonly args: NearestVectorStoreArgs;
  private readonly handle: StoreHandle<DocRecord>;

  _vectorstoreType(): string {
    return 'nearest';
  }

  /**
   * A store over `embeddings`. Nothing is created until it is needed: an in-memory store takes its
   * dim from the first embedding (unless `dim` is given); a durable one opens `directory` on first
   * use and creates it on the first write.
   */
  constructor(embeddings: EmbeddingsInterface, args: NearestVectorStoreArgs = {}) {
    const a = checkOptions<NearestVectorStoreArgs>(args, ARG_KEYS);
    super(embeddings, a);
    this.args = { ...a };
    this.handle = new StoreHandle<DocRecord>(a, () => new NearestError('INVALID_ARGUMENT', 'NearestVectorStore: the store is closed', {}));
  }

  private get store(): Store | null {
    return this.handle.store;
  }

  /** The nearest store behind this one (null until it has been opened or created). */
  get vectorStore(): Store | null {
    return this.store;
  }

  /** Documents held (0 before the store exists). */
  get size(): number {
    return this.store?.size ?? 0;
  }

  /** The store, opened or created as needed; null while there is none and no dim to make one with. */
  private ensure(dimHint?: number): Promise<Store | null> {
    return this.handle.ensure(dimHint);
  }

  /**
   * Adds documents with their embeddings; returns their ids: `options.ids[i]`, else the document's
   * `id`, else a new UUID. An id the store holds is replaced (and one repeated in the call keeps its
   * last document). Documents are not modified; their metadata must be JSON (undefined properties
   * are dropped).
   */
  async addVectors(vectors: number[][], documents: DocumentInterface[], options?: NearestAddOptions): Promise<string[]> {
    if (!Array.isArray(vectors) || !Array.isArray(documents)) throw invalid('addVectors: vectors and documents must be arrays', {});
    if (vectors.length !== documents.length) {
      throw invalid(`addVectors: ${vectors.length} vectors for ${documents.length} documents (one each expected)`, { expected: documents.length, received: vectors.length });
    }
    const given = options?.ids;
    if (given !== undefined && given !== null && (!Array.isArray(given) || given.length !== documents.length)) {
      throw invalid(`addVectors: options.ids must be an array of one id per document (${documents.length})`, { expected: documents.length, received: Array.isArray(given) ? given.length : typeof given });
    }
    const ids = documents.map((doc, i) => {
      const id = given?.[i] ?? doc.id ?? crypto.randomUUID();
      if (typeof id !== 'string' || id === '') throw invalid(`addVectors: the id of document ${i} must be a non-empty string, got ${typeof id === 'string' ? '""' : typeof id}`, { index: i });
      return id;
    });
    if (ids.length === 0) return [];
    const last = new Map<string, number>();
    ids.forEach((id, i) => last.set(id, i));
    const records = [...last.values()].sort((a, b) => a - b).map((i) => {
      const doc = documents[i]!;
      if (typeof doc?.pageContent !== 'string') throw invalid(`addVectors: document ${i} has no string pageContent`, { index: i });
      return { id: ids[i]!, vector: vectors[i]!, metadata: { pageContent: doc.pageContent, metadata: jsonMetadata(doc.metadata ?? {}) as DocRecord['metadata'] } };
    });
    const store = await this.ensure(Array.isArray(vectors[0]) ? vectors[0].length : undefined);
    if (!store) throw invalid('addVectors: the first vector has no length', {});
    await store.upsert(records);
    return ids;
  }

  /** Embeds the documents' pageContent with the store's embeddings, then `addVectors`. */
  async addDocuments(documents: DocumentInterface[], options?: NearestAddOptions): Promise<string[]> {
    if (!Array.isArray(documents)) throw invalid('addDocuments: documents must be an array', {});
    if (documents.length === 0) return [];
    const vectors = await this.embeddings.embedDocuments(documents.map((d) => d.pageContent));
    return this.addVectors(vectors, documents, options);
  }

  /**
   * Deletes documents by id (`{ ids }`; ids the store does not hold are ignored) or by filter
   * (`{ filter }`, as for searches). An array is taken as `{ ids }`.
   */
  override async delete(params?: NearestDeleteParams | string[]): Promise<void> {
    const p: NearestDeleteParams = Array.isArray(params) ? { ids: params } : params ?? {};
    if (typeof p !== 'object') throw invalid('delete: pass { ids } or { filter }', {});
    const filter = checkFilter(p.filter, 'delete');
    if (p.ids === undefined && filter === undefined) throw invalid('delete: pass { ids } or { filter }', {});
    if (p.ids !== undefined && (!Array.isArray(p.ids) || p.ids.some((id) => typeof id !== 'string'))) throw invalid('delete: ids must be an array of strings', { option: 'ids' });
    const store = await this.ensure();
    if (!store || store.size === 0) return;
    let ids: RecordId[] = p.ids ?? [];
    if (filter !== undefined) {
      const matched = this.matching(store, filter);
      ids = p.ids === undefined ? matched : matched.filter((id) => p.ids!.includes(String(id)));
    }
    if (ids.length > 0) await store.deleteMany(ids);
  }

  /** Ids of the records a filter admits (a full scan). */
  private matching(store: Store, filter: NearestFilter): RecordId[] {
    const admit = typeof filter === 'function'
      ? (id: RecordId, stored: unknown) => filter(this.document(id, stored, false)) === true
      : ((match) => (_id: RecordId, stored: unknown) => match(stored))(compileFilter(underMetadata(filter)));
    const out: RecordId[] = [];
    for (const [id, stored] of store.entries()) if (admit(id, stored)) out.push(id);
    return out;
  }

  /** A Document of a stored record (a thawed copy unless `frozen`). */
  private document(id: RecordId, stored: unknown, thawed = true): Document {
    const r = unpack(stored);
    return new Document({ pageContent: r.pageContent, metadata: thawed ? thaw(r.metadata) : r.metadata, id: String(id) });
  }

  /**
   * The k documents most similar to `query` (an embedding), best first, with their scores
   * (similarities: higher is better; see the class). k = 0 gives [], k larger than the store gives
   * every (matching) document. With a filter only matching documents come back, k whenever k match.
   */
  async similaritySearchVectorWithScore(query: number[], k: number, filter?: NearestFilter): Promise<[DocumentInterface, number][]> {
    const hits = await this.searchHits(query, k, checkFilter(filter, 'similaritySearchVectorWithScore'), 'similaritySearchVectorWithScore');
    return hits.map((h) => [this.document(h.id, h.metadata), h.score]);
  }

  private async searchHits(query: number[], k: number, filter: NearestFilter | undefined, where: string) {
    checkCount(k, 'k', where);
    const store = await this.ensure();
    if (k === 0 || !store || store.size === 0) return [];
    const options: { filter?: Record<string, unknown>; ids?: RecordId[] } = {};
    if (typeof filter === 'function') {
      options.ids = this.matching(store, filter);
      if (options.ids.length === 0) return [];
    } else if (filter !== undefined) {
      options.filter = underMetadata(filter);
    }
    return searchStore(store, query, Math.min(k, store.size), options);
  }

  /**
   * Maximal marginal relevance: fetches the `fetchK` (default 20) documents most similar to the
   * query, then picks `k` of them greedily, each maximising `lambda · sim(query, d) − (1 − lambda) ·
   * max sim(d, picked)` (lambda default 0.5: 1 is pure relevance, 0 pure diversity), with cosine
   * similarities computed by nearest's kernels. Most relevant first.
   */
  override async maxMarginalRelevanceSearch(query: string, options: MaxMarginalRelevanceSearchOptions<this['FilterType']>, _callbacks?: unknown): Promise<DocumentInterface[]> {
    const q = await this.embeddings.embedQuery(query);
    return this.maxMarginalRelevanceSearchByVector(q, options);
  }

  /** `maxMarginalRelevanceSearch` from an embedding. */
  async maxMarginalRelevanceSearchByVector(query: number[], options: MaxMarginalRelevanceSearchOptions<NearestFilter>): Promise<DocumentInterface[]> {
    const where = 'maxMarginalRelevanceSearch';
    const k = checkCount(options?.k ?? 4, 'k', where);
    const fetchK = checkCount(options?.fetchK ?? 20, 'fetchK', where);
    const lambda = options?.lambda ?? 0.5;
    if (typeof lambda !== 'number' || !(lambda >= 0 && lambda <= 1)) throw invalid(`${where}: lambda must be a number in [0, 1], got ${String(lambda)}`, { option: 'lambda' });
    const hits = await this.searchHits(query, fetchK, checkFilter(options?.filter, where), where);
    if (k === 0 || hits.length === 0) return [];
    const store = this.store!;
    const n = hits.length;
    /** Cosine similarity of a vector to every candidate, by candidate slot. */
    const { rows, sims } = cosineCandidates(store, hits.map((h) => h.id), this.args.backend);
    const relevance = sims(query);
    const maxToPicked = new Float64Array(n).fill(-Infinity);
    const picked: number[] = [];
    const taken = new Uint8Array(n);
    while (picked.length < Math.min(k, n)) {
      let best = -1, bestScore = -Infinity;
      for (let i = 0; i < n; i++) {
        if (taken[i]) continue;
        const score = picked.length === 0 ? relevance[i]! : lambda * relevance[i]! - (1 - lambda) * maxToPicked[i]!;
        if (score > bestScore || best < 0) { best = i; bestScore = score; }
      }
      picked.push(best);
      taken[best] = 1;
      if (picked.length < Math.min(k, n)) {
        const s = sims(rows.subarray(best * store.dim, (best + 1) * store.dim));
        for (let i = 0; i < n; i++) if (s[i]! > maxToPicked[i]!) maxToPicked[i] = s[i]!;
      }
    }
    return picked.map((i) => this.document(hits[i]!.id, hits[i]!.metadata));
  }

  /** The documents of these ids, in the order asked, skipping ids the store does not hold. */
  async getByIds(ids: string[]): Promise<DocumentInterface[]> {
    if (!Array.isArray(ids)) throw invalid('getByIds: ids must be an array of strings', {});
    const store = await this.ensure();
    if (!store) return [];
    const out: Document[] = [];
    for (const id of ids) {
      if (typeof id !== 'string' || id === '') throw invalid('getByIds: ids must be non-empty strings', {});
      if (store.has(id)) out.push(this.document(id, store.metadataOf(id)));
    }
    return out;
  }

  /**
   * Writes the store to `directory` in nearest's durable format (a store directory that
   * `NearestVectorStore.load`, `fromExistingIndex` and `VectorStore.open` read), replacing a store
   * saved there before. A durable store saving to its own directory compacts it.
   */
  async save(directory: string): Promise<void> {
    if (typeof directory !== 'string' || directory === '') throw invalid('save: directory must be a non-empty path', {});
    const store = await this.ensure();
    if (!store) throw invalid('save: the store has no dimension yet (add a document, or pass { dim })', {});
    await saveStore(store, directory, this.args.directory, 'save');
  }

  /**
   * Reads a store saved with `save` into a new in-memory NearestVectorStore (the directory is only
   * read; the index is rebuilt with the saved options). To keep working on the directory itself,
   * use `fromExistingIndex(embeddings, { directory })`.
   */
  static override async load(directory: string, embeddings: EmbeddingsInterface): Promise<NearestVectorStore> {
    const src = await VectorStore.open<DocRecord>(directory, { readOnly: true });
    try {
      const out = new NearestVectorStore(embeddings, { dim: src.dim, metric: src.metric, index: src.stats().indexOptions });
      const store = (await out.ensure())!;
      await copyRecords(src, (records) => store.upsert(records));
      return out;
    } finally {
      await src.close();
    }
  }

  /** A store of these texts (metadatas: one object per text, or one for all). */
  static override async fromTexts(texts: string[], metadatas: object[] | object, embeddings: EmbeddingsInterface, args?: NearestVectorStoreArgs): Promise<NearestVectorStore> {
    if (!Array.isArray(texts)) throw invalid('fromTexts: texts must be an array of strings', {});
    const docs = texts.map((pageContent, i) => new Document({
      pageContent,
      metadata: (Array.isArray(metadatas) ? metadatas[i] : metadatas) as Record<string, unknown> ?? {},
    }));
    return NearestVectorStore.fromDocuments(docs, embeddings, args);
  }

  /** A store of these documents. */
  static override async fromDocuments(docs: DocumentInterface[], embeddings: EmbeddingsInterface, args?: NearestVectorStoreArgs): Promise<NearestVectorStore> {
    const store = new NearestVectorStore(embeddings, args);
    await store.addDocuments(docs);
    return store;
  }

  /** The durable store in `args.directory` (NOT_FOUND when there is none). */
  static async fromExistingIndex(embeddings: EmbeddingsInterface, args: NearestVectorStoreArgs): Promise<NearestVectorStore> {
    if (!args || typeof args.directory !== 'string') throw invalid('fromExistingIndex: pass { directory } of a durable store', {});
    const store = new NearestVectorStore(embeddings, args);
    if (!(await store.ensure())) throw new NearestError('NOT_FOUND', `NearestVectorStore.fromExistingIndex: no store at ${args.directory}`, { directory: args.directory });
    return store;
  }

  /** Closes a durable store (its writes are on disk already; releases the directory's lock). Idempotent. */
  async close(): Promise<void> {
    await this.handle.close();
  }
}

