// HnswIndex: the conformance suite, recall against the exact FlatIndex on clustered data, int8
// traversal, determinism, deletion and churn, filters at several selectivities, parallel build
// and batch search, and interleaved async use.
import { describe, expect, it, vi } from 'vitest';
import { FlatIndex, HnswIndex, NearestError } from 'nearest';
import { Space, setWasmTraversal } from '../dist/indexes/hnsw/space.js';
import { runConformance } from './conformance.js';
import { clusteredRows, prng, type Metric } from './helpers.js';

for (const backend of ['wasm', 'js'] as const) {
  for (const quantization of ['none', 'int8'] as const) {
    runConformance(`HnswIndex (${quantization}, ${backend})`, (dim, metric) => new HnswIndex({ dim, metric, quantization, threads: 1, backend }), { minRecall: 0.95 });
  }
}

function recall(index: { searchBatch: FlatIndex['searchBatch'] }, truth: Float64Array, queries: Float32Array, k: number, options: object = {}): number {
  const got = index.searchBatch(queries, k, options);
  let found = 0;
  const nq = truth.length / k;
  for (let i = 0; i < nq; i++) {
    const t = new Set(truth.subarray(i * k, (i + 1) * k));
    for (let j = 0; j < k; j++) if (t.has(got.ids[i * k + j])) found++;
  }
  return found / (nq * k);
}

describe('HnswIndex recall', () => {
  const dim = 48, n = 6000, nq = 200;
  const rows = clusteredRows(n, dim, 40, 1);
  const queries = clusteredRows(nq, dim, 40, 2);
  for (const metric of ['euclidean', 'cosine', 'dot'] as Metric[]) {
    for (const quantization of ['none', 'int8'] as const) {
      it(`${metric} ${quantization}: recall@10 ≥ 0.95 at the defaults, ≥ 0.99 reachable`, () => {
        const flat = new FlatIndex({ dim, metric });
        flat.add(rows);
        const truth = flat.searchBatch(queries, 10).ids;
        const index = new HnswIndex({ dim, metric, quantization, threads: 1 });
        index.add(rows);
        expect(index.size).toBe(n);
        expect(recall(index, truth, queries, 10)).toBeGreaterThanOrEqual(metric === 'dot' ? 0.9 : 0.95);
        expect(recall(index, truth, queries, 10, { efSearch: 400 })).toBeGreaterThanOrEqual(metric === 'dot' ? 0.97 : 0.99);
        // Scores are exact (float32 re-rank), so the hits agree with FlatIndex where ids agree.
        const a = index.search(queries.subarray(0, dim), 5), b = flat.search(queries.subarray(0, dim), 5);
        for (const h of a) {
          const same = b.find((x) => x.id === h.id);
          if (same) expect(h.score).toBeCloseTo(same.score, 4);
        }
      });
    }
  }

  it('is deterministic for a seed on one thread', () => {
    const run = () => {
      const index = new HnswIndex({ dim, metric: 'euclidean', seed: 7, threads: 1, efConstruction: 64 });
      index.add(rows.subarray(0, 2000 * dim));
      return index.searchBatch(queries, 10, { threads: 1 });
    };
    const a = run(), b = run();
    expect(a.ids).toEqual(b.ids);
    expect(a.distances).toEqual(b.distances);
  });

  it('a parallel build has the quality of a single-threaded one, and batch search agrees with search', () => {
    const flat = new FlatIndex({ dim, metric: 'euclidean' });
    flat.add(rows);
    const truth = flat.searchBatch(queries, 10).ids;
    const one = new HnswIndex({ dim, metric: 'euclidean', threads: 1 });
    one.add(rows);
    const two = new HnswIndex({ dim, metric: 'euclidean', threads: 2 });
    two.add(rows);
    const r1 = recall(one, truth, queries, 10, { threads: 1 });
    const r2 = recall(two, truth, queries, 10, { threads: 2 });
    expect(r2).toBeGreaterThanOrEqual(r1 - 0.01);
    const batch = two.searchBatch(queries, 10, { threads: 2 });
    for (let i = 0; i < 20; i++) {
      expect(Array.from(batch.ids.subarray(i * 10, i * 10 + 10))).toEqual(two.search(queries.subarray(i * dim, (i + 1) * dim), 10).map((h) => h.id));
    }
  });
});

