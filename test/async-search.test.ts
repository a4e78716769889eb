// Searches on worker threads (searchAsync): the same answers as the synchronous search, for every
// index and metric, with filters and deletions; an answer describes the state at the call even
// when writes come while it is in flight; bad input is a typed rejection; and a long search leaves
// the event loop free.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FlatIndex, HnswIndex, NearestError, VectorStore, type DurableVectorStore, type StoreHit } from 'nearest';
import { clusteredRows, METRICS, prng, randomRows } from './helpers.js';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
function tempDir(): string { const d = mkdtempSync(join(tmpdir(), 'nearest-async-')); dirs.push(d); return d; }

function rows(data: Float32Array, dim: number): Float32Array[] {
  return Array.from({ length: data.length / dim }, (_, i) => data.slice(i * dim, (i + 1) * dim));
}

async function rejection(p: Promise<unknown>): Promise<NearestError> {
  try { await p; } catch (e) { expect(e).toBeInstanceOf(NearestError); return e as NearestError; }
  throw new Error('expected a rejection');
}

describe('index searchAsync', () => {
  for (const metric of METRICS) {
    it(`flat and hnsw (${metric}): the same hits as search, with filters, deletions and both thread counts`, async () => {
      const dim = 24, n = 3000;
      const data = clusteredRows(n, dim, 12, 7);
      const queries = rows(clusteredRows(40, dim, 12, 8), dim);
      const flat = new FlatIndex({ dim, metric });
      const hnsw = new HnswIndex({ dim, metric, m: 12, efConstruction: 80, efSearch: 48 });
      for (const index of [flat, hnsw]) {
        index.add(data);
        index.remove([3, 99, 1500, 2999]);
        for (const threads of [1, 2]) {
          const filters = [undefined, (id: number) => id % 7 === 0, new Set([1, 2, 3, 4, 5, 6, 700, 1400])];
          for (const filter of filters) {
            const options = filter === undefined ? {} : { filter };
            const sync = queries.map((q) => index.search(q, 10, options));
            const async = await Promise.all(queries.map((q) => index.searchAsync(q, 10, { ...options, threads })));
            expect(async).toEqual(sync);
          }
        }
      }
      // A batch off the calling thread equals the batch on it.
      const batch = new Float32Array(queries.length * dim);
      queries.forEach((q, i) => batch.set(q, i * dim));
      expect(await hnsw.searchBatchAsync(batch, 5)).toEqual(hnsw.searchBatch(batch, 5));
    });
  }

  it('answers for the index as it was when called, though changes come while it is in flight', async () => {
    const dim = 16, n = 2000;
    const data = randomRows(n, dim, 3);
    for (const index of [new FlatIndex({ dim, metric: 'euclidean' }), new HnswIndex({ dim, metric: 'euclidean', efSearch: 200 })]) {
      index.add(data);
      const q = data.slice(0, dim);
      for (let round = 0; round < 3; round++) { // the first round may run before the workers start
        const before = index.search(q, 5);
        const inFlight = [index.searchAsync(q, 5), index.searchAsync(q, 5, { threads: 1 })];
        const top = before[0].id;
        const vector = index.get(top)!;
        index.remove(top);                 // changes wait for the searches in flight
        index.add(vector, [n + 10 + round]); // the same vector back under a new id
        for (const hits of await Promise.all(inFlight)) expect(hits).toEqual(before);
        const after = await index.searchAsync(q, 5);
        expect(after.map((h) => h.id)).not.toContain(top);
        expect(after[0].id).toBe(n + 10 + round);
      }
    }
  });

  it('rejects bad input with typed errors and changes nothing', async () => {
    const index = new HnswIndex({ dim: 4 });
    index.add(randomRows(50, 4, 1));
    expect((await rejection(index.searchAsync([1, 2, 3], 3))).code).toBe('DIMENSION_MISMATCH');
    expect((await rejection(index.searchAsync([1, 2, NaN, 4], 3))).code).toBe('NON_FINITE_VALUE');
    expect((await rejection(index.searchAsync([1, 2, 3, 4], 0))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(index.searchAsync([1, 2, 3, 4], 3, { threads: 0 }))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(index.searchAsync([1, 2, 3, 4], 3, { bogus: 1 } as never))).code).toBe('INVALID_ARGUMENT');
    const flat = new FlatIndex({ dim: 4 });
    expect((await rejection(flat.searchAsync([1, 2, 3], 3))).code).toBe('DIMENSION_MISMATCH');
    expect(await flat.searchAsync([1, 2, 3, 4], 3)).toEqual([]);
    expect(index.size).toBe(50);
  });

  it('leaves the event loop free while a long search runs', async () => {
    const dim = 128, n = 200_000;
    const flat = new FlatIndex({ dim, metric: 'euclidean' });
    flat.add(randomRows(n, dim, 11));
    const q = randomRows(1, dim, 12);
    await flat.searchAsync(q, 3); // workers started
    let answered = false;
    const search = flat.searchAsync(q, 3).then((hits) => { answered = true; return hits; });
    let turns = 0;
    while (!answered && turns < 1000) { await new Promise((r) => setImmediate(r)); turns++; }
    expect(turns).toBeGreaterThan(1); // the event loop turned while the scan ran elsewhere
    expect(await search).toEqual(flat.search(q, 3));
  });
});

