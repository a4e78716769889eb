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
