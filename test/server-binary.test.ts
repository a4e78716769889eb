// Binary bulk upserts on the native API: POST /v1/collections/{name}/records with an
// application/octet-stream body of n × dim little-endian float32 rows, ids from ?firstId=N or
// assigned by the store; every malformed body is a 4xx that changes nothing.
import { afterAll, describe, expect, it } from 'vitest';
import { float32View } from '../dist/server/vectors.js';
import { cleanup, client, fingerprint, start, tempDir } from './server-helpers.js';

afterAll(cleanup);

const OCTET = 'application/octet-stream';

/** Little-endian float32 bytes of rows (the byte order numpy's astype('<f4').tobytes() writes). */
function rowsBody(rows: number[][]): Buffer {
  const b = Buffer.alloc(rows.length * rows[0].length * 4);
  rows.flat().forEach((x, i) => b.writeFloatLE(x, i * 4));
  return b;
}

const round = (x: number) => Math.fround(x);

describe('application/octet-stream upserts', () => {
  it('stores rows under firstId, firstId + 1, … and they read back bit for bit', async () => {
    const s = await start();
    const c = client(s);
    await c.put('/v1/collections/b', { dim: 3, metric: 'euclidean' });
    const rows = [[0.1, 0.2, 0.3], [1e-30, -2.5, 3e15], [7, 8, 9]];
    const r = await c.raw('POST', '/v1/collections/b/records?firstId=40', rowsBody(rows), OCTET);
    expect([r.status, r.json]).toEqual([200, { upserted: 3 }]);
    const got = await c.post('/v1/collections/b/records/get', { ids: [40, 41, 42, 43] });
    expect(got.json.records).toEqual(rows.map((v, i) => ({ id: 40 + i, vector: v.map(round) })));
    const hits = await c.post('/v1/collections/b/search', { vector: [7, 8, 9], k: 1 });
    expect(hits.json.hits[0]).toMatchObject({ id: 42, distance: 0 });
  });

  it('without firstId the store assigns ids and returns them in row order', async () => {
    const s = await start();
    const c = client(s);
    await c.put('/v1/collections/a', { dim: 2 });
    await c.post('/v1/collections/a/records', { records: [{ id: 5, vector: [1, 0], metadata: { json: true } }] });
    const r = await c.raw('POST', '/v1/collections/a/records', rowsBody([[0, 1], [1, 1], [2, 1]]), OCTET);
    expect(r.status).toBe(200);
    expect(r.json.upserted).toBe(3);
    expect(r.json.ids).toHaveLength(3);
    expect(new Set([...r.json.ids, 5]).size).toBe(4); // fresh ids, none of them taken
    const got = await c.post('/v1/collections/a/records/get', { ids: r.json.ids });
    expect(got.json.records.map((x: { vector: number[] }) => x.vector)).toEqual([[0, 1], [1, 1], [2, 1]]);
    expect((await c.post('/v1/collections/a/records/count', {})).json.count).toBe(4);
  });

  it('replaces existing records (vector, and no metadata), and survives a restart', async () => {
    const dataDir = tempDir();
    const s = await start({ dataDir });
    const c = client(s);
    await c.put('/v1/collections/r', { dim: 2, index: 'HNSW16' });
    await c.post('/v1/collections/r/records', { records: [{ id: 0, vector: [1, 0], metadata: { old: 1 } }, { id: 'x', vector: [0, 1] }] });
    expect((await c.raw('POST', '/v1/collections/r/records?firstId=0', rowsBody([[3, 4], [5, 6]]), OCTET)).status).toBe(200);
    const expected = [{ id: 0, vector: [3, 4] }, { id: 1, vector: [5, 6] }, { id: 'x', vector: [0, 1] }];
    expect((await c.post('/v1/collections/r/records/get', { ids: [0, 1, 'x'] })).json.records).toEqual(expected);
    await s.close();
    const t = await start({ dataDir });
    expect((await client(t).post('/v1/collections/r/records/get', { ids: [0, 1, 'x'] })).json.records).toEqual(expected);
  });

  it('a body that is not whole rows is 400, an empty one too; a non-finite value is 400; none changes anything', async () => {
    const s = await start();
    const c = client(s);
    await c.put('/v1/collections/e', { dim: 4 });
    await c.raw('POST', '/v1/collections/e/records?firstId=0', rowsBody([[1, 2, 3, 4]]), OCTET);
    const before = await fingerprint(s);
    const nan = rowsBody([[1, 2, 3, 4], [1, 2, 3, 4]]); nan.writeFloatLE(Number.NaN, 20);
    const inf = rowsBody([[1, 2, 3, 4]]); inf.writeFloatLE(Number.POSITIVE_INFINITY, 0);
    const cases: [Buffer, string, number, string][] = [
      [Buffer.alloc(15), '', 400, 'INVALID_ARGUMENT'],
      [Buffer.alloc(17), '', 400, 'INVALID_ARGUMENT'],
      [Buffer.alloc(0), '', 400, 'INVALID_ARGUMENT'],
      [nan, '', 400, 'NON_FINITE_VALUE'],
      [inf, '?firstId=3', 400, 'NON_FINITE_VALUE'],
      [rowsBody([[1, 2, 3, 4]]), '?firstId=-1', 400, 'INVALID_ARGUMENT'],
      [rowsBody([[1, 2, 3, 4]]), '?firstId=1.5', 400, 'INVALID_ARGUMENT'],
      [rowsBody([[1, 2, 3, 4]]), '?firstId=007', 400, 'INVALID_ARGUMENT'],
      [rowsBody([[1, 2, 3, 4]]), '?firstId=99999999999999999', 400, 'INVALID_ARGUMENT'],
      [rowsBody([[1, 2, 3, 4], [1, 2, 3, 4]]), `?firstId=${Number.MAX_SAFE_INTEGER}`, 400, 'INVALID_ARGUMENT'],
      [rowsBody([[1, 2, 3, 4]]), '?firstId=1&other=2', 400, 'INVALID_ARGUMENT'],
    ];
    for (const [body, query, status, code] of cases) {
      const r = await c.raw('POST', `/v1/collections/e/records${query}`, body, OCTET);
      expect([r.status, r.json?.error?.code], `${body.length} bytes ${query}`).toEqual([status, code]);
    }
    expect(r0(await c.raw('POST', '/v1/collections/nope/records', rowsBody([[1, 2, 3, 4]]), OCTET))).toEqual([404, 'NOT_FOUND']);
    // The last id that fits is fine.
    expect((await c.raw('POST', `/v1/collections/e/records?firstId=${Number.MAX_SAFE_INTEGER}`, rowsBody([[1, 2, 3, 4]]), OCTET)).status).toBe(200);
    expect(await fingerprint(s)).not.toBe(before);
  });

  it('firstId with a JSON body is 400; other routes still refuse octet-stream with 415', async () => {
    const s = await start();
    const c = client(s);
    await c.put('/v1/collections/j', { dim: 2 });
    const before = await fingerprint(s);
    const r = await c.raw('POST', '/v1/collections/j/records?firstId=1', JSON.stringify({ records: [{ id: 1, vector: [1, 2] }] }), 'application/json');
    expect(r0(r)).toEqual([400, 'INVALID_ARGUMENT']);
    expect(r0(await c.raw('POST', '/v1/collections/j/records/count', Buffer.alloc(0), OCTET))).toEqual([415, 'UNSUPPORTED']);
    expect(r0(await c.raw('POST', '/v1/collections/j/records/delete', Buffer.alloc(8), OCTET))).toEqual([415, 'UNSUPPORTED']);
    expect(r0(await c.raw('POST', '/v1/collections/j/search', Buffer.alloc(8), OCTET))).toEqual([415, 'UNSUPPORTED']);
    expect(r0(await c.raw('PUT', '/collections/j/points', Buffer.alloc(8), OCTET))[0]).toBe(415);
    expect(await fingerprint(s)).toBe(before);
  });

  it('the body limit applies (413 one above, 200 at it), and the batch limit to rows', async () => {
    const dim = 4;
    const s = await start({ limits: { bodyBytes: 10 * dim * 4, batchSize: 10 } });
    const c = client(s);
    await c.put('/v1/collections/l', { dim });
    const ten = Buffer.alloc(10 * dim * 4, 0); ten.writeFloatLE(1, 0);
    expect((await c.raw('POST', '/v1/collections/l/records?firstId=0', ten, OCTET)).status).toBe(200);
    const before = await fingerprint(s);
    expect(r0(await c.raw('POST', '/v1/collections/l/records?firstId=0', Buffer.alloc(10 * dim * 4 + 1), OCTET))).toEqual([413, 'CAPACITY_EXCEEDED']);
    expect(r0(await c.raw('POST', '/v1/collections/l/records?firstId=0', Buffer.alloc(11 * dim * 4), OCTET))).toEqual([413, 'CAPACITY_EXCEEDED']);
    expect(await fingerprint(s)).toBe(before);

    const t = await start({ limits: { batchSize: 3 } });
    const d = client(t);
    await d.put('/v1/collections/l', { dim });
    expect(r0(await d.raw('POST', '/v1/collections/l/records', Buffer.alloc(4 * dim * 4), OCTET))).toEqual([413, 'CAPACITY_EXCEEDED']);
    expect(r0(await d.raw('POST', '/v1/collections/l/records?firstId=0', Buffer.alloc(4 * dim * 4), OCTET))).toEqual([413, 'CAPACITY_EXCEEDED']);
    expect((await d.raw('POST', '/v1/collections/l/records', Buffer.alloc(3 * dim * 4), OCTET)).status).toBe(200);
  });

  it('needs the read-write key; the OpenAPI document lists both content types and firstId', async () => {
    const s = await start({ apiKey: 'rw', readOnlyApiKey: 'ro' });
    const rw = client(s, { 'api-key': 'rw' });
    await rw.put('/v1/collections/k', { dim: 2 });
    const body = rowsBody([[1, 2]]);
    expect((await client(s).raw('POST', '/v1/collections/k/records', body, OCTET)).status).toBe(401);
    expect((await client(s, { 'api-key': 'ro' }).raw('POST', '/v1/collections/k/records', body, OCTET)).status).toBe(403);
    expect((await rw.raw('POST', '/v1/collections/k/records', body, OCTET)).status).toBe(200);
    const doc = (await rw.get('/openapi.json')).json;
    const op = doc.paths['/v1/collections/{name}/records'].post;
    expect(Object.keys(op.requestBody.content)).toEqual(['application/json', OCTET]);
    expect(op.parameters.map((p: { name: string }) => p.name)).toContain('firstId');
  });

  it('a large body: 2,000 × 96-d rows, ids consecutive', async () => {
    const s = await start();
    const c = client(s);
    const dim = 96, n = 2000;
    await c.put('/v1/collections/big', { dim, metric: 'dot' });
    const rows = Array.from({ length: n }, (_, i) => Array.from({ length: dim }, (_, j) => Math.sin(i * 31 + j)));
    expect((await c.raw('POST', '/v1/collections/big/records?firstId=1000', rowsBody(rows), OCTET)).json).toEqual({ upserted: n });
    const got = await c.post('/v1/collections/big/records/get', { ids: [1000, 1000 + n - 1, 1000 + n] });
    expect(got.json.records.map((r: { id: number }) => r.id)).toEqual([1000, 1000 + n - 1]);
    expect(got.json.records[1].vector).toEqual(rows[n - 1].map(round));
  });

  it('float32View: a view when aligned (no copy), a copy when not or when asked', () => {
    const bytes = rowsBody([[1.5, -2, 3]]);
    const aligned = Buffer.from(new ArrayBuffer(16), 4, 12); bytes.copy(aligned);
    const v = float32View(aligned, true);
    expect([...v]).toEqual([1.5, -2, 3]);
    expect(v.buffer).toBe(aligned.buffer);
    const odd = Buffer.from(new ArrayBuffer(16), 1, 12); bytes.copy(odd);
    const w = float32View(odd, true);
    expect([...w]).toEqual([1.5, -2, 3]);
    expect(w.buffer).not.toBe(odd.buffer);
    expect(float32View(aligned, false).buffer).not.toBe(aligned.buffer);
  });
});

function r0(r: { status: number; json: any }): [number, string | undefined] {
  return [r.status, r.json?.error?.code];
}