describe('store searchAsync', () => {
  it('matches search; exact and ids options; answers for the state at the call while writes interleave (model check)', async () => {
    const dim = 12, rand = prng(5);
    for (const index of [{ type: 'flat' as const }, { type: 'hnsw' as const, m: 8, efSearch: 64 }, { type: 'ivf' as const, nlist: 4, trainAt: 60 }]) {
      const store = new VectorStore<{ g: number }>({ dim, metric: 'cosine', index });
      const vec = (): Float32Array => Float32Array.from({ length: dim }, () => rand() * 2 - 1);
      let next = 0;
      for (let step = 0; step < 60; step++) {
        // Some writes, then searches started, then more writes before the searches are awaited.
        const writes = (): void => {
          for (let w = 0; w < 5; w++) {
            if (rand() < 0.7 || store.size === 0) store.upsert({ id: `r${next++}`, vector: vec(), metadata: { g: next % 3 } });
            else store.delete(store.keys()[Math.floor(rand() * store.size)]);
          }
        };
        writes();
        const q = vec();
        const expected = [
          store.search(q, 5, { exact: true }),
          store.search(q, 5, { exact: true, filter: { g: 1 } }),
          store.search(q, 3, { exact: true, ids: store.keys().slice(0, 4) }),
        ];
        const pending = [
          store.searchAsync(q, 5, { exact: true }),
          store.searchAsync(q, 5, { exact: true, filter: { g: 1 } }),
          store.searchAsync(q, 3, { exact: true, ids: store.keys().slice(0, 4), threads: 1 }),
        ];
        writes();
        const got = await Promise.all(pending);
        const ids = (hits: StoreHit<unknown>[]) => hits.map((h) => h.id);
        for (let i = 0; i < expected.length; i++) {
          expect(ids(got[i])).toEqual(ids(expected[i]));
          for (let j = 0; j < got[i].length; j++) expect(got[i][j].distance).toBeCloseTo(expected[i][j].distance, 5);
        }
        // And the approximate search off the thread equals the one on it.
        expect(await store.searchAsync(q, 4)).toEqual(store.search(q, 4));
      }
      expect((await rejection(store.searchAsync(vec(), 3, { exact: true, efSearch: 10 }))).code).toBe('INVALID_ARGUMENT');
      expect((await rejection(store.searchAsync(vec(), 3, { exact: 'yes' } as never))).code).toBe('INVALID_ARGUMENT');
      expect((await rejection(store.searchAsync(vec(), 3, { ids: 'r1' } as never))).code).toBe('INVALID_ARGUMENT');
      expect(await store.searchAsync(vec(), 3, { ids: ['missing'] })).toEqual([]);
    }
  });

  it('a durable store answers in flight from the state at the call; writes landing meanwhile wait for it', async () => {
    const dim = 8, rand = prng(9);
    const store: DurableVectorStore<{ n: number }> = await VectorStore.open(tempDir(), { dim, metric: 'euclidean', index: { type: 'hnsw', efSearch: 100 } });
    const vec = (): Float32Array => Float32Array.from({ length: dim }, () => rand());
    await store.upsert(Array.from({ length: 300 }, (_, i) => ({ id: i, vector: vec(), metadata: { n: i } })));
    for (let round = 0; round < 20; round++) {
      const q = vec();
      const expected = store.search(q, 6, { exact: true });
      const search = store.searchAsync(q, 6, { exact: true });
      const write = store.upsert(Array.from({ length: 10 }, (_, i) => ({ id: 1000 + round * 10 + i, vector: q, metadata: { n: -1 } })));
      await Promise.all([search, write]);
      expect((await search).map((h) => h.id)).toEqual(expected.map((h) => h.id));
      expect((await store.searchAsync(q, 1))[0].metadata).toEqual({ n: -1 });
    }
    await store.close();
    expect((await rejection(store.searchAsync(vec(), 3))).code).toBe('CLOSED');
  });
});

describe('worker threads under inherited flags', () => {
  it('start with a clean execArgv: code piped to node --input-type=module builds and searches on workers', () => {
    const entry = new URL('../dist/index.js', import.meta.url).href;
    const code = `
      import { HnswIndex } from ${JSON.stringify(entry)};
      const dim = 16, n = 3000, data = new Float32Array(n * dim);
      for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 12.9898) * 0.5;
      const index = new HnswIndex({ dim, threads: 2 });
      index.add(data);
      const hits = await index.searchAsync(data.subarray(0, dim), 3);
      console.log(JSON.stringify({ size: index.size, first: hits[0].id }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module'], { input: code, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout.trim())).toEqual({ size: 3000, first: 0 });
    // Before the fix the workers inherited --input-type, failed to start, and this warning came.
    expect(r.stderr).not.toMatch(/NEAREST_WORKER_START|failed to start/);
  });
});
