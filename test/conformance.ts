// The conformance suite every index runs: empty index, k > size, self-query, ties, removal,
// filters, errors that leave the index unchanged, and recall against the float64 reference.
import { describe, expect, it } from 'vitest';
import type { BatchResult, SearchHit } from 'nearest';
import { clusteredRows, METRICS, refTopK, type Metric } from './helpers.js';

/** The surface the suite drives. */
export interface IndexUnderTest {
  readonly size: number;
  add(vectors: Float32Array | number[][], ids?: ArrayLike<number>): void;
  search(query: Float32Array | number[], k: number, options?: object): SearchHit[];
  searchBatch(queries: Float32Array | number[][], k: number, options?: object): BatchResult;
  remove?(ids: ArrayLike<number>): number;
}

export interface ConformanceOptions {
  /** Minimum recall@10 against exact search on clustered data (1 for exact indexes). */
  minRecall: number;
}

function expectCode(fn: () => unknown, code: string): void {
  let error: unknown;
  try { fn(); } catch (e) { error = e; }
  expect(error, `expected a NearestError ${code}`).toBeDefined();
  expect((error as { name: string }).name).toBe('NearestError');
  expect((error as { code: string }).code).toBe(code);
}

export function runConformance(label: string, make: (dim: number, metric: Metric) => IndexUnderTest, options: ConformanceOptions): void {
  describe(`conformance: ${label}`, () => {
    it('an empty index returns nothing', () => {
      const index = make(8, 'euclidean');
      expect(index.size).toBe(0);
      expect(index.search(new Float32Array(8), 5)).toEqual([]);
      const batch = index.searchBatch(new Float32Array(16), 3);
      expect(Array.from(batch.ids)).toEqual([-1, -1, -1, -1, -1, -1]);
    });

    it('k larger than the index returns every row, and batches pad with -1', () => {
      const index = make(4, 'euclidean');
      index.add([[0, 0, 0, 1], [0, 0, 1, 0], [0, 1, 0, 0]]);
      const hits = index.search([0, 0, 0, 1], 10);
      expect(hits.map((h) => h.id)).toEqual([0, 1, 2]);
      expect(hits[0].distance).toBe(0);
      const batch = index.searchBatch([[0, 0, 0, 1]], 5);
      expect(Array.from(batch.ids)).toEqual([0, 1, 2, -1, -1]);
      expect(batch.distances[4]).toBe(Infinity);
    });

    for (const metric of METRICS) {
      it(`every row finds itself first (${metric})`, () => {
        const dim = 16;
        const rows = clusteredRows(200, dim, 5, 11);
        const index = make(dim, metric);
        index.add(rows);
        for (let i = 0; i < 200; i += 7) {
          const hits = index.search(rows.subarray(i * dim, (i + 1) * dim), 1);
          if (metric === 'dot') {
            // Dot is not a metric: a row of larger norm may beat the row itself. Compare with the reference.
            const ref = refTopK(metric, rows.subarray(i * dim, (i + 1) * dim), rows, dim, 1);
            expect(hits[0].id).toBe(ref[0].id);
          } else {
            expect(hits[0].id).toBe(i);
            expect(hits[0].distance).toBeCloseTo(0, 4);
          }
        }
      });
    }

    it('ties are broken by the smaller id, in search and searchBatch', () => {
      const index = make(3, 'euclidean');
      index.add([[1, 0, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0]], [40, 7, 23, 5]);
      expect(index.search([1, 0, 0], 3).map((h) => h.id)).toEqual([5, 7, 23]);
      expect(Array.from(index.searchBatch([[1, 0, 0]], 3).ids)).toEqual([5, 7, 23]);
    });

    it('scores and distances follow the metric conventions', () => {
      const e = make(2, 'euclidean'); e.add([[3, 4]]);
      expect(e.search([0, 0], 1)[0]).toMatchObject({ id: 0, distance: 5, score: -5 });
      const c = make(2, 'cosine'); c.add([[0, 0], [2, 0]]);
      const ch = c.search([1, 0], 2);
      expect(ch[0].id).toBe(1);
      expect(ch[0].score).toBeCloseTo(1, 6);
      expect(ch[0].distance).toBeCloseTo(0, 6);
      expect(ch[1]).toMatchObject({ id: 0, score: 0, distance: 1 });
      const z = c.search([0, 0], 2);
      expect(z.every((h) => h.score === 0 && !Number.isNaN(h.distance))).toBe(true);
      const d = make(2, 'dot'); d.add([[1, 2], [3, 1]]);
      expect(d.search([1, 1], 2)).toEqual([{ id: 1, score: 4, distance: -4 }, { id: 0, score: 3, distance: -3 }]);
    });

    if (make(2, 'euclidean').remove) {
      it('removed ids never come back and can be re-added', () => {
        const dim = 8;
        const rows = clusteredRows(300, dim, 4, 3);
        const index = make(dim, 'euclidean');
        index.add(rows);
        const gone = Array.from({ length: 100 }, (_, i) => i * 3);
        expect(index.remove!(gone)).toBe(100);
        expect(index.remove!([0, 999999])).toBe(0);
        expect(index.size).toBe(200);
        const goneSet = new Set(gone);
        for (let i = 0; i < 300; i += 5) {
          const hits = index.search(rows.subarray(i * dim, (i + 1) * dim), 10);
          expect(hits.some((h) => goneSet.has(h.id))).toBe(false);
          if (!goneSet.has(i)) expect(hits[0].id).toBe(i);
        }
        const batch = index.searchBatch(rows.subarray(0, 30 * dim), 10);
        expect(Array.from(batch.ids).some((id) => goneSet.has(id))).toBe(false);
        index.add(rows.subarray(0, dim), [0]);
        expect(index.search(rows.subarray(0, dim), 1)[0].id).toBe(0);
      });
    }

    it('filters are applied during the search and fill k whenever k rows match', () => {
      const dim = 8;
      const rows = clusteredRows(500, dim, 4, 5);
      const index = make(dim, 'euclidean');
      index.add(rows);
      const q = rows.subarray(0, dim);
      for (const every of [2, 10, 100]) {
        const allow = (id: number) => id % every === 1;
        const hits = index.search(q, 10, { filter: allow });
        const expected = Math.min(10, Math.ceil((500 - 1) / every));
        expect(hits.length).toBe(expected);
        expect(hits.every((h) => allow(h.id))).toBe(true);
        const ref = refTopK('euclidean', q, rows, dim, 10, undefined, allow);
        if (options.minRecall >= 1) expect(hits.map((h) => h.id)).toEqual(ref.map((r) => r.id));
        else {
          const truth = new Set(ref.map((r) => r.id));
          expect(hits.filter((h) => truth.has(h.id)).length / ref.length).toBeGreaterThanOrEqual(options.minRecall);
        }
      }
      const set = new Set([4, 8, 15, 16, 23, 42]);
      expect(index.search(q, 10, { filter: set }).map((h) => h.id).sort((a, b) => a - b)).toEqual([4, 8, 15, 16, 23, 42]);
      const batch = index.searchBatch(rows.subarray(0, 2 * dim), 3, { filter: set });
      expect(Array.from(batch.ids).every((id) => set.has(id))).toBe(true);
      expect(index.search(q, 5, { filter: () => false })).toEqual([]);
    });

    it('bad input is a typed error and leaves the index unchanged', () => {
      const index = make(4, 'cosine');
      index.add([[1, 0, 0, 0], [0, 1, 0, 0]]);
      const before = index.search([1, 1, 0, 0], 2);
      expectCode(() => index.add([[1, 2, 3]]), 'DIMENSION_MISMATCH');
      expectCode(() => index.add(new Float32Array(6)), 'DIMENSION_MISMATCH');
      expectCode(() => index.add([[1, 0, 0, 0], [0, NaN, 0, 0]]), 'NON_FINITE_VALUE');
      expectCode(() => index.add([[1, 0, 0, Infinity]]), 'NON_FINITE_VALUE');
      expectCode(() => index.add([[1, 0, 0, 0], [0, 0, 1, 0]], [9, 9]), 'DUPLICATE_ID');
      expectCode(() => index.add([[1, 0, 0, 0]], [1]), 'DUPLICATE_ID');
      expectCode(() => index.search([1, 0, 0], 1), 'DIMENSION_MISMATCH');
      expectCode(() => index.search([1, 0, 0, NaN], 1), 'NON_FINITE_VALUE');
      expectCode(() => index.search([1, 0, 0, 0], 0), 'INVALID_ARGUMENT');
      expectCode(() => index.search([1, 0, 0, 0], -3), 'INVALID_ARGUMENT');
      expectCode(() => index.search([1, 0, 0, 0], 1.5), 'INVALID_ARGUMENT');
      expectCode(() => index.search([1, 0, 0, 0], 1, { filtr: () => true }), 'INVALID_ARGUMENT');
      expectCode(() => index.search([1, 0, 0, 0], 1, { filter: 'yes' }), 'INVALID_ARGUMENT');
      expectCode(() => index.searchBatch([[1, 0, 0, 0]], 0), 'INVALID_ARGUMENT');
      expectCode(() => index.searchBatch([[1, 0, 0]], 1), 'DIMENSION_MISMATCH');
      expect(index.size).toBe(2);
      expect(index.search([1, 1, 0, 0], 2)).toEqual(before);
    });

    it(`recall@10 against the float64 reference is at least ${options.minRecall}`, () => {
      const dim = 24, n = 2000, nq = 50;
      const rows = clusteredRows(n, dim, 20, 21);
      const queries = clusteredRows(nq, dim, 20, 21 + 1000);
      const index = make(dim, 'euclidean');
      index.add(rows);
      let found = 0;
      for (let i = 0; i < nq; i++) {
        const q = queries.subarray(i * dim, (i + 1) * dim);
        const truth = new Set(refTopK('euclidean', q, rows, dim, 10).map((r) => r.id));
        found += index.search(q, 10).filter((h) => truth.has(h.id)).length;
      }
      expect(found / (nq * 10)).toBeGreaterThanOrEqual(options.minRecall);
    });
  });
}
