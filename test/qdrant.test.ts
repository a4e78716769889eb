// The Qdrant-compatible API driven by the real @qdrant/js-client-rest client against the real
// server on loopback: collections, points (integer and UUID ids), retrieve, query and the legacy
// search (checked against exact results computed here), filters operator by operator, count,
// scroll to the end, delete by ids and by filter, Qdrant's error bodies and statuses, and rejected
// requests changing nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QdrantClient } from '@qdrant/js-client-rest';
import type { NearestServer } from 'nearest/server';
import { cleanup, client, fingerprint, start, tempDir } from './server-helpers.js';
import { prng as rng } from './helpers.js';

afterAll(cleanup);

type Distance = 'Cosine' | 'Euclid' | 'Dot';
type Payload = Record<string, unknown>;
interface Pt { id: number | string; vector: number[]; payload: Payload }

const CITIES = ['Berlin', 'Paris', 'Rome'];
const uuid = (i: number) => `${i.toString(16).padStart(8, '0')}-0000-4000-8000-${(i * 7919).toString(16).padStart(12, '0')}`;

function makePoints(n: number, dim: number, seed: number): Pt[] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => {
    const payload: Payload = { city: CITIES[i % 3], n: i, even: i % 2 === 0, tags: [`t${i % 4}`, `t${(i + 1) % 4}`], address: { zip: i % 5 } };
    if (i % 4 !== 0) payload.opt = `o${i % 3}`;
    if (i % 6 === 0) payload.nul = null;
    return { id: i % 3 === 0 ? uuid(i) : i, vector: Array.from({ length: dim }, () => Math.round((r() * 2 - 1) * 1000) / 1000), payload };
  });
}

const f32 = (v: number[]) => Array.from(new Float32Array(v));

/** Qdrant's score of a stored (float32) vector against a query, computed in float64. */
function qscore(d: Distance, q: number[], v: number[]): number {
  const a = f32(q), b = f32(v);
  let dot = 0, na = 0, nb = 0, l2 = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i]! * b[i]!; na += a[i]! ** 2; nb += b[i]! ** 2; l2 += (a[i]! - b[i]!) ** 2; }
  return d === 'Cosine' ? dot / Math.sqrt(na * nb) : d === 'Dot' ? dot : Math.sqrt(l2);
}

/** The exact top k (Euclid ascending, the others descending). */
function expected(d: Distance, pts: Pt[], q: number[], k: number, keep: (p: Pt) => boolean = () => true): { id: number | string; score: number }[] {
  const scored = pts.filter(keep).map((p) => ({ id: p.id, score: qscore(d, q, p.vector) }));
  scored.sort((x, y) => (d === 'Euclid' ? x.score - y.score : y.score - x.score));
  return scored.slice(0, k);
}

function expectHits(got: { id: unknown; score: number }[], want: { id: number | string; score: number }[]): void {
  expect(got.map((h) => h.id)).toEqual(want.map((h) => h.id));
  got.forEach((h, i) => expect(h.score).toBeCloseTo(want[i]!.score, 4));
}

async function status(p: Promise<unknown>): Promise<{ status: number; error: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as { status?: number; data?: { status?: { error?: string } } };
    return { status: err.status ?? -1, error: err.data?.status?.error ?? '' };
  }
  throw new Error('expected the request to fail');
}

let server: NearestServer;
let qc: QdrantClient;

beforeAll(async () => {
  server = await start();
  qc = new QdrantClient({ url: server.url, checkCompatibility: false });
});

