// A seeded fuzz of malformed requests against the real server on loopback: valid bodies of every
// native route mutated (values swapped for wrong types, huge numbers, deep nesting; keys dropped or
// added), truncated JSON, flipped and invalid UTF-8 bytes, wrong content types, bad paths and
// methods. The bar: no 5xx ever, every error has the error body, a rejected request changes
// nothing, and the server still answers afterwards.
import { afterAll, describe, expect, it } from 'vitest';
import { prng } from './helpers.js';
import { base64, cleanup, client, fingerprint, rawHttp, start } from './server-helpers.js';

afterAll(cleanup);

// NEAREST_FUZZ_CASES and NEAREST_FUZZ_SEED widen a run (e.g. 10000 cases, other seeds) by hand.
const CASES = Number(process.env.NEAREST_FUZZ_CASES ?? 4000);
const DIM = 4;

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

const seeds: { method: string; path: string; body: Json }[] = [
  { method: 'PUT', path: '/v1/collections/made', body: { dim: 4, metric: 'dot', index: 'HNSW8' } },
  { method: 'POST', path: '/v1/collections/fz/records', body: { records: [{ id: 'a', vector: [1, 0, 0, 0], metadata: { n: 1, tags: ['x'] } }, { id: 3, vector: base64([0, 1, 0, 0]) }] } },
  { method: 'POST', path: '/v1/collections/hz/records', body: { records: [{ id: 9, vector: [0.5, 0.5, 0, 0], metadata: { n: 2 } }] } },
  { method: 'POST', path: '/v1/collections/fz/records/get', body: { ids: ['a', 3], include: ['metadata', 'vector'], vectorEncoding: 'base64' } },
  { method: 'POST', path: '/v1/collections/fz/records/delete', body: { ids: ['zz', 77] } },
  { method: 'POST', path: '/v1/collections/fz/records/delete', body: { filter: { n: { $gt: 100 } } } },
  { method: 'POST', path: '/v1/collections/fz/records/count', body: { filter: { $or: [{ n: 1 }, { tags: { $in: ['x'] } }] } } },
  { method: 'POST', path: '/v1/collections/fz/records/scroll', body: { limit: 2, filter: { n: { $exists: true } }, include: ['metadata'] } },
  { method: 'POST', path: '/v1/collections/fz/search', body: { vector: [1, 0.5, 0, 0], k: 3, filter: { n: { $lte: 5 } }, include: ['vector'], scoreThreshold: -1 } },
  { method: 'POST', path: '/v1/collections/hz/search', body: { vectors: [[1, 0, 0, 0], base64([0, 0, 1, 0])], k: 2, efSearch: 16 } },
];

function randomValue(r: () => number, depth = 0): Json {
  const pick = Math.floor(r() * 16);
  switch (pick) {
    case 0: return null;
    case 1: return r() < 0.5;
    case 2: return Math.floor(r() * 2 ** 31) - 2 ** 30;
    case 3: return [1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, -0, 5e-324, 0.1][Math.floor(r() * 6)];
    case 4: return '';
    case 5: return ['a', '..', '%2e', '\u0000', '\ud800', 'é', '$gt', '__proto__', 'x'.repeat(3000)][Math.floor(r() * 9)];
    case 6: return base64([1, 2, 3]);
    case 7: return 'AAAAAA=='; // 4 bytes: one float
    case 8: return [];
    case 9: return {};
    case 10: { let v: Json = 1; const n = [10, 70, 1000][Math.floor(r() * 3)]; for (let i = 0; i < n; i++) v = [v]; return v; }
    case 11: { let v: Json = 1; const n = [10, 70, 1000][Math.floor(r() * 3)]; for (let i = 0; i < n; i++) v = { $and: [{ a: v }] } as Json; return v; }
    case 12: return Array.from({ length: Math.floor(r() * 6) }, () => (depth < 2 ? randomValue(r, depth + 1) : r()));
    case 13: return { [['$eq', '$in', '$nope', 'a.b', '', 'k'][Math.floor(r() * 6)]]: depth < 2 ? randomValue(r, depth + 1) : 1 };
    case 14: return Array.from({ length: 5 }, () => r() * 2 - 1);
    default: return Array.from({ length: [0, 3, 4, 5, 70000][Math.floor(r() * 5)] }, () => 0.5);
  }
}

/** Every path to a node of a JSON value. */
function paths(v: Json, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  out.push(at);
  if (Array.isArray(v)) v.forEach((x, i) => paths(x, [...at, i], out));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) paths(v[k], [...at, k], out);
  return out;
}

