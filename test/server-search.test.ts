// Native search options beyond the index's own: exact scans, searches restricted to ids,
// refineFactor for IVF with refine; and searches answered on worker threads stay consistent with
// writes landing while they are in flight.
import { afterAll, describe, expect, it } from 'vitest';
import { cleanup, client, start } from './server-helpers.js';
import { prng } from './helpers.js';

afterAll(cleanup);

describe('native search: exact, ids, refineFactor', () => {
  it('exact equals brute force on an HNSW collection; ids restrict; bad combinations are 400', async () => {
    const s = await start({ limits: { searchThreads: 2 } });
    const c = client(s);
    const dim = 8, r = prng(3);
    const vecs = Array.from({ length: 400 }, () => Array.from({ length: dim }, () => r() * 2 - 1));
    expect((await c.put('/v1/collections/h', { dim, metric: 'euclidean', index: { type: 'hnsw', m: 4, efSearch: 4 } })).status).toBe(201);
    expect((await c.post('/v1/collections/h/records', { records: vecs.map((vector, id) => ({ id, vector, metadata: { odd: id % 2 === 1 } })) })).status).toBe(200);
    const q = Array.from({ length: dim }, () => r() * 2 - 1);
    const dist = (v: number[]) => Math.sqrt(v.reduce((a, x, j) => a + (x - q[j]) ** 2, 0));
    const brute = vecs.map((v, id) => ({ id, d: dist(v) })).sort((a, b) => a.d - b.d);
    const exact = await c.post('/v1/collections/h/search', { vector: q, k: 10, exact: true });
    expect(exact.status).toBe(200);
    expect(exact.json.hits.map((h: { id: number }) => h.id)).toEqual(brute.slice(0, 10).map((b) => b.id));
    for (let i = 0; i < 10; i++) expect(exact.json.hits[i].distance).toBeCloseTo(brute[i].d, 4);
    const oddExact = await c.post('/v1/collections/h/search', { vector: q, k: 5, exact: true, filter: { odd: true } });
    expect(oddExact.json.hits.map((h: { id: number }) => h.id)).toEqual(brute.filter((b) => b.id % 2 === 1).slice(0, 5).map((b) => b.id));
    const only = [7, 100, 250, 399, 9999];
    const restricted = await c.post('/v1/collections/h/search', { vector: q, k: 10, ids: only });
    expect(restricted.json.hits.map((h: { id: number }) => h.id)).toEqual(brute.filter((b) => only.includes(b.id)).map((b) => b.id));
    expect((await c.post('/v1/collections/h/search', { vector: q, k: 3, exact: true, efSearch: 10 })).status).toBe(400);
    expect((await c.post('/v1/collections/h/search', { vector: q, k: 3, exact: 'yes' })).status).toBe(400);
    expect((await c.post('/v1/collections/h/search', { vector: q, k: 3, refineFactor: 2 })).status).toBe(400);
    expect((await c.post('/v1/collections/h/search', { vector: q, k: 3, ids: [-1] })).status).toBe(400);

    expect((await c.put('/v1/collections/i', { dim, metric: 'euclidean', index: { type: 'ivf', nlist: 4, trainAt: 100, encoding: { pq: { m: 4, nbits: 4 } }, refine: true } })).status).toBe(201);
    await c.post('/v1/collections/i/records', { records: vecs.map((vector, id) => ({ id, vector })) });
    const refined = await c.post('/v1/collections/i/search', { vector: q, k: 5, nprobe: 4, refineFactor: 80 });
    expect(refined.status).toBe(200);
    expect(refined.json.hits.map((h: { id: number }) => h.id)).toEqual(brute.slice(0, 5).map((b) => b.id));
  });

  it('searches in flight answer for the collection before or after each concurrent write batch, never between', async () => {
    const s = await start();
    const c = client(s);
    const dim = 4;
    await c.put('/v1/collections/w', { dim, metric: 'euclidean', index: { type: 'flat' } });
    // Each batch moves all 50 records to one place: a search sees them all there or none.
    const batch = (g: number) => ({ records: Array.from({ length: 50 }, (_, id) => ({ id, vector: [g, g, g, g], metadata: { g } })) });
    await c.post('/v1/collections/w/records', batch(0));
    const searches: Promise<{ json: { hits: { metadata: { g: number } }[] } }>[] = [];
    const writes: Promise<unknown>[] = [];
    for (let g = 1; g <= 20; g++) {
      writes.push(c.post('/v1/collections/w/records', batch(g)));
      for (let i = 0; i < 3; i++) searches.push(c.post('/v1/collections/w/search', { vector: [0, 0, 0, 0], k: 50 }));
    }
    await Promise.all(writes);
    for (const r of await Promise.all(searches)) {
      const groups = new Set(r.json.hits.map((h) => h.metadata.g));
      expect(r.json.hits).toHaveLength(50);
      expect(groups.size).toBe(1);
    }
  });
});
