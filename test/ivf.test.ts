// IVF, PQ, SQ8, k-means and factory strings: the conformance suite, exactness of IVF-Flat with
// nprobe = nlist, recall against FlatIndex on clustered data, PQ reconstruction error, training
// rules, and factory strings that round-trip or name the bad token.
import { describe, expect, it } from 'vitest';
import { createIndex, describeIndex, FlatIndex, indexFromBuffer, indexToBuffer, IvfIndex, kmeans, NearestError } from 'nearest';
import { runConformance } from './conformance.js';
import { clusteredRows, type Metric } from './helpers.js';

function code(fn: () => unknown): string | undefined {
  try { fn(); } catch (e) { expect(e).toBeInstanceOf(NearestError); return (e as NearestError).code; }
  return undefined;
}

const trained = (dim: number, metric: Metric, encoding: 'flat' | 'sq8' | 'pq' | 'pq4fs', backend: 'wasm' | 'js') => {
  const index = new IvfIndex({
    dim, metric, nlist: 4, nprobe: 4, threads: 1, backend,
    encoding: encoding === 'pq' ? { pq: { m: dim, nbits: 4 } } : encoding === 'pq4fs' ? { pq: { m: dim, fastScan: true } } : encoding,
    ...(encoding === 'flat' ? {} : { refine: true, refineFactor: 50 }),
  });
  index.train(clusteredRows(400, dim, 8, 99));
  return index;
};
for (const backend of ['wasm', 'js'] as const) {
  runConformance(`IvfIndex (flat, nprobe = nlist, ${backend})`, (dim, metric) => trained(dim, metric, 'flat', backend), { minRecall: 1 });
  runConformance(`IvfIndex (sq8 + refine, ${backend})`, (dim, metric) => trained(dim, metric, 'sq8', backend), { minRecall: 0.95 });
  runConformance(`IvfIndex (pq + refine, ${backend})`, (dim, metric) => trained(dim, metric, 'pq', backend), { minRecall: 0.95 });
  runConformance(`IvfIndex (pq fast-scan + refine, ${backend})`, (dim, metric) => trained(dim, metric, 'pq4fs', backend), { minRecall: 0.95 });
}

function recall(index: { searchBatch: FlatIndex['searchBatch'] }, truth: Float64Array, queries: Float32Array, k: number, options: object = {}): number {
  const got = index.searchBatch(queries, k, options);
  let found = 0;
  for (let i = 0; i < truth.length / k; i++) {
    const t = new Set(truth.subarray(i * k, (i + 1) * k));
    for (let j = 0; j < k; j++) if (t.has(got.ids[i * k + j])) found++;
  }
  return found / truth.length;
}