describe('qdrant: service and collections', () => {
  it('GET / answers title and version; the client version check passes', async () => {
    const info = await qc.versionInfo();
    expect(info.title).toMatch(/qdrant/);
    expect(info.version).toMatch(/^1\.19\./);
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (m: string) => { warnings.push(m); };
    try {
      const c = new QdrantClient({ url: server.url });
      await c.versionInfo();
      await new Promise((r) => setTimeout(r, 50));
    } finally { console.warn = warn; }
    expect(warnings).toEqual([]);
  });

  it('creates, describes, lists, checks and deletes collections', async () => {
    expect(await qc.createCollection('c1', { vectors: { size: 4, distance: 'Cosine' } })).toBe(true);
    expect(await qc.createCollection('c2', { vectors: { size: 3, distance: 'Euclid' }, hnsw_config: { m: 0 } })).toBe(true);
    expect(await qc.createCollection('c3', { vectors: { size: 3, distance: 'Dot' }, hnsw_config: { m: 8, ef_construct: 64 } })).toBe(true);
    const info = await qc.getCollection('c1');
    expect(info.status).toBe('green');
    expect(info.points_count).toBe(0);
    expect(info.config.params.vectors).toEqual({ size: 4, distance: 'Cosine' });
    expect(info.config.hnsw_config.m).toBe(16);
    expect((await qc.getCollection('c2')).config.params.vectors).toEqual({ size: 3, distance: 'Euclid' });
    expect((await qc.getCollection('c3')).config.hnsw_config.m).toBe(8);
    const names = (await qc.getCollections()).collections.map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['c1', 'c2', 'c3']));
    expect(await qc.collectionExists('c1')).toEqual({ exists: true });
    expect(await qc.collectionExists('nope')).toEqual({ exists: false });

    const before = await fingerprint(server);
    expect(await status(qc.createCollection('c1', { vectors: { size: 4, distance: 'Cosine' } }))).toMatchObject({ status: 409, error: expect.stringMatching(/already exists/) });
    expect((await status(qc.createCollection('c4', { vectors: { size: 4, distance: 'Manhattan' } })))).toMatchObject({ status: 400, error: expect.stringMatching(/distance/) });
    expect((await status(qc.createCollection('c4', { vectors: { named: { size: 4, distance: 'Cosine' } } as never })))).toMatchObject({ status: 400 });
    expect((await status(qc.createCollection('c4', { vectors: { size: 4, distance: 'Cosine' }, sparse_vectors: { s: {} } })))).toMatchObject({ status: 400, error: expect.stringMatching(/sparse_vectors/) });
    expect(await fingerprint(server)).toBe(before);

    expect(await qc.deleteCollection('c2')).toBe(true);
    expect(await qc.deleteCollection('c2')).toBe(false);
    expect(await qc.collectionExists('c2')).toEqual({ exists: false });
    expect(await status(qc.getCollection('c2'))).toEqual({ status: 404, error: 'Not found: Collection `c2` doesn\'t exist!' });
  });

  it('a collection dropped and made again with another index takes hnsw_ef as its new index does', async () => {
    for (const m of [16, 0, 8]) {
      await qc.createCollection('re', { vectors: { size: 2, distance: 'Dot' }, hnsw_config: { m } });
      await qc.upsert('re', { points: [{ id: 1, vector: [1, 0] }, { id: 2, vector: [0, 1] }] });
      const res = await qc.query('re', { query: [1, 0.5], limit: 2, params: { hnsw_ef: 32 } });
      expect(res.points.map((p) => p.id)).toEqual([1, 2]);
      expect((await qc.getCollection('re')).config.hnsw_config.m).toBe(m);
      expect(await qc.deleteCollection('re')).toBe(true);
    }
  });

  it('answers errors as { status: { error }, time } over plain HTTP too', async () => {
    const h = client(server);
    const r = await h.get('/collections/none');
    expect(r.status).toBe(404);
    expect(r.json.status.error).toMatch(/doesn't exist/);
    expect(typeof r.json.time).toBe('number');
    const bad = await h.raw('PUT', '/collections/x', '{not json', 'application/json');
    expect(bad.status).toBe(400);
    expect(typeof bad.json.status.error).toBe('string');
    for (const [m, path] of [['GET', '/collections/x/aliases'], ['POST', '/collections/x/points/recommend'], ['DELETE', '/collections/x/points'], ['PATCH', '/collections/x']] as const) {
      const u = m === 'GET' ? await h.get(path) : m === 'DELETE' ? await h.del(path) : await h.raw(m, path, '{}', 'application/json');
      expect(u.status, `${m} ${path}`).toBe(404);
      expect(u.json.status.error, `${m} ${path}`).toMatch(/no route/);
    }
    const okr = await h.get('/collections');
    expect(okr.json).toMatchObject({ status: 'ok', result: { collections: expect.any(Array) } });
    expect(typeof okr.json.time).toBe('number');
  });
});

