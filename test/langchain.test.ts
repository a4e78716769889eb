// nearest/langchain: NearestVectorStore through LangChain's own flows (add / search / delete /
// upsert / getByIds, the checks of LangChain's VectorStoreIntegrationTests written anew), filters
// (ours and predicates), MMR, retrievers, index() with a RecordManager in incremental and full
// cleanup, save / load and durable stores reopened; and a differential against LangChain's
// MemoryVectorStore (same top-k ids and scores on exact search, recall@10 of an HNSW store).
import { readdir, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { Document } from '@langchain/core/documents';
import { Embeddings } from '@langchain/core/embeddings';
import { index, type RecordManagerInterface, type UpdateOptions, type ListKeyOptions } from '@langchain/core/indexing';
import { SyntheticEmbeddings, FakeEmbeddings } from '@langchain/core/utils/testing';
import { maximalMarginalRelevance } from '@langchain/core/utils/math';
import { MemoryVectorStore } from '@langchain/classic/vectorstores/memory';
import { NearestError } from 'nearest';
import { NearestVectorStore } from 'nearest/langchain';
import { tempDirs, docExampleLines } from './adapter-helpers.js';
import { clusteredRows } from './helpers.js';

const tempDir = tempDirs('langchain');

/** The embeddings of LangChain's standard tests are small and deterministic; these are too. */
const embeddings = () => new SyntheticEmbeddings({ vectorSize: 6 });

const foo = () => new Document({ pageContent: 'foo', metadata: { id: 1 } });
const bar = () => new Document({ pageContent: 'bar', metadata: { id: 2 } });
const baz = () => new Document({ pageContent: 'baz', metadata: { id: 3 } });
const plain = (docs: { pageContent: string; metadata: Record<string, unknown>; id?: string }[]) => docs.map((d) => ({ pageContent: d.pageContent, metadata: d.metadata, id: d.id }));

/** clusteredRows (realistic structure; corpus and queries share it) as number[][], the way LangChain passes vectors. */
function clustered(n: number, dim: number, seed: number, clusters = 24): number[][] {
  const rows = clusteredRows(n, dim, clusters, seed);
  return Array.from({ length: n }, (_, i) => Array.from(rows.subarray(i * dim, (i + 1) * dim)));
}

/** A RecordManager in memory (LangChain ships SQL-backed ones only): keys with their update time and group. */
class MemoryRecordManager implements RecordManagerInterface {
  readonly records = new Map<string, { updatedAt: number; groupId: string | null }>();
  private clock = 0;
  async createSchema(): Promise<void> {}
  async getTime(): Promise<number> { return ++this.clock; }
  async update(keys: string[], options: UpdateOptions = {}): Promise<void> {
    const now = await this.getTime();
    if (options.timeAtLeast !== undefined && now < options.timeAtLeast) throw new Error('time went backwards');
    keys.forEach((key, i) => this.records.set(key, { updatedAt: now, groupId: options.groupIds?.[i] ?? null }));
  }
  async exists(keys: string[]): Promise<boolean[]> { return keys.map((k) => this.records.has(k)); }
  async listKeys(options: ListKeyOptions = {}): Promise<string[]> {
    const out: string[] = [];
    for (const [key, r] of this.records) {
      if (options.before !== undefined && !(r.updatedAt < options.before)) continue;
      if (options.after !== undefined && !(r.updatedAt > options.after)) continue;
      if (options.groupIds !== undefined && !options.groupIds.includes(r.groupId)) continue;
      out.push(key);
    }
    return options.limit !== undefined ? out.slice(0, options.limit) : out;
  }
  async deleteKeys(keys: string[]): Promise<void> { for (const k of keys) this.records.delete(k); }
}

/** Embeddings from a fixed table (text → vector), for exact control of the geometry. */
class TableEmbeddings extends Embeddings {
  constructor(private readonly table: Record<string, number[]>) { super({}); }
  async embedDocuments(texts: string[]): Promise<number[][]> { return texts.map((t) => this.vec(t)); }
  async embedQuery(text: string): Promise<number[]> { return this.vec(text); }
  private vec(t: string): number[] {
    const v = this.table[t];
    if (!v) throw new Error(`no embedding for ${t}`);
    return [...v];
  }
}

describe('NearestVectorStore: the read-write flows', () => {
  it('an empty store finds nothing (before it has a dim, too)', async () => {
    const store = new NearestVectorStore(embeddings());
    expect(await store.similaritySearch('foo', 1)).toEqual([]);
    expect(await store.getByIds(['1'])).toEqual([]);
    await store.delete({ ids: ['1'] });
    expect(store.size).toBe(0);
    expect(store._vectorstoreType()).toBe('nearest');
  });

  it('addDocuments returns ids, searches return Documents best first, inputs are not mutated', async () => {
    const store = new NearestVectorStore(embeddings());
    const originals = [foo(), bar()];
    const before = structuredClone(plain(originals));
    const ids = await store.addDocuments(originals);
    expect(ids).toHaveLength(2);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    const docs = await store.similaritySearch('bar', 2);
    expect(plain(docs)).toEqual([
      { pageContent: 'bar', metadata: { id: 2 }, id: ids[1] },
      { pageContent: 'foo', metadata: { id: 1 }, id: ids[0] },
    ]);
    expect(docs[0]).toBeInstanceOf(Document);
    expect(plain(originals)).toEqual(before);
    expect(originals[0]!.id).toBeUndefined();
    // Results are the caller's to change: the store is not.
    (docs[0]!.metadata as Record<string, unknown>).id = 99;
    expect(plain(await store.similaritySearch('bar', 1))[0]!.metadata).toEqual({ id: 2 });
  });

  it('honours options.ids, then Document.id, else a UUID', async () => {
    const store = new NearestVectorStore(embeddings());
    expect(await store.addDocuments([foo(), bar()], { ids: ['1', '2'] })).toEqual(['1', '2']);
    const withId = new Document({ id: 'foo', pageContent: 'foo', metadata: { id: 1 } });
    const ids = await store.addDocuments([withId, bar()]);
    expect(ids[0]).toBe('foo');
    expect(ids[1]).not.toBe('2');
    expect(plain(await store.getByIds(ids))).toEqual([
      { pageContent: 'foo', metadata: { id: 1 }, id: 'foo' },
      { pageContent: 'bar', metadata: { id: 2 }, id: ids[1] },
    ]);
    // options.ids wins over Document.id; an undefined entry falls back to it.
    expect(await store.addDocuments([withId, withId], { ids: ['x', undefined] })).toEqual(['x', 'foo']);
    expect(store.size).toBe(5);
  });

  it('deletes by ids (one, several, missing ones ignored)', async () => {
    const store = new NearestVectorStore(embeddings());
    await store.addDocuments([foo(), bar(), baz()], { ids: ['1', '2', '3'] });
    await store.delete({ ids: ['1'] });
    expect(plain(await store.similaritySearch('foo', 1))[0]!.id).not.toBe('1');
    await store.delete({ ids: ['2', 'nope'] });
    expect(plain(await store.similaritySearch('foo', 1))).toEqual([{ pageContent: 'baz', metadata: { id: 3 }, id: '3' }]);
    await store.delete({ ids: ['1', '2', '3', '4'] });
    await store.delete(['1']);
    expect(store.size).toBe(0);
    expect(await store.similaritySearch('foo', 1)).toEqual([]);
    await expect(store.delete({})).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('adding an existing id replaces it (upsert), and adding twice is idempotent', async () => {
    const store = new NearestVectorStore(embeddings());
    await store.addDocuments([foo(), bar()], { ids: ['1', '2'] });
    await store.addDocuments([foo(), bar()], { ids: ['1', '2'] });
    expect(plain(await store.similaritySearch('bar', 2))).toEqual([
      { pageContent: 'bar', metadata: { id: 2 }, id: '2' },
      { pageContent: 'foo', metadata: { id: 1 }, id: '1' },
    ]);
    await store.addDocuments([new Document({ pageContent: 'new foo', metadata: { id: 1, some_other_field: 'foo' } })], { ids: ['1'] });
    expect(store.size).toBe(2);
    expect(plain(await store.similaritySearch('new foo', 2))).toEqual([
      { pageContent: 'new foo', metadata: { id: 1, some_other_field: 'foo' }, id: '1' },
      { pageContent: 'bar', metadata: { id: 2 }, id: '2' },
    ]);
    // An id repeated within one call keeps its last document.
    await store.addDocuments([foo(), baz()], { ids: ['9', '9'] });
    expect(plain(await store.getByIds(['9']))).toEqual([{ pageContent: 'baz', metadata: { id: 3 }, id: '9' }]);
  });

  it('getByIds answers in request order and skips missing ids', async () => {
    const store = new NearestVectorStore(embeddings());
    await store.addDocuments([foo(), bar(), baz()], { ids: ['a', 'b', 'c'] });
    expect((await store.getByIds(['c', 'zz', 'a', 'b'])).map((d) => d.id)).toEqual(['c', 'a', 'b']);
    expect(await store.getByIds(['1', '2', '3'])).toEqual([]);
  });

  it('k = 0 gives [], k > size gives all, scores are similarities (cosine), best first', async () => {
    const table = { a: [1, 0, 0], b: [0.8, 0.6, 0], c: [0, 1, 0], d: [-1, 0, 0], q: [1, 0, 0] };
    const store = new NearestVectorStore(new TableEmbeddings(table));
    await store.addDocuments(['a', 'b', 'c', 'd'].map((t) => new Document({ pageContent: t, metadata: {}, id: t })));
    expect(await store.similaritySearchWithScore('q', 0)).toEqual([]);
    const all = await store.similaritySearchWithScore('q', 50);
    expect(all.map(([d]) => d.id)).toEqual(['a', 'b', 'c', 'd']);
    const scores = all.map(([, s]) => s);
    expect(scores[0]).toBeCloseTo(1, 6);
    expect(scores[1]).toBeCloseTo(0.8, 6);
    expect(scores[2]).toBeCloseTo(0, 6);
    expect(scores[3]).toBeCloseTo(-1, 6);
    await expect(store.similaritySearchVectorWithScore([1, 0, 0], -1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.similaritySearchVectorWithScore([1, 0], 1)).rejects.toMatchObject({ code: 'DIMENSION_MISMATCH' });
  });

  it('euclidean and dot scores: higher is better (minus the distance, the dot product)', async () => {
    const table = { a: [1, 0], b: [3, 0], q: [2.5, 0] };
    const l2 = new NearestVectorStore(new TableEmbeddings(table), { metric: 'euclidean' });
    await l2.addDocuments([new Document({ pageContent: 'a', metadata: {}, id: 'a' }), new Document({ pageContent: 'b', metadata: {}, id: 'b' })]);
    const r = await l2.similaritySearchWithScore('q', 2);
    expect(r.map(([d]) => d.id)).toEqual(['b', 'a']);
    expect(r[0]![1]).toBeCloseTo(-0.5, 6);
    expect(r[1]![1]).toBeCloseTo(-1.5, 6);
    const dot = new NearestVectorStore(new TableEmbeddings(table), { metric: 'dot' });
    await dot.addDocuments([new Document({ pageContent: 'a', metadata: {}, id: 'a' }), new Document({ pageContent: 'b', metadata: {}, id: 'b' })]);
    expect((await dot.similaritySearchWithScore('q', 2)).map(([d, s]) => [d.id, s])).toEqual([['b', 7.5], ['a', 2.5]]);
  });

  it('short searches run on the calling thread, long flat scans through searchAsync (worker threads)', async () => {
    const store = await NearestVectorStore.fromTexts(['foo', 'bar'], {}, embeddings());
    const sync = vi.spyOn(store.vectorStore!, 'search'), async = vi.spyOn(store.vectorStore!, 'searchAsync');
    await store.similaritySearch('foo', 1);
    expect([sync.mock.calls.length, async.mock.calls.length]).toEqual([1, 0]);
    // A flat store of more than 2^20 values scans on a worker; an HNSW one of the same size does not.
    const rows = clustered(1100, 1000, 3);
    for (const [type, calls] of [['flat', [0, 1]], ['hnsw', [1, 0]]] as const) {
      const big = new NearestVectorStore(new FakeEmbeddings(), { index: { type } });
      await big.addVectors(rows, rows.map((_, i) => new Document({ pageContent: `${i}`, metadata: {} })));
      const s = vi.spyOn(big.vectorStore!, 'search'), a = vi.spyOn(big.vectorStore!, 'searchAsync');
      expect((await big.similaritySearchVectorWithScore(rows[7]!, 1))[0]![0].pageContent).toBe('7');
      expect([s.mock.calls.length, a.mock.calls.length]).toEqual(calls);
    }
  });

  it('rejects unknown options, mismatched inputs and non-JSON metadata', async () => {
    expect(() => new NearestVectorStore(embeddings(), { metrik: 'cosine' } as never)).toThrow(NearestError);
    expect(() => new NearestVectorStore(embeddings(), { metric: 'manhattan' } as never)).toThrow(NearestError);
    expect(() => new NearestVectorStore(embeddings(), { index: { type: 'hnsw', mm: 16 } } as never)).toThrow(/mm/);
    expect(() => new NearestVectorStore(embeddings(), { index: { type: 'ivf', nlist: 64 } })).not.toThrow();
    const store = new NearestVectorStore(embeddings());
    await expect(store.addVectors([[1, 2, 3, 4, 5, 6]], [foo(), bar()])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.addDocuments([foo()], { ids: ['1', '2'] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.addDocuments([new Document({ pageContent: 'x', metadata: { when: new Date(0) } })])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    // Undefined properties are dropped, as JSON.stringify does.
    const [id] = await store.addDocuments([new Document({ pageContent: 'x', metadata: { a: 1, b: undefined } })]);
    expect((await store.getByIds([id!]))[0]!.metadata).toStrictEqual({ a: 1 });
  });

  it('never mutates the vectors, documents or ids it is given', async () => {
    const store = new NearestVectorStore(embeddings());
    const vectors = [[0.1, 0.2, 0.3], [0.3, 0.2, 0.1]];
    const docs = [new Document({ pageContent: 'p', metadata: { nested: { tags: ['a', 'b'] }, n: 1 } }), new Document({ pageContent: 'q', metadata: {} })];
    const ids = ['i1', 'i2'];
    const snapshot = structuredClone({ vectors, docs: plain(docs), ids });
    await store.addVectors(vectors, docs, { ids });
    await store.similaritySearchVectorWithScore(vectors[0]!, 2);
    await store.maxMarginalRelevanceSearchByVector(vectors[0]!, { k: 2 });
    expect({ vectors, docs: plain(docs), ids }).toEqual(snapshot);
    expect(Object.isFrozen(docs[0]!.metadata)).toBe(false);
  });
});

describe('NearestVectorStore: filters', () => {
  const texts = ['alpha one', 'alpha two', 'beta one', 'beta two', 'gamma one', 'gamma two'];
  const metas = texts.map((t, i) => ({ group: t.split(' ')[0], n: i, tags: i % 2 ? ['odd'] : ['even'], info: { year: 2018 + i } }));
  const make = (args = {}) => NearestVectorStore.fromDocuments(texts.map((t, i) => new Document({ pageContent: t, metadata: metas[i]!, id: `d${i}` })), embeddings(), args);

  it('takes our metadata filters (on Document.metadata) and predicates on the Document', async () => {
    for (const args of [{}, { index: { type: 'hnsw' as const, m: 16 } }]) {
      const store = await make(args);
      const ids = async (filter: unknown, k = 10) => (await store.similaritySearch('alpha one', k, filter as never)).map((d) => d.id).sort();
      expect(await ids({ group: 'beta' })).toEqual(['d2', 'd3']);
      expect(await ids({ n: { $gte: 4 } })).toEqual(['d4', 'd5']);
      expect(await ids({ 'info.year': { $lt: 2020 } })).toEqual(['d0', 'd1']);
      expect(await ids({ $or: [{ group: 'alpha' }, { n: 5 }] })).toEqual(['d0', 'd1', 'd5']);
      expect(await ids({ $not: { group: { $in: ['alpha', 'beta'] } } })).toEqual(['d4', 'd5']);
      expect(await ids({ group: 'delta' })).toEqual([]);
      expect(await ids((d: Document) => d.pageContent.endsWith('two'))).toEqual(['d1', 'd3', 'd5']);
      expect(await ids((d: Document) => d.id === 'd4' || d.metadata.n === 0)).toEqual(['d0', 'd4']);
      expect(await ids(() => false)).toEqual([]);
      // k whenever k match, best first with scores.
      const hits = await store.similaritySearchWithScore('alpha one', 2, { group: { $ne: 'alpha' } } as never);
      expect(hits).toHaveLength(2);
      expect(hits[0]![1]).toBeGreaterThanOrEqual(hits[1]![1]);
      await expect(store.similaritySearch('alpha', 1, { group: { $regex: 'a' } } as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
  });

  it('delete({ filter }) with either kind', async () => {
    const store = await make();
    await store.delete({ filter: { group: 'alpha' } });
    expect(store.size).toBe(4);
    await store.delete({ filter: (d: Document) => d.metadata.n === 5 });
    expect((await store.getByIds(texts.map((_, i) => `d${i}`))).map((d) => d.id)).toEqual(['d2', 'd3', 'd4']);
    await store.delete({ filter: { group: 'nobody' } });
    expect(store.size).toBe(3);
  });
});

describe('NearestVectorStore: MMR and retrievers', () => {
  // q is close to a, a2 (a near-copy of a) and b; MMR should take a, then b over the redundant a2.
  const table = { a: [1, 0.1, 0], a2: [1, 0.12, 0], b: [0.7, -0.7, 0.2], c: [0, 0, 1], q: [1, 0, 0] };
  const docs = () => Object.keys(table).filter((t) => t !== 'q').map((t) => new Document({ pageContent: t, metadata: { t }, id: t }));

  it('maxMarginalRelevanceSearch trades relevance for diversity (most relevant first)', async () => {
    const store = await NearestVectorStore.fromDocuments(docs(), new TableEmbeddings(table));
    expect((await store.similaritySearch('q', 2)).map((d) => d.id)).toEqual(['a', 'a2']);
    expect((await store.maxMarginalRelevanceSearch('q', { k: 2, fetchK: 4 })).map((d) => d.id)).toEqual(['a', 'b']);
    expect((await store.maxMarginalRelevanceSearch('q', { k: 3, fetchK: 4, lambda: 1 })).map((d) => d.id)).toEqual(['a', 'a2', 'b']);
    expect((await store.maxMarginalRelevanceSearch('q', { k: 10, fetchK: 2 })).map((d) => d.id)).toEqual(['a', 'a2']);
    expect(await store.maxMarginalRelevanceSearch('q', { k: 0 })).toEqual([]);
    expect((await store.maxMarginalRelevanceSearch('q', { k: 2, filter: { t: { $ne: 'a' } } })).map((d) => d.id)).toEqual(['a2', 'b']);
    expect((await store.maxMarginalRelevanceSearch('q', { k: 1, filter: (d: Document) => d.id === 'c' })).map((d) => d.id)).toEqual(['c']);
    await expect(store.maxMarginalRelevanceSearch('q', { k: 1, lambda: 2 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('MMR picks what LangChain\'s maximalMarginalRelevance picks, on seeded data', async () => {
    const vectors = clustered(300, 16, 7, 6);
    const store = new NearestVectorStore(new FakeEmbeddings());
    const ds = vectors.map((_, i) => new Document({ pageContent: `doc ${i}`, metadata: { i }, id: `v${i}` }));
    await store.addVectors(vectors, ds);
    for (const [qi, lambda] of [[0, 0.5], [17, 0.25], [33, 0.75], [41, 0]] as const) {
      const q = vectors[qi]!.map((x, j) => x + 0.3 * Math.sin(j + qi));
      const fetchK = 25;
      const cands = await store.similaritySearchVectorWithScore(q, fetchK);
      const candVectors = cands.map(([d]) => vectors[Number(d.id!.slice(1))]!);
      const expected = maximalMarginalRelevance(q, candVectors, lambda, 6).map((i) => cands[i]![0].id);
      const got = (await store.maxMarginalRelevanceSearchByVector(q, { k: 6, fetchK, lambda })).map((d) => d.id);
      expect(got).toEqual(expected);
    }
  });

  it('asRetriever works for similarity and mmr, with k and filters', async () => {
    const store = await NearestVectorStore.fromDocuments(docs(), new TableEmbeddings(table));
    expect((await store.asRetriever(2).invoke('q')).map((d) => d.id)).toEqual(['a', 'a2']);
    expect((await store.asRetriever({ k: 1, filter: { t: 'c' } }).invoke('q')).map((d) => d.id)).toEqual(['c']);
    const mmr = store.asRetriever({ searchType: 'mmr', k: 2, searchKwargs: { fetchK: 4, lambda: 0.5 } });
    expect((await mmr.invoke('q')).map((d) => d.id)).toEqual(['a', 'b']);
    const viaRetriever = await store.asRetriever().addDocuments([new Document({ pageContent: 'c', metadata: {}, id: 'c-again' })]);
    expect(viaRetriever).toEqual(['c-again']);
  });
});

describe('NearestVectorStore: index() with a RecordManager', () => {
  const doc = (text: string, source: string) => new Document({ pageContent: text, metadata: { source } });

  it('incremental cleanup: skips unchanged, replaces changed documents of a source', async () => {
    const store = new NearestVectorStore(embeddings());
    const rm = new MemoryRecordManager();
    const first = [doc('the cat sat', 'a.md'), doc('on the mat', 'a.md'), doc('dogs bark', 'b.md')];
    expect(await index({ docsSource: first, recordManager: rm, vectorStore: store, options: { cleanup: 'incremental', sourceIdKey: 'source' } }))
      .toEqual({ numAdded: 3, numUpdated: 0, numDeleted: 0, numSkipped: 0 });
    expect(store.size).toBe(3);
    expect(await index({ docsSource: first, recordManager: rm, vectorStore: store, options: { cleanup: 'incremental', sourceIdKey: 'source' } }))
      .toEqual({ numAdded: 0, numUpdated: 0, numDeleted: 0, numSkipped: 3 });
    // a.md changed: its old chunks go, b.md (not in this batch) stays.
    const changed = [doc('the cat sat down', 'a.md')];
    expect(await index({ docsSource: changed, recordManager: rm, vectorStore: store, options: { cleanup: 'incremental', sourceIdKey: 'source' } }))
      .toEqual({ numAdded: 1, numUpdated: 0, numDeleted: 2, numSkipped: 0 });
    expect(store.size).toBe(2);
    const texts = (await store.similaritySearch('the cat', 10)).map((d) => d.pageContent).sort();
    expect(texts).toEqual(['dogs bark', 'the cat sat down']);
    expect([...rm.records.keys()].sort()).toEqual(store.vectorStore!.keys().map(String).sort());
  });

  it('full cleanup: whatever is not in the batch is deleted', async () => {
    const store = new NearestVectorStore(embeddings());
    const rm = new MemoryRecordManager();
    await index({ docsSource: [doc('one', 'x'), doc('two', 'x'), doc('three', 'y')], recordManager: rm, vectorStore: store, options: { cleanup: 'full' } });
    expect(store.size).toBe(3);
    const r = await index({ docsSource: [doc('two', 'x'), doc('four', 'z')], recordManager: rm, vectorStore: store, options: { cleanup: 'full' } });
    expect(r).toEqual({ numAdded: 1, numUpdated: 0, numDeleted: 2, numSkipped: 1 });
    expect((await store.similaritySearch('two', 10)).map((d) => d.pageContent).sort()).toEqual(['four', 'two']);
    expect(await index({ docsSource: [], recordManager: rm, vectorStore: store, options: { cleanup: 'full' } }))
      .toEqual({ numAdded: 0, numUpdated: 0, numDeleted: 2, numSkipped: 0 });
    expect(store.size).toBe(0);
  });

  it('works on a durable store across a reopen', async () => {
    const dir = join(await tempDir(), 'idx');
    const rm = new MemoryRecordManager();
    let store = new NearestVectorStore(embeddings(), { directory: dir });
    await index({ docsSource: [doc('one', 'x'), doc('two', 'x')], recordManager: rm, vectorStore: store, options: { cleanup: 'incremental', sourceIdKey: 'source' } });
    await store.close();
    store = await NearestVectorStore.fromExistingIndex(embeddings(), { directory: dir });
    expect(await index({ docsSource: [doc('one', 'x'), doc('two', 'x')], recordManager: rm, vectorStore: store, options: { cleanup: 'incremental', sourceIdKey: 'source' } }))
      .toEqual({ numAdded: 0, numUpdated: 0, numDeleted: 0, numSkipped: 2 });
    await index({ docsSource: [doc('three', 'x')], recordManager: rm, vectorStore: store, options: { cleanup: 'incremental', sourceIdKey: 'source' } });
    expect(store.size).toBe(1);
    await store.close();
  });
});

describe('NearestVectorStore: durable stores, save and load', () => {
  const rich = {
    title: 'Ünïcödé ✓ "quoted"', n: 3, f: 0.1 + 0.2, neg: -7, ok: true, none: null,
    tags: ['x', 'y', 'z'], nested: { deep: { list: [1, { two: 2 }, [3]] }, empty: {} }, emptyList: [],
  };

  it('directory makes it durable: writes survive a reopen, metadata round-trips unchanged', async () => {
    const dir = join(await tempDir(), 'store');
    const store = new NearestVectorStore(embeddings(), { directory: dir, index: { type: 'hnsw', m: 16 } });
    const docs = [new Document({ pageContent: 'foo', metadata: rich }), bar(), baz()];
    const ids = await store.addDocuments(docs, { ids: ['r', '2', '3'] });
    await store.delete({ ids: ['3'] });
    await store.addDocuments([new Document({ pageContent: 'bar v2', metadata: { id: 2, v: 2 } })], { ids: ['2'] });
    expect(ids).toEqual(['r', '2', '3']);
    expect(store.vectorStore!.stats().index).toMatch(/^HNSW16/);
    await store.close();
    await expect(store.similaritySearch('foo', 1)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });

    const reopened = await NearestVectorStore.fromExistingIndex(embeddings(), { directory: dir });
    expect(reopened.size).toBe(2);
    const [r] = await reopened.getByIds(['r']);
    expect(r!.metadata).toStrictEqual(rich);
    expect(r!.pageContent).toBe('foo');
    expect(plain(await reopened.getByIds(['2', '3']))).toEqual([{ pageContent: 'bar v2', metadata: { id: 2, v: 2 }, id: '2' }]);
    expect((await reopened.similaritySearch('foo', 1))[0]!.id).toBe('r');
    expect(reopened.vectorStore!.stats().index).toMatch(/^HNSW16/);
    await reopened.close();
    // The constructor opens it too (lazily), with dim and index taken from the store.
    const again = new NearestVectorStore(embeddings(), { directory: dir });
    expect((await again.similaritySearch('bar v2', 1))[0]!.id).toBe('2');
    await again.close();
  });

  it('a durable store is created on its first write; fromExistingIndex of nothing is NOT_FOUND', async () => {
    const dir = join(await tempDir(), 'later');
    const store = new NearestVectorStore(embeddings(), { directory: dir });
    expect(await store.similaritySearch('foo', 3)).toEqual([]);
    await expect(NearestVectorStore.fromExistingIndex(embeddings(), { directory: dir })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await store.addDocuments([foo()]);
    expect(store.vectorStore!.dim).toBe(6);
    await store.close();
    const r = await NearestVectorStore.fromExistingIndex(embeddings(), { directory: dir });
    expect(r.size).toBe(1);
    await r.close();
    await expect(NearestVectorStore.fromExistingIndex(embeddings(), {})).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('save(dir) and load(dir, embeddings) round-trip documents, ids, metric and index', async () => {
    const base = await tempDir();
    const vectors = clustered(500, 12, 3);
    const docs = vectors.map((_, i) => new Document({ pageContent: `doc ${i}`, metadata: i === 0 ? rich : { i }, id: `id${i}` }));
    const store = new NearestVectorStore(new FakeEmbeddings(), { metric: 'euclidean', index: { type: 'hnsw', m: 8, efSearch: 64 } });
    await store.addVectors(vectors, docs);
    const dir = join(base, 'saved');
    await store.save(dir);
    expect(await readdir(dir)).toContain('snapshot.nrst');
    const loaded = await NearestVectorStore.load(dir, new FakeEmbeddings());
    expect(loaded.size).toBe(500);
    expect(loaded.vectorStore!.metric).toBe('euclidean');
    expect(loaded.vectorStore!.stats().index).toBe(store.vectorStore!.stats().index);
    expect((await loaded.getByIds(['id0']))[0]!.metadata).toStrictEqual(rich);
    // The index is rebuilt (same options, same records): approximate answers agree closely.
    let same = 0;
    for (const q of vectors.slice(0, 20)) {
      const a = new Map((await store.similaritySearchVectorWithScore(q, 5)).map(([d, s]) => [d.id, [d.pageContent, s]]));
      for (const [d, s] of await loaded.similaritySearchVectorWithScore(q, 5)) if (a.has(d.id)) { same++; expect(a.get(d.id)).toEqual([d.pageContent, s]); }
    }
    expect(same).toBeGreaterThanOrEqual(95);
    // The loaded store is in memory: changing it leaves the saved directory alone.
    await loaded.delete({ ids: ['id1'] });
    expect((await NearestVectorStore.load(dir, new FakeEmbeddings())).size).toBe(500);
    // Saving again replaces the store saved there.
    await loaded.save(dir);
    expect((await NearestVectorStore.load(dir, new FakeEmbeddings())).size).toBe(499);
    expect((await readdir(base)).sort()).toEqual(['saved']);
  });

  it('save refuses to replace a directory that is not a store, and needs a dim', async () => {
    const base = await tempDir();
    const other = join(base, 'other');
    await mkdir(other);
    await writeFile(join(other, 'notes.txt'), 'keep me');
    const store = await NearestVectorStore.fromTexts(['foo'], [{}], embeddings());
    await expect(store.save(other)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await readdir(other)).toEqual(['notes.txt']);
    await expect(new NearestVectorStore(embeddings()).save(join(base, 'x'))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    // A durable store saving to its own directory compacts it.
    const dir = join(base, 'own');
    const durable = await NearestVectorStore.fromTexts(['foo', 'bar'], { s: 1 }, embeddings(), { directory: dir });
    await durable.save(dir);
    await durable.close();
    expect(plain(await (await NearestVectorStore.load(dir, embeddings())).similaritySearch('bar', 1))[0]).toMatchObject({ pageContent: 'bar', metadata: { s: 1 } });
  });
});

describe('NearestVectorStore vs LangChain\'s MemoryVectorStore', () => {
  const n = 4000, dim = 48, nq = 60, k = 10;
  const vectors = clustered(n, dim, 11);
  const queries = clustered(nq, dim, 12);
  const docs = vectors.map((_, i) => new Document({ pageContent: `doc ${i}`, metadata: { i, parity: i % 2 }, id: `doc-${i}` }));

  const memory = new MemoryVectorStore(new FakeEmbeddings());
  const ready = memory.addVectors(vectors, docs);

  it('exact search (flat, cosine): the same top-k ids and scores within 1e-5', async () => {
    await ready;
    const store = new NearestVectorStore(new FakeEmbeddings(), { metric: 'cosine', index: { type: 'flat' } });
    await store.addVectors(vectors, docs);
    let maxDiff = 0;
    for (const q of queries) {
      const want = await memory.similaritySearchVectorWithScore(q, k);
      const got = await store.similaritySearchVectorWithScore(q, k);
      expect(got.map(([d]) => d.id)).toEqual(want.map(([d]) => d.id));
      got.forEach(([d, s], i) => {
        maxDiff = Math.max(maxDiff, Math.abs(s - want[i]![1]));
        expect(d.pageContent).toBe(want[i]![0].pageContent);
        expect(d.metadata).toEqual(want[i]![0].metadata);
      });
    }
    expect(maxDiff).toBeLessThan(1e-5);
    // With filters: ours and MemoryVectorStore's predicate give the same answer.
    for (const q of queries.slice(0, 10)) {
      const want = await memory.similaritySearchVectorWithScore(q, k, (d) => d.metadata.parity === 1);
      for (const filter of [{ parity: 1 }, (d: Document) => d.metadata.parity === 1]) {
        const got = await store.similaritySearchVectorWithScore(q, k, filter as never);
        expect(got.map(([d]) => d.id)).toEqual(want.map(([d]) => d.id));
        got.forEach(([, s], i) => expect(Math.abs(s - want[i]![1])).toBeLessThan(1e-5));
      }
    }
    // MMR: the same picks as MemoryVectorStore's.
    const table: Record<string, number[]> = {};
    queries.slice(0, 10).forEach((q, i) => { table[`q${i}`] = q; });
    const memMmr = new MemoryVectorStore(new TableEmbeddings(table));
    await memMmr.addVectors(vectors, docs);
    const ourMmr = new NearestVectorStore(new TableEmbeddings(table));
    await ourMmr.addVectors(vectors, docs);
    for (const q of Object.keys(table)) {
      const want = await memMmr.maxMarginalRelevanceSearch(q, { k: 5, fetchK: 30, lambda: 0.5 });
      const got = await ourMmr.maxMarginalRelevanceSearch(q, { k: 5, fetchK: 30, lambda: 0.5 });
      expect(got.map((d) => d.id)).toEqual(want.map((d) => d.id));
    }
  });

  it('a flat scan long enough to run on a worker thread gives the same answers', async () => {
    // 3000 × 384 values is past the adapter's inline limit (2^20): searchAsync on a worker.
    const big = clustered(3000, 384, 13), bigQueries = clustered(8, 384, 14);
    const bigDocs = big.map((_, i) => new Document({ pageContent: `doc ${i}`, metadata: { i }, id: `doc-${i}` }));
    const mem = new MemoryVectorStore(new FakeEmbeddings());
    await mem.addVectors(big, bigDocs);
    const store = new NearestVectorStore(new FakeEmbeddings(), { index: { type: 'flat' } });
    await store.addVectors(big, bigDocs);
    expect(big.length * 384).toBeGreaterThan(1 << 20);
    for (const q of bigQueries) {
      const want = await mem.similaritySearchVectorWithScore(q, k);
      const got = await store.similaritySearchVectorWithScore(q, k);
      expect(got.map(([d]) => d.id)).toEqual(want.map(([d]) => d.id));
      got.forEach(([, s], i) => expect(Math.abs(s - want[i]![1])).toBeLessThan(1e-5));
    }
  });

  it('an HNSW store reaches recall@10 >= 0.98 against it', async () => {
    await ready;
    const store = new NearestVectorStore(new FakeEmbeddings(), { index: { type: 'hnsw', m: 16 } });
    await store.addVectors(vectors, docs);
    let found = 0;
    for (const q of queries) {
      const truth = new Set((await memory.similaritySearchVectorWithScore(q, k)).map(([d]) => d.id));
      for (const [d] of await store.similaritySearchVectorWithScore(q, k)) if (truth.has(d.id)) found++;
    }
    const recall = found / (nq * k);
    expect(recall).toBeGreaterThanOrEqual(0.98);
  });
});

describe('docs/langchain.md', () => {
  it('its RAG example runs offline and prints what it says', async () => {
    const lines = await docExampleLines('langchain.md');
    expect(lines[0]).toMatch(/^hnsw \d\.\d{3}$/);
    expect(lines.slice(2)).toEqual(["[ 'hnsw' ]", "[ 'pq' ]", 'HNSW searches by walking a neighbour graph greedily.', '3']);
  });
});
