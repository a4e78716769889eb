// A seeded fuzz of the Chroma-compatible routes: valid Chroma bodies (tenants, databases,
// collection create / modify, add, upsert, update, get, query, delete) perturbed member by member
// with wrong types, huge, negative and fractional numbers, deep nesting, odd strings and unknown
// members, plus malformed JSON and wrong content types. The bar: no 5xx, every error has Chroma's
// { error, message } body and no stack trace, a rejected request changes nothing, and the server
// still answers afterwards.
import { afterAll, describe, expect, it } from 'vitest';
import { prng } from './helpers.js';
import { cleanup, client, fingerprint, start } from './server-helpers.js';
import { perturb, type Json } from './fuzz-helpers.js';

afterAll(cleanup);

const CASES = Number(process.env.NEAREST_CHROMA_FUZZ_CASES ?? 2400);

const P = '/api/v2/tenants/default_tenant/databases/default_database';
const WHERE: Json = { $and: [{ n: { $gte: 1 } }, { $or: [{ tag: { $in: ['a', 'b'] } }, { s: { $ne: 'x' } }] }, { f: 2.5 }] };
const WHERE_DOC: Json = { $or: [{ $contains: 'hello' }, { $and: [{ $not_contains: 'x' }, { $contains: 'o' }] }] };

function seeds(id: string): { method: 'POST' | 'PUT'; path: string; body: Json }[] {
  const c = `${P}/collections/${id}`;
  return [
    { method: 'POST', path: '/api/v2/tenants', body: { name: 'tenant-x' } },
    { method: 'POST', path: '/api/v2/tenants/default_tenant/databases', body: { name: 'db-x' } },
    { method: 'POST', path: `${P}/collections`, body: { name: 'made-here', metadata: { 'hnsw:space': 'cosine', 'hnsw:M': 8, k: 'v' }, configuration: { hnsw: { space: 'ip', ef_search: 10 }, embedding_function: { type: 'legacy' } }, get_or_create: true } },
    { method: 'PUT', path: c, body: { new_name: 'fuzzed', new_metadata: { a: 1 }, new_configuration: { hnsw: { ef_search: 20 } } } },
    { method: 'POST', path: `${c}/add`, body: { ids: ['n1', 'n2'], embeddings: [[1, 0, 0], [0, 1, 0]], metadatas: [{ n: 1, tag: 'a' }, null], documents: ['hello', null], uris: ['u', null] } },
    { method: 'POST', path: `${c}/upsert`, body: { ids: ['a', 'n3'], embeddings: [[1, 1, 0], [0, 0, 1]], metadatas: [{ n: null, s: 'y' }, { f: 2.5 }], documents: ['hello world', 'o'] } },
    { method: 'POST', path: `${c}/update`, body: { ids: ['a', 'b'], embeddings: [[1, 2, 3], null], metadatas: [{ tag: 'b' }, { n: null }], documents: [null, 'doc'], uris: ['v', null] } },
    { method: 'POST', path: `${c}/get`, body: { ids: ['a', 'b'], where: WHERE, where_document: WHERE_DOC, include: ['metadatas', 'documents', 'embeddings', 'uris'], limit: 5, offset: 1 } },
    { method: 'POST', path: `${c}/query`, body: { query_embeddings: [[1, 0, 0], [0, 1, 1]], n_results: 3, where: WHERE, where_document: WHERE_DOC, ids: ['a', 'b', 'c'], include: ['distances', 'embeddings', 'metadatas'] } },
    { method: 'POST', path: `${c}/delete`, body: { ids: ['zz'], where: { n: { $gt: 1000 } }, where_document: { $contains: 'never-there' } } },
  ];
}

