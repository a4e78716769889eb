// VectorStore: the textbook example, records, upsert/get/delete, metadata filters during search,
// and errors that leave the store unchanged. Plus knn(), the one-off brute force.
import { describe, expect, it } from 'vitest';
import { knn, NearestError, VectorStore } from 'nearest';
import { clusteredRows, gaussian, randomRows, refTopK } from './helpers.js';

const documents = [
  'Metformin reduces hepatic glucose production via AMPK',
  'Warfarin inhibits vitamin K-dependent clotting factors',
  'Ibuprofen blocks COX-1 and COX-2 prostaglandin synthesis',
  'Atorvastatin inhibits HMG-CoA reductase reducing LDL cholesterol',
  'Aspirin irreversibly inhibits COX-1, preventing platelet aggregation',
];

function codeOf(fn: () => unknown): string | undefined {
  try { fn(); } catch (e) { expect(e).toBeInstanceOf(NearestError); return (e as NearestError).code; }
  return undefined;
}

describe('VectorStore', () => {
  it('the textbook example: five documents, random 128-d vectors, top 3', () => {
    const g = gaussian(0);
    const embeddings = Array.from({ length: documents.length }, () => Array.from({ length: 128 }, g));
    const store = new VectorStore<string>({ dim: 128 });
    expect(store.addBatch(embeddings, documents)).toEqual([0, 1, 2, 3, 4]);
    const query = Array.from({ length: 128 }, g);
    const results = store.search(query, 3);
    expect(results).toHaveLength(3);
    const flat = Float32Array.from(embeddings.flat());
    const ref = refTopK('cosine', Float32Array.from(query), flat, 128, 3);
    expect(results.map((r) => r.id)).toEqual(ref.map((r) => r.id));
    results.forEach((r, i) => {
      expect(r.metadata).toBe(documents[r.id as number]);
      expect(r.score).toBeCloseTo(ref[i].score, 5);
      expect(r.distance).toBeCloseTo(1 - ref[i].score, 5);
    });
    expect(results[0].score).toBeGreaterThanOrEqual(results[1].score);
  });

  it('add returns insertion positions; get, has, delete, size', () => {
    const store = new VectorStore<{ tag: string }>({ dim: 3, metric: 'euclidean' });
    expect(store.add([1, 0, 0], { tag: 'a' })).toBe(0);
    expect(store.add([0, 1, 0])).toBe(1);
    expect(store.size).toBe(2);
    expect(store.get(0)).toEqual({ id: 0, vector: new Float32Array([1, 0, 0]), metadata: { tag: 'a' } });
    expect(store.get(1)!.metadata).toBeUndefined();
    expect(store.delete(0)).toBe(true);
    expect(store.delete(0)).toBe(false);
    expect(store.get(0)).toBeUndefined();
    expect(store.has(1)).toBe(true);
    expect(store.size).toBe(1);
    expect(store.search([1, 0, 0], 5).map((h) => h.id)).toEqual([1]);
  });

  it('an empty store returns []', () => {
    expect(new VectorStore({ dim: 4 }).search([1, 2, 3, 4], 3)).toEqual([]);
  });

  it('upsert inserts and replaces records with string or numeric ids', () => {
    const store = new VectorStore<{ n: number }>({ dim: 2, metric: 'euclidean' });
    store.upsert([{ id: 'a', vector: [0, 0], metadata: { n: 1 } }, { id: 7, vector: [5, 5], metadata: { n: 2 } }]);
    store.upsert({ id: 'a', vector: [10, 10], metadata: { n: 3 } });
    expect(store.size).toBe(2);
    expect(store.get('a')).toEqual({ id: 'a', vector: new Float32Array([10, 10]), metadata: { n: 3 } });
    expect(store.search([0, 0], 1)[0]).toMatchObject({ id: 7, metadata: { n: 2 } });
    // Auto ids skip numbers already taken.
    expect(store.add([1, 1])).toBe(8);
    expect(store.search([10, 10], 3).map((h) => h.id)).toEqual(['a', 7, 8]);
  });

  it('metadata filters are applied during the search and fill k', () => {
    const dim = 16, n = 2000;
    const rows = randomRows(n, dim, 4);
    const store = new VectorStore<{ color: string; price: number; tags?: string[] }>({ dim, metric: 'euclidean' });
    const colors = ['red', 'green', 'blue', 'black'];
    store.addBatch(rows, Array.from({ length: n }, (_, i) => ({ color: colors[i % 4], price: i % 100, ...(i % 10 === 0 ? { tags: ['sale'] } : {}) })));
    const q = randomRows(1, dim, 99);
    const cases: [Record<string, unknown>, (i: number) => boolean][] = [
      [{ color: 'red' }, (i) => i % 4 === 0],
      [{ price: { $gte: 98 } }, (i) => i % 100 >= 98],
      [{ $or: [{ color: 'blue' }, { price: { $lt: 2 } }] }, (i) => i % 4 === 2 || i % 100 < 2],
      [{ tags: 'sale', color: { $in: ['red', 'green'] } }, (i) => i % 10 === 0 && i % 4 < 2],
      [{ $not: { color: { $ne: 'black' } } }, (i) => i % 4 === 3],
      [{ tags: { $exists: false }, price: { $eq: 3 } }, (i) => i % 10 !== 0 && i % 100 === 3],
      [{ price: 1000 }, () => false],
    ];
    for (const [filter, allow] of cases) {
      const hits = store.search(q, 10, { filter });
      const ref = refTopK('euclidean', q, rows, dim, 10, undefined, allow);
      expect(hits.map((h) => h.id)).toEqual(ref.map((r) => r.id));
    }
  });

  it('bad input is a typed error and changes nothing', () => {
    const store = new VectorStore({ dim: 3 });
    store.add([1, 2, 3], { a: 1 });
    expect(codeOf(() => new VectorStore({ dim: 0 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => new VectorStore({ dimension: 3 } as never))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => new VectorStore({ dim: 3, metric: 'manhattan' as never }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => store.add([1, 2]))).toBe('DIMENSION_MISMATCH');
    expect(codeOf(() => store.addBatch([[1, 2, 3], [1, NaN, 3]]))).toBe('NON_FINITE_VALUE');
    expect(codeOf(() => store.addBatch([[1, 2, 3]], [{}, {}]))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => store.upsert([{ id: 'x', vector: [1, 2, 3] }, { id: 'x', vector: [1, 2, 3] }]))).toBe('DUPLICATE_ID');
    expect(codeOf(() => store.upsert([{ id: 'y', vector: [1, 2, 3] }, { id: 'z', vector: [1, 2] }]))).toBe('DIMENSION_MISMATCH');
    expect(codeOf(() => store.upsert([{ id: -1, vector: [1, 2, 3] }]))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => store.upsert([{ id: 'w', vector: [1, 2, 3], meta: {} } as never]))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => store.search([1, 2, 3], 0))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => store.search([1, 2, 3], 1, { filter: { a: { $regex: 'x' } } }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => store.search([1, 2, 3], 1, { where: {} } as never))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => new VectorStore({ dim: 3, index: { type: 'lsh' } as never }))).toBe('UNSUPPORTED');
    expect(codeOf(() => new VectorStore({ dim: 3, index: { type: 'hnsw', M: 8 } as never }))).toBe('INVALID_ARGUMENT');
    expect(store.size).toBe(1);
    expect(store.has('x') || store.has('y')).toBe(false);
  });
});

