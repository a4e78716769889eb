// The HTTP server (nearest/server) driven over real HTTP on loopback: every native route, error
// statuses and bodies, rejected requests changing nothing, base64 vectors, filters, batch search,
// scroll cursors, API keys, CORS, limits, metrics, the OpenAPI document, graceful close with a
// request in flight, and restart durability.
import { connect, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createServer, DEFAULT_LIMITS, indexFromFactory } from 'nearest/server';
import { NearestError } from 'nearest';
import { base64, call, cleanup, client, fingerprint, rawHttp, start, tempDir } from './server-helpers.js';

afterAll(cleanup);

const unit = (i: number, dim: number) => Array.from({ length: dim }, (_, j) => (j === i % dim ? 1 : 0.01 * ((i + j) % 7)));

/** Sends a request's head (and `partial` body bytes) and keeps the socket open: a request in flight. */
function openRequest(url: string, path: string, contentLength: number, partial = ''): Promise<Socket> {
  const u = new URL(url);
  return new Promise((res, rej) => {
    const sock = connect(Number(u.port), u.hostname, () => {
      sock.write(`POST ${path} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: application/json\r\nContent-Length: ${contentLength}\r\n\r\n${partial}`);
      res(sock);
    });
    sock.on('error', rej);
  });
}

function responseOf(sock: Socket): Promise<string> {
  return new Promise((res) => {
    let data = '';
    sock.on('data', (d) => {
      data += d.toString('utf8');
      const m = /content-length: (\d+)\r\n/i.exec(data);
      const end = data.indexOf('\r\n\r\n');
      if (m && end >= 0 && data.length >= end + 4 + Number(m[1])) res(data);
    });
    sock.on('close', () => res(data));
  });
}

describe('createServer options', () => {
  it('refuses a non-loopback host without an API key, unless insecure', () => {
    const dataDir = tempDir();
    expect(() => createServer({ dataDir, host: '0.0.0.0' })).toThrow(NearestError);
    try { createServer({ dataDir, host: '0.0.0.0' }); } catch (e) { expect((e as NearestError).code).toBe('INVALID_ARGUMENT'); }
    expect(() => createServer({ dataDir, host: '0.0.0.0', insecure: true })).not.toThrow();
    expect(() => createServer({ dataDir, host: '0.0.0.0', apiKey: 'k' })).not.toThrow();
    for (const host of ['127.0.0.1', 'localhost', '::1', '127.1.2.3']) expect(() => createServer({ dataDir, host })).not.toThrow();
  });

  it('refuses unknown options and bad values', () => {
    const dataDir = tempDir();
    expect(() => createServer({ dataDir, bogus: 1 } as never)).toThrow(/unknown option/);
    expect(() => createServer({ dataDir, port: 70000 })).toThrow(/port/);
    expect(() => createServer({ dataDir, limits: { k: 0 } })).toThrow(/limits.k/);
    expect(() => createServer({ dataDir, limits: { nope: 1 } as never })).toThrow(/unknown limit/);
    expect(() => createServer({ dataDir, apiKey: 'same', readOnlyApiKey: 'same' })).toThrow(/differ/);
    expect(() => createServer({ dataDir, apiKey: 'has space' })).toThrow(/apiKey/);
    expect(DEFAULT_LIMITS.bodyBytes).toBe(32 * 2 ** 20);
  });

  it('maps factory strings to store index options', () => {
    expect(indexFromFactory('Flat')).toEqual({ type: 'flat' });
    expect(indexFromFactory('HNSW')).toEqual({ type: 'hnsw' });
    expect(indexFromFactory('HNSW32')).toEqual({ type: 'hnsw', m: 32 });
    expect(indexFromFactory('HNSW16,SQ8')).toEqual({ type: 'hnsw', m: 16, quantization: 'int8' });
    expect(indexFromFactory('IVF1024,Flat')).toEqual({ type: 'ivf', nlist: 1024, encoding: 'flat' });
    expect(indexFromFactory('IVF256,SQ8')).toEqual({ type: 'ivf', nlist: 256, encoding: 'sq8' });
    expect(indexFromFactory('IVF1024,PQ32,RFlat')).toEqual({ type: 'ivf', nlist: 1024, encoding: { pq: { m: 32 } }, refine: true });
    expect(indexFromFactory('IVF64,PQ8x4')).toEqual({ type: 'ivf', nlist: 64, encoding: { pq: { m: 8, nbits: 4 } } });
    expect(() => indexFromFactory('LSH')).toThrow(/accepted/);
  });

  it('import "nearest" never reaches the server dependencies', () => {
    // Walk the static import graph of dist/index.js: only relative imports and node: builtins.
    const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
    const seen = new Set<string>();
    const bare = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      const src = readFileSync(file, 'utf8');
      for (const m of src.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s*['"]([^'"]+)['"]|(?:^|\n)\s*import\s*['"]([^'"]+)['"]/g)) {
        const spec = m[1] ?? m[2];
        if (spec.startsWith('.')) visit(join(dirname(file), spec));
        else if (!spec.startsWith('node:')) bare.add(spec);
      }
    };
    visit(join(root, 'index.js'));
    expect(seen.size).toBeGreaterThan(10);
    expect([...bare]).toEqual([]);
    expect([...seen].some((f) => f.includes(`${join('dist', 'server')}`))).toBe(false);
  });
});

