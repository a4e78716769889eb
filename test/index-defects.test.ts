// Regression tests for defects found in the index layer, one describe block per defect: duplicates
// unreachable in HNSW, float32 overflow and underflow of norms, unclamped cosine and negative squared
// distances, huge k in batches, automatic ids past 2^53 − 1, factory defaults and clamping, int8
// codes on data of widely varying norms, adds that fail half-way, the id arguments of remove, the
// IVF training minimum, and the index classes kept free of file code.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createIndex, FlatIndex, HnswIndex, indexFromBuffer, indexToBuffer, IvfIndex, knn, MAX_BATCH_RESULTS, NearestError,
  type SearchHit,
} from 'nearest';
import { clusteredRows, gaussian, METRICS, prng, type Metric } from './helpers.js';

type AnyIndex = FlatIndex | HnswIndex | IvfIndex;

function errorOf(fn: () => unknown): NearestError {
  let error: unknown;
  try { fn(); } catch (e) { error = e; }
  expect(error, 'expected a NearestError').toBeInstanceOf(NearestError);
  return error as NearestError;
}

const codeOf = (fn: () => unknown): string => errorOf(fn).code;

/** Every kind of index, trained where needed on `train` (IVF). */
function makers(dim: number, metric: Metric, train: Float32Array): [string, () => AnyIndex][] {
  const ivf = (encoding: 'flat' | 'sq8' | { pq: { m: number; nbits: number } }, nlist = 2) => () => {
    const index = new IvfIndex({ dim, metric, nlist, nprobe: nlist, encoding, threads: 1 });
    index.train(train);
    return index;
  };
  return [
    ['Flat', () => new FlatIndex({ dim, metric, threads: 1 })],
    ['HNSW', () => new HnswIndex({ dim, metric, threads: 1 })],
    ['HNSW int8', () => new HnswIndex({ dim, metric, quantization: 'int8', threads: 1 })],
    ['IVF flat', ivf('flat')],
    ['IVF sq8', ivf('sq8')],
    ['IVF pq', ivf({ pq: { m: dim / 2, nbits: 4 } })],
  ];
}

/** A snapshot of what an index answers, to show that a failed call changed nothing. */
function answers(index: AnyIndex, queries: Float32Array, dim: number): unknown {
  const hits: SearchHit[][] = [];
  for (let i = 0; i < queries.length / dim; i++) hits.push(index.search(queries.subarray(i * dim, (i + 1) * dim), 5));
  return { size: index.size, hits, file: Array.from(indexToBuffer(index)) };
}

function recallAt(got: Float64Array, truth: Float64Array, k: number): number {
  let found = 0;
  for (let i = 0; i < truth.length / k; i++) {
    const t = new Set(truth.subarray(i * k, (i + 1) * k));
    for (let j = 0; j < k; j++) if (t.has(got[i * k + j])) found++;
  }
  return found / truth.length;
}

