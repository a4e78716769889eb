// nearest/llamaindex: NearestVectorStore through LlamaIndex.TS's flows (add nodes, query with
// VectorStoreQuery and MetadataFilters, delete by ref doc, MMR, persist / fromPersistPath, durable
// stores reopened, VectorStoreIndex.fromVectorStore with a retriever and a query engine on a mock
// LLM), and a differential against LlamaIndex's SimpleVectorStore (same top-k ids and scores on
// exact search, the same filter answers, recall@10 of an HNSW store).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BaseEmbedding, getTopKMMREmbeddings } from '@llamaindex/core/embeddings';
import { Settings } from '@llamaindex/core/global';
import { MockLLM } from '@llamaindex/core/llms/mock';
import { Document as LiDocument, NodeRelationship, TextNode, type BaseNode } from '@llamaindex/core/schema';
import type { MetadataFilters, VectorStoreQuery } from '@llamaindex/core/vector-store';
import { SimpleVectorStore, VectorStoreIndex } from 'llamaindex';
import { NearestVectorStore } from 'nearest/llamaindex';
import { tempDirs, docExampleLines } from './adapter-helpers.js';
import { clusteredRows } from './helpers.js';

const tempDir = tempDirs('llamaindex');

/** Deterministic embeddings: each word hashed into one of 32 buckets (texts sharing words are close). */
class HashedWordEmbedding extends BaseEmbedding {
  async getTextEmbedding(text: string): Promise<number[]> {
    const v = new Array<number>(32).fill(0);
    for (const word of text.toLowerCase().match(/[a-z]+/g) ?? []) {
      let h = 2166136261;
      for (const c of word) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
      v[(h >>> 0) % 32]! += 1;
    }
    return v;
  }
}
Settings.embedModel = new HashedWordEmbedding();

const q = (embedding: number[], similarityTopK: number, extra: Partial<VectorStoreQuery> = {}): VectorStoreQuery => ({ queryEmbedding: embedding, similarityTopK, mode: 'default' as never, ...extra });
const node = (id: string, embedding: number[], metadata: Record<string, unknown> = {}, refDoc?: string, text = `text of ${id}`) => new TextNode({
  id_: id, text, metadata, embedding,
  ...(refDoc ? { relationships: { [NodeRelationship.SOURCE]: { nodeId: refDoc } } } : {}),
});
const plainNode = (n: BaseNode) => ({ id: n.id_, text: (n as TextNode).text, metadata: n.metadata, ref: n.sourceNode?.nodeId });

function clustered(n: number, dim: number, seed: number): number[][] {
  const rows = clusteredRows(n, dim, 24, seed);
  return Array.from({ length: n }, (_, i) => Array.from(rows.subarray(i * dim, (i + 1) * dim)));
}