describe('kmeans', () => {
  const dim = 16, rows = clusteredRows(3000, dim, 12, 3);
  it('is seeded, lowers the objective, and returns k finite centroids', () => {
    const a = kmeans(rows, { k: 12, dim, niter: 10, seed: 5 });
    const b = kmeans(rows, { k: 12, dim, niter: 10, seed: 5, threads: 1 });
    expect(a.centroids).toEqual(b.centroids);
    expect(a.centroids.length).toBe(12 * dim);
    expect(a.centroids.every(Number.isFinite)).toBe(true);
    for (let i = 1; i < a.objective.length; i++) expect(a.objective[i]).toBeLessThanOrEqual(a.objective[i - 1] * 1.0001);
    const random = kmeans(rows, { k: 12, dim, niter: 10, seed: 5, init: 'random' });
    expect(random.centroids).not.toEqual(a.centroids);
    // 12 well-separated clusters: the objective ends near the within-cluster noise, far below one cluster's.
    const one = kmeans(rows, { k: 1, dim, niter: 2 });
    expect(a.objective.at(-1)! / a.trainedOn).toBeLessThan((one.objective.at(-1)! / one.trainedOn) * 0.2);
  });
  it('runs exactly Lloyd iterations: the bounds only skip work (objective per iteration as plain float64 Lloyd)', () => {
    // Overlapping Gaussian data, so points keep changing cluster and the bounds are exercised.
    // 24 dims run Hamerly's bounds, 136 dims Yinyang's (from 128 on).
    for (const [d, n, k, niter] of [[24, 4000, 64, 12], [136, 1500, 32, 8]]) {
    const rand = (() => { let s = 77; return () => { s = (s * 1103515245 + 12345) >>> 0; return s / 2 ** 32; }; })();
    const data = new Float32Array(n * d).map(() => (rand() + rand() + rand() - 1.5) * 10);
    for (const backend of ['wasm', 'js'] as const) {
      for (const threads of [1, 2]) {
        const start = kmeans(data, { k, dim: d, niter: 0, seed: 9, backend, threads }).centroids;
        const ours = kmeans(data, { k, dim: d, niter, seed: 9, backend, threads });
        const c = Float64Array.from(start);
        for (let iter = 0; iter < niter; iter++) {
          const sums = new Float64Array(k * d), counts = new Int32Array(k);
          let obj = 0;
          for (let i = 0; i < n; i++) {
            let best = Infinity, arg = 0;
            for (let j = 0; j < k; j++) {
              let s = 0;
              for (let e = 0; e < d; e++) s += (data[i * d + e] - c[j * d + e]) ** 2;
              if (s < best) { best = s; arg = j; }
            }
            obj += best; counts[arg]++;
            for (let e = 0; e < d; e++) sums[arg * d + e] += data[i * d + e];
          }
          expect(Math.abs(ours.objective[iter] - obj) / obj, `dim ${d} ${backend} ${threads} iteration ${iter}`).toBeLessThan(1e-5);
          expect(counts.every((x) => x > 0)).toBe(true); // (no empty-cluster repair to mirror)
          for (let j = 0; j < k; j++) for (let e = 0; e < d; e++) c[j * d + e] = Math.fround(sums[j * d + e] / counts[j]);
        }
      }
    }
    }
  });
  it('trains on a sample of at most k · maxPointsPerCentroid points and repairs empty clusters', () => {
    const r = kmeans(rows, { k: 8, dim, niter: 3, maxPointsPerCentroid: 50 });
    expect(r.trainedOn).toBe(400);
    const dup = new Float32Array(200 * 2).map((_, i) => (i % 4 < 2 ? 1 : 5)); // two distinct points
    const d = kmeans(dup, { k: 4, dim: 2, niter: 5 });
    expect(d.centroids.every(Number.isFinite)).toBe(true);
  });
  it('rejects bad options', () => {
    expect(code(() => kmeans(rows, { k: 0, dim }))).toBe('INVALID_ARGUMENT');
    expect(code(() => kmeans(rows, { k: 99999, dim }))).toBe('INVALID_ARGUMENT');
    expect(code(() => kmeans(rows, { k: 4, dim, iters: 3 } as never))).toBe('INVALID_ARGUMENT');
  });
});

