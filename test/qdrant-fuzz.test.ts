// A seeded fuzz of the Qdrant-compatible routes: valid Qdrant bodies (upsert, retrieve, delete,
// count, scroll, search, query, collection create) perturbed member by member with wrong types,
// huge or negative numbers, bad ids, deep filters and unknown members. The bar: no 5xx, every
// error has Qdrant's { status: { error } } body and no stack trace, a rejected request changes
// nothing, and the server still answers afterwards.
import { afterAll, describe, expect, it } from 'vitest';
import { prng } from './helpers.js';
import { cleanup, client, fingerprint, start } from './server-helpers.js';
import { perturb, type Json } from './fuzz-helpers.js';

afterAll(cleanup);

const CASES = Number(process.env.NEAREST_QDRANT_FUZZ_CASES ?? 3600);

const FILTER: Json = { must: [{ key: 'city', match: { value: 'Rome' } }, { key: 'n', range: { gte: 1, lt: 9 } }], should: [{ key: 'tags', match: { any: ['a', 'b'] } }], must_not: [{ key: 'opt', match: { except: ['x'] } }] };
const SEEDS: { method: 'PUT' | 'POST'; path: string; body: Json }[] = [
  { method: 'PUT', path: '/collections/made', body: { vectors: { size: 3, distance: 'Euclid' }, hnsw_config: { m: 4, ef_construct: 16 } } },
  { method: 'PUT', path: '/collections/z/points?wait=true', body: { points: [{ id: 5, vector: [1, 0, 0], payload: { city: 'Rome', n: 3, tags: ['a'] } }, { id: '5c56c793-69f3-4fbf-87e6-c4bf54c28c26', vector: [0, 1, 0] }] } },
  { method: 'PUT', path: '/collections/z/points', body: { batch: { ids: [7, 8], vectors: [[0, 0, 1], [1, 1, 1]], payloads: [{ n: 7 }, null] } } },
  { method: 'POST', path: '/collections/z/points', body: { ids: [5, 7], with_payload: ['city'], with_vector: true } },
  { method: 'POST', path: '/collections/z/points/delete', body: { points: [999, 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d'] } },
  { method: 'POST', path: '/collections/z/points/delete', body: { filter: { must: [{ key: 'n', range: { gt: 1000 } }] } } },
  { method: 'POST', path: '/collections/z/points/count', body: { filter: FILTER, exact: true } },
  { method: 'POST', path: '/collections/z/points/scroll', body: { limit: 2, offset: 5, filter: FILTER, with_payload: { exclude: ['tags'] } } },
  { method: 'POST', path: '/collections/z/points/search', body: { vector: [1, 0.5, 0], limit: 3, offset: 1, filter: FILTER, score_threshold: 0.1, params: { hnsw_ef: 16, exact: false } } },
  { method: 'POST', path: '/collections/z/points/query', body: { query: { nearest: [1, 0, 0], mmr: { diversity: 0.5, candidates_limit: 5 } }, limit: 2, filter: { must: [{ has_id: [5, 7] }] }, with_payload: true } },
  { method: 'POST', path: '/collections/z/points/query', body: { query: [0, 1, 0], limit: 4, params: { exact: true }, with_vector: true } },
  { method: 'POST', path: '/collections/z/points/query/batch', body: { searches: [{ query: [0, 1, 0], limit: 2 }, { query: { nearest: [1, 1, 0] }, filter: FILTER }] } },
  { method: 'POST', path: '/collections/z/points/search/batch', body: { searches: [{ vector: [0, 1, 0], limit: 2, with_payload: true }] } },
  { method: 'PUT', path: '/collections/z/index', body: { field_name: 'city', field_schema: 'keyword' } },
  { method: 'POST', path: '/collections/z/points/payload', body: { payload: { city: 'Rome', n: 4 }, points: [5, 7] } },
  { method: 'PUT', path: '/collections/z/points/payload', body: { payload: { n: 5 }, filter: { must: [{ key: 'n', range: { gt: 100 } }] } } },
  { method: 'POST', path: '/collections/z/points/payload/delete', body: { keys: ['tags', 'a.b'], points: [5] } },
  { method: 'POST', path: '/collections/z/points/payload/clear', body: { filter: { must: [{ key: 'n', range: { gt: 100 } }] } } },
];

const ODD: Json[] = [
  null, true, false, 0, -1, 1.5, 2 ** 53, 1e308, -1e308, '', 'x', 'Cosine', 'not-a-uuid', '5C56C793-69F3-4FBF-87E6-C4BF54C28C26',
  [], {}, [1, 2], [1, 2, 3, 4], ['a', 1], { a: 1 }, { must: { key: 'n', match: { value: 1 } } }, { has_id: [1] }, { key: '', match: { value: 1 } },
  { key: 'a.$b', range: { gt: 1 } }, { nested: { key: 'a', filter: {} } }, { key: 'n', match: { text: 'x' } }, 'x'.repeat(5000),
];

function deep(n: number): Json {
  let f: Json = { key: 'n', match: { value: 1 } };
  for (let i = 0; i < n; i++) f = { must: [f] };
  return f;
}

const HOW = { odd: ODD, deep, extraKeys: ['shard_key', 'prefetch', 'using', 'order_by', 'lookup_from', 'sparse_vectors', 'bogus'] };

describe('qdrant: malformed-request fuzz', () => {
  it(`${CASES} perturbed Qdrant requests: zero 5xx, Qdrant error bodies, rejected ones change nothing`, async () => {
    const s = await start({ limits: { bodyBytes: 1 << 20 } });
    const c = client(s);
    expect((await c.put('/collections/z', { vectors: { size: 3, distance: 'Cosine' }, hnsw_config: { m: 4 } })).status).toBe(200);
    for (const seed of SEEDS.slice(1, 3)) expect((await c.put(seed.path, seed.body)).status).toBe(200);
    for (const seed of SEEDS.slice(3)) expect((seed.method === 'PUT' ? await c.put(seed.path, seed.body) : await c.post(seed.path, seed.body)).status, seed.path).toBe(200);

    const r = prng(Number(process.env.NEAREST_FUZZ_SEED ?? 20261202));
    let rejected = 0;
    for (let i = 0; i < CASES; i++) {
      const seed = SEEDS[Math.floor(r() * SEEDS.length)]!;
      const body = perturb(seed.body, r, [0.1, 0.3, 0.6][i % 3]!, HOW);
      const before = await fingerprint(s);
      const res = seed.method === 'PUT' ? await c.put(seed.path, body) : await c.post(seed.path, body);
      const label = `#${i} ${seed.method} ${seed.path} ${JSON.stringify(body).slice(0, 300)}`;
      expect(res.status, label).toBeLessThan(500);
      if (res.status !== 200) {
        rejected++;
        expect(typeof res.json?.status?.error, `${label} -> ${res.text.slice(0, 200)}`).toBe('string');
        expect(res.text, label).not.toMatch(/\n\s+at /);
        expect(await fingerprint(s), label).toBe(before);
      } else {
        expect(res.json.status, label).toBe('ok');
      }
    }
    expect(rejected).toBeGreaterThan(CASES / 3);
    expect((await c.post('/collections/z/points/count', {})).status).toBe(200);
    expect((await c.get('/healthz')).status).toBe(200);
  });
});