describe('HnswIndex deletion', () => {
  const dim = 32, n = 5000, nq = 200;
  const rows = clusteredRows(n, dim, 30, 5);
  const queries = clusteredRows(nq, dim, 30, 6);

  it('recall after deleting 30% stays within 0.02 of a fresh build on the survivors', () => {
    const r = prng(3);
    const gone = new Set<number>();
    while (gone.size < n * 0.3) gone.add(Math.floor(r() * n));
    const index = new HnswIndex({ dim, metric: 'euclidean', threads: 1 });
    index.add(rows);
    expect(index.remove([...gone])).toBe(gone.size);
    expect(index.size).toBe(n - gone.size);
    const keep = [...Array(n).keys()].filter((i) => !gone.has(i));
    const survivors = new Float32Array(keep.length * dim);
    keep.forEach((id, i) => survivors.set(rows.subarray(id * dim, (id + 1) * dim), i * dim));
    const flat = new FlatIndex({ dim, metric: 'euclidean' });
    flat.add(survivors, keep);
    const truth = flat.searchBatch(queries, 10).ids;
    const fresh = new HnswIndex({ dim, metric: 'euclidean', threads: 1 });
    fresh.add(survivors, keep);
    const after = recall(index, truth, queries, 10);
    const base = recall(fresh, truth, queries, 10);
    expect(after).toBeGreaterThanOrEqual(base - 0.02);
    const all = index.searchBatch(queries, 10);
    expect(Array.from(all.ids).some((id) => gone.has(id))).toBe(false);
  });

  it('removing everything, twice over, then adding: only the new vectors come back', () => {
    const index = new HnswIndex({ dim, metric: 'euclidean', threads: 1, efConstruction: 64 });
    index.add(rows.subarray(0, 300 * dim));
    index.remove(Array.from({ length: 300 }, (_, i) => i));
    index.add(rows.subarray(300 * dim, 500 * dim), Array.from({ length: 200 }, (_, i) => 1000 + i));
    index.remove(Array.from({ length: 200 }, (_, i) => 1000 + i));
    index.add(rows.subarray(500 * dim, 600 * dim), Array.from({ length: 100 }, (_, i) => 2000 + i));
    expect(index.size).toBe(100);
    for (let q = 500; q < 600; q += 7) {
      const hits = index.search(rows.subarray(q * dim, (q + 1) * dim), 10);
      expect(hits.length).toBe(10);
      expect(hits[0].id).toBe(2000 + q - 500);
      expect(hits.every((h) => h.id >= 2000 && h.id < 2100)).toBe(true);
    }
    expect(index.stats().memoryBytes).toBeGreaterThan(0);
  });

  it('churn reuses slots: memory stays bounded and recall holds', () => {
    const index = new HnswIndex({ dim, metric: 'euclidean', threads: 1, efConstruction: 100 });
    index.add(rows.subarray(0, 2000 * dim));
    const live = new Map<number, number>(); // id -> row
    for (let i = 0; i < 2000; i++) live.set(i, i);
    const memory0 = index.stats().memoryBytes;
    let nextId = 2000, nextRow = 2000;
    const r = prng(9);
    for (let round = 0; round < 10; round++) {
      const ids = [...live.keys()];
      const victims = new Set<number>();
      while (victims.size < 300) victims.add(ids[Math.floor(r() * ids.length)]);
      index.remove([...victims]);
      for (const v of victims) live.delete(v);
      const add = new Float32Array(300 * dim), newIds: number[] = [];
      for (let j = 0; j < 300; j++) {
        const row = nextRow++ % n;
        add.set(rows.subarray(row * dim, (row + 1) * dim), j * dim);
        newIds.push(nextId);
        live.set(nextId++, row);
      }
      index.add(add, newIds);
    }
    expect(index.size).toBe(2000);
    expect(index.stats().memoryBytes).toBeLessThanOrEqual(memory0 * 1.1);
    const liveIds = [...live.keys()];
    const flatRows = new Float32Array(liveIds.length * dim);
    liveIds.forEach((id, i) => flatRows.set(rows.subarray(live.get(id)! * dim, (live.get(id)! + 1) * dim), i * dim));
    const flat = new FlatIndex({ dim, metric: 'euclidean' });
    flat.add(flatRows, liveIds);
    const truth = flat.searchBatch(queries, 10).ids;
    expect(recall(index, truth, queries, 10)).toBeGreaterThanOrEqual(0.95);
    // At a small beam, where graph quality shows: within 0.02 of a fresh build on the survivors.
    const fresh = new HnswIndex({ dim, metric: 'euclidean', threads: 1, efConstruction: 100 });
    fresh.add(flatRows, liveIds);
    const churned = recall(index, truth, queries, 10, { efSearch: 10 }), rebuilt = recall(fresh, truth, queries, 10, { efSearch: 10 });
    expect(churned).toBeGreaterThanOrEqual(rebuilt - 0.02);
  });
});