describe('VectorStore on HNSW', () => {
  it('searches, filters on metadata, upserts and deletes like the flat store', () => {
    const dim = 24, n = 3000;
    const rows = clusteredRows(n, dim, 20, 31);
    const hnsw = new VectorStore<{ group: number }>({ dim, metric: 'cosine', index: { type: 'hnsw', m: 12, efConstruction: 100 } });
    const flat = new VectorStore<{ group: number }>({ dim, metric: 'cosine' });
    const metas = Array.from({ length: n }, (_, i) => ({ group: i % 50 }));
    hnsw.addBatch(rows, metas);
    flat.addBatch(rows, metas);
    const queries = clusteredRows(50, dim, 20, 32);
    let found = 0;
    for (let i = 0; i < 50; i++) {
      const q = queries.subarray(i * dim, (i + 1) * dim);
      for (const filter of [undefined, { group: { $lt: 25 } }, { group: 7 }]) {
        const truth = new Set(flat.search(q, 10, filter && { filter }).map((h) => h.id));
        const hits = hnsw.search(q, 10, filter && { filter, efSearch: 80 });
        expect(hits.length).toBe(10);
        if (filter) expect(hits.every((h) => (filter.group as unknown) === 7 ? h.metadata!.group === 7 : h.metadata!.group < 25)).toBe(true);
        found += hits.filter((h) => truth.has(h.id)).length;
      }
    }
    expect(found / (50 * 3 * 10)).toBeGreaterThanOrEqual(0.95);
    hnsw.upsert({ id: 'x', vector: queries.subarray(0, dim), metadata: { group: 99 } });
    expect(hnsw.search(queries.subarray(0, dim), 1)[0].id).toBe('x');
    expect(hnsw.delete('x')).toBe(true);
    expect(hnsw.search(queries.subarray(0, dim), 5).some((h) => h.id === 'x')).toBe(false);
  });
});

describe('VectorStore on IVF', () => {
  it('searches exactly until trainAt vectors, then trains automatically and keeps recall', () => {
    const dim = 16;
    const rows = clusteredRows(3000, dim, 20, 41);
    const store = new VectorStore<{ i: number }>({ dim, metric: 'euclidean', index: { type: 'ivf', nlist: 16, nprobe: 4, trainAt: 2000 } });
    store.addBatch(rows.subarray(0, 1500 * dim), Array.from({ length: 1500 }, (_, i) => ({ i })));
    expect(store.search(rows.subarray(0, dim), 1, { nprobe: 16 })[0].id).toBe(0);
    store.addBatch(rows.subarray(1500 * dim), Array.from({ length: 1500 }, (_, i) => ({ i: 1500 + i })));
    expect(store.size).toBe(3000);
    const flat = new VectorStore({ dim, metric: 'euclidean' });
    flat.addBatch(rows);
    const queries = clusteredRows(40, dim, 20, 42);
    let found = 0;
    for (let i = 0; i < 40; i++) {
      const q = queries.subarray(i * dim, (i + 1) * dim);
      const truth = new Set(flat.search(q, 10).map((h) => h.id));
      found += store.search(q, 10, { nprobe: 8 }).filter((h) => truth.has(h.id)).length;
    }
    expect(found / 400).toBeGreaterThanOrEqual(0.9);
    const hits = store.search(queries.subarray(0, dim), 5, { filter: { i: { $lt: 10 } } });
    expect(hits.length).toBe(5);
    expect(hits.every((h) => h.metadata!.i < 10)).toBe(true);
  });
});