describe('operations routes', () => {
  it('GET /docs: an HTML page whose assets load, over the same document as /openapi.json, public with --api-key', async () => {
    const s = await start({ apiKey: 'rw' });
    const anon = client(s);
    expect((await anon.get('/v1/collections')).status).toBe(401);
    const page = await anon.get('/docs');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const assets = [...page.text.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    expect(assets).toEqual(expect.arrayContaining(['/docs/static/swagger-ui-bundle.js', '/docs/static/swagger-ui.css', '/docs/static/swagger-initializer.js']));
    for (const a of assets) {
      const r = await fetch(new URL(a, s.url));
      expect(r.status, a).toBe(200);
      expect((await r.arrayBuffer()).byteLength, a).toBeGreaterThan(0);
    }
    // The page loads ./json, which is /openapi.json.
    expect((await anon.get('/docs/static/swagger-initializer.js')).text).toContain("resolveUrl('./json')");
    const doc = await anon.get('/docs/json');
    expect(doc.status).toBe(200);
    expect(doc.json).toEqual((await anon.get('/openapi.json')).json);
    expect(doc.json.components.securitySchemes.apiKey).toBeDefined();
    expect(Object.keys(doc.json.paths).some((p) => p.startsWith('/docs'))).toBe(false);
    expect((await anon.get('/docs/static/no-such-file.js')).status).toBe(404);
  });

  it('healthz, readyz, openapi.json list every native route', async () => {
    const s = await start();
    const c = client(s);
    expect((await c.get('/healthz')).json).toEqual({ status: 'ok' });
    expect((await c.get('/readyz')).status).toBe(200);
    const doc = (await c.get('/openapi.json')).json;
    expect(doc.openapi).toMatch(/^3\./);
    const routes = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
    for (const r of [
      'GET /v1/collections', 'PUT /v1/collections/{name}', 'GET /v1/collections/{name}', 'DELETE /v1/collections/{name}',
      'POST /v1/collections/{name}/records', 'POST /v1/collections/{name}/records/get', 'POST /v1/collections/{name}/records/delete',
      'POST /v1/collections/{name}/records/count', 'POST /v1/collections/{name}/records/scroll', 'POST /v1/collections/{name}/search',
      'GET /healthz', 'GET /readyz', 'GET /metrics',
    ]) expect(routes).toContain(r);
    const search = doc.paths['/v1/collections/{name}/search'].post;
    expect(Object.keys(search.requestBody.content['application/json'].schema.properties)).toEqual(expect.arrayContaining(['vector', 'vectors', 'k', 'filter', 'efSearch', 'nprobe', 'include', 'scoreThreshold']));
  });

  it('metrics: requests by route and status, latency histogram, collection sizes', async () => {
    const s = await start();
    const c = client(s);
    await c.put('/v1/collections/m', { dim: 2 });
    await c.post('/v1/collections/m/records', { records: [{ id: 1, vector: [1, 0] }, { id: 2, vector: [0, 1] }] });
    await c.post('/v1/collections/m/search', { vector: [1, 0], k: 1 });
    await c.post('/v1/collections/m/search', { vector: [1], k: 1 });
    await c.get('/nowhere');
    const r = await c.get('/metrics');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/text\/plain/);
    expect(r.text).toContain('nearest_http_requests_total{method="POST",route="/v1/collections/:name/search",status="200"} 1');
    expect(r.text).toContain('nearest_http_requests_total{method="POST",route="/v1/collections/:name/search",status="400"} 1');
    expect(r.text).toContain('nearest_http_requests_total{method="GET",route="unmatched",status="404"} 1');
    expect(r.text).toMatch(/nearest_http_request_duration_seconds_bucket\{le="[^"]+",method="PUT",route="\/v1\/collections\/:name",status="201"\} 1/);
    expect(r.text).toContain('nearest_collection_records{collection="m"} 2');
    expect(r.text).toMatch(/nearest_collection_memory_bytes\{collection="m"\} \d+/);
    expect(r.text).toMatch(/nearest_collection_log_bytes\{collection="m"\} \d+/);
    expect(r.text).toContain('nearest_collections 1');
  });

  it('answers with a request id header', async () => {
    const s = await start();
    const r = await client(s).get('/healthz');
    expect(r.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('collections', () => {
  it('create (options object or factory string), list, info, delete', async () => {
    const s = await start();
    const c = client(s);
    const made = await c.put('/v1/collections/docs', { dim: 4, metric: 'euclidean', index: { type: 'hnsw', m: 8 } });
    expect(made.status).toBe(201);
    expect(made.json).toMatchObject({ name: 'docs', dim: 4, metric: 'euclidean', index: 'HNSW8', size: 0, status: 'ready' });
    expect((await c.put('/v1/collections/h32', { dim: 8, index: 'HNSW32' })).json.index).toBe('HNSW32');
    expect((await c.put('/v1/collections/flat', { dim: 8, index: 'Flat' })).json.index).toBe('Flat');
    expect((await c.put('/v1/collections/ivf', { dim: 8, index: 'IVF4,PQ4,RFlat' })).json.index).toMatch(/^IVF4,PQ4,RFlat/);
    expect((await c.put('/v1/collections/plain', { dim: 3 })).json).toMatchObject({ metric: 'cosine', index: 'Flat' });

    const list = await c.get('/v1/collections');
    expect(list.json.collections.map((x: { name: string }) => x.name)).toEqual(['docs', 'h32', 'flat', 'ivf', 'plain']);
    const info = await c.get('/v1/collections/docs');
    expect(info.json).toMatchObject({ name: 'docs', size: 0, dim: 4, index: 'HNSW8', status: 'ready' });
    expect(typeof info.json.memoryBytes).toBe('number');
    expect(typeof info.json.createdAt).toBe('string');

    expect((await c.del('/v1/collections/docs')).json).toEqual({ deleted: true });
    expect((await c.get('/v1/collections/docs')).status).toBe(404);
    const again = await c.del('/v1/collections/docs');
    expect(again.status).toBe(404);
    expect(again.json.error.code).toBe('NOT_FOUND');
  });

  it('refuses bad creates with 400/409 and changes nothing', async () => {
    const s = await start({ limits: { dim: 1024, collections: 3 } });
    const c = client(s);
    await c.put('/v1/collections/taken', { dim: 2 });
    const before = await fingerprint(s);
    const cases: [string, unknown, number, string][] = [
      ['taken', { dim: 2 }, 409, 'ALREADY_EXISTS'],
      ['..', { dim: 2 }, 400, 'INVALID_ARGUMENT'],
      ['%2e%2e', { dim: 2 }, 400, 'INVALID_ARGUMENT'],
      ['a%2Fb', { dim: 2 }, 400, 'INVALID_ARGUMENT'],
      ['a%00b', { dim: 2 }, 400, 'INVALID_ARGUMENT'],
      ['-x', { dim: 2 }, 400, 'INVALID_ARGUMENT'],
      ['x'.repeat(256), { dim: 2 }, 400, 'INVALID_ARGUMENT'],
      ['ok', { dim: 0 }, 400, 'INVALID_ARGUMENT'],
      ['ok', { dim: 1025 }, 400, 'INVALID_ARGUMENT'],
      ['ok', { dim: 2.5 }, 400, 'INVALID_ARGUMENT'],
      ['ok', { dim: '2' }, 400, 'INVALID_ARGUMENT'],
      ['ok', {}, 400, 'INVALID_ARGUMENT'],
      ['ok', { dim: 2, metric: 'manhattan' }, 400, 'INVALID_ARGUMENT'],
      ['ok', { dim: 2, index: 'LSH16' }, 400, 'INVALID_ARGUMENT'],
      ['ok', { dim: 2, index: { type: 'hnsw', bogus: 1 } }, 400, 'INVALID_ARGUMENT'],
      ['ok', { dim: 2, index: { type: 'annoy' } }, 400, 'INVALID_ARGUMENT'],
      ['ok', { dim: 2, extra: true }, 400, 'INVALID_ARGUMENT'],
      ['ok', { dim: 6, index: 'IVF4,PQ4' }, 400, 'INVALID_ARGUMENT'],
    ];
    for (const [name, body, status, code] of cases) {
      const r = await rawHttp(s.url, 'PUT', `/v1/collections/${name}`, JSON.stringify(body), { 'content-type': 'application/json' });
      expect([name, r.status, r.json?.error?.code]).toEqual([name, status, code]);
      expect(typeof r.json.error.message).toBe('string');
      expect(r.text).not.toMatch(/\n\s+at /); // no stack traces
      expect(await fingerprint(s)).toBe(before);
    }
    await c.put('/v1/collections/two', { dim: 2 });
    await c.put('/v1/collections/three', { dim: 2 });
    const full = await c.put('/v1/collections/four', { dim: 2 });
    expect([full.status, full.json.error.code]).toEqual([413, 'CAPACITY_EXCEEDED']);
  });
});

describe('records', () => {
  it('upsert with JSON numbers and base64, get, count, delete by ids and by filter', async () => {
    const s = await start();
    const c = client(s);
    await c.put('/v1/collections/r', { dim: 3, metric: 'euclidean' });
    const up = await c.post('/v1/collections/r/records', {
      records: [
        { id: 'a', vector: [1, 2, 3], metadata: { kind: 'x', n: 1, tags: ['p', 'q'], nested: { deep: true } } },
        { id: 7, vector: base64([0.5, -1.25, 3e-8]), metadata: { kind: 'y', n: 2 } },
        { id: 0, vector: [0, 0, 0] },
        { id: '7', vector: [7, 7, 7], metadata: { kind: 'x', n: 3 } },
      ],
    });
    expect(up.json).toEqual({ upserted: 4 });
    expect((await c.get('/v1/collections/r')).json.size).toBe(4);

    const got = await c.post('/v1/collections/r/records/get', { ids: [7, 'a', 'missing', '7', 0] });
    expect(got.json.records).toEqual([
      { id: 7, metadata: { kind: 'y', n: 2 }, vector: [0.5, -1.25, Math.fround(3e-8)] },
      { id: 'a', metadata: { kind: 'x', n: 1, tags: ['p', 'q'], nested: { deep: true } }, vector: [1, 2, 3] },
      { id: '7', metadata: { kind: 'x', n: 3 }, vector: [7, 7, 7] },
      { id: 0, vector: [0, 0, 0] },
    ]);
    const b64 = await c.post('/v1/collections/r/records/get', { ids: [7], vectorEncoding: 'base64' });
    expect(b64.json.records[0].vector).toBe(base64([0.5, -1.25, 3e-8]));
    expect((await c.post('/v1/collections/r/records/get', { ids: ['a'], include: ['metadata'] })).json.records).toEqual([{ id: 'a', metadata: { kind: 'x', n: 1, tags: ['p', 'q'], nested: { deep: true } } }]);
    expect((await c.post('/v1/collections/r/records/get', { ids: ['a'], include: [] })).json.records).toEqual([{ id: 'a' }]);

    expect((await c.post('/v1/collections/r/records/count', {})).json).toEqual({ count: 4 });
    expect((await c.post('/v1/collections/r/records/count', { filter: { kind: 'x' } })).json).toEqual({ count: 2 });
    expect((await c.post('/v1/collections/r/records/count', { filter: { n: { $gte: 2 }, 'nested.deep': { $exists: false } } })).json).toEqual({ count: 2 });
    expect((await c.post('/v1/collections/r/records/count', { filter: { tags: { $in: ['q'] } } })).json).toEqual({ count: 1 });

    // Replacing a record replaces its vector and metadata.
    await c.post('/v1/collections/r/records', { records: [{ id: 'a', vector: [3, 2, 1] }] });
    expect((await c.post('/v1/collections/r/records/get', { ids: ['a'] })).json.records).toEqual([{ id: 'a', vector: [3, 2, 1] }]);

    expect((await c.post('/v1/collections/r/records/delete', { ids: ['a', 'nope', 'a'] })).json).toEqual({ deleted: 1 });
    expect((await c.post('/v1/collections/r/records/delete', { filter: { kind: 'x' } })).json).toEqual({ deleted: 1 });
    expect((await c.post('/v1/collections/r/records/delete', { filter: { kind: 'zzz' } })).json).toEqual({ deleted: 0 });
    const left = await c.post('/v1/collections/r/records/scroll', {});
    expect(left.json.records.map((x: { id: unknown }) => x.id)).toEqual([0, 7]);
  });

  it('refuses bad writes with a typed 400 and changes nothing', async () => {
    const s = await start({ limits: { batchSize: 5 } });
    const c = client(s);
    await c.put('/v1/collections/w', { dim: 3 });
    await c.post('/v1/collections/w/records', { records: [{ id: 1, vector: [1, 0, 0], metadata: { a: 1 } }] });
    const before = await fingerprint(s);
    const nan = Buffer.from(new Float32Array([1, NaN, 0]).buffer).toString('base64');
    const inf = Buffer.from(new Float32Array([1, Infinity, 0]).buffer).toString('base64');
    const bad: [unknown, string][] = [
      [{ records: [{ id: 2, vector: [1, 0] }] }, 'DIMENSION_MISMATCH'],
      [{ records: [{ id: 2, vector: [1, 0, 0] }, { id: 3, vector: [1, 0, 0, 0] }] }, 'DIMENSION_MISMATCH'],
      [{ records: [{ id: 2, vector: base64([1, 0]) }] }, 'DIMENSION_MISMATCH'],
      [{ records: [{ id: 2, vector: nan }] }, 'NON_FINITE_VALUE'],
      [{ records: [{ id: 2, vector: inf }] }, 'NON_FINITE_VALUE'],
      [{ records: [{ id: 2, vector: 'not base64!' }] }, 'INVALID_ARGUMENT'],
      [{ records: [{ id: 2, vector: 'AAAA' }] }, 'INVALID_ARGUMENT'], // 3 bytes: not whole float32s
      [{ records: [{ id: 2, vector: [1, 'x', 0] }] }, 'INVALID_ARGUMENT'],
      [{ records: [{ id: 2, vector: [1, null, 0] }] }, 'INVALID_ARGUMENT'],
      [{ records: [{ id: 2, vector: [] }] }, 'INVALID_ARGUMENT'],
      [{ records: [{ id: -1, vector: [1, 0, 0] }] }, 'INVALID_ARGUMENT'],
      [{ records: [{ id: 1.5, vector: [1, 0, 0] }] }, 'INVALID_ARGUMENT'],
      [{ records: [{ id: 2 ** 53, vector: [1, 0, 0] }] }, 'INVALID_ARGUMENT'],
      [{ records: [{ id: '', vector: [1, 0, 0] }] }, 'INVALID_ARGUMENT'],
      [{ records: [{ id: null, vector: [1, 0, 0] }] }, 'INVALID_ARGUMENT'],
      [{ records: [{ vector: [1, 0, 0] }] }, 'INVALID_ARGUMENT'],
      [{ records: [{ id: 2, vector: [1, 0, 0], extra: 1 }] }, 'INVALID_ARGUMENT'],
      [{ records: [{ id: 2, vector: [1, 0, 0] }, { id: 2, vector: [0, 1, 0] }] }, 'DUPLICATE_ID'],
      [{ records: Array.from({ length: 6 }, (_, i) => ({ id: 10 + i, vector: [1, 0, 0] })) }, 'INVALID_ARGUMENT'],
      [{ records: {} }, 'INVALID_ARGUMENT'],
      [{}, 'INVALID_ARGUMENT'],
      [[], 'INVALID_ARGUMENT'],
      [{ records: [{ id: 2, vector: [1, 0, 0], metadata: { deep: JSON.parse('['.repeat(100) + ']'.repeat(100)) } }] }, 'INVALID_ARGUMENT'],
    ];
    for (const [body, code] of bad) {
      const r = await c.post('/v1/collections/w/records', body);
      expect([r.status, r.json?.error?.code], JSON.stringify(body).slice(0, 120)).toEqual([400, code]);
      expect(await fingerprint(s)).toBe(before);
    }
    // Huge numbers parse to Infinity: refused, not stored.
    const huge = await c.raw('POST', '/v1/collections/w/records', '{"records":[{"id":2,"vector":[1e999,0,0]}]}', 'application/json');
    expect([huge.status, huge.json.error.code]).toEqual([400, 'INVALID_ARGUMENT']); // the schema wants finite numbers
    expect(await fingerprint(s)).toBe(before);
    // Vectors too long for float32 squared norms.
    const big = await c.post('/v1/collections/w/records', { records: [{ id: 2, vector: [1e30, 1e30, 0] }] });
    expect(big.status).toBe(400);
    expect(await fingerprint(s)).toBe(before);

    const delBoth = await c.post('/v1/collections/w/records/delete', { ids: [1], filter: { a: 1 } });
    expect([delBoth.status, delBoth.json.error.code]).toEqual([400, 'INVALID_ARGUMENT']);
    const delNone = await c.post('/v1/collections/w/records/delete', {});
    expect(delNone.status).toBe(400);
    const badFilter = await c.post('/v1/collections/w/records/delete', { filter: { a: { $regex: 'x' } } });
    expect([badFilter.status, badFilter.json.error.code]).toEqual([400, 'INVALID_ARGUMENT']);
    const badIds = await c.post('/v1/collections/w/records/delete', { ids: [{}] });
    expect(badIds.status).toBe(400);
    expect(await fingerprint(s)).toBe(before);
  });

  it('scroll pages through every record in id order with a cursor, also with a filter', async () => {
    const s = await start();
    const c = client(s);
    await c.put('/v1/collections/sc', { dim: 2 });
    const ids: (string | number)[] = [5, 'b', 0, 'a', 12, 'aa', 3, 'B', 100, '10'];
    await c.post('/v1/collections/sc/records', { records: ids.map((id, i) => ({ id, vector: [1, i], metadata: { even: i % 2 === 0 } })) });
    const seen: unknown[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const r = await c.post('/v1/collections/sc/records/scroll', { limit: 3, ...(cursor ? { cursor } : {}) });
      expect(r.status).toBe(200);
      expect(r.json.records.length).toBeLessThanOrEqual(3);
      seen.push(...r.json.records.map((x: { id: unknown }) => x.id));
      cursor = r.json.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    expect(pages).toBe(4);
    expect(seen).toEqual([0, 3, 5, 12, 100, '10', 'B', 'a', 'aa', 'b']);

    const evens: unknown[] = [];
    cursor = undefined;
    do {
      const r = await c.post('/v1/collections/sc/records/scroll', { limit: 2, filter: { even: true }, include: ['metadata', 'vector'], ...(cursor ? { cursor } : {}) });
      for (const x of r.json.records) { expect(x.metadata).toEqual({ even: true }); expect(x.vector).toHaveLength(2); evens.push(x.id); }
      cursor = r.json.nextCursor ?? undefined;
    } while (cursor);
    expect(evens.sort()).toEqual(ids.filter((_, i) => i % 2 === 0).sort());

    const bad = await c.post('/v1/collections/sc/records/scroll', { cursor: 'garbage' });
    expect([bad.status, bad.json.error.code]).toEqual([400, 'INVALID_ARGUMENT']);
    const badLimit = await c.post('/v1/collections/sc/records/scroll', { limit: 0 });
    expect(badLimit.status).toBe(400);
    const end = await c.post('/v1/collections/sc/records/scroll', { limit: 100 });
    expect(end.json.nextCursor).toBeNull();
  });

  it('answers 404 for every route of a missing collection', async () => {
    const s = await start();
    const c = client(s);
    const rs = [
      await c.get('/v1/collections/ghost'),
      await c.del('/v1/collections/ghost'),
      await c.post('/v1/collections/ghost/records', { records: [{ id: 1, vector: [1] }] }),
      await c.post('/v1/collections/ghost/records/get', { ids: [1] }),
      await c.post('/v1/collections/ghost/records/delete', { ids: [1] }),
      await c.post('/v1/collections/ghost/records/delete', { filter: { a: 1 } }),
      await c.post('/v1/collections/ghost/records/count', {}),
      await c.post('/v1/collections/ghost/records/scroll', {}),
      await c.post('/v1/collections/ghost/search', { vector: [1], k: 1 }),
    ];
    for (const r of rs) expect([r.status, r.json.error.code]).toEqual([404, 'NOT_FOUND']);
  });
});

describe('search', () => {
  it('one query, a batch, filters, include, scoreThreshold, efSearch and nprobe', async () => {
    const s = await start();
    const c = client(s);
    const dim = 8;
    await c.put('/v1/collections/f', { dim, metric: 'cosine' });
    await c.put('/v1/collections/h', { dim, index: { type: 'hnsw', m: 8, efConstruction: 64 } });
    const records = Array.from({ length: 40 }, (_, i) => ({ id: i, vector: unit(i, dim), metadata: { group: i % 4, name: `r${i}` } }));
    for (const col of ['f', 'h']) expect((await c.post(`/v1/collections/${col}/records`, { records })).status).toBe(200);

    const one = await c.post('/v1/collections/f/search', { vector: unit(3, dim), k: 5 });
    expect(one.status).toBe(200);
    expect(one.json.hits).toHaveLength(5);
    expect(one.json.results).toBeUndefined();
    expect(one.json.hits[0]).toMatchObject({ id: 3, metadata: { group: 3, name: 'r3' } });
    for (let i = 1; i < 5; i++) expect(one.json.hits[i - 1].score).toBeGreaterThanOrEqual(one.json.hits[i].score);
    for (const h of one.json.hits) expect(h.distance).toBeCloseTo(1 - h.score, 5);

    // The same query as base64 gives the same hits.
    const b64 = await c.post('/v1/collections/f/search', { vector: base64(unit(3, dim)), k: 5 });
    expect(b64.json).toEqual(one.json);

    const filtered = await c.post('/v1/collections/f/search', { vector: unit(3, dim), k: 6, filter: { group: { $in: [1, 2] } } });
    expect(filtered.json.hits).toHaveLength(6);
    for (const h of filtered.json.hits) expect([1, 2]).toContain(h.metadata.group);

    const bare = await c.post('/v1/collections/f/search', { vector: unit(3, dim), k: 2, include: [] });
    expect(Object.keys(bare.json.hits[0]).sort()).toEqual(['distance', 'id', 'score']);
    const withVec = await c.post('/v1/collections/f/search', { vector: unit(3, dim), k: 1, include: ['vector'], vectorEncoding: 'base64' });
    expect(withVec.json.hits[0].vector).toBe(base64(unit(3, dim)));
    expect(withVec.json.hits[0].metadata).toBeUndefined();

    const threshold = one.json.hits[2].score;
    const th = await c.post('/v1/collections/f/search', { vector: unit(3, dim), k: 5, scoreThreshold: threshold });
    expect(th.json.hits.length).toBeGreaterThanOrEqual(3);
    for (const h of th.json.hits) expect(h.score).toBeGreaterThanOrEqual(threshold);
    // No default threshold: dissimilar records still come back to fill k.
    const all = await c.post('/v1/collections/f/search', { vector: unit(3, dim).map((x) => -x), k: 40 });
    expect(all.json.hits).toHaveLength(40);

    const batch = await c.post('/v1/collections/f/search', { vectors: [unit(1, dim), base64(unit(2, dim)), unit(5, dim)], k: 3 });
    expect(batch.status).toBe(200);
    expect(batch.json.hits).toBeUndefined();
    expect(batch.json.results.map((r: { hits: { id: number }[] }) => r.hits[0].id)).toEqual([1, 2, 5]);
    for (const r of batch.json.results) expect(r.hits).toHaveLength(3);

    const h = await c.post('/v1/collections/h/search', { vector: unit(9, dim), k: 3, efSearch: 64 });
    expect(h.json.hits[0].id).toBe(9);
    const exact = await c.post('/v1/collections/f/search', { vector: unit(9, dim), k: 3 });
    expect(h.json.hits.map((x: { id: number }) => x.id)).toEqual(exact.json.hits.map((x: { id: number }) => x.id));

    const ivf = await c.put('/v1/collections/i', { dim, index: { type: 'ivf', nlist: 2, trainAt: 20 } });
    expect(ivf.status).toBe(201);
    await c.post('/v1/collections/i/records', { records });
    const iv = await c.post('/v1/collections/i/search', { vector: unit(9, dim), k: 3, nprobe: 2 });
    expect(iv.json.hits.map((x: { id: number }) => x.id)).toEqual(exact.json.hits.map((x: { id: number }) => x.id));

    const empty = await c.put('/v1/collections/empty', { dim });
    expect(empty.status).toBe(201);
    expect((await c.post('/v1/collections/empty/search', { vector: unit(0, dim), k: 3 })).json).toEqual({ hits: [] });
  });

  it('refuses bad searches with 400', async () => {
    const s = await start({ limits: { k: 50, queries: 2 } });
    const c = client(s);
    await c.put('/v1/collections/f', { dim: 2 });
    await c.post('/v1/collections/f/records', { records: [{ id: 1, vector: [1, 0] }] });
    const cases: [unknown, string][] = [
      [{ vector: [1, 0, 0], k: 1 }, 'DIMENSION_MISMATCH'],
      [{ vector: [1, 0], vectors: [[1, 0]], k: 1 }, 'INVALID_ARGUMENT'],
      [{ k: 1 }, 'INVALID_ARGUMENT'],
      [{ vector: [1, 0] }, 'INVALID_ARGUMENT'],
      [{ vector: [1, 0], k: 0 }, 'INVALID_ARGUMENT'],
      [{ vector: [1, 0], k: 51 }, 'INVALID_ARGUMENT'],
      [{ vector: [1, 0], k: 1.5 }, 'INVALID_ARGUMENT'],
      [{ vector: [1, 0], k: '1' }, 'INVALID_ARGUMENT'],
      [{ vectors: [[1, 0], [0, 1], [1, 1]], k: 1 }, 'INVALID_ARGUMENT'],
      [{ vectors: [], k: 1 }, 'INVALID_ARGUMENT'],
      [{ vector: [1, 0], k: 1, efSearch: 10 }, 'INVALID_ARGUMENT'], // flat collection
      [{ vector: [1, 0], k: 1, nprobe: 2 }, 'INVALID_ARGUMENT'],
      [{ vector: [1, 0], k: 1, filter: { $nope: 1 } }, 'INVALID_ARGUMENT'],
      [{ vector: [1, 0], k: 1, filter: [1] }, 'INVALID_ARGUMENT'],
      [{ vector: [1, 0], k: 1, include: ['everything'] }, 'INVALID_ARGUMENT'],
      [{ vector: [1, 0], k: 1, refineFactor: 2 }, 'INVALID_ARGUMENT'],
      [{ vector: [1e30, 1e30], k: 1 }, 'NON_FINITE_VALUE'],
    ];
    for (const [body, code] of cases) {
      const r = await c.post('/v1/collections/f/search', body);
      expect([r.status, r.json?.error?.code], JSON.stringify(body)).toEqual([400, code]);
    }
    // Filter depth and size limits.
    let deep: Record<string, unknown> = { a: 1 };
    for (let i = 0; i < 40; i++) deep = { $and: [deep] };
    const d = await c.post('/v1/collections/f/search', { vector: [1, 0], k: 1, filter: deep });
    expect([d.status, d.json.error.code]).toEqual([400, 'INVALID_ARGUMENT']);
    const wide = await c.post('/v1/collections/f/search', { vector: [1, 0], k: 1, filter: { a: { $in: Array.from({ length: 2000 }, (_, i) => i) } } });
    expect([wide.status, wide.json.error.code]).toEqual([400, 'INVALID_ARGUMENT']);
    const ok = await c.post('/v1/collections/f/search', { vector: [1, 0], k: 50, filter: { a: { $in: Array.from({ length: 500 }, (_, i) => i) } } });
    expect(ok.status).toBe(200);
  });
});

describe('HTTP-level errors', () => {
  it('malformed requests get 4xx with the error body, never 5xx', async () => {
    const s = await start();
    const c = client(s);
    await c.put('/v1/collections/e', { dim: 2 });
    const before = await fingerprint(s);
    const rs = [
      [await c.raw('POST', '/v1/collections/e/records', '{"records": [', 'application/json'), 400],
      [await c.raw('POST', '/v1/collections/e/records', '', 'application/json'), 400],
      [await c.raw('POST', '/v1/collections/e/records', '{"records":[]}', 'application/xml'), 415],
      [await c.raw('POST', '/v1/collections/e/records', 'records', 'text/plain'), 400],
      [await c.raw('POST', '/v1/collections/e/records', '{"__proto__":{"x":1},"records":[]}', 'application/json'), 400],
      [await c.raw('POST', '/v1/collections/e/records', '{"constructor":{"prototype":{"x":1}},"records":[]}', 'application/json'), 400],
      [await c.raw('POST', '/v1/collections/e/records', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'application/json'), 400],
      [await c.get('/v1/collections/e/records'), 404],
      [await c.get('/v1/nothing/here'), 404],
      [await c.raw('PATCH', '/v1/collections/e', '{}', 'application/json'), 404],
      [await c.get('/v1/collections/%zz'), 400],
    ] as const;
    for (const [r, status] of rs) {
      expect(r.status).toBe(status);
      expect(typeof r.json.error.code).toBe('string');
      expect(typeof r.json.error.message).toBe('string');
      expect(r.text).not.toMatch(/\n\s+at /);
    }
    expect(await fingerprint(s)).toBe(before);
  });

  it('a body above the limit is 413, one at the limit is served', async () => {
    const s = await start({ limits: { bodyBytes: 4096 } });
    const c = client(s);
    await c.put('/v1/collections/b', { dim: 4 });
    const before = await fingerprint(s);
    const body = (n: number) => {
      const base = JSON.stringify({ records: [{ id: 'x', vector: [1, 0, 0, 0], metadata: { pad: '' } }] });
      return JSON.stringify({ records: [{ id: 'x', vector: [1, 0, 0, 0], metadata: { pad: 'p'.repeat(n - base.length) } }] });
    };
    expect(body(4096).length).toBe(4096);
    const over = await c.raw('POST', '/v1/collections/b/records', body(4097), 'application/json');
    expect([over.status, over.json.error.code]).toEqual([413, 'CAPACITY_EXCEEDED']);
    expect(await fingerprint(s)).toBe(before);
    const at = await c.raw('POST', '/v1/collections/b/records', body(4096), 'application/json');
    expect(at.status).toBe(200);
  });

  it('too many requests in flight: 429, and health checks still answer', async () => {
    const s = await start({ limits: { inFlight: 1 } });
    const c = client(s);
    await c.put('/v1/collections/q', { dim: 2 });
    const body = JSON.stringify({ records: [{ id: 1, vector: [1, 0] }] });
    const sock = await openRequest(s.url, '/v1/collections/q/records', body.length, body.slice(0, 10));
    const reply = responseOf(sock);
    // The half-sent request holds the one slot until its body arrives.
    let busy;
    for (let i = 0; i < 50; i++) {
      busy = await c.get('/v1/collections');
      if (busy.status === 429) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect([busy!.status, busy!.json.error.code]).toEqual([429, 'TOO_MANY_REQUESTS']);
    expect((await c.get('/healthz')).status).toBe(200);
    sock.write(body.slice(10));
    expect(await reply).toMatch(/^HTTP\/1\.1 200/);
    sock.destroy();
    let after;
    for (let i = 0; i < 50; i++) {
      after = await c.get('/v1/collections/q');
      if (after.status === 200) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(after!.json.size).toBe(1);
  });
});

describe('API keys', () => {
  it('401 without a valid key, 403 for writes with the read-only key, both header forms', async () => {
    const s = await start({ apiKey: 'rw-secret', readOnlyApiKey: 'ro-secret' });
    const anon = client(s);
    const rw = client(s, { 'api-key': 'rw-secret' });
    const rwBearer = client(s, { authorization: 'Bearer rw-secret' });
    const ro = client(s, { 'api-key': 'ro-secret' });
    const roBearer = client(s, { authorization: 'Bearer ro-secret' });
    const wrong = client(s, { 'api-key': 'rw-secre' });

    expect((await anon.get('/healthz')).status).toBe(200);
    expect((await anon.get('/readyz')).status).toBe(200);
    expect((await anon.get('/openapi.json')).status).toBe(200);
    for (const r of [await anon.get('/v1/collections'), await anon.put('/v1/collections/x', { dim: 2 }), await anon.get('/metrics'), await anon.get('/nope')]) {
      expect([r.status, r.json.error.code]).toEqual([401, 'UNAUTHORIZED']);
    }
    const w = await wrong.get('/v1/collections');
    expect([w.status, w.json.error.code]).toEqual([401, 'UNAUTHORIZED']);
    expect((await client(s, { authorization: 'Basic cnctc2VjcmV0' }).get('/v1/collections')).status).toBe(401);

    expect((await rw.put('/v1/collections/x', { dim: 2 })).status).toBe(201);
    expect((await rwBearer.post('/v1/collections/x/records', { records: [{ id: 1, vector: [1, 0] }] })).status).toBe(200);
    const before = await fingerprint(s, { 'api-key': 'rw-secret' });

    for (const c of [ro, roBearer]) {
      expect((await c.get('/v1/collections')).status).toBe(200);
      expect((await c.get('/v1/collections/x')).status).toBe(200);
      expect((await c.post('/v1/collections/x/search', { vector: [1, 0], k: 1 })).status).toBe(200);
      expect((await c.post('/v1/collections/x/records/get', { ids: [1] })).status).toBe(200);
      expect((await c.post('/v1/collections/x/records/count', {})).status).toBe(200);
      expect((await c.post('/v1/collections/x/records/scroll', {})).status).toBe(200);
      expect((await c.get('/metrics')).status).toBe(200);
      for (const r of [
        await c.put('/v1/collections/y', { dim: 2 }),
        await c.del('/v1/collections/x'),
        await c.post('/v1/collections/x/records', { records: [{ id: 2, vector: [1, 0] }] }),
        await c.post('/v1/collections/x/records/delete', { ids: [1] }),
      ]) expect([r.status, r.json.error.code]).toEqual([403, 'FORBIDDEN']);
    }
    // Unauthenticated writes are refused before their bodies are looked at.
    const badAnon = await anon.post('/v1/collections/x/records', { records: 'nonsense' });
    expect(badAnon.status).toBe(401);
    expect(await fingerprint(s, { 'api-key': 'rw-secret' })).toBe(before);
  });
});

describe('CORS', () => {
  it('is off by default and allows the configured origin when on', async () => {
    const off = await start();
    const r1 = await call(off.url, 'GET', '/v1/collections', undefined, { headers: { origin: 'https://app.example' } });
    expect(r1.headers.get('access-control-allow-origin')).toBeNull();

    const on = await start({ cors: 'https://app.example', apiKey: 'k' });
    const r2 = await call(on.url, 'GET', '/v1/collections', undefined, { headers: { origin: 'https://app.example', 'api-key': 'k' } });
    expect(r2.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const pre = await fetch(`${on.url}/v1/collections/x/search`, {
      method: 'OPTIONS',
      headers: { origin: 'https://app.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,api-key' },
    });
    expect(pre.status).toBeLessThan(300);
    expect(pre.headers.get('access-control-allow-origin')).toBe('https://app.example');
    const other = await call(on.url, 'GET', '/v1/collections', undefined, { headers: { origin: 'https://evil.example', 'api-key': 'k' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('lifecycle', () => {
  it('keeps every acknowledged write across a restart on the same data directory', async () => {
    const dataDir = tempDir();
    const a = createServer({ dataDir, port: 0, logLevel: 'silent' });
    await a.listen();
    const c = client(a);
    await c.put('/v1/collections/keep', { dim: 3, index: 'HNSW16' });
    await c.put('/v1/collections/gone', { dim: 3 });
    await c.post('/v1/collections/keep/records', { records: [{ id: 'x', vector: [1, 2, 3], metadata: { v: 1 } }, { id: 2, vector: base64([3, 2, 1]) }] });
    await c.post('/v1/collections/keep/records/delete', { ids: [2] });
    await c.post('/v1/collections/keep/records', { records: [{ id: 3, vector: [0, 1, 0] }] });
    await c.del('/v1/collections/gone');
    await a.close();
    await a.close(); // idempotent
    expect((await fetch(`${a.url}/healthz`).catch(() => null))).toBeNull();
    await expect(a.listen()).rejects.toThrow(/closed/);

    const b = createServer({ dataDir, port: 0, logLevel: 'silent' });
    await b.listen();
    const d = client(b);
    const list = await d.get('/v1/collections');
    expect(list.json.collections.map((x: { name: string }) => x.name)).toEqual(['keep']);
    expect(list.json.collections[0]).toMatchObject({ size: 2, index: 'HNSW16', dim: 3 });
    expect((await d.post('/v1/collections/keep/records/get', { ids: ['x', 2, 3] })).json.records).toEqual([
      { id: 'x', metadata: { v: 1 }, vector: [1, 2, 3] },
      { id: 3, vector: [0, 1, 0] },
    ]);
    await b.close();
  });

  it('a second server on the same data directory fails to start (LOCKED)', async () => {
    const dataDir = tempDir();
    await start({ dataDir });
    const second = createServer({ dataDir, port: 0, logLevel: 'silent' });
    await expect(second.listen()).rejects.toMatchObject({ code: 'LOCKED' });
  });

  it('close() lets a request in flight finish, then refuses new connections', async () => {
    const dataDir = tempDir();
    const s = createServer({ dataDir, port: 0, logLevel: 'silent' });
    await s.listen();
    const c = client(s);
    await c.put('/v1/collections/g', { dim: 2 });
    const body = JSON.stringify({ records: [{ id: 'late', vector: [1, 0] }] });
    const sock = await openRequest(s.url, '/v1/collections/g/records', body.length, body.slice(0, 5));
    const reply = responseOf(sock);
    await new Promise((r) => setTimeout(r, 50)); // the server has the request head
    const closing = s.close();
    await new Promise((r) => setTimeout(r, 50));
    sock.write(body.slice(5));
    expect(await reply).toMatch(/^HTTP\/1\.1 200[\s\S]*"upserted":1/);
    await closing;
    sock.destroy();
    await expect(fetch(`${s.url}/healthz`)).rejects.toThrow();

    const again = await start({ dataDir });
    expect((await client(again).post('/v1/collections/g/records/get', { ids: ['late'] })).json.records).toHaveLength(1);
  });

  it('a read-only server serves reads and refuses writes', async () => {
    const dataDir = tempDir();
    const w = await start({ dataDir });
    await client(w).put('/v1/collections/ro', { dim: 2 });
    await client(w).post('/v1/collections/ro/records', { records: [{ id: 1, vector: [1, 0] }] });
    await w.close();
    const r = await start({ dataDir, readOnly: true });
    const c = client(r);
    expect((await c.get('/v1/collections/ro')).json).toMatchObject({ size: 1, status: 'readOnly' });
    expect((await c.post('/v1/collections/ro/search', { vector: [1, 0], k: 1 })).json.hits[0].id).toBe(1);
    const up = await c.post('/v1/collections/ro/records', { records: [{ id: 2, vector: [1, 0] }] });
    expect(up.status).toBeGreaterThanOrEqual(400);
    expect(up.status).toBeLessThan(500);
    const mk = await c.put('/v1/collections/new', { dim: 2 });
    expect(mk.status).toBeGreaterThanOrEqual(400);
    expect(mk.status).toBeLessThan(500);
  });
});