describe('HnswIndex filters', () => {
  const dim = 32, n = 8000, nq = 60;
  const rows = clusteredRows(n, dim, 30, 11);
  const queries = clusteredRows(nq, dim, 30, 12);
  const index = new HnswIndex({ dim, metric: 'euclidean', threads: 1 });
  index.add(rows);
  const flat = new FlatIndex({ dim, metric: 'euclidean' });
  flat.add(rows);
  for (const selectivity of [0.5, 0.1, 0.01, 0.001]) {
    it(`selectivity ${selectivity * 100}%: k results whenever k match, high recall (search and searchBatch)`, () => {
      const r = prng(Math.round(selectivity * 1e4));
      const allowed = new Set<number>();
      for (let i = 0; i < n; i++) if (r() < selectivity) allowed.add(i);
      const pred = (id: number) => allowed.has(id);
      let found = 0, total = 0;
      for (let i = 0; i < nq; i++) {
        const q = queries.subarray(i * dim, (i + 1) * dim);
        const truth = flat.search(q, 10, { filter: pred });
        const hits = index.search(q, 10, { filter: pred });
        expect(hits.length).toBe(Math.min(10, allowed.size));
        expect(hits.every((h) => allowed.has(h.id))).toBe(true);
        const t = new Set(truth.map((h) => h.id));
        found += hits.filter((h) => t.has(h.id)).length;
        total += truth.length;
      }
      expect(found / total).toBeGreaterThanOrEqual(0.95);
      const bitmap = new Uint8Array(n);
      for (const id of allowed) bitmap[id] = 1;
      const viaBitmap = index.search(queries.subarray(0, dim), 10, { filter: bitmap });
      expect(viaBitmap.map((h) => h.id)).toEqual(index.search(queries.subarray(0, dim), 10, { filter: allowed }).map((h) => h.id));
      const batch = index.searchBatch(queries, 10, { filter: allowed, threads: 2 });
      for (let i = 0; i < nq * 10; i++) if (batch.ids[i] >= 0) expect(allowed.has(batch.ids[i])).toBe(true);
    });
  }
});