const ODD: Json[] = [
  null, true, false, 0, -1, 1.5, -0.5, 2 ** 32, 2 ** 53, 1e308, -1e308, 1e39, '', 'x', 'l2', 'a..b', '$and', '$contains', 'x'.repeat(3000),
  [], {}, [1, 2], [1, 2, 3, 4], [[1, 0, 0]], [null], ['a', 1], { a: 1 }, { $and: [] }, { $or: {} }, { n: { $gt: 'a' } }, { n: { $in: [] } },
  { $contains: 5 }, { $regex: '(a+)+$' }, { 'hnsw:space': 'hamming' }, { type: 'known' }, [[1, 'x', 0]], [[]],
];

function deep(n: number): Json {
  let f: Json = { n: 1 };
  for (let i = 0; i < n; i++) f = { $and: [f, { m: i }] };
  return f;
}

const HOW = { odd: ODD, deep, extraKeys: ['bogus', 'where', 'include', 'n_results', 'embeddings', '$or', 'hnsw', 'ids'] };

const RAW = ['', '{', '{"ids": [', 'null', '[]', '"x"', '{"ids": ["a"], "embeddings": [[1, NaN, 0]]}', '{"ids": ["a"], "embeddings": [[1e999, 0, 0]]}', '\u0000', '{"__proto__": {"x": 1}}', '{"constructor": {"prototype": {"x": 1}}}'];

describe('chroma: malformed-request fuzz', () => {
  it(`${CASES} perturbed Chroma requests: zero 5xx, Chroma error bodies, rejected ones change nothing`, async () => {
    const s = await start({ limits: { bodyBytes: 1 << 20 } });
    const c = client(s);
    const made = await c.post(`${P}/collections`, { name: 'fuzz-target' });
    expect(made.status).toBe(200);
    const id: string = made.json.id;
    const list = seeds(id);
    expect((await c.post(`${P}/collections/${id}/add`, { ids: ['a', 'b', 'c'], embeddings: [[1, 0, 0], [0, 1, 0], [0, 0, 1]], metadatas: [{ n: 2, tag: 'a' }, { s: 'q' }, null], documents: ['hello world', 'foo', null] })).status).toBe(201);
    for (const seed of list) {
      const res = seed.method === 'PUT' ? await c.put(seed.path, seed.body) : await c.post(seed.path, seed.body);
      expect(res.status, `${seed.path} ${res.text}`).toBeLessThan(300);
    }

    const r = prng(Number(process.env.NEAREST_FUZZ_SEED ?? 20261210));
    let rejected = 0;
    let before = await fingerprint(s);
    for (let i = 0; i < CASES; i++) {
      const seed = list[Math.floor(r() * list.length)]!;
      let res;
      let label: string;
      if (i % 25 === 24) {
        const raw = RAW[Math.floor(r() * RAW.length)]!;
        const type = ['application/json', 'text/plain', 'application/octet-stream', 'application/json; charset=utf-8'][Math.floor(r() * 4)]!;
        label = `#${i} raw ${seed.path} ${type} ${JSON.stringify(raw)}`;
        res = await c.raw(seed.method, seed.path, raw, type);
      } else {
        const body = perturb(seed.body, r, [0.1, 0.3, 0.6][i % 3]!, HOW, [5, 40, 300]);
        label = `#${i} ${seed.method} ${seed.path} ${JSON.stringify(body).slice(0, 300)}`;
        res = seed.method === 'PUT' ? await c.put(seed.path, body) : await c.post(seed.path, body);
      }
      expect(res.status, `${label} -> ${res.text.slice(0, 300)}`).toBeLessThan(500);
      const after = await fingerprint(s);
      if (res.status >= 400) {
        rejected++;
        expect(typeof res.json?.error, `${label} -> ${res.text.slice(0, 200)}`).toBe('string');
        expect(typeof res.json?.message, label).toBe('string');
        expect(res.text, label).not.toMatch(/\n\s+at /);
        expect(after, label).toBe(before);
      }
      before = after;
    }
    expect(rejected).toBeGreaterThan(CASES / 3);
    expect((await c.get(`${P}/collections/${id}/count`)).status).toBe(200);
    expect((await c.get('/api/v2/heartbeat')).status).toBe(200);
    expect((await c.get('/healthz')).status).toBe(200);
  }, 60_000);
});