function mutate(body: Json, r: () => number): Json {
  const copy = JSON.parse(JSON.stringify(body)) as Json;
  const all = paths(copy);
  const target = all[Math.floor(r() * all.length)];
  if (target.length === 0) return randomValue(r);
  const parentPath = target.slice(0, -1), key = target[target.length - 1];
  let parent: any = copy;
  for (const p of parentPath) parent = parent[p];
  const how = r();
  if (how < 0.6) parent[key] = randomValue(r);
  else if (how < 0.8 && !Array.isArray(parent)) delete parent[key];
  else if (Array.isArray(parent)) parent.push(...Array.from({ length: 3 }, () => parent[key]));
  else parent[`extra${Math.floor(r() * 3)}`] = randomValue(r);
  return copy;
}

const CONTENT_TYPES = ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=utf-16', 'application/json; charset=latin1', 'application/jsonx', 'application/octet-stream', '*/*', ''];
const BAD_PATHS = [
  '/v1/collections/%2e%2e/records', '/v1/collections/..%2f..%2fetc/search', '/v1/collections/%00/records/get', '/v1/collections/%zz',
  '/v1/collections//records', `/v1/collections/${'n'.repeat(2000)}/search`, '/v1/collections/fz/search?k=1&k=2', '/v1/collections/fz/records/%ff',
  '/v1/collections/fz/../fz/search', '/v1//collections', '/v1/collections/fz/search/', '/../../etc/passwd', '/v1/collections/\u00e9t\u00e9',
];
const METHODS = ['GET', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD'];

describe('malformed-request fuzz', () => {
  it(`${CASES} mutated, truncated, mistyped and misrouted requests: zero 5xx, rejected ones change nothing`, async () => {
    const s = await start({ limits: { bodyBytes: 1 << 20 } });
    const c = client(s);
    expect((await c.put('/v1/collections/fz', { dim: DIM })).status).toBe(201);
    expect((await c.put('/v1/collections/hz', { dim: DIM, index: { type: 'hnsw', m: 4 } })).status).toBe(201);
    for (const seed of seeds.slice(1, 3)) expect((await c.post(seed.path, seed.body)).status).toBe(200);

    const r = prng(Number(process.env.NEAREST_FUZZ_SEED ?? 20261201));
    const tally: Record<string, number> = {};
    for (let i = 0; i < CASES; i++) {
      const seed = seeds[Math.floor(r() * seeds.length)];
      let method = seed.method, path = seed.path;
      let payload: string | Buffer = JSON.stringify(seed.body);
      let contentType = 'application/json';
      const kind = Math.floor(r() * 8);
      switch (kind) {
        case 0: case 1: case 2: payload = JSON.stringify(mutate(mutate(seed.body, r), r)); break;
        case 3: payload = payload.slice(0, Math.floor(r() * payload.length)); break;
        case 4: {
          const b = Buffer.from(payload);
          for (let j = 0; j < 3; j++) b[Math.floor(r() * b.length)] = [0xff, 0xc3, 0x80, 0x00, 0x22, 0x7b][Math.floor(r() * 6)];
          payload = b;
          break;
        }
        case 5: contentType = CONTENT_TYPES[Math.floor(r() * CONTENT_TYPES.length)]; break;
        case 6: path = BAD_PATHS[Math.floor(r() * BAD_PATHS.length)]; break;
        default: {
          method = METHODS[Math.floor(r() * METHODS.length)];
          if (r() < 0.5) payload = ['1e999', '-1e400', '123456789012345678901234567890', '"x"', 'null', '[]', '['.repeat(5000), '{"records":' + '['.repeat(100000) + ']'.repeat(100000) + '}'][Math.floor(r() * 8)];
        }
      }
      const before = await fingerprint(s);
      const headers: Record<string, string> = contentType ? { 'content-type': contentType } : {};
      const hasBody = method !== 'GET' && method !== 'HEAD';
      const res = await rawHttp(s.url, method, path, hasBody ? payload : undefined, hasBody ? headers : {});
      const label = `#${i} kind ${kind}: ${method} ${path.slice(0, 60)} ${contentType} ${String(payload).slice(0, 80)}`;
      tally[res.status] = (tally[res.status] ?? 0) + 1;
      expect(res.status, label).toBeLessThan(500);
      if (res.status >= 400 && method !== 'HEAD') {
        expect(typeof res.json?.error?.code, `${label} -> ${res.text.slice(0, 200)}`).toBe('string');
        expect(res.text, label).not.toMatch(/\n\s+at /);
        expect(await fingerprint(s), label).toBe(before);
      }
    }
    // Still serving, and the seeds still work.
    expect((await c.get('/healthz')).status).toBe(200);
    expect((await c.post('/v1/collections/fz/search', { vector: [1, 0, 0, 0], k: 1 })).status).toBe(200);
    const failed = Object.entries(tally).filter(([st]) => Number(st) >= 400).reduce((a, [, n]) => a + n, 0);
    expect(failed).toBeGreaterThan(CASES / 2); // the fuzz mostly produced rejections, as intended
  });
});
