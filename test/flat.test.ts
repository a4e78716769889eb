// FlatIndex: the conformance suite on both kernel backends, exactness against a float64 reference
// for every metric and awkward dimensions, batch/single agreement across threads, and a
// property-based model test of add/remove/search.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FlatIndex, normalize } from 'nearest';
import { runConformance } from './conformance.js';
import { expectSameNeighbours, METRICS, randomRows, refScore, refTopK, tolerance, clusteredRows } from './helpers.js';

for (const backend of ['wasm', 'js'] as const) {
  runConformance(`FlatIndex (${backend})`, (dim, metric) => new FlatIndex({ dim, metric, backend }), { minRecall: 1 });
}

describe('FlatIndex exactness', () => {
  for (const backend of ['wasm', 'js'] as const) {
    for (const metric of METRICS) {
      for (const dim of [1, 3, 7, 17, 33, 100, 1536]) {
        it(`${backend} ${metric} dim ${dim} equals the float64 reference (search and searchBatch)`, () => {
          const n = dim >= 1000 ? 300 : 700;
          const rows = randomRows(n, dim, dim * 7 + 1);
          rows.fill(0, 5 * dim, 6 * dim); // a zero row
          const queries = randomRows(12, dim, dim * 7 + 2);
          queries.fill(0, 0, dim); // a zero query
          const index = new FlatIndex({ dim, metric, backend });
          expect(index.kernels).toBe(backend === 'wasm' ? 'wasm-simd128' : 'js-reference');
          index.add(rows);
          const batch = index.searchBatch(queries, 10, { threads: 2 });
          const tol = tolerance(metric, dim, dim);
          for (let i = 0; i < 12; i++) {
            const q = queries.subarray(i * dim, (i + 1) * dim);
            const ref = refTopK(metric, q, rows, dim, 10);
            const got = index.search(q, 10);
            for (const h of got) expect(Number.isNaN(h.score) || Number.isNaN(h.distance)).toBe(false);
            expectSameNeighbours(got, ref, (id) => refScore(metric, q, rows, id, dim), tol);
            expect(Array.from(batch.ids.subarray(i * 10, i * 10 + 10))).toEqual(got.map((h) => h.id));
            for (let j = 0; j < got.length; j++) expect(batch.scores[i * 10 + j]).toBeCloseTo(got[j].score, 4);
          }
        });
      }
    }
  }

  it('large values do not overflow or lose the ordering', () => {
    const dim = 64;
    const rows = randomRows(500, dim, 5).map((v) => v * 1e15);
    const index = new FlatIndex({ dim, metric: 'euclidean' });
    index.add(rows);
    const q = rows.subarray(10 * dim, 11 * dim);
    const hits = index.search(q, 5);
    expect(hits[0].id).toBe(10);
    expect(hits.map((h) => h.id)).toEqual(refTopK('euclidean', q, rows, dim, 5).map((r) => r.id));
  });

  it('searchBatch gives the same answers on 1 and 2 threads, across chunk boundaries', () => {
    const dim = 50;
    const rows = clusteredRows(3000, dim, 30, 8);
    const queries = clusteredRows(1500, dim, 30, 9);
    const index = new FlatIndex({ dim, metric: 'cosine' });
    index.add(rows);
    const one = index.searchBatch(queries, 7, { threads: 1 });
    const two = index.searchBatch(queries, 7, { threads: 2 });
    expect(two.ids).toEqual(one.ids);
    expect(two.scores).toEqual(one.scores);
    for (const i of [0, 63, 64, 1023, 1024, 1499]) {
      expect(Array.from(one.ids.subarray(i * 7, i * 7 + 7))).toEqual(index.search(queries.subarray(i * dim, (i + 1) * dim), 7).map((h) => h.id));
    }
  });

  it('normalize() scales to unit length in place and leaves zero vectors alone', () => {
    const v = new Float32Array([3, 4, 0, 0, 0, 0]);
    expect(normalize(v, 3)).toBe(v);
    expect(Array.from(v)).toEqual([0.6000000238418579, 0.800000011920929, 0, 0, 0, 0]);
    const rows = [[1, 1], [0, 0]];
    normalize(rows);
    expect(rows[0][0]).toBeCloseTo(Math.SQRT1_2, 12);
    expect(rows[1]).toEqual([0, 0]);
  });

  it('get/has/ids and the memory bound', () => {
    const dim = 256, n = 4000;
    const rows = randomRows(n, dim, 77);
    const index = new FlatIndex({ dim, metric: 'euclidean' });
    index.add(rows, Array.from({ length: n }, (_, i) => 1000 + i));
    expect(index.has(1000)).toBe(true);
    expect(index.has(0)).toBe(false);
    expect(Array.from(index.get(1001)!)).toEqual(Array.from(rows.subarray(dim, 2 * dim)));
    expect(index.get(5)).toBeUndefined();
    expect(index.ids()[0]).toBe(1000);
    const stats = index.stats();
    expect(stats.size).toBe(n);
    expect(stats.memoryBytes / (n * dim * 4)).toBeLessThan(1.1);
  });
});