describe('1. HNSW keeps duplicate vectors reachable', () => {
  const dim = 17;
  const v = Float32Array.from({ length: dim }, (_, j) => Math.sin(j + 1) + 0.25);
  for (const quantization of ['none', 'int8'] as const) {
    for (const m of [2, 16, 32]) {
      for (const metric of METRICS) {
        it(`${metric}, ${quantization}, m = ${m}: all 100 copies of one vector come back`, () => {
          const index = new HnswIndex({ dim, metric, m, quantization, threads: 1 });
          const rows = new Float32Array(100 * dim);
          for (let i = 0; i < 100; i++) rows.set(v, i * dim);
          index.add(rows);
          const hits = index.search(v, 100);
          expect(hits.map((h) => h.id).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
          expect(hits.map((h) => h.id)).toEqual(Array.from({ length: 100 }, (_, i) => i)); // ties: smaller id first
          const batch = index.searchBatch(v, 100);
          expect(Array.from(batch.ids)).toEqual(Array.from({ length: 100 }, (_, i) => i));
        });
      }
      it(`${quantization}, m = ${m}: groups of duplicates mixed into clustered data stay reachable`, () => {
        const n = 600;
        const base = clusteredRows(n, dim, 6, 41);
        // Three groups of copies (of two corpus rows and of a new vector), interleaved with the rest.
        const extra = Float32Array.from({ length: dim }, (_, j) => Math.cos(3 * j));
        const groups = [{ v: base.slice(0, dim), copies: 120 }, { v: base.slice(5 * dim, 6 * dim), copies: 70 }, { v: extra, copies: 45 }];
        const order: Float32Array[] = [];
        for (let i = 0; i < n; i++) order.push(base.subarray(i * dim, (i + 1) * dim));
        const r = prng(9);
        for (const g of groups) for (let c = 0; c < g.copies; c++) order.splice(Math.floor(r() * (order.length + 1)), 0, g.v);
        const members = groups.map((g) => order.flatMap((row, id) => (row === g.v || row.every((x, j) => x === g.v[j]) ? [id] : [])));
        // At m = 2 (four links per node) a group of copies of an outlying vector hangs off the graph
        // by a few links, and the default beam can stop short of some copies; what this checks is
        // that every copy is reachable at all, so m = 2 gets a wide beam.
        const options = m === 2 ? { efSearch: 1000 } : {};
        for (const metric of ['euclidean', 'cosine'] as const) {
          const index = new HnswIndex({ dim, metric, m, quantization, threads: 1 });
          index.add(order);
          groups.forEach((g, gi) => {
            const got = index.search(g.v, members[gi].length, options).map((h) => h.id).sort((a, b) => a - b);
            expect(got, `${metric}: group ${gi}`).toEqual(members[gi]);
          });
        }
      });
    }
  }
});

describe('2. vectors whose squared norm overflows float32 are refused; tiny vectors rank correctly', () => {
  const train = clusteredRows(300, 4, 3, 7);
  for (const metric of METRICS) {
    for (const [name, make] of makers(4, metric, train)) {
      it(`${name} ${metric}: add and search refuse a squared norm beyond float32, index unchanged`, () => {
        const index = make();
        index.add(train.subarray(0, 40 * 4));
        const before = answers(index, train.subarray(0, 8), 4);
        for (const bad of [[1e19, 0, 0, 0], [0, 3e19, 0, 1], [-1e20, 1e20, 0, 0]]) {
          const e = errorOf(() => index.add([[1, 2, 3, 4], bad]));
          expect(e.code).toBe('NON_FINITE_VALUE');
          expect(e.message).toMatch(/overflows float32/);
          expect(e.details.row).toBe(1);
          expect(codeOf(() => index.search(bad, 3))).toBe('NON_FINITE_VALUE');
          expect(errorOf(() => index.searchBatch([[1, 2, 3, 4], bad], 3)).message).toMatch(/overflows float32/);
        }
        expect(answers(index, train.subarray(0, 8), 4)).toEqual(before);
      });
    }
  }

  it('IVF train refuses them too; knn refuses them in the query and in the corpus', () => {
    const ivf = new IvfIndex({ dim: 4, nlist: 2 });
    expect(codeOf(() => ivf.train([...Array.from({ length: 10 }, () => [1, 2, 3, 4]), [1e19, 0, 0, 0]]))).toBe('NON_FINITE_VALUE');
    expect(ivf.isTrained).toBe(false);
    expect(codeOf(() => knn([1e20, 0], [[1, 0], [0, 1]]))).toBe('NON_FINITE_VALUE');
    expect(codeOf(() => knn([1, 0], [[1, 0], [2e19, 1]]))).toBe('NON_FINITE_VALUE');
  });

  for (const metric of METRICS) {
    it(`${metric}: large norms inside the limit give finite distances in the right order`, () => {
      const rows = [[4e18, 0], [0, 4e18], [-4e18, 0], [3e18, 1e18]];
      const q = [4e18, 0];
      const expected = metric === 'dot' ? [0, 3, 1, 2] : metric === 'cosine' ? [0, 3, 1, 2] : [0, 3, 1, 2];
      const ref = knn(q, rows, { k: 4, metric });
      expect(ref.map((h) => h.index)).toEqual(expected);
      for (const [name, make] of makers(2, metric, new Float32Array(rows.flat().concat(rows.flat(), rows.flat(), rows.flat())))) {
        if (name === 'IVF pq') continue; // m = 1 of 2 dims, 16 centroids: too coarse to order these exactly
        const index = make();
        index.add(rows);
        const hits = index.search(q, 4);
        expect(hits.map((h) => h.id), name).toEqual(expected);
        for (const h of hits) expect(Number.isFinite(h.score) && Number.isFinite(h.distance), `${name} ${h.score} ${h.distance}`).toBe(true);
        const batch = index.searchBatch([q], 4);
        expect(Array.from(batch.ids), name).toEqual(expected);
        expect(Array.from(batch.distances).every(Number.isFinite), name).toBe(true);
      }
    });
  }

  for (const scale of [1e-20, 1e-25, 1e-30]) {
    it(`cosine ranks vectors with components of ${scale} as their directions say (a tiny vector is not a zero vector)`, () => {
      const dirs = [[1, 0, 0], [1, 1, 0], [0, 1, 0], [-1, 0.5, 0], [-1, 0, 0], [0, 0, 0]];
      const rows = dirs.map((d) => d.map((x) => x * scale));
      const q = [scale, 0, 0];
      const expected = [0, 1, 2, 5, 3, 4];
      const scores = [1, Math.SQRT1_2, 0, 0, -1 / Math.sqrt(1.25), -1];
      const check = (hits: { score: number }[], ids: number[], label: string, tol = 1e-6): void => {
        expect(ids, label).toEqual(expected);
        hits.forEach((h, i) => expect(Math.abs(h.score - scores[i]), `${label} rank ${i}`).toBeLessThan(tol));
      };
      const k = knn(q, rows, { k: 6 });
      check(k, k.map((h) => h.index), 'knn');
      // Train IVF on ordinary directions; the tiny rows are added afterwards.
      const train = new Float32Array(dirs.flat().concat(dirs.flat()));
      for (const [name, make] of makers(3, 'cosine', train)) {
        if (name === 'IVF pq') continue; // dim 3 has no PQ m dividing it into 2 sub-spaces
        const index = make();
        index.add(rows);
        const hits = index.search(q, 6);
        check(hits, hits.map((h) => h.id), name, name === 'IVF sq8' ? 0.01 : 1e-6); // SQ8 scores are approximate
        const batch = index.searchBatch([q, q], 6);
        expect(Array.from(batch.ids.subarray(6)), `${name} batch`).toEqual(expected);
        expect(Array.from(batch.scores.subarray(0, 6)).every((s) => Math.abs(s) <= 1), name).toBe(true);
      }
    });
  }

  it('HNSW over tiny vectors (cosine) finds each row first, like over the same rows at unit scale', () => {
    const dim = 12, n = 400;
    const rows = clusteredRows(n, dim, 5, 3);
    const tiny = rows.map((x) => x * 1e-25);
    for (const quantization of ['none', 'int8'] as const) {
      const index = new HnswIndex({ dim, quantization, threads: 1 });
      index.add(tiny);
      let self = 0;
      for (let i = 0; i < n; i++) if (index.search(tiny.subarray(i * dim, (i + 1) * dim), 1)[0].id === i) self++;
      expect(self / n, quantization).toBeGreaterThanOrEqual(0.97);
    }
  });
});

describe('3. cosine similarity is clamped to [-1, 1] and squared distances at 0', () => {
  it('self-similarity never exceeds 1, and exactly parallel vectors tie with the smaller id first', () => {
    const g = gaussian(17);
    for (const [name, make] of [
      ['Flat', (dim: number) => new FlatIndex({ dim, threads: 1 })],
      ['HNSW', (dim: number) => new HnswIndex({ dim, threads: 1 })],
      ['HNSW int8', (dim: number) => new HnswIndex({ dim, quantization: 'int8', threads: 1 })],
    ] as const) {
      let above = 0;
      for (let t = 0; t < 150; t++) {
        const dim = 3 + (t % 40);
        const x = Float32Array.from({ length: dim }, () => g());
        const index = make(dim);
        // Power-of-two multiples are exactly parallel in float32.
        index.add([x.map((v) => v * 4), x, x.map((v) => v * 0.5), x.map((v) => v * 2)], [3, 7, 1, 5]);
        const hits = index.search(x, 4);
        for (const h of hits) {
          expect(h.score, name).toBeLessThanOrEqual(1);
          expect(h.distance, name).toBeGreaterThanOrEqual(0);
          if (h.score > 1) above++;
        }
        expect(hits.map((h) => h.id), name).toEqual([1, 3, 5, 7]);
        expect(new Set(hits.map((h) => h.score)).size, name).toBe(1);
        const batch = index.searchBatch([x], 4);
        expect(Array.from(batch.ids), name).toEqual([1, 3, 5, 7]);
        for (let i = 0; i < 4; i++) expect(batch.scores[i]).toBeLessThanOrEqual(1);
        // Opposite vectors: similarity at least -1.
        const low = index.search(x.map((v) => -v), 1)[0];
        expect(low.score).toBeGreaterThanOrEqual(-1);
        expect(low.distance).toBeLessThanOrEqual(2);
      }
      expect(above).toBe(0);
    }
  });

  it('IVF scores stay within [-1, 1] under cosine (flat and refine)', () => {
    const g = gaussian(23);
    const dim = 24;
    const rows = Float32Array.from({ length: 300 * dim }, () => g());
    for (const refine of [false, true]) {
      const index = new IvfIndex({ dim, nlist: 3, nprobe: 3, refine, encoding: refine ? 'sq8' : 'flat', threads: 1 });
      index.train(rows);
      index.add(rows);
      for (let i = 0; i < 300; i++) {
        const q = rows.subarray(i * dim, (i + 1) * dim);
        for (const h of index.search(q, 3)) {
          expect(h.score).toBeLessThanOrEqual(1);
          expect(h.score).toBeGreaterThanOrEqual(-1);
          expect(h.distance).toBeGreaterThanOrEqual(0);
        }
        expect(index.search(q.map((v) => -v), 1)[0].score).toBeGreaterThanOrEqual(-1);
      }
    }
  });

  it('IVF-PQ under L2 never returns NaN distances on duplicated or constant data', () => {
    const dim = 16;
    const r = prng(5);
    const distinct = Float32Array.from({ length: 40 * dim }, () => r());
    const dup = new Float32Array(400 * dim);
    for (let i = 0; i < 400; i++) dup.set(distinct.subarray((i % 40) * dim, (i % 40 + 1) * dim), i * dim);
    const constant = new Float32Array(400 * dim).fill(0.3);
    for (const data of [dup, constant]) {
      for (const spec of ['IVF4,PQ4', 'IVF4,PQ8x4', 'IVF2,PQ16']) {
        const index = createIndex(spec, { dim, metric: 'euclidean', threads: 1 }) as IvfIndex;
        index.train(data);
        index.add(data);
        for (let i = 0; i < 40; i++) {
          const q = data.subarray(i * dim, (i + 1) * dim);
          for (const h of index.search(q, 20)) {
            expect(Number.isNaN(h.distance) || Number.isNaN(h.score), `${spec} query ${i}`).toBe(false);
            expect(h.distance).toBeGreaterThanOrEqual(0);
          }
          const batch = index.searchBatch(q, 20);
          expect(Array.from(batch.distances).some(Number.isNaN)).toBe(false);
        }
      }
    }
  });
});

describe('4. k in batches is bounded by a documented limit; search with a huge k behaves', () => {
  const dim = 8;
  const rows = clusteredRows(300, dim, 4, 13);
  for (const [name, make] of makers(dim, 'euclidean', rows)) {
    it(`${name}: searchBatch(q, 1e9) is INVALID_ARGUMENT; search(q, 1e9) returns every row`, () => {
      const index = make();
      index.add(rows.subarray(0, 50 * dim));
      const q = rows.subarray(0, dim);
      const e = errorOf(() => index.searchBatch(q, 1e9));
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.details.max).toBe(MAX_BATCH_RESULTS);
      expect(codeOf(() => index.searchBatch(rows.subarray(0, 2 * dim), MAX_BATCH_RESULTS / 2 + 1))).toBe('INVALID_ARGUMENT');
      const hits = index.search(q, 1e9);
      expect(hits.length).toBe(50);
      expect(index.search(q, Number.MAX_SAFE_INTEGER).length).toBe(50);
      // Within the limit the documented shape nq·k holds, padded with id −1.
      const batch = index.searchBatch(rows.subarray(0, 2 * dim), 100000);
      expect(batch.k).toBe(100000);
      expect(batch.ids.length).toBe(200000);
      expect(Array.from(batch.ids.subarray(0, 50)).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
      expect(batch.ids[50]).toBe(-1);
      expect(batch.ids[199999]).toBe(-1);
      expect(batch.distances[199999]).toBe(Infinity);
      // An empty batch allocates nothing, whatever k.
      expect(index.searchBatch(new Float32Array(0), 1e9).ids.length).toBe(0);
    });
  }
});

describe('5. automatic ids never pass 2^53 − 1', () => {
  const dim = 4;
  const rows = clusteredRows(100, dim, 3, 19);
  for (const [name, make] of makers(dim, 'euclidean', rows)) {
    it(`${name}: CAPACITY_EXCEEDED instead of colliding ids; the file still loads`, () => {
      const index = make();
      const max = Number.MAX_SAFE_INTEGER;
      index.add(rows.subarray(0, dim), [max - 2]);
      index.add(rows.subarray(dim, 3 * dim)); // max − 1 and max
      expect(index.has(max - 1) && index.has(max)).toBe(true);
      const before = answers(index, rows.subarray(0, 2 * dim), dim);
      expect(codeOf(() => index.add(rows.subarray(3 * dim, 4 * dim)))).toBe('CAPACITY_EXCEEDED');
      expect(answers(index, rows.subarray(0, 2 * dim), dim)).toEqual(before);
      index.add(rows.subarray(3 * dim, 4 * dim), [0]); // explicit ids still work
      const copy = indexFromBuffer(indexToBuffer(index));
      expect(copy.size).toBe(4);
      expect(codeOf(() => copy.add(rows.subarray(4 * dim, 5 * dim)))).toBe('CAPACITY_EXCEEDED');
      const hits = copy.search(rows.subarray(dim, 2 * dim), 4).map((h) => h.id).sort((a, b) => a - b);
      expect(hits).toEqual([0, max - 2, max - 1, max]);
    });
  }
});

describe('6. createIndex passes options through unchanged, with the classes\' defaults', () => {
  it('nprobe above nlist and zeros are refused by the constructors, not clamped or defaulted', () => {
    expect(codeOf(() => createIndex('IVF2,Flat', { dim: 4, nprobe: 50 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => createIndex('IVF2,Flat', { dim: 4, nprobe: 0 }))).toBe('INVALID_ARGUMENT');
    expect((createIndex('IVF2,Flat', { dim: 4, nprobe: 2 }) as IvfIndex).nprobe).toBe(2);
    expect(codeOf(() => createIndex('HNSW', { dim: 4, efSearch: 0 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => createIndex('HNSW', { dim: 4, efConstruction: 0 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => createIndex('Flat', { dim: 4, threads: 0 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => createIndex('HNSW16', { dim: 4, threads: 0 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => createIndex('Flat', { dim: 4, metric: '' as never }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => createIndex('Flat', { dim: 4, backend: '' as never }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => createIndex('IVF2,Flat', { dim: 4, seed: -1 }))).toBe('INVALID_ARGUMENT');
  });

  it("'HNSW' has HnswIndex's default m (16); 'HNSW32' names m = 32", () => {
    const plain = createIndex('HNSW', { dim: 4 }) as HnswIndex;
    expect(plain.m).toBe(new HnswIndex({ dim: 4 }).m);
    expect(plain.m).toBe(16);
    expect(plain.efConstruction).toBe(new HnswIndex({ dim: 4 }).efConstruction);
    expect(plain.efSearch).toBe(new HnswIndex({ dim: 4 }).efSearch);
    expect((createIndex('HNSW32', { dim: 4 }) as HnswIndex).m).toBe(32);
    expect((createIndex('HNSW,SQ8', { dim: 4 }) as HnswIndex).m).toBe(16);
    const ivf = new IvfIndex({ dim: 4, nlist: 4, quantizer: { hnsw: {} } });
    expect(ivf.hnswM).toBe(16);
  });
});

describe('7. int8 HNSW codes are robust to widely varying norms', () => {
  // Random directions with norms log-uniform over 1e-4 … 1e4.
  const dim = 32, n = 3000, nq = 200;
  const g = gaussian(12345), r = prng(54321);
  const rows = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    const norm = 10 ** (-4 + 8 * r());
    let s = 0;
    for (let j = 0; j < dim; j++) { rows[i * dim + j] = g(); s += rows[i * dim + j] ** 2; }
    for (let j = 0; j < dim; j++) rows[i * dim + j] *= norm / Math.sqrt(s);
  }
  const queries = rows.slice(0, nq * dim);
  for (const metric of METRICS) {
    it(`${metric}: int8 recall@10 is within 0.05 of float traversal, self-hits within 0.03`, () => {
      const flat = new FlatIndex({ dim, metric });
      flat.add(rows);
      const truth = flat.searchBatch(queries, 10).ids;
      const result: Record<string, { recall: number; self: number }> = {};
      for (const quantization of ['none', 'int8'] as const) {
        const index = new HnswIndex({ dim, metric, quantization, threads: 1 });
        index.add(rows);
        const got = index.searchBatch(queries, 10).ids;
        let self = 0;
        for (let i = 0; i < nq; i++) if (got[i * 10] === truth[i * 10]) self++;
        result[quantization] = { recall: recallAt(got, truth, 10), self: self / nq };
      }
      expect(result.int8.recall, JSON.stringify(result)).toBeGreaterThanOrEqual(result.none.recall - 0.05);
      expect(result.int8.self, JSON.stringify(result)).toBeGreaterThanOrEqual(result.none.self - 0.03);
    });
  }

  it('values far outside the range the codes were fitted on keep their resolution (no saturation)', () => {
    const d = 8;
    const index = new HnswIndex({ dim: d, metric: 'euclidean', quantization: 'int8', threads: 1 });
    const fit = clusteredRows(5000, d, 4, 8); // more than the refit limit: the centre is then fixed
    index.add(fit);
    // Points on a line far outside the fitted range, 1 apart: their order along it must survive.
    const line = Array.from({ length: 500 }, (_, i) => Array.from({ length: d }, (_, j) => (j === 0 ? 1000 + i : 500)));
    index.add(line, line.map((_, i) => 100000 + i));
    for (let i = 0; i < 500; i += 37) {
      const hits = index.search(line[i], 3).map((h) => h.id);
      expect(hits[0]).toBe(100000 + i);
    }
  });

  for (const metric of METRICS) {
    it(`${metric}: an int8 index file of the previous layout still loads and searches`, () => {
      const bytes = new Uint8Array(readFileSync(join(import.meta.dirname, 'fixtures', `hnsw-int8-layout1-${metric}.nrst`)));
      const index = indexFromBuffer(bytes) as HnswIndex;
      expect(index).toBeInstanceOf(HnswIndex);
      expect(index.quantization).toBe('int8');
      expect(index.size).toBe(58);
      const copy = indexFromBuffer(indexToBuffer(index)) as HnswIndex;
      for (let id = 10; id < 70; id++) {
        const v = index.get(id);
        if (id === 12 || id === 13) { expect(v).toBeUndefined(); continue; }
        const a = index.search(v!, 3), b = copy.search(v!, 3);
        expect(b).toEqual(a);
        if (metric !== 'dot') expect(a[0].id).toBe(id);
      }
    });
  }
});

/** CRC-32 (IEEE), as docs/format.md specifies for headers and sections. */
function crc32(bytes: Uint8Array): number {
  let c = ~0 >>> 0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return ~c >>> 0;
}

/** Re-writes a container (docs/format.md) after `edit` changed its sections: lengths and checksums made right again. */
function rewrite(file: Uint8Array, edit: (sections: Map<string, Uint8Array>) => void): Uint8Array {
  const v = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const sections = new Map<string, Uint8Array>();
  for (let i = 0, at = 64; i < v.getUint32(24, true); i++) {
    const len = v.getFloat64(at + 8, true);
    sections.set(String.fromCharCode(...file.subarray(at, at + 4)), file.slice(at + 24, at + 24 + len));
    at += 24 + Math.ceil(len / 8) * 8;
  }
  edit(sections);
  let total = 64;
  for (const b of sections.values()) total += 24 + Math.ceil(b.length / 8) * 8;
  const out = new Uint8Array(total), w = new DataView(out.buffer);
  out.set(file.subarray(0, 64));
  w.setUint32(24, sections.size, true);
  w.setFloat64(28, total, true);
  w.setUint32(60, crc32(out.subarray(0, 60)), true);
  let at = 64;
  for (const [tag, b] of sections) {
    for (let i = 0; i < 4; i++) out[at + i] = tag.charCodeAt(i);
    w.setFloat64(at + 8, b.length, true);
    w.setUint32(at + 16, crc32(b), true);
    out.set(b, at + 24);
    at += 24 + Math.ceil(b.length / 8) * 8;
  }
  return out;
}

describe('7b. int8 HNSW files: the per-vector steps and origins are checked on load', () => {
  const dim = 8;
  const index = new HnswIndex({ dim, metric: 'euclidean', quantization: 'int8', threads: 1 });
  index.add(clusteredRows(50, dim, 3, 43));
  const file = indexToBuffer(index);
  const parm = (b: Uint8Array) => JSON.parse(new TextDecoder().decode(b)) as Record<string, unknown>;
  const json = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));

  it('an untouched re-write loads; bad codes, steps, origins and layouts are refused', () => {
    expect(indexFromBuffer(rewrite(file, () => {})).size).toBe(50);
    const cases: [string, (s: Map<string, Uint8Array>) => void][] = [
      ['CORRUPT_FILE', (s) => { s.get('QORG')![3] = 2; }],
      ['CORRUPT_FILE', (s) => { new DataView(s.get('QSCL')!.buffer).setFloat32(4, -1, true); }],
      ['CORRUPT_FILE', (s) => { new DataView(s.get('QSCL')!.buffer).setFloat32(4, NaN, true); }],
      ['CORRUPT_FILE', (s) => { s.get('CODE')![17] = 0x80; }], // −128
      ['CORRUPT_FILE', (s) => { s.delete('QSCL'); }],
      ['CORRUPT_FILE', (s) => { s.set('QORG', s.get('QORG')!.subarray(1)); }],
      ['CORRUPT_FILE', (s) => { s.set('PARM', json({ ...parm(s.get('PARM')!), codeLayout: 'two' })); }],
      ['UNSUPPORTED_VERSION', (s) => { s.set('PARM', json({ ...parm(s.get('PARM')!), codeLayout: 3 })); }],
    ];
    for (const [code, edit] of cases) expect(codeOf(() => indexFromBuffer(rewrite(file, edit))), String(edit)).toBe(code);
  });
});

describe('8. a failed add or train changes nothing', () => {
  const dim = 4;
  const rows = clusteredRows(500, dim, 3, 29);
  for (const [name, make] of makers(dim, 'euclidean', rows)) {
    it(`${name}: bad ids, repeated ids, present ids, bad vectors`, () => {
      const index = make();
      index.add(rows.subarray(0, 200 * dim));
      index.remove?.(Array.from({ length: 100 }, (_, i) => 2 * i)); // leaves free slots behind
      const probe = rows.subarray(0, 6 * dim);
      const before = answers(index, probe, dim);
      const two = rows.subarray(200 * dim, 202 * dim);
      const cases: [string, () => unknown][] = [
        ['DUPLICATE_ID', () => index.add(two, [1, 1])],
        ['DUPLICATE_ID', () => index.add(two, [5000, 3])],
        ['INVALID_ARGUMENT', () => index.add(two, [5000, -1])],
        ['INVALID_ARGUMENT', () => index.add(two, [5000, 1.5])],
        ['INVALID_ARGUMENT', () => index.add(two, [5000, NaN])],
        ['INVALID_ARGUMENT', () => index.add(two, [5000, 2 ** 53])],
        ['INVALID_ARGUMENT', () => index.add(two, [5000, '7' as never])],
        ['INVALID_ARGUMENT', () => index.add(two, [5000])],
        ['INVALID_ARGUMENT', () => index.add(two, 5000 as never)],
        ['NON_FINITE_VALUE', () => index.add([[1, 2, 3, 4], [1, NaN, 3, 4]])],
        ['DIMENSION_MISMATCH', () => index.add([[1, 2, 3, 4], [1, 2, 3]])],
      ];
      for (const [code, fn] of cases) {
        expect(codeOf(fn), String(fn)).toBe(code);
        expect(answers(index, probe, dim)).toEqual(before);
      }
    });
  }

  it('HNSW: running out of memory half-way through an add leaves the free slots and the graph as they were', () => {
    for (const quantization of ['none', 'int8'] as const) {
      const build = () => {
        const index = new HnswIndex({ dim, metric: 'euclidean', quantization, threads: 1, seed: 3 });
        index.add(rows.subarray(0, 300 * dim));
        index.remove(Array.from({ length: 100 }, (_, i) => 3 * i)); // 100 tombstones: reused by the next add
        return index;
      };
      const control = build(), index = build();
      const arena = (index as unknown as { rows: { arena: { grow: (bytes: number) => void } } }).rows.arena;
      arena.grow = () => { throw new NearestError('CAPACITY_EXCEEDED', 'injected: out of kernel memory'); };
      const before = answers(index, rows.subarray(0, 6 * dim), dim);
      // 100 rows go to freed slots, 20 are appended (and need memory).
      expect(codeOf(() => index.add(rows.subarray(300 * dim, 420 * dim)))).toBe('CAPACITY_EXCEEDED');
      delete (arena as { grow?: unknown }).grow;
      expect(answers(index, rows.subarray(0, 6 * dim), dim)).toEqual(before);
      control.add(rows.subarray(300 * dim, 420 * dim));
      index.add(rows.subarray(300 * dim, 420 * dim));
      expect(indexToBuffer(index)).toEqual(indexToBuffer(control));
    }
  });
});

describe('9. remove takes one id or a list of ids, and refuses anything else', () => {
  const dim = 4;
  const rows = clusteredRows(100, dim, 3, 31);
  for (const [name, make] of makers(dim, 'euclidean', rows)) {
    it(`${name}: remove(5), remove([..]), remove(Float64Array); strings, null, objects are INVALID_ARGUMENT`, () => {
      const index = make();
      index.add(rows.subarray(0, 20 * dim), Array.from({ length: 20 }, (_, i) => i));
      expect(index.remove(5)).toBe(1);
      expect(index.has(5)).toBe(false);
      expect(index.remove(5)).toBe(0);
      expect(index.remove([6, 7, 7, 1000])).toBe(2);
      expect(index.remove(new Float64Array([8, 9]))).toBe(2);
      expect(index.remove(new Int32Array([10]))).toBe(1);
      expect(index.remove(new Uint32Array([11, 12]))).toBe(2);
      expect(index.remove([])).toBe(0);
      expect(index.size).toBe(12);
      const before = answers(index, rows.subarray(0, 4 * dim), dim);
      for (const bad of [null, undefined, '5', '', { 0: 1, length: 1 }, new Set([1]), [1, '2'], [1, null], [1, -1], [1.5], [NaN], -3, 2.5, Infinity, 2 ** 53, true, new DataView(new ArrayBuffer(8))]) {
        expect(codeOf(() => index.remove(bad as never)), String(bad)).toBe('INVALID_ARGUMENT');
        expect(answers(index, rows.subarray(0, 4 * dim), dim)).toEqual(before);
      }
    });
  }
});

describe('10. IvfIndex.minTrainSize says how many training vectors train() needs', () => {
  const dim = 8;
  const rows = clusteredRows(600, dim, 5, 37);
  for (const [options, expected] of [
    [{ nlist: 7 }, 7],
    [{ nlist: 7, encoding: 'sq8' }, 7],
    [{ nlist: 3, encoding: { pq: { m: 4, nbits: 8 } } }, 256],
    [{ nlist: 300, encoding: { pq: { m: 4, nbits: 6 } } }, 300],
    [{ nlist: 20, encoding: { pq: { m: 2, nbits: 6 } } }, 64],
    [{ nlist: 5, quantizer: { hnsw: { m: 4 } } }, 5],
  ] as const) {
    it(`${JSON.stringify(options)}: ${expected}`, () => {
      const index = new IvfIndex({ dim, threads: 1, ...options } as ConstructorParameters<typeof IvfIndex>[0]);
      expect(index.minTrainSize).toBe(expected);
      const e = errorOf(() => index.train(rows.subarray(0, (expected - 1) * dim)));
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.details.required).toBe(expected);
      expect(index.isTrained).toBe(false);
      index.train(rows.subarray(0, expected * dim));
      expect(index.isTrained).toBe(true);
      index.add(rows.subarray(0, 10 * dim));
      expect(index.search(rows.subarray(0, dim), 1).length).toBe(1);
    });
  }
});

describe('11. index classes hold no file code: saveIndex(index, path) / indexToBuffer(index)', () => {
  it('FlatIndex, HnswIndex and IvfIndex have no save() or toBuffer()', () => {
    for (const cls of [FlatIndex, HnswIndex, IvfIndex]) {
      expect('save' in cls.prototype, cls.name).toBe(false);
      expect('toBuffer' in cls.prototype, cls.name).toBe(false);
    }
    const flat = new FlatIndex({ dim: 2 });
    flat.add([[1, 2]]);
    expect((indexFromBuffer(indexToBuffer(flat)) as FlatIndex).get(0)).toEqual(Float32Array.from([1, 2]));
  });

  it('no module under src/indexes imports io/, and the registration hook is gone', () => {
    const root = join(import.meta.dirname, '..', 'src', 'indexes');
    expect(existsSync(join(root, 'io-hook.ts'))).toBe(false);
    const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true })
      .flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
    for (const file of walk(root)) {
      const text = readFileSync(file, 'utf8');
      expect(/from '(\.\.\/)+io\//.test(text) || /io-hook/.test(text), file).toBe(false);
    }
  });
});