describe('NearestVectorStore: the BaseVectorStore contract', () => {
  it('stores text; its embedding model is the one given, else Settings.embedModel', () => {
    const store = new NearestVectorStore({ metric: 'cosine', index: { type: 'flat' } });
    expect(store.storesText).toBe(true);
    expect(store.client()).toBeNull();
    expect(store.embedModel).toBe(Settings.embedModel);
    const model = new HashedWordEmbedding();
    expect(new NearestVectorStore({ embedModel: model }).embedModel).toBe(model);
    expect(() => new NearestVectorStore({ metrik: 'cosine' } as never)).toThrow(/unknown option "metrik"/);
    expect(() => new NearestVectorStore({ index: { type: 'hnsw', mm: 16 } } as never)).toThrow(/mm/);
  });

  it('add returns the node ids; query returns ids, similarities and nodes best first; inputs are not mutated', async () => {
    const store = new NearestVectorStore();
    const nodes = [node('a', [1, 0, 0], { n: 1 }, 'doc1'), node('b', [0.8, 0.6, 0], { n: 2, tags: ['x'] }, 'doc1'), node('c', [0, 1, 0], {}, 'doc2'), node('d', [-1, 0, 0])];
    const before = nodes.map((n) => structuredClone(n.toJSON()));
    expect(await store.add(nodes)).toEqual(['a', 'b', 'c', 'd']);
    expect(nodes.map((n) => structuredClone(n.toJSON()))).toEqual(before);
    const r = await store.query(q([1, 0, 0], 10));
    expect(r.ids).toEqual(['a', 'b', 'c', 'd']);
    expect(r.similarities[0]).toBeCloseTo(1, 6);
    expect(r.similarities[1]).toBeCloseTo(0.8, 6);
    expect(r.similarities[2]).toBeCloseTo(0, 6);
    expect(r.similarities[3]).toBeCloseTo(-1, 6);
    expect(r.nodes!.map(plainNode)).toEqual([
      { id: 'a', text: 'text of a', metadata: { n: 1 }, ref: 'doc1' },
      { id: 'b', text: 'text of b', metadata: { n: 2, tags: ['x'] }, ref: 'doc1' },
      { id: 'c', text: 'text of c', metadata: {}, ref: 'doc2' },
      { id: 'd', text: 'text of d', metadata: {}, ref: undefined },
    ]);
    expect(r.nodes![0]).toBeInstanceOf(TextNode);
    // Results are the caller's to change.
    r.nodes![1]!.metadata.n = 99;
    expect((await store.query(q([0.8, 0.6, 0], 1))).nodes![0]!.metadata).toEqual({ n: 2, tags: ['x'] });
    expect(await store.query(q([1, 0, 0], 0))).toEqual({ ids: [], similarities: [], nodes: [] });
    expect((await store.query(q([1, 0, 0], 2))).ids).toEqual(['a', 'b']);
    // Upsert by node id.
    await store.add([node('a', [0, 0, 1], { n: 10 })]);
    expect(store.size).toBe(4);
    expect((await store.query(q([0, 0, 1], 1))).nodes!.map(plainNode)).toEqual([{ id: 'a', text: 'text of a', metadata: { n: 10 }, ref: undefined }]);
  });

  it('rejects bad queries with typed errors', async () => {
    const store = new NearestVectorStore();
    await store.add([node('a', [1, 0])]);
    await expect(store.query(q([1, 0], -1))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.query(q([1, 0, 0], 1))).rejects.toMatchObject({ code: 'DIMENSION_MISMATCH' });
    await expect(store.query(q([1, 0], 1, { mode: 'svm' as never }))).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    await expect(store.query({ similarityTopK: 1, mode: 'default' as never })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.query(q([1, 0], 1, { customParams: { bogus: 1 } as never }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.add([new TextNode({ id_: 'x', text: 'no embedding' })])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('deletes every node of a reference document (ref_doc_id); an unknown one is not an error', async () => {
    const store = new NearestVectorStore();
    await store.add([node('a', [1, 0], {}, 'doc1'), node('b', [0, 1], {}, 'doc1'), node('c', [1, 1], {}, 'doc2'), node('doc1', [1, 2])]);
    await store.delete('doc1');
    expect((await store.query(q([1, 0], 10))).ids.sort()).toEqual(['c', 'doc1']);
    await store.delete('nope');
    await store.deleteNodes(['doc1', 'missing']);
    expect(store.size).toBe(1);
    expect((await store.getNodes(['c', 'zz'])).map(plainNode)).toEqual([{ id: 'c', text: 'text of c', metadata: {}, ref: 'doc2' }]);
    await expect(store.delete(3 as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('query docIds restrict the candidates to those node ids', async () => {
    const store = new NearestVectorStore();
    await store.add([node('a', [1, 0], { g: 1 }), node('b', [0.9, 0.1], { g: 2 }), node('c', [0, 1], { g: 1 })]);
    expect((await store.query(q([1, 0], 5, { docIds: ['c', 'b', 'zz'] }))).ids).toEqual(['b', 'c']);
    const filters: MetadataFilters = { filters: [{ key: 'g', operator: '==', value: 1 }] };
    expect((await store.query(q([1, 0], 5, { docIds: ['b', 'c'], filters }))).ids).toEqual(['c']);
    expect((await store.query(q([1, 0], 5, { docIds: [] }))).ids).toEqual([]);
  });
});

describe('NearestVectorStore: MetadataFilters', () => {
  const metas: Record<string, unknown>[] = [
    { group: 'alpha', n: 0, tags: ['red', 'blue'], title: 'graph search', flag: true },
    { group: 'alpha', n: 1, tags: ['red'], title: 'inverted lists', note: '' },
    { group: 'beta', n: 2, tags: [], title: 'product quantization', note: null },
    { group: 'beta', n: 3, tags: ['blue', 'green'], title: 'graph walks' },
    { group: 'gamma', n: 4, title: 'cosine', 'a.b': 1, nested: { x: 1 } },
    { group: ['alpha', 'beta'], n: '5', tags: ['green'], title: 5 },
  ];
  const vecs = clustered(metas.length, 8, 3);
  const nodes = () => metas.map((m, i) => node(`n${i}`, vecs[i]!, m, `doc${i % 2}`));
  const cases: [string, MetadataFilters, string[]][] = [
    ['==', { filters: [{ key: 'group', operator: '==', value: 'alpha' }] }, ['n0', 'n1']],
    ['== number', { filters: [{ key: 'n', operator: '==', value: 2 }] }, ['n2']],
    ['!=', { filters: [{ key: 'group', operator: '!=', value: 'alpha' }] }, ['n2', 'n3', 'n4', 'n5']],
    ['!= missing key', { filters: [{ key: 'note', operator: '!=', value: 'x' }] }, ['n1', 'n2']],
    ['>', { filters: [{ key: 'n', operator: '>', value: 2 }] }, ['n3', 'n4']],
    ['>=', { filters: [{ key: 'n', operator: '>=', value: 2 }] }, ['n2', 'n3', 'n4']],
    ['<', { filters: [{ key: 'n', operator: '<', value: 2 }] }, ['n0', 'n1']],
    ['<=', { filters: [{ key: 'n', operator: '<=', value: 2 }] }, ['n0', 'n1', 'n2']],
    ['< string', { filters: [{ key: 'title', operator: '<', value: 'h' }] }, ['n0', 'n3', 'n4']],
    ['in', { filters: [{ key: 'group', operator: 'in', value: ['beta', 'gamma'] }] }, ['n2', 'n3', 'n4']],
    ['in []', { filters: [{ key: 'group', operator: 'in', value: [] }] }, []],
    ['nin', { filters: [{ key: 'group', operator: 'nin', value: ['beta', 'gamma'] }] }, ['n0', 'n1', 'n5']],
    ['any', { filters: [{ key: 'tags', operator: 'any', value: ['blue', 'green'] }] }, ['n0', 'n3', 'n5']],
    ['any on a scalar key', { filters: [{ key: 'group', operator: 'any', value: ['alpha'] }] }, ['n5']],
    ['all', { filters: [{ key: 'tags', operator: 'all', value: ['red', 'blue'] }] }, ['n0']],
    ['all []', { filters: [{ key: 'tags', operator: 'all', value: [] }] }, ['n0', 'n1', 'n2', 'n3', 'n5']],
    ['contains', { filters: [{ key: 'tags', operator: 'contains', value: 'red' }] }, ['n0', 'n1']],
    ['text_match', { filters: [{ key: 'title', operator: 'text_match', value: 'graph' }] }, ['n0', 'n3']],
    ['is_empty', { filters: [{ key: 'note', operator: 'is_empty' }] }, ['n0', 'n1', 'n2', 'n3', 'n4', 'n5']],
    ['is_empty tags', { filters: [{ key: 'tags', operator: 'is_empty' }] }, ['n2', 'n4']],
    ['a dotted key is one key', { filters: [{ key: 'a.b', operator: '==', value: 1 }] }, ['n4']],
    ['and', { filters: [{ key: 'group', operator: '==', value: 'beta' }, { key: 'n', operator: '>', value: 2 }], condition: 'and' }, ['n3']],
    ['or', { filters: [{ key: 'group', operator: '==', value: 'gamma' }, { key: 'tags', operator: 'contains', value: 'red' }], condition: 'or' }, ['n0', 'n1', 'n4']],
    ['or with text_match', { filters: [{ key: 'n', operator: '==', value: 4 }, { key: 'title', operator: 'text_match', value: 'lists' }], condition: 'or' }, ['n1', 'n4']],
    ['nested', { filters: [{ key: 'group', operator: '!=', value: 'gamma' }, { filters: [{ key: 'n', operator: '<', value: 1 }, { key: 'n', operator: '>', value: 2 }], condition: 'or' } as never], condition: 'and' }, ['n0', 'n3']],
    ['empty and', { filters: [] }, ['n0', 'n1', 'n2', 'n3', 'n4', 'n5']],
    ['empty or', { filters: [], condition: 'or' }, []],
  ];

  for (const [index, label] of [[{ type: 'flat' }, 'flat'], [{ type: 'hnsw', m: 16 }, 'hnsw']] as const) {
    it(`every operator and and / or (${label})`, async () => {
      const store = new NearestVectorStore({ index });
      await store.add(nodes());
      for (const [name, filters, want] of cases) {
        const got = (await store.query(q(vecs[0]!, 10, { filters }))).ids.sort();
        expect(got, name).toEqual(want);
      }
    });
  }

  it('agrees with SimpleVectorStore on its domain (flat string / number metadata)', async () => {
    const simple = new SimpleVectorStore();
    const ours = new NearestVectorStore();
    const domain = nodes().slice(0, 5).filter((_, i) => i !== 4);
    await simple.add(domain);
    await ours.add(domain);
    for (const [name, filters] of cases) {
      if (name === 'nested') continue; // SimpleVectorStore takes one level of filters
      const want = (await simple.query(q(vecs[0]!, 10, { filters }))).ids.sort();
      expect((await ours.query(q(vecs[0]!, 10, { filters }))).ids.sort(), name).toEqual(want);
    }
  });

  it('an unknown operator or condition, or a bad value, is INVALID_ARGUMENT naming it', async () => {
    const store = new NearestVectorStore();
    await store.add(nodes());
    await expect(store.query(q(vecs[0]!, 3, { filters: { filters: [{ key: 'n', operator: 'like' as never, value: 1 }] } }))).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT', details: { operator: 'like', location: 'filters.filters[0].operator' },
    });
    await expect(store.query(q(vecs[0]!, 3, { filters: { filters: [], condition: 'xor' as never } }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.query(q(vecs[0]!, 3, { filters: { filters: [{ key: 'n', operator: 'in', value: 3 }] } }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(store.query(q(vecs[0]!, 3, { filters: { filters: [{ key: 'n', operator: '>', value: [1] as never }] } }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('a random differential: translated filters give what an exact reading of the metadata gives', async () => {
    let seed = 7;
    const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
    const pick = <T>(xs: T[]) => xs[Math.floor(rnd() * xs.length)]!;
    const values = ['a', 'b', 'c', 1, 2, 3];
    const randomValue = (): unknown => { const r = rnd(); return r < 0.15 ? undefined : r < 0.25 ? null : r < 0.5 ? Array.from({ length: Math.floor(rnd() * 3) }, () => pick(values)) : r < 0.55 ? '' : pick(values); };
    const metas = Array.from({ length: 300 }, () => { const m: Record<string, unknown> = {}; for (const k of ['x', 'y']) { const v = randomValue(); if (v !== undefined) m[k] = v; } return m; });
    const store = new NearestVectorStore();
    await store.add(metas.map((m, i) => node(`r${i}`, [1, i / 300], m)));
    const ref: Record<string, (v: unknown, x: never) => boolean> = {
      '==': (v, x) => v === x, '!=': (v, x) => v !== x,
      '>': (v, x) => typeof v === typeof x && !Array.isArray(v) && v !== null && (v as number) > x,
      '<=': (v, x) => typeof v === typeof x && !Array.isArray(v) && v !== null && (v as number) <= x,
      in: (v, x: unknown[]) => x.includes(v), nin: (v, x: unknown[]) => !x.includes(v),
      any: (v, x: unknown[]) => Array.isArray(v) && x.some((e) => v.includes(e)),
      all: (v, x: unknown[]) => Array.isArray(v) && x.every((e) => v.includes(e)),
      contains: (v, x) => Array.isArray(v) && v.includes(x),
    };
    for (let t = 0; t < 60; t++) {
      const op = pick([...Object.keys(ref), 'is_empty']);
      const key = pick(['x', 'y']);
      const value = ['in', 'nin', 'any', 'all'].includes(op) ? Array.from({ length: Math.floor(rnd() * 3) }, () => pick(values)) : pick(values);
      const want = metas.flatMap((m, i) => {
        const v = m[key];
        const ok = op === 'is_empty' ? v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0) : v !== undefined && ref[op]!(v, value as never);
        return ok ? [`r${i}`] : [];
      }).sort();
      const filters = { filters: [{ key, operator: op, value }] } as MetadataFilters;
      expect((await store.query(q([1, 0], 300, { filters }))).ids.sort(), `${key} ${op} ${JSON.stringify(value)}`).toEqual(want);
    }
  });
});

describe('NearestVectorStore: MMR', () => {
  const n = 200, dim = 16;
  const vecs = clustered(n, dim, 21);
  const queries = clustered(8, dim, 22);
  const nodes = () => vecs.map((v, i) => node(`m${i}`, v, { i }, `doc${i % 7}`));

  it("picks what LlamaIndex's own MMR (getTopKMMREmbeddings) picks, for any mmrThreshold", async () => {
    const store = new NearestVectorStore();
    await store.add(nodes());
    for (const qv of queries) {
      for (const threshold of [0.5, 0.2, 0.8]) {
        const [, wantIds] = getTopKMMREmbeddings(qv, vecs, null, 5, vecs.map((_, i) => `m${i}`), null, threshold);
        const got = await store.query(q(qv, 5, { mode: 'mmr' as never, mmrThreshold: threshold, customParams: { mmrPrefetchK: n } }));
        expect(got.ids).toEqual(wantIds);
      }
    }
    // SimpleVectorStore's MMR (its threshold is always 0.5) over every node: the same ids.
    const simple = new SimpleVectorStore();
    await simple.add(nodes());
    for (const qv of queries) {
      const want = await simple.query(q(qv, 4, { mode: 'mmr' as never }));
      expect((await store.query(q(qv, 4, { mode: 'mmr' as never, customParams: { mmrPrefetchK: n } }))).ids).toEqual(want.ids);
    }
  });

  it('scores stay similarities; threshold 1 is plain similarity order; prefetch defaults to 4 x topK', async () => {
    const store = new NearestVectorStore();
    await store.add(nodes());
    const plain = await store.query(q(queries[0]!, 5));
    const mmr1 = await store.query(q(queries[0]!, 5, { mode: 'mmr' as never, mmrThreshold: 1 }));
    expect(mmr1).toEqual(plain);
    const mmr = await store.query(q(queries[0]!, 5, { mode: 'mmr' as never, mmrThreshold: 0 }));
    const top20 = new Set((await store.query(q(queries[0]!, 20))).ids);
    for (const id of mmr.ids) expect(top20.has(id)).toBe(true);
    expect(mmr.ids[0]).toBe(plain.ids[0]);
    await expect(store.query(q(queries[0]!, 5, { mode: 'mmr' as never, mmrThreshold: 2 }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});

describe('NearestVectorStore: persist, load, durable', () => {
  const metadata = { title: 'Ünïcode ✓ "quotes"', n: 3.25, neg: -0.5, tags: ['a', 'b'], nested: { deep: [1, { x: null }] }, empty: '', none: null, yes: false };

  it('persist(path) and fromPersistPath(path) round-trip nodes, text, metadata and relationships', async () => {
    const dir = join(await tempDir(), 'saved');
    const store = new NearestVectorStore({ metric: 'cosine', index: { type: 'hnsw', m: 8 } });
    const n1 = node('a', [1, 0, 0], metadata, 'doc1', 'first text');
    n1.relationships[NodeRelationship.NEXT] = { nodeId: 'b', metadata: { k: 1 } };
    await store.add([n1, node('b', [0, 1, 0], { i: 2 }, 'doc2', 'second text')]);
    await store.persist(dir);
    const loaded = await NearestVectorStore.fromPersistPath(dir);
    expect(loaded.size).toBe(2);
    expect(loaded.client()!.stats().indexOptions).toMatchObject({ type: 'hnsw', m: 8 });
    const r = await loaded.query(q([1, 0, 0], 2));
    expect(r.ids).toEqual(['a', 'b']);
    const got = r.nodes![0] as TextNode;
    expect(got.text).toBe('first text');
    expect(got.metadata).toStrictEqual(metadata);
    expect(got.sourceNode?.nodeId).toBe('doc1');
    expect(got.nextNode).toEqual({ nodeId: 'b', metadata: { k: 1 } });
    expect(got.hash).toBe(n1.hash);
    // persist replaces what it saved before; refuses a directory that holds something else.
    await loaded.delete('doc2');
    await loaded.persist(dir);
    expect((await NearestVectorStore.fromPersistPath(dir)).size).toBe(1);
    await expect(store.persist(await tempDir().then(async (d) => { await import('node:fs/promises').then((fs) => fs.writeFile(join(d, 'x.txt'), 'x')); return d; }))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(NearestVectorStore.fromPersistPath(join(dir, 'missing'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('is durable with { directory }: metadata comes back unchanged after reopening', async () => {
    const dir = join(await tempDir(), 'kb');
    const store = new NearestVectorStore({ directory: dir, index: { type: 'hnsw', m: 16 } });
    const nodes = [node('a', [1, 0, 0], metadata, 'doc1'), node('b', [0, 1, 0], { tags: [] }, 'doc1'), node('c', [0, 0, 1], {}, 'doc2')];
    await store.add(nodes);
    await store.delete('doc2');
    await store.close();
    await expect(store.query(q([1, 0, 0], 1))).rejects.toMatchObject({ code: 'CLOSED' });
    const again = new NearestVectorStore({ directory: dir });
    const r = await again.query(q([1, 0, 0], 5));
    expect(r.ids).toEqual(['a', 'b']);
    expect(r.nodes![0]!.metadata).toStrictEqual(metadata);
    expect((await again.query(q([1, 0, 0], 5, { filters: { filters: [{ key: 'tags', operator: 'is_empty' }] } }))).ids).toEqual(['b']);
    await again.persist(dir); // its own directory: compacts
    await again.close();
    expect((await NearestVectorStore.fromPersistPath(dir)).size).toBe(2);
  });
});

describe('NearestVectorStore under VectorStoreIndex', () => {
  it('fromVectorStore: insert documents, retrieve, query with a mock LLM, deleteRefDoc', async () => {
    const store = new NearestVectorStore({ metric: 'cosine' });
    const index = await VectorStoreIndex.fromVectorStore(store);
    const docs = [
      new LiDocument({ id_: 'hnsw', text: 'HNSW walks a neighbour graph greedily from an entry point.', metadata: { topic: 'index', year: 2016 } }),
      new LiDocument({ id_: 'ivf', text: 'IVF scans the nprobe nearest inverted lists of vectors.', metadata: { topic: 'index', year: 2003 } }),
      new LiDocument({ id_: 'pq', text: 'Product quantization compresses vectors into short codes.', metadata: { topic: 'compression', year: 2011 } }),
    ];
    for (const d of docs) await index.insert(d);
    expect(store.size).toBe(3);
    const found = await index.asRetriever({ similarityTopK: 2 }).retrieve({ query: 'how does a graph walk work' });
    expect(found[0]!.node.sourceNode?.nodeId).toBe('hnsw');
    expect(found[0]!.node.metadata).toMatchObject({ topic: 'index', year: 2016 });
    expect(found[0]!.score).toBeGreaterThan(found[1]!.score!);
    const filtered = await index.asRetriever({ similarityTopK: 3, filters: { filters: [{ key: 'year', operator: '>', value: 2010 }] } }).retrieve({ query: 'vectors' });
    expect(filtered.map((f) => f.node.sourceNode?.nodeId).sort()).toEqual(['hnsw', 'pq']);
    Settings.llm = new MockLLM({ responseMessage: 'HNSW walks a graph.', timeBetweenToken: 0 });
    const engine = index.asQueryEngine({ similarityTopK: 1 });
    const answer = await engine.query({ query: 'graph walk' });
    expect(answer.message.content).toBe('HNSW walks a graph.');
    expect(answer.sourceNodes?.[0]?.node.sourceNode?.nodeId).toBe('hnsw');
    await index.deleteRefDoc('ivf', false);
    expect(store.size).toBe(2);
  });
});

describe('NearestVectorStore vs LlamaIndex\'s SimpleVectorStore', () => {
  const n = 4000, dim = 48, nq = 60, k = 10;
  const vectors = clustered(n, dim, 11);
  const queries = clustered(nq, dim, 12);
  const nodes = () => vectors.map((v, i) => node(`doc-${i}`, v, { i, parity: i % 2 }, `src-${i % 50}`));
  const simple = new SimpleVectorStore();
  const ready = simple.add(nodes());

  it('exact search (flat, cosine): the same top-k ids and scores within 1e-5, with and without filters', async () => {
    await ready;
    const store = new NearestVectorStore({ metric: 'cosine', index: { type: 'flat' } });
    await store.add(nodes());
    let maxDiff = 0;
    const filters: MetadataFilters = { filters: [{ key: 'parity', operator: '==', value: 1 }, { key: 'i', operator: '<', value: 3000 }] };
    for (const [i, qv] of queries.entries()) {
      const extra = i % 3 === 0 ? { filters } : {};
      const want = await simple.query(q(qv, k, extra));
      const got = await store.query(q(qv, k, extra));
      expect(got.ids).toEqual(want.ids);
      got.similarities.forEach((s, j) => { maxDiff = Math.max(maxDiff, Math.abs(s - want.similarities[j]!)); });
    }
    expect(maxDiff).toBeLessThan(1e-5);
  });

  it('an HNSW store reaches recall@10 >= 0.98 against it', async () => {
    await ready;
    const store = new NearestVectorStore({ index: { type: 'hnsw', m: 16 } });
    await store.add(nodes());
    let hit = 0;
    for (const qv of queries) {
      const truth = new Set((await simple.query(q(qv, k))).ids);
      for (const id of (await store.query(q(qv, k))).ids) if (truth.has(id)) hit++;
    }
    expect(hit / (nq * k)).toBeGreaterThanOrEqual(0.98);
  });
});

describe('docs/llamaindex.md', () => {
  it('its example runs offline and prints what it says', async () => {
    const lines = await docExampleLines('llamaindex.md');
    expect(lines[0]).toMatch(/^hnsw \d\.\d{3}$/);
    expect(lines.slice(2)).toEqual(["[ 'hnsw', 'pq' ]", "[ 'hnsw', 'ivf' ]", 'HNSW walks a neighbour graph greedily.', '3']);
  });
});