describe('IvfIndex', () => {
  const dim = 32, n = 8000, nq = 100;
  const rows = clusteredRows(n, dim, 40, 7);
  const queries = clusteredRows(nq, dim, 40, 8);

  it('refuses add and search until trained', () => {
    const index = new IvfIndex({ dim, nlist: 16 });
    expect(code(() => index.add(rows.subarray(0, dim)))).toBe('NOT_TRAINED');
    expect(code(() => index.search(rows.subarray(0, dim), 1))).toBe('NOT_TRAINED');
    expect(index.isTrained).toBe(false);
    expect(code(() => index.train(rows.subarray(0, 8 * dim)))).toBe('INVALID_ARGUMENT'); // fewer than nlist
    index.train(rows);
    expect(index.isTrained).toBe(true);
    index.add(rows.subarray(0, dim));
    expect(code(() => index.train(rows))).toBe('INVALID_ARGUMENT');
  });

  for (const metric of ['euclidean', 'cosine', 'dot'] as Metric[]) {
    it(`IVF-Flat with nprobe = nlist equals exact search (${metric})`, () => {
      const flat = new FlatIndex({ dim, metric });
      flat.add(rows);
      const ivf = new IvfIndex({ dim, metric, nlist: 32, encoding: 'flat' });
      ivf.train(rows);
      ivf.add(rows);
      const exact = flat.searchBatch(queries, 10);
      const got = ivf.searchBatch(queries, 10, { nprobe: 32 });
      expect(got.ids).toEqual(exact.ids);
      for (let i = 0; i < 50; i++) expect(got.scores[i]).toBeCloseTo(exact.scores[i], 4);
      expect(recall(ivf, exact.ids, queries, 10, { nprobe: 8 })).toBeGreaterThanOrEqual(0.9);
    });
  }

  it('recall against FlatIndex for flat, sq8 and pq (with and without re-ranking)', () => {
    const flat = new FlatIndex({ dim, metric: 'euclidean' });
    flat.add(rows);
    const truth = flat.searchBatch(queries, 10).ids;
    const cases: [string, ConstructorParameters<typeof IvfIndex>[0], object, number][] = [
      ['flat', { dim, metric: 'euclidean', nlist: 64, encoding: 'flat' }, { nprobe: 16 }, 0.95],
      ['sq8', { dim, metric: 'euclidean', nlist: 64, encoding: 'sq8' }, { nprobe: 16 }, 0.9],
      ['pq', { dim, metric: 'euclidean', nlist: 64, encoding: { pq: { m: 16 } } }, { nprobe: 16 }, 0.5],
      ['pq+refine', { dim, metric: 'euclidean', nlist: 64, encoding: { pq: { m: 16 } }, refine: true }, { nprobe: 16, refineFactor: 10 }, 0.95],
    ];
    for (const [name, opts, search, min] of cases) {
      const ivf = new IvfIndex(opts);
      ivf.train(rows);
      ivf.add(rows);
      const r = recall(ivf, truth, queries, 10, search);
      expect(r, name).toBeGreaterThanOrEqual(min);
    }
  });

  it('PQ memory is m bytes per vector in the lists, and reconstruction error falls with m', () => {
    const errors: number[] = [];
    for (const m of [4, 8, 16]) {
      const ivf = new IvfIndex({ dim, metric: 'euclidean', nlist: 1, encoding: { pq: { m } }, refine: true, refineFactor: 1 });
      ivf.train(rows);
      ivf.add(rows);
      // With refine the exact re-rank distance is available; compare PQ-only scores via a no-refine twin.
      const plain = new IvfIndex({ dim, metric: 'euclidean', nlist: 1, encoding: { pq: { m } } });
      plain.train(rows);
      plain.add(rows);
      let err = 0, norm = 0;
      for (let i = 0; i < 200; i++) {
        const x = rows.subarray(i * dim, (i + 1) * dim);
        const self = plain.search(x, 1)[0];
        err += self.distance ** 2; // ≈ |x - decode(code)|² for the nearest code (upper-bounds its own)
        for (const v of x) norm += v * v;
      }
      errors.push(err / norm);
      expect(describeIndex(plain)).toBe(`PQ${m}`);
    }
    expect(errors[0]).toBeLessThan(0.2);
    expect(errors[1]).toBeLessThan(errors[0]);
    expect(errors[2]).toBeLessThan(errors[1]);
  });

  it('removes ids, fills k under selective filters, and validates options', () => {
    const ivf = new IvfIndex({ dim, metric: 'euclidean', nlist: 32, nprobe: 2 });
    ivf.train(rows);
    ivf.add(rows);
    expect(ivf.remove([0, 1, 2, 123456])).toBe(3);
    expect(ivf.size).toBe(n - 3);
    const q = rows.subarray(0, dim);
    expect(ivf.search(q, 5, { nprobe: 32 }).some((h) => h.id < 3)).toBe(false);
    const allowed = new Set([10, 2000, 4000, 7999]);
    expect(ivf.search(q, 10, { filter: allowed }).map((h) => h.id).sort((a, b) => a - b)).toEqual([10, 2000, 4000, 7999]);
    expect(code(() => ivf.search(q, 5, { nprobe: 0 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => ivf.search(q, 5, { nprobe: 33 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => ivf.search(q, 5, { refineFactor: 2 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => new IvfIndex({ dim, nlist: 8, encoding: { pq: { m: 5 } } }))).toBe('INVALID_ARGUMENT');
  });

  it('an HNSW coarse quantizer gives the recall of a flat one', () => {
    const flat = new FlatIndex({ dim, metric: 'euclidean' });
    flat.add(rows);
    const truth = flat.searchBatch(queries, 10).ids;
    const a = new IvfIndex({ dim, metric: 'euclidean', nlist: 128 });
    const b = new IvfIndex({ dim, metric: 'euclidean', nlist: 128, quantizer: { hnsw: { m: 16 } } });
    for (const ivf of [a, b]) { ivf.train(rows); ivf.add(rows); }
    expect(recall(b, truth, queries, 10, { nprobe: 16 })).toBeGreaterThanOrEqual(recall(a, truth, queries, 10, { nprobe: 16 }) - 0.02);
    expect(describeIndex(b)).toBe('IVF128_HNSW16,Flat');
  });
});

describe('factory strings', () => {
  it('round-trip through describeIndex', () => {
    for (const spec of ['Flat', 'HNSW32', 'HNSW16,SQ8', 'IVF1024,PQ16', 'IVF256,SQ8', 'IVF256,PQ20,RFlat', 'IVF64,Flat', 'IVF4096_HNSW32,Flat', 'PQ16', 'PQ8x4,RFlat', 'SQ8',
      'IVF1024,PQ40x4fs,RFlat', 'IVF64,PQ16x4fs', 'PQ20x4fs']) {
      expect(describeIndex(createIndex(spec, { dim: 80, metric: 'euclidean' }))).toBe(spec);
    }
    expect(describeIndex(createIndex('HNSW32,Flat', { dim: 80 }))).toBe('HNSW32');
    const ivf = createIndex('IVF256,PQ20,RFlat', { dim: 80, nprobe: 8 }) as IvfIndex;
    expect([ivf.nlist, ivf.nprobe, ivf.pqM, ivf.refine]).toEqual([256, 8, 20, true]);
  });
  it('reject bad specs, naming the token', () => {
    const cases: [string, string][] = [
      ['IVF,Flat', 'IVF'], ['PQ7', 'PQ7'], ['IVF256,PQ7', 'PQ7'], ['HNSW32,PQ8', 'PQ8'], ['IVF256', 'IVF256'],
      ['Flat,RFlat', 'RFlat'], ['IVF256,PQ16x9', 'PQ16x9'], ['LSH', 'LSH'], ['IVF64,Flat,Refine', 'Refine'], ['IVF0,Flat', 'IVF0'],
      ['IVF64,PQ16fs', 'PQ16fs'], ['IVF64,PQ16x8fs', 'PQ16x8fs'], ['IVF64,PQ16x4FS', 'PQ16x4FS'],
    ];
    for (const [spec, token] of cases) {
      let error: NearestError | undefined;
      try { createIndex(spec, { dim: 80 }); } catch (e) { error = e as NearestError; }
      expect(error?.code, spec).toBe('INVALID_ARGUMENT');
      expect(error?.details.token, spec).toBe(token);
      expect(error?.message).toContain(`'${token}'`);
    }
    expect(code(() => createIndex('', { dim: 8 }))).toBe('INVALID_ARGUMENT');
  });
});

describe('IvfIndex.searchBatch on several threads', () => {
  const dim = 24, rows = clusteredRows(6000, dim, 20, 31), queries = clusteredRows(300, dim, 20, 32);
  const configs: { label: string; metric: Metric; encoding: 'flat' | 'sq8' | { pq: { m: number; nbits?: number } }; refine?: boolean; quantizer?: 'flat' | { hnsw: { m?: number } } }[] = [
    { label: 'flat, cosine', metric: 'cosine', encoding: 'flat' },
    { label: 'flat, euclidean, HNSW coarse quantizer', metric: 'euclidean', encoding: 'flat', quantizer: { hnsw: { m: 8 } } },
    { label: 'sq8, dot', metric: 'dot', encoding: 'sq8' },
    { label: 'sq8 + refine, euclidean', metric: 'euclidean', encoding: 'sq8', refine: true },
    { label: 'pq, euclidean', metric: 'euclidean', encoding: { pq: { m: 8 } } },
    { label: 'pq4 + refine, cosine', metric: 'cosine', encoding: { pq: { m: 12, nbits: 4 } }, refine: true },
  ];
  for (const c of configs) {
    it(`answers each query exactly as search does (${c.label}), with filters and after removals`, () => {
      const index = new IvfIndex({ dim, metric: c.metric, nlist: 32, nprobe: 4, encoding: c.encoding, refine: c.refine ?? false, quantizer: c.quantizer ?? 'flat', threads: 2 });
      index.train(rows);
      index.add(rows);
      index.remove(Array.from({ length: 400 }, (_, i) => i * 7));
      const odd = (id: number) => id % 2 === 1;
      for (const options of [{}, { nprobe: 9 }, { filter: odd }, { filter: (id: number) => id % 97 === 0 }, ...(c.refine ? [{ refineFactor: 3 }] : [])]) {
        const two = index.searchBatch(queries, 10, { ...options, threads: 2 });
        const one = index.searchBatch(queries, 10, { ...options, threads: 1 });
        expect(Array.from(two.ids)).toEqual(Array.from(one.ids));
        expect(Array.from(two.scores)).toEqual(Array.from(one.scores));
        for (let i = 0; i < 300; i += 13) {
          const hits = index.search(queries.subarray(i * dim, (i + 1) * dim), 10, options);
          expect(Array.from(two.ids.subarray(i * 10, i * 10 + hits.length))).toEqual(hits.map((h) => h.id));
          hits.forEach((h, j) => expect(two.scores[i * 10 + j]).toBe(Math.fround(h.score)));
        }
        if ('filter' in options) for (const id of two.ids) if (id >= 0) expect(options.filter!(id)).toBe(true);
      }
      // A change after a batch: the next batch sees it (worker threads hold no stale state).
      index.add(queries.subarray(0, dim), [1_000_000]);
      const again = index.searchBatch(queries.subarray(0, 2 * dim), 1, { threads: 2 });
      expect(again.ids[0]).toBe(index.search(queries.subarray(0, dim), 1)[0]!.id);
      if (c.metric !== 'dot') expect(again.ids[0]).toBe(1_000_000); // under dot a row need not be its own best
    });
  }

  it('checks threads and leaves search without it', () => {
    const index = new IvfIndex({ dim, nlist: 8 });
    index.train(rows.subarray(0, 500 * dim));
    index.add(rows.subarray(0, 500 * dim));
    expect(code(() => index.searchBatch(queries, 5, { threads: 0 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => index.search(queries.subarray(0, dim), 5, { threads: 2 } as never))).toBe('INVALID_ARGUMENT');
    expect(index.searchBatch(queries.subarray(0, 0), 5, { threads: 2 }).nq).toBe(0);
  });
});

describe('IvfIndex fast-scan PQ (4-bit codes in blocks of 32)', () => {
  const dim = 32, rows = clusteredRows(5000, dim, 24, 61), queries = clusteredRows(200, dim, 24, 62);
  const make = (metric: Metric, fastScan: boolean, backend: 'wasm' | 'js', refine = false) => {
    const index = new IvfIndex({ dim, metric, nlist: 16, nprobe: 3, encoding: { pq: { m: 16, nbits: 4, ...(fastScan ? { fastScan } : {}) } }, refine, threads: 2, backend });
    index.train(rows);
    index.add(rows);
    index.remove(Array.from({ length: 300 }, (_, i) => i * 13 + 1)); // entries move inside and across blocks
    index.add(rows.subarray(0, 40 * dim), Array.from({ length: 40 }, (_, i) => 100_000 + i));
    return index;
  };
  for (const backend of ['wasm', 'js'] as const) {
    for (const metric of ['euclidean', 'cosine', 'dot'] as const) {
      it(`answers exactly as the same codes scanned one by one (${metric}, ${backend}): ids, scores, filters, threads`, () => {
        const plain = make(metric, false, backend), fast = make(metric, true, backend);
        const qs = backend === 'js' ? queries.subarray(0, 60 * dim) : queries; // the reference backend is slow
        expect(fast.stats().encoding).toBe('pq16x4fs');
        expect(describeIndex(fast)).toBe('IVF16,PQ16x4fs');
        const odd = (id: number) => id % 2 === 1;
        for (const options of [{}, { nprobe: 16 }, { nprobe: 1 }, { filter: odd }, { filter: (id: number) => id % 101 === 0 }]) {
          for (const threads of [1, 2]) {
            const a = plain.searchBatch(qs, 10, { ...options, threads }), b = fast.searchBatch(qs, 10, { ...options, threads });
            expect(Array.from(b.ids)).toEqual(Array.from(a.ids));
            expect(Array.from(b.scores)).toEqual(Array.from(a.scores));
          }
          const q = queries.subarray(5 * dim, 6 * dim);
          expect(fast.search(q, 7, options)).toEqual(plain.search(q, 7, options));
        }
        for (const id of [0, 2, 4999, 100_039]) expect(fast.get(id)).toEqual(plain.get(id));
        expect(fast.get(1)).toBeUndefined();
      });
    }
  }

  it('re-ranks with refine, round-trips through a file, and keeps the unpacked codes in it', () => {
    const fast = make('euclidean', true, 'wasm', true), plain = make('euclidean', false, 'wasm', true);
    const a = fast.searchBatch(queries, 10, { refineFactor: 4 }), b = plain.searchBatch(queries, 10, { refineFactor: 4 });
    expect(Array.from(a.ids)).toEqual(Array.from(b.ids));
    const again = indexFromBuffer(indexToBuffer(fast)) as IvfIndex;
    expect(again.fastScan).toBe(true);
    expect(Array.from(again.searchBatch(queries, 10, { refineFactor: 4 }).ids)).toEqual(Array.from(a.ids));
    const sf = fast.exportState(), sp = plain.exportState();
    expect(Array.from(sf.codes)).toEqual(Array.from(sp.codes));
    expect(sf.params.encoding).toEqual({ pq: { m: 16, nbits: 4, fastScan: true } });
  });

  it('a PQ code out of the nbits range in a file is CORRUPT_FILE', () => {
    const small = new IvfIndex({ dim: 8, metric: 'euclidean', nlist: 2, encoding: { pq: { m: 4, nbits: 4 } } });
    small.train(clusteredRows(200, 8, 4, 3));
    small.add(clusteredRows(50, 8, 4, 4));
    const s = small.exportState();
    s.codes[3] = 16; // a well-formed file (checksums right) whose code indexes past the 16-entry table
    const bad = indexToBuffer(IvfIndex.fromState(s));
    expect(code(() => indexFromBuffer(bad))).toBe('CORRUPT_FILE');
    expect(code(() => indexFromBuffer(indexToBuffer(small)))).toBeUndefined();
  });

  it('refuses fastScan without 4-bit codes or as a non-boolean, changing nothing', () => {
    expect(code(() => new IvfIndex({ dim: 16, nlist: 4, encoding: { pq: { m: 8, nbits: 8, fastScan: true } } }))).toBe('INVALID_ARGUMENT');
    expect(code(() => new IvfIndex({ dim: 16, nlist: 4, encoding: { pq: { m: 8, fastScan: 'yes' as never } } }))).toBe('INVALID_ARGUMENT');
    expect(new IvfIndex({ dim: 16, nlist: 4, encoding: { pq: { m: 8, fastScan: true } } }).pqBits).toBe(4);
    const index = createIndex('IVF8,PQ8x4fs,RFlat', { dim: 16 }) as IvfIndex;
    expect([index.fastScan, index.pqBits, index.refine]).toEqual([true, 4, true]);
  });
});