describe('HnswIndex API', () => {
  it('validates options and parameters', () => {
    const code = (fn: () => unknown) => { try { fn(); } catch (e) { expect(e).toBeInstanceOf(NearestError); return (e as NearestError).code; } return undefined; };
    expect(code(() => new HnswIndex({ dim: 8, m: 1 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => new HnswIndex({ dim: 8, efConstrution: 10 } as never))).toBe('INVALID_ARGUMENT');
    expect(code(() => new HnswIndex({ dim: 8, quantization: 'pq' as never }))).toBe('INVALID_ARGUMENT');
    const index = new HnswIndex({ dim: 2 });
    index.add([[1, 0]]);
    expect(code(() => index.search([1, 0], 1, { efSearch: 0 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => index.search([1, 0], 1, { ef: 10 } as never))).toBe('INVALID_ARGUMENT');
    expect(index.stats()).toMatchObject({ kernels: 'wasm-simd128', size: 1, m: 16, efConstruction: 200, efSearch: 64 });
  });

  it('interleaved async adds and searches never see a half-built state', async () => {
    const dim = 16;
    const rows = clusteredRows(3000, dim, 10, 21);
    const index = new HnswIndex({ dim, metric: 'cosine', threads: 2 });
    const tick = () => new Promise((resolve) => setImmediate(resolve));
    const writer = async () => {
      for (let b = 0; b < 30; b++) {
        index.add(rows.subarray(b * 100 * dim, (b + 1) * 100 * dim));
        await tick();
      }
    };
    const reader = async () => {
      for (let i = 0; i < 60; i++) {
        const size = index.size;
        if (size > 0) {
          const hits = index.search(rows.subarray(0, dim), 5);
          expect(hits.length).toBe(Math.min(5, size));
          expect(new Set(hits.map((h) => h.id)).size).toBe(hits.length);
          expect(hits.every((h) => h.id < size)).toBe(true);
        }
        await tick();
      }
    };
    await Promise.all([writer(), reader(), reader()]);
    expect(index.size).toBe(3000);
    expect(index.search(rows.subarray(0, dim), 1)[0].id).toBe(0);
  });
});

describe('HnswIndex level-0 search in WebAssembly', () => {
  const dim = 40;
  const rows = clusteredRows(4000, dim, 30, 21), queries = clusteredRows(150, dim, 30, 22);
  const same = (a: unknown, b: unknown) => expect(JSON.stringify(a)).toBe(JSON.stringify(b));

  for (const metric of ['euclidean', 'cosine', 'dot'] as Metric[]) {
    it(`gives exactly what the JavaScript search gives (${metric}; with tombstones; every beam width)`, () => {
      const index = new HnswIndex({ dim, metric, m: 8, efConstruction: 64, threads: 2, backend: 'wasm' });
      expect(index.kernels).toBe('wasm-simd128');
      index.add(rows);
      const check = () => {
        for (const efSearch of [1, 10, 64, 500, 5000]) {
          for (let i = 0; i < 150; i += 7) {
            const q = queries.subarray(i * dim, (i + 1) * dim);
            // A filter that admits everything takes the JavaScript search; none, the WebAssembly one.
            same(index.search(q, 10, { efSearch }), index.search(q, 10, { efSearch, filter: () => true }));
          }
        }
        const batch = index.searchBatch(queries, 10, { efSearch: 32, threads: 2 });
        for (let i = 0; i < 150; i += 11) {
          const hits = index.search(queries.subarray(i * dim, (i + 1) * dim), 10, { efSearch: 32 });
          expect(Array.from(batch.ids.subarray(i * 10, i * 10 + hits.length))).toEqual(hits.map((h) => h.id));
        }
      };
      // The WebAssembly search runs (it answers with a count, not −1) on the calling thread.
      const spy = vi.spyOn(Space.prototype, 'searchLevel0');
      check();
      expect(spy.mock.results.length).toBeGreaterThan(0);
      // (efSearch 5000 is past its result room: those go to JavaScript, −1.)
      expect(spy.mock.results.filter((r) => (r.value as number) >= 0).length).toBeGreaterThan(spy.mock.results.length / 2);
      spy.mockRestore();
      index.remove(Array.from({ length: 500 }, (_, i) => i * 5));
      check();
    });
  }

  it('keeps the graph intact as the arena grows: adding in many small calls builds the graph one call does', () => {
    const one = new HnswIndex({ dim, metric: 'cosine', m: 8, efConstruction: 48, threads: 1 });
    one.add(rows.subarray(0, 3000 * dim));
    const many = new HnswIndex({ dim, metric: 'cosine', m: 8, efConstruction: 48, threads: 1 });
    for (let at = 0; at < 3000; at += 37) many.add(rows.subarray(at * dim, Math.min(3000, at + 37) * dim));
    const a = one.exportState(), b = many.exportState();
    expect(Array.from(b.level0)).toEqual(Array.from(a.level0));
    expect(Array.from(b.levels)).toEqual(Array.from(a.levels));
    expect(Array.from(b.rows)).toEqual(Array.from(a.rows));
    for (let i = 0; i < 150; i += 5) {
      const q = queries.subarray(i * dim, (i + 1) * dim);
      same(many.search(q, 10), one.search(q, 10));
      same(many.search(q, 10), many.search(q, 10, { filter: () => true }));
    }
  });

  for (const metric of ['euclidean', 'cosine', 'dot'] as Metric[]) {
    it(`builds the graph the JavaScript insertion builds (${metric}; one thread, and two)`, () => {
      const opts = { dim, metric, m: 8, efConstruction: 40, backend: 'wasm' as const };
      const build = (threads: number, wasmTraversal: boolean) => {
        setWasmTraversal(wasmTraversal);
        try {
          const index = new HnswIndex({ ...opts, threads });
          index.add(rows.subarray(0, 1500 * dim));
          return index;
        } finally { setWasmTraversal(true); }
      };
      // On one thread the build is deterministic: the very same lists.
      expect(Array.from(build(1, true).exportState().level0)).toEqual(Array.from(build(1, false).exportState().level0));
      // On two (worker threads search level 0 in WebAssembly under the locks), the same quality.
      const two = build(2, true);
      let found = 0;
      const exact = new FlatIndex({ dim, metric });
      exact.add(rows.subarray(0, 1500 * dim));
      for (let i = 0; i < 150; i++) {
        const q = queries.subarray(i * dim, (i + 1) * dim);
        const truth = new Set(exact.search(q, 10).map((h) => h.id));
        for (const h of two.search(q, 10, { efSearch: 64 })) if (truth.has(h.id)) found++;
      }
      expect(found / 1500).toBeGreaterThanOrEqual(0.97);
    });
  }

  for (const metric of ['euclidean', 'cosine', 'dot'] as Metric[]) {
    it(`walks int8 codes in WebAssembly too, exactly as in JavaScript (${metric}; graph, queries, tombstones, batch)`, () => {
      const build = (wasmTraversal: boolean, threads = 1) => {
        setWasmTraversal(wasmTraversal);
        try {
          const index = new HnswIndex({ dim, metric, m: 8, efConstruction: 40, threads, quantization: 'int8' });
          index.add(rows.subarray(0, 1500 * dim));
          return index;
        } finally { setWasmTraversal(true); }
      };
      const on = build(true);
      expect(Array.from(on.exportState().level0)).toEqual(Array.from(build(false).exportState().level0));
      const spy = vi.spyOn(Space.prototype, 'searchLevel0');
      on.remove(Array.from({ length: 100 }, (_, i) => i * 13));
      for (let i = 0; i < 150; i += 7) {
        const q = queries.subarray(i * dim, (i + 1) * dim);
        same(on.search(q, 10, { efSearch: 32 }), on.search(q, 10, { efSearch: 32, filter: () => true }));
      }
      expect(spy.mock.results.some((r) => (r.value as number) >= 0)).toBe(true);
      spy.mockRestore();
      const two = build(true, 2);
      const batch = two.searchBatch(queries, 10, { threads: 2 });
      for (let i = 0; i < 150; i += 11) {
        const hits = two.search(queries.subarray(i * dim, (i + 1) * dim), 10);
        expect(Array.from(batch.ids.subarray(i * 10, i * 10 + hits.length))).toEqual(hits.map((h) => h.id));
      }
    });
  }

  it('the JavaScript backend searches alike', () => {
    const wasm = new HnswIndex({ dim, metric: 'euclidean', m: 8, threads: 1, backend: 'wasm' });
    const js = new HnswIndex({ dim, metric: 'euclidean', m: 8, threads: 1, backend: 'js' });
    for (const index of [wasm, js]) index.add(rows.subarray(0, 1000 * dim));
    for (let i = 0; i < 150; i += 10) {
      const q = queries.subarray(i * dim, (i + 1) * dim);
      expect(js.search(q, 10).map((h) => h.id)).toEqual(wasm.search(q, 10).map((h) => h.id));
    }
  });
});