describe('qdrant: points', () => {
  const dim = 6;
  const pts = makePoints(60, dim, 7);

  beforeAll(async () => {
    for (const d of ['Cosine', 'Euclid', 'Dot'] as const) {
      await qc.createCollection(`p_${d}`, { vectors: { size: dim, distance: d }, hnsw_config: { m: 0 } });
      await qc.upsert(`p_${d}`, { wait: true, points: pts.slice(0, 30) });
      await qc.upsert(`p_${d}`, { wait: true, batch: { ids: pts.slice(30).map((p) => p.id), vectors: pts.slice(30).map((p) => p.vector), payloads: pts.slice(30).map((p) => p.payload) } });
    }
    await qc.createCollection('p_hnsw', { vectors: { size: dim, distance: 'Cosine' }, hnsw_config: { m: 4, ef_construct: 8 } });
    await qc.upsert('p_hnsw', { wait: true, points: pts });
  });

  it('counts what was upserted, with integer and UUID ids', async () => {
    expect((await qc.getCollection('p_Cosine')).points_count).toBe(60);
    expect(await qc.count('p_Euclid', { exact: true })).toEqual({ count: 60 });
  });

  it('retrieves by id with payload and vector (Cosine vectors normalised, as Qdrant stores them)', async () => {
    const ids = [pts[1]!.id, pts[3]!.id, 999, pts[3]!.id];
    const got = await qc.retrieve('p_Euclid', { ids, with_payload: true, with_vector: true });
    expect(got.map((p) => p.id)).toEqual([pts[1]!.id, pts[3]!.id]);
    expect(got[1]!.payload).toEqual(pts[3]!.payload);
    (got[1]!.vector as number[]).forEach((x, i) => expect(x).toBeCloseTo(pts[3]!.vector[i]!, 6));
    const cos = await qc.retrieve('p_Cosine', { ids: [pts[4]!.id], with_vector: true, with_payload: false });
    const v = pts[4]!.vector, n = Math.hypot(...v);
    expect(cos[0]!.payload ?? undefined).toBeUndefined();
    (cos[0]!.vector as number[]).forEach((x, i) => expect(x).toBeCloseTo(v[i]! / n, 5));
    const sel = await qc.retrieve('p_Dot', { ids: [pts[5]!.id], with_payload: ['city', 'address.zip'] });
    expect(sel[0]!.payload).toEqual({ city: pts[5]!.payload.city, address: { zip: 0 } });
    expect(sel[0]!.vector ?? undefined).toBeUndefined();
    const ex = await qc.retrieve('p_Dot', { ids: [pts[5]!.id], with_payload: { exclude: ['tags', 'address'] } });
    expect(Object.keys(ex[0]!.payload!).sort()).toEqual(['city', 'even', 'n', 'opt']);
  });

  it('accepts UUIDs in any case and returns them canonical', async () => {
    await qc.createCollection('ids', { vectors: { size: 2, distance: 'Dot' } });
    await qc.upsert('ids', { points: [{ id: 'A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D', vector: [1, 2], payload: { a: 1 } }, { id: 0, vector: [3, 4] }] });
    const got = await qc.retrieve('ids', { ids: ['a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d', 0] });
    expect(got).toEqual([{ id: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d', payload: { a: 1 } }, { id: 0, payload: {} }]);
    // the simple, braced and urn forms name the same point; a repeated id keeps its last point
    await qc.upsert('ids', { wait: false, points: [{ id: 'a1b2c3d4e5f64a7b8c9d0e1f2a3b4c5d', vector: [5, 5], payload: { a: 2 } }, { id: '{A1B2C3D4-E5F6-4A7B-8C9D-0E1F2A3B4C5D}', vector: [6, 6], payload: { a: 3 } }] });
    expect(await qc.count('ids')).toEqual({ count: 2 });
    expect(await qc.retrieve('ids', { ids: ['urn:uuid:a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d'], with_vector: true })).toEqual([{ id: 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d', payload: { a: 3 }, vector: [6, 6] }]);
  });

  for (const d of ['Cosine', 'Euclid', 'Dot'] as const) {
    it(`query and legacy search give the exact ${d} results and scores`, async () => {
      const r = rng(99);
      for (let t = 0; t < 5; t++) {
        const q = Array.from({ length: dim }, () => r() * 2 - 1);
        const want = expected(d, pts, q, 7);
        const res = await qc.query(`p_${d}`, { query: q, limit: 7, with_payload: true });
        expectHits(res.points, want);
        expect(res.points[0]!.payload).toEqual(pts.find((p) => p.id === want[0]!.id)!.payload);
        expectHits((await qc.query(`p_${d}`, { query: { nearest: q }, limit: 7 })).points, want);
        const legacy = await client(server).post(`/collections/p_${d}/points/search`, { vector: q, limit: 7, with_payload: false });
        expect(legacy.status).toBe(200);
        expectHits(legacy.json.result, want);
        expect(legacy.json.result[0].payload).toBeUndefined();
        // offset skips the best ones
        expectHits((await qc.query(`p_${d}`, { query: q, limit: 3, offset: 2 })).points, want.slice(2, 5));
      }
    });
  }

  it('batch queries and searches answer each request in order; a bad one fails the batch', async () => {
    const qs = [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6], [-1, 0, 1, 0, -1, 0], [0, 0, 0, 1, 0, 0]];
    const res = await qc.queryBatch('p_Dot', { searches: qs.map((q, i) => ({ query: q, limit: 3 + i, filter: i === 2 ? { must: [{ key: 'even', match: { value: true } }] } : undefined })) });
    expect(res.length).toBe(3);
    res.forEach((r, i) => expectHits(r.points, expected('Dot', pts, qs[i]!, 3 + i, i === 2 ? (p) => p.payload.even === true : undefined)));
    const legacy = await client(server).post('/collections/p_Dot/points/search/batch', { searches: qs.map((q) => ({ vector: q, limit: 2 })) });
    expect(legacy.status).toBe(200);
    legacy.json.result.forEach((r: { id: unknown; score: number }[], i: number) => expectHits(r, expected('Dot', pts, qs[i]!, 2)));
    expect((await status(qc.queryBatch('p_Dot', { searches: [{ query: qs[0]!, limit: 1 }, { query: [1, 2], limit: 1 }] }))).status).toBe(400);
  });

  it('gets one point by id; payload indexes are accepted and change nothing', async () => {
    const one = await qc.api().getPoint({ collection_name: 'p_Euclid', id: pts[3]!.id });
    expect(one.data.result).toMatchObject({ id: pts[3]!.id, payload: pts[3]!.payload });
    const two = await qc.api().getPoint({ collection_name: 'p_Euclid', id: pts[4]!.id });
    expect(two.data.result!.id).toBe(pts[4]!.id);
    expect((await status(qc.api().getPoint({ collection_name: 'p_Euclid', id: 4242 }))).status).toBe(404);
    const before = await fingerprint(server);
    expect((await qc.createPayloadIndex('p_Euclid', { field_name: 'city', field_schema: 'keyword', wait: true })).status).toBe('completed');
    expect((await qc.deletePayloadIndex('p_Euclid', 'city')).status).toBe('completed');
    expect(await fingerprint(server)).toBe(before);
    expect((await status(qc.createPayloadIndex('missing', { field_name: 'city', field_schema: 'keyword' }))).status).toBe(404);
  });

  it('score_threshold follows Qdrant: a floor for Cosine and Dot, a ceiling on the distance for Euclid', async () => {
    const q = [0.3, -0.2, 0.5, 0.1, 0, 0.4];
    const cos = expected('Cosine', pts, q, 60);
    const t = (cos[9]!.score + cos[10]!.score) / 2; // between two scores: float32 rounding cannot flip it
    expect((await qc.query('p_Cosine', { query: q, limit: 60, score_threshold: t })).points.map((p) => p.id)).toEqual(cos.filter((h) => h.score >= t).map((h) => h.id));
    const eu = expected('Euclid', pts, q, 60);
    const te = (eu[9]!.score + eu[10]!.score) / 2;
    expect((await qc.query('p_Euclid', { query: q, limit: 60, score_threshold: te })).points.map((p) => p.id)).toEqual(eu.filter((h) => h.score <= te).map((h) => h.id));
  });

  it('exact: true gives the exact results on an HNSW collection; hnsw_ef is accepted', async () => {
    const r = rng(5);
    for (let t = 0; t < 5; t++) {
      const q = Array.from({ length: dim }, () => r() * 2 - 1);
      const want = expected('Cosine', pts, q, 10);
      expectHits((await qc.query('p_hnsw', { query: q, limit: 10, params: { exact: true } })).points, want);
      const legacy = await client(server).post('/collections/p_hnsw/points/search', { vector: q, limit: 10, params: { exact: true } });
      expectHits(legacy.json.result, want);
      const approx = await qc.query('p_hnsw', { query: q, limit: 10, params: { hnsw_ef: 128 } });
      expect(approx.points.length).toBe(10);
    }
    const wf = expected('Cosine', pts, [1, 0, 0, 0, 0, 0], 5, (p) => p.payload.city === 'Rome');
    expectHits((await qc.query('p_hnsw', { query: [1, 0, 0, 0, 0, 0], limit: 5, filter: { must: [{ key: 'city', match: { value: 'Rome' } }] }, params: { exact: true } })).points, wf);
  });

  it('with_vector on search returns the vectors', async () => {
    const res = await qc.query('p_Euclid', { query: pts[2]!.vector, limit: 1, with_vector: true });
    expect(res.points[0]!.id).toBe(pts[2]!.id);
    expect(res.points[0]!.score).toBeCloseTo(0, 6);
    (res.points[0]!.vector as number[]).forEach((x, i) => expect(x).toBeCloseTo(pts[2]!.vector[i]!, 6));
  });

  it('scrolls every point in id order (integers, then UUIDs), page by page', async () => {
    const seen: (number | string)[] = [];
    let offset: number | string | null | undefined;
    let pages = 0;
    do {
      const page = await qc.scroll('p_Dot', { limit: 7, ...(offset !== undefined && offset !== null ? { offset } : {}), with_payload: true });
      expect(page.points.length).toBeLessThanOrEqual(7);
      for (const p of page.points) { seen.push(p.id); expect(p.payload).toEqual(pts.find((x) => x.id === p.id)!.payload); }
      offset = page.next_page_offset as number | string | null;
      pages++;
    } while (offset !== null && offset !== undefined);
    expect(pages).toBe(Math.ceil(60 / 7));
    const ints = pts.filter((p) => typeof p.id === 'number').map((p) => p.id as number).sort((a, b) => a - b);
    const uuids = pts.filter((p) => typeof p.id === 'string').map((p) => p.id as string).sort();
    expect(seen).toEqual([...ints, ...uuids]);
    // with a filter
    const rome: (number | string)[] = [];
    offset = undefined;
    do {
      const page = await qc.scroll('p_Dot', { limit: 4, filter: { must: [{ key: 'city', match: { value: 'Rome' } }] }, ...(offset != null ? { offset } : {}), with_payload: false });
      for (const p of page.points) { rome.push(p.id); expect(p.payload ?? undefined).toBeUndefined(); }
      offset = page.next_page_offset as number | string | null;
    } while (offset != null);
    expect(rome).toEqual([...ints, ...uuids].filter((id) => pts.find((p) => p.id === id)!.payload.city === 'Rome'));
  });
});

describe('qdrant: filters', () => {
  const dim = 4;
  const pts = makePoints(48, dim, 3);
  const q = [0.1, 0.2, -0.3, 0.4];
  beforeAll(async () => {
    await qc.createCollection('f', { vectors: { size: dim, distance: 'Euclid' }, hnsw_config: { m: 0 } });
    await qc.upsert('f', { points: pts });
  });

  const P = (p: Pt) => p.payload as Record<string, any>;
  const cases: [string, Record<string, unknown>, (p: Pt) => boolean][] = [
    ['match value (string)', { must: [{ key: 'city', match: { value: 'Paris' } }] }, (p) => P(p).city === 'Paris'],
    ['match value (integer)', { must: [{ key: 'n', match: { value: 7 } }] }, (p) => P(p).n === 7],
    ['match value (boolean)', { must: [{ key: 'even', match: { value: true } }] }, (p) => P(p).even === true],
    ['match value on an array payload', { must: [{ key: 'tags', match: { value: 't2' } }] }, (p) => P(p).tags.includes('t2')],
    ['match any', { must: [{ key: 'city', match: { any: ['Rome', 'Berlin'] } }] }, (p) => ['Rome', 'Berlin'].includes(P(p).city)],
    ['match except (a missing key does not match)', { must: [{ key: 'opt', match: { except: ['o1'] } }] }, (p) => P(p).opt !== undefined && P(p).opt !== 'o1'],
    ['range gt / lte', { must: [{ key: 'n', range: { gt: 10, lte: 20 } }] }, (p) => P(p).n > 10 && P(p).n <= 20],
    ['range gte / lt', { must: [{ key: 'n', range: { gte: 30, lt: 33 } }] }, (p) => P(p).n >= 30 && P(p).n < 33],
    ['dotted key', { must: [{ key: 'address.zip', match: { value: 3 } }] }, (p) => P(p).address.zip === 3],
    ['should', { should: [{ key: 'n', range: { lt: 5 } }, { key: 'city', match: { value: 'Rome' } }] }, (p) => P(p).n < 5 || P(p).city === 'Rome'],
    ['must_not', { must_not: [{ key: 'city', match: { value: 'Rome' } }, { key: 'even', match: { value: true } }] }, (p) => !(P(p).city === 'Rome' || P(p).even)],
    ['must + should + must_not', { must: [{ key: 'n', range: { gte: 6 } }], should: [{ key: 'city', match: { value: 'Paris' } }, { key: 'address.zip', match: { any: [0, 1] } }], must_not: [{ key: 'tags', match: { value: 't3' } }] },
      (p) => P(p).n >= 6 && (P(p).city === 'Paris' || [0, 1].includes(P(p).address.zip)) && !P(p).tags.includes('t3')],
    ['nested filters as conditions', { must: [{ should: [{ key: 'city', match: { value: 'Berlin' } }, { must: [{ key: 'even', match: { value: false } }, { key: 'n', range: { gt: 40 } }] }] }] },
      (p) => P(p).city === 'Berlin' || (P(p).even === false && P(p).n > 40)],
    ['must_not with a nested filter', { must_not: [{ must: [{ key: 'city', match: { value: 'Paris' } }, { key: 'n', range: { lt: 20 } }] }] }, (p) => !(P(p).city === 'Paris' && P(p).n < 20)],
    ['is_null', { must: [{ is_null: { key: 'nul' } }] }, (p) => P(p).nul === null],
    ['empty filter matches everything', {}, () => true],
    ['has_id (integers and UUIDs, missing ones skipped)', { must: [{ has_id: [1, 2, uuid(3).toUpperCase(), uuid(6), 4, 9999, uuid(9999)] }] }, (p) => [1, 2, uuid(3), uuid(6), 4].includes(p.id)],
    ['has_id with other conditions (two has_id intersect)', { must: [{ has_id: [1, 2, 4, 5, 7, uuid(12)] }, { key: 'even', match: { value: false } }, { has_id: [2, 4, 5, 7, uuid(12), 8] }], should: [{ key: 'city', match: { any: ['Paris', 'Rome'] } }] },
      (p) => [5, 7].includes(p.id as number) && ['Paris', 'Rome'].includes(P(p).city)],
  ];

  for (const [name, filter, keep] of cases) {
    it(name, async () => {
      const want = pts.filter(keep);
      expect(want.length).toBeGreaterThan(0);
      expect(await qc.count('f', { filter, exact: true })).toEqual({ count: want.length });
      expectHits((await qc.query('f', { query: q, limit: 100, filter })).points, expected('Euclid', pts, q, 100, keep));
      const legacy = await client(server).post('/collections/f/points/search', { vector: q, limit: 100, filter });
      expectHits(legacy.json.result, expected('Euclid', pts, q, 100, keep));
    });
  }

  it('refuses what it cannot express with a 400 naming it, and changes nothing', async () => {
    const before = await fingerprint(server);
    const refused: [Record<string, unknown>, RegExp][] = [
      [{ should: [{ has_id: [1, 2] }] }, /has_id/],
      [{ must_not: [{ has_id: [1, 2] }] }, /has_id/],
      [{ must: [{ must: [{ has_id: [1] }] }] }, /has_id/],
      [{ must: [{ has_id: ['nope'] }] }, /UUID/],
      [{ must: [{ nested: { key: 'a', filter: { must: [] } } }] }, /nested/],
      [{ must: [{ key: 'city', match: { text: 'Par' } }] }, /text/],
      [{ must: [{ key: 'loc', geo_radius: { center: { lon: 0, lat: 0 }, radius: 1 } }] }, /geo_radius/],
      [{ must: [{ key: 'tags', values_count: { gt: 1 } }] }, /values_count/],
      [{ must: [{ is_empty: { key: 'opt' } }] }, /is_empty/],
      [{ min_should: { conditions: [], min_count: 1 } }, /min_should/],
      [{ must: [{ key: 'n', range: { gt: 'x' } }] }, /range/],
      [{ must: [{ key: 'n', match: { value: 1 }, range: { gt: 0 } }] }, /exactly one/],
      [{ foo: [] }, /foo/],
    ];
    for (const [filter, re] of refused) {
      for (const p of [() => qc.count('f', { filter }), () => qc.query('f', { query: q, limit: 3, filter }), () => qc.scroll('f', { filter }), () => qc.delete('f', { filter })]) {
        const s = await status(p());
        expect(s.status).toBe(400);
        expect(s.error).toMatch(re);
      }
    }
    expect(await fingerprint(server)).toBe(before);
    expect(await qc.count('f')).toEqual({ count: 48 });
  });
});

describe('qdrant: deletes and errors', () => {
  const dim = 3;
  const pts = makePoints(30, dim, 11);
  beforeAll(async () => {
    await qc.createCollection('d', { vectors: { size: dim, distance: 'Cosine' } });
    await qc.upsert('d', { wait: true, points: pts });
  });

  it('scrolls and deletes with has_id', async () => {
    await qc.createCollection('hid', { vectors: { size: dim, distance: 'Dot' }, hnsw_config: { m: 4 } });
    await qc.upsert('hid', { points: pts });
    const ids = [pts[2]!.id, pts[3]!.id, pts[7]!.id, pts[9]!.id, pts[10]!.id];
    const page = await qc.scroll('hid', { filter: { must: [{ has_id: ids }] }, limit: 2 });
    expect(page.points.map((p) => p.id)).toEqual([2, 7]);
    const page2 = await qc.scroll('hid', { filter: { must: [{ has_id: ids }] }, limit: 10, offset: page.next_page_offset as number });
    expect(page2.points.map((p) => p.id)).toEqual([10, pts[3]!.id, pts[9]!.id]);
    expect(page2.next_page_offset ?? null).toBeNull();
    // has_id on an HNSW collection searches those points exactly
    const hits = await qc.query('hid', { query: [1, -1, 0.5], limit: 3, filter: { must: [{ has_id: ids }] } });
    const want = pts.filter((p) => ids.includes(p.id)).map((p) => ({ id: p.id, s: p.vector[0]! - p.vector[1]! + 0.5 * p.vector[2]! })).sort((a, b) => b.s - a.s).slice(0, 3);
    expect(hits.points.map((p) => p.id)).toEqual(want.map((w) => w.id));
    await qc.delete('hid', { filter: { must: [{ has_id: ids }, { key: 'city', match: { value: 'Paris' } }] } });
    const gone = pts.filter((p) => ids.includes(p.id) && p.payload.city === 'Paris').map((p) => p.id);
    expect(gone.length).toBeGreaterThan(0);
    expect(await qc.count('hid')).toEqual({ count: 30 - gone.length });
    expect(await qc.retrieve('hid', { ids: gone })).toEqual([]);
    expect((await status(qc.scroll('hid', { limit: 0 }))).status).toBe(400);
  });

  it('deletes by ids and by filter', async () => {
    const r1 = await qc.delete('d', { wait: true, points: [pts[1]!.id, pts[3]!.id, 12345] });
    expect(r1.status).toBe('completed');
    expect(await qc.count('d')).toEqual({ count: 28 });
    expect(await qc.retrieve('d', { ids: [pts[1]!.id, pts[3]!.id] })).toEqual([]);
    await qc.delete('d', { wait: true, ordering: 'weak', filter: { must: [{ key: 'city', match: { value: 'Rome' } }] } });
    const left = pts.filter((p, i) => i !== 1 && i !== 3 && p.payload.city !== 'Rome');
    expect(await qc.count('d')).toEqual({ count: left.length });
    expect(await qc.count('d', { filter: { must: [{ key: 'city', match: { value: 'Rome' } }] } })).toEqual({ count: 0 });
    const all = await qc.scroll('d', { limit: 100 });
    expect(all.points.map((p) => p.id).sort()).toEqual(left.map((p) => p.id).sort());
  });

  it('sets, overwrites, deletes and clears payloads by ids and by filter; vectors stay', async () => {
    await qc.createCollection('pl', { vectors: { size: dim, distance: 'Euclid' } });
    await qc.upsert('pl', { points: pts.slice(0, 12) });
    const payloadOf = async (id: number | string) => (await qc.retrieve('pl', { ids: [id], with_vector: true }))[0]!;
    const p1 = pts[1]!, p2 = pts[2]!;
    await qc.setPayload('pl', { points: [p1.id, p2.id], payload: { city: 'Oslo', extra: { a: 1 } }, wait: true });
    expect((await payloadOf(p1.id)).payload).toEqual({ ...p1.payload, city: 'Oslo', extra: { a: 1 } });
    (((await payloadOf(p2.id)).vector) as number[]).forEach((x, i) => expect(x).toBeCloseTo(p2.vector[i]!, 6));
    await qc.overwritePayload('pl', { points: [p1.id], payload: { only: true } });
    expect((await payloadOf(p1.id)).payload).toEqual({ only: true });
    await qc.deletePayload('pl', { points: [p2.id], keys: ['extra.a', 'tags', 'nope'] });
    const { tags: _t, ...rest } = p2.payload;
    expect((await payloadOf(p2.id)).payload).toEqual({ ...rest, city: 'Oslo', extra: {} });
    await qc.setPayload('pl', { filter: { must: [{ key: 'city', match: { value: 'Rome' } }] }, payload: { rome: 1 } });
    expect(await qc.count('pl', { filter: { must: [{ key: 'rome', match: { value: 1 } }] } })).toEqual({ count: pts.slice(3, 12).filter((p) => p.payload.city === 'Rome').length });
    await qc.clearPayload('pl', { filter: { must: [{ key: 'rome', match: { value: 1 } }] } });
    expect(await qc.count('pl', { filter: { must: [{ key: 'city', match: { value: 'Rome' } }] } })).toEqual({ count: 0 });
    await qc.clearPayload('pl', { points: [p2.id] });
    expect((await payloadOf(p2.id)).payload).toEqual({});
    expect(await qc.count('pl')).toEqual({ count: 12 });
    const before = await fingerprint(server);
    expect(await status(qc.setPayload('pl', { points: [p1.id, 4242], payload: { x: 1 } }))).toEqual({ status: 404, error: 'Not found: No point with id 4242 found' });
    expect((await status(qc.setPayload('pl', { points: [p1.id], payload: [1] as never }))).status).toBe(400);
    expect((await status(qc.setPayload('pl', { points: [p1.id], payload: { x: 1 }, key: 'a.b' }))).error).toMatch(/key/);
    expect((await status(qc.deletePayload('pl', { keys: 'x' as never, points: [p1.id] }))).status).toBe(400);
    expect((await status(qc.clearPayload('missing', { points: [1] }))).status).toBe(404);
    expect(await fingerprint(server)).toBe(before);
    expect((await payloadOf(p1.id)).payload).toEqual({ only: true });
  });

  it('404 for a missing collection, 400 for a wrong dimension or id; rejected requests change nothing', async () => {
    const before = await fingerprint(server);
    for (const p of [
      () => qc.upsert('missing', { points: [{ id: 1, vector: [1, 2, 3] }] }),
      () => qc.query('missing', { query: [1, 2, 3] }),
      () => qc.count('missing'),
      () => qc.scroll('missing'),
      () => qc.retrieve('missing', { ids: [1] }),
      () => qc.delete('missing', { points: [1] }),
    ]) expect(await status(p())).toMatchObject({ status: 404, error: 'Not found: Collection `missing` doesn\'t exist!' });
    expect(await status(qc.upsert('d', { points: [{ id: 100, vector: [1, 2, 3] }, { id: 101, vector: [1, 2] }] }))).toEqual({ status: 400, error: 'Wrong input: Vector dimension error: expected dim: 3, got 2' });
    expect((await status(qc.query('d', { query: [1, 2] }))).status).toBe(400);
    expect((await status(qc.upsert('d', { points: [{ id: -1, vector: [1, 2, 3] }] }))).status).toBe(400);
    expect((await status(qc.upsert('d', { points: [{ id: 'not-a-uuid', vector: [1, 2, 3] }] }))).error).toMatch(/UUID/);
    expect((await status(qc.upsert('d', { points: [{ id: 1.5, vector: [1, 2, 3] }] }))).status).toBe(400);
    expect((await status(qc.upsert('d', { points: [{ id: 102, vector: { named: [1, 2, 3] } }] }))).error).toMatch(/named/);
    expect((await status(qc.upsert('d', { points: [{ id: 103, vector: [1, 2, 3], payload: [1] as never }] }))).status).toBe(400);
    expect((await status(qc.query('d', { query: { recommend: { positive: [1] } } }))).error).toMatch(/recommend/);
    expect((await status(qc.query('d', { query: [1, 2, 3], prefetch: { query: [1, 2, 3] } }))).error).toMatch(/prefetch/);
    expect((await status(qc.query('d', { query: [1, 2, 3], params: { exact: 'yes' as never } }))).status).toBe(400);
    expect((await status(qc.scroll('d', { order_by: 'n' }))).error).toMatch(/order_by/);
    expect((await status(qc.retrieve('d', { ids: ['nope'] }))).status).toBe(400);
    expect(await fingerprint(server)).toBe(before);
    expect(await qc.retrieve('d', { ids: [100, 102, 103] })).toEqual([]);
  });

  it('concurrent upserts and deletes from many clients all land; a restart keeps every answered write', async () => {
    const dir = tempDir();
    const s1 = await start({ dataDir: dir });
    const c1 = new QdrantClient({ url: s1.url, checkCompatibility: false });
    await c1.createCollection('dur', { vectors: { size: 3, distance: 'Euclid' }, hnsw_config: { m: 8 } });
    await Promise.all(Array.from({ length: 20 }, (_, b) => c1.upsert('dur', { points: Array.from({ length: 25 }, (_, j) => ({ id: b * 25 + j, vector: [b, j, 1], payload: { b, j } })) })));
    await Promise.all([c1.delete('dur', { points: [0, 1, 2] }), c1.delete('dur', { filter: { must: [{ key: 'b', match: { value: 19 } }] } })]);
    expect(await c1.count('dur')).toEqual({ count: 500 - 3 - 25 });
    const q = await c1.query('dur', { query: [3, 4, 1], limit: 1, with_payload: true });
    await s1.close();
    const s2 = await start({ dataDir: dir });
    const c2 = new QdrantClient({ url: s2.url, checkCompatibility: false });
    expect(await c2.count('dur')).toEqual({ count: 472 });
    expect((await c2.getCollection('dur')).config.hnsw_config.m).toBe(8);
    expect((await c2.query('dur', { query: [3, 4, 1], limit: 1, with_payload: true })).points).toEqual(q.points);
    expect(q.points[0]).toMatchObject({ id: 3 * 25 + 4, payload: { b: 3, j: 4 } });
    expect(q.points[0]!.score).toBeCloseTo(0, 6);
    expect(await c2.retrieve('dur', { ids: [0, 1, 2, 19 * 25] })).toEqual([]);
  });

  it('api keys: Qdrant clients pass them in the api-key header', async () => {
    const secured = await start({ apiKey: 'rw-secret', readOnlyApiKey: 'ro-secret' });
    const rw = new QdrantClient({ url: secured.url, apiKey: 'rw-secret', checkCompatibility: false });
    const ro = new QdrantClient({ url: secured.url, apiKey: 'ro-secret', checkCompatibility: false });
    const none = new QdrantClient({ url: secured.url, checkCompatibility: false });
    await rw.createCollection('k', { vectors: { size: 2, distance: 'Dot' } });
    await rw.upsert('k', { points: [{ id: 1, vector: [1, 0] }] });
    expect((await ro.query('k', { query: [1, 0] })).points.map((p) => p.id)).toEqual([1]);
    expect(await ro.count('k')).toEqual({ count: 1 });
    const denied = await status(ro.upsert('k', { points: [{ id: 2, vector: [0, 1] }] }));
    expect(denied.status).toBe(403);
    expect(typeof denied.error).toBe('string');
    expect((await status(none.getCollections())).status).toBe(401);
    expect(await rw.count('k')).toEqual({ count: 1 });
  });
});