describe('FlatIndex model (property-based)', () => {
  it('a random sequence of add/remove/search matches a reference model', () => {
    const dim = 5;
    const op = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), count: fc.integer({ min: 1, max: 20 }), seed: fc.integer({ min: 1, max: 1e6 }) }),
      fc.record({ kind: fc.constant('remove' as const), picks: fc.array(fc.nat(), { maxLength: 8 }) }),
      fc.record({ kind: fc.constant('search' as const), k: fc.integer({ min: 1, max: 30 }), seed: fc.integer({ min: 1, max: 1e6 }), metric: fc.constantFrom(...METRICS) }),
    );
    fc.assert(fc.property(fc.array(op, { minLength: 1, maxLength: 25 }), fc.constantFrom(...METRICS), (ops, metric) => {
      const index = new FlatIndex({ dim, metric });
      const model = new Map<number, Float32Array>();
      let nextId = 0;
      for (const o of ops) {
        if (o.kind === 'add') {
          const rows = randomRows(o.count, dim, o.seed).map((v) => Math.round(v * 4) / 4); // many exact ties
          const ids = Array.from({ length: o.count }, () => nextId++ * 3);
          index.add(rows, ids);
          ids.forEach((id, i) => model.set(id, rows.slice(i * dim, (i + 1) * dim)));
        } else if (o.kind === 'remove') {
          const keys = [...model.keys()];
          const ids = o.picks.map((p) => keys.length ? keys[p % keys.length] : 12345);
          const unique = new Set(ids.filter((id) => model.has(id)));
          expect(index.remove(ids)).toBe(unique.size);
          for (const id of unique) model.delete(id);
        } else {
          const q = randomRows(1, dim, o.seed).map((v) => Math.round(v * 4) / 4);
          const ids = [...model.keys()];
          const flat = new Float32Array(ids.length * dim);
          ids.forEach((id, i) => flat.set(model.get(id)!, i * dim));
          const ref = refTopK(metric, q, flat, dim, o.k, ids);
          const got = index.search(q, o.k);
          if (metric === 'cosine') {
            // Cosine divides by norms: equal similarities of non-parallel rows may round apart.
            expectSameNeighbours(got, ref, (id) => ref.find((r) => r.id === id)?.score ?? refTopK(metric, q, model.get(id)!, dim, 1)[0].score, 1e-6);
          } else {
            // Quarter-integer data: dot products and squared distances are exact in float32, so
            // ties must resolve by the smaller id exactly.
            expect(got.map((h) => h.id)).toEqual(ref.map((r) => r.id));
          }
          const batch = index.searchBatch(q, o.k);
          if (metric === 'cosine') {
            // The batch kernel rounds cosine differently from the single-query scan, so exact ties
            // of non-parallel rows (e.g. two similarities of exactly -1/9) may order either way.
            const hits = got.map((_, i) => ({ id: batch.ids[i], score: batch.scores[i] }));
            expectSameNeighbours(hits, got, (id) => ref.find((r) => r.id === id)?.score ?? refTopK(metric, q, model.get(id)!, dim, 1)[0].score, 1e-6);
          } else {
            expect(Array.from(batch.ids.subarray(0, got.length))).toEqual(got.map((h) => h.id));
          }
        }
        expect(index.size).toBe(model.size);
      }
    }), { numRuns: 150 });
  });
});