describe('knn', () => {
  it('matches the textbook brute force with default k = 5 and cosine', () => {
    const g = gaussian(42);
    const corpus = Array.from({ length: 1000 }, () => Array.from({ length: 128 }, g));
    const query = Array.from({ length: 128 }, g);
    const results = knn(query, corpus);
    expect(results).toHaveLength(5);
    const ref = refTopK('cosine', query, Float32Array.from(corpus.flat()), 128, 5);
    expect(results.map((r) => r.index)).toEqual(ref.map((r) => r.id));
    results.forEach((r, i) => expect(r.score).toBeCloseTo(ref[i].score, 5));
  });

  it('takes a flat Float32Array corpus, euclidean and dot metrics, and never returns NaN', () => {
    const corpus = new Float32Array([0, 0, 3, 4, 1, 0, 6, 8]);
    expect(knn([0, 0], corpus, { k: 2, metric: 'euclidean' })).toEqual([
      { index: 0, score: 0, distance: 0 },
      { index: 2, score: -1, distance: 1 },
    ]);
    expect(knn([1, 1], corpus, { k: 1, metric: 'dot', dim: 2 })[0]).toEqual({ index: 3, score: 14, distance: -14 });
    const z = knn([0, 0], corpus, { k: 4 });
    expect(z.map((r) => r.score)).toEqual([0, 0, 0, 0]);
    expect(z.map((r) => r.index)).toEqual([0, 1, 2, 3]);
  });

  it('rejects bad input with typed errors', () => {
    expect(codeOf(() => knn([1, 2], [[1, 2, 3]]))).toBe('DIMENSION_MISMATCH');
    expect(codeOf(() => knn([1, 2], [[1, 2]], { k: 0 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => knn([1, 2], [[1, 2]], { metric: 'l2' as never }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => knn([1, 2], [[1, 2]], { K: 3 } as never))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => knn([1, Infinity], [[1, 2]]))).toBe('NON_FINITE_VALUE');
    expect(knn([1, 2], [])).toEqual([]);
  });
});

describe('upsertRows: the columnar upsert', () => {
  it('equals upsert record by record; bad input is a typed error that changes nothing', () => {
    const dim = 4;
    const a = new VectorStore<{ n: number }>({ dim, metric: 'euclidean' });
    const b = new VectorStore<{ n: number }>({ dim, metric: 'euclidean' });
    const rows = randomRows(50, dim, 3);
    const ids = Array.from({ length: 50 }, (_, i) => (i % 2 ? `s${i}` : i));
    const meta = ids.map((_, i) => (i % 3 ? { n: i } : undefined));
    a.upsertRows(ids, rows, meta);
    b.upsert(ids.map((id, i) => ({ id, vector: rows.subarray(i * dim, (i + 1) * dim), ...(meta[i] ? { metadata: meta[i] } : {}) })));
    const all = (st: VectorStore<{ n: number }>) => st.keys().map((id) => st.get(id));
    expect(all(a)).toEqual(all(b));
    expect(all(a)).toHaveLength(50);
    rows.fill(0); // the store copied the rows
    expect(a.get(0)!.vector).toEqual(b.get(0)!.vector);
    const before = JSON.stringify(all(a).map((r) => [r!.id, [...r!.vector], r!.metadata]));
    const code = (f: () => void) => { try { f(); } catch (e) { expect(e).toBeInstanceOf(NearestError); return (e as NearestError).code; } return 'none'; };
    expect(code(() => a.upsertRows([1, 2], randomRows(3, dim, 4)))).toBe('INVALID_ARGUMENT');
    expect(code(() => a.upsertRows([7, 7], randomRows(2, dim, 4)))).toBe('DUPLICATE_ID');
    expect(code(() => a.upsertRows([7, 8], Float32Array.from([1, 2, 3, 4, 1, NaN, 3, 4])))).toBe('NON_FINITE_VALUE');
    expect(code(() => a.upsertRows([7], randomRows(1, dim + 1, 4)))).toBe('DIMENSION_MISMATCH');
    expect(code(() => a.upsertRows([-1], randomRows(1, dim, 4)))).toBe('INVALID_ARGUMENT');
    expect(code(() => a.upsertRows([9], randomRows(1, dim, 4), [{ n: 1 }, { n: 2 }]))).toBe('INVALID_ARGUMENT');
    expect(JSON.stringify(all(a).map((r) => [r!.id, [...r!.vector], r!.metadata]))).toBe(before);
  });
});
