// The Chroma-compatible API driven by the real chromadb 3.0.0 client against the real server on
// loopback: server routes, tenants and databases, collections by name and id (get_or_create,
// hnsw:space and configuration, list / count / modify / rename / delete), add / upsert / update /
// get / query / delete / count with where and where_document, include combinations, Chroma's
// distances checked against values computed here, metadata merge semantics, bad input (4xx, never
// 5xx) and rejected requests changing nothing. Embeddings are always passed explicitly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChromaClient } from 'chromadb';
import type { NearestServer } from 'nearest/server';
import { cleanup, client, fingerprint, start, tempDir } from './server-helpers.js';
import { prng } from './helpers.js';
import { ef } from './chroma-helpers.js';

afterAll(cleanup);


let server: NearestServer;
let cc: ChromaClient;
let base: string;
const P = '/api/v2/tenants/default_tenant/databases/default_database';

beforeAll(async () => {
  server = await start();
  const u = new URL(server.url);
  cc = new ChromaClient({ host: u.hostname, port: Number(u.port) });
  base = server.url;
});

/** The status of a failing client call (the client turns statuses into error classes). */
async function failure(p: Promise<unknown>): Promise<string> {
  try { await p; } catch (e) { return (e as Error).name; }
  throw new Error('expected the call to fail');
}

const f32 = (v: number[]) => Array.from(new Float32Array(v));
function chromaDistance(space: 'l2' | 'cosine' | 'ip', q: number[], v: number[]): number {
  const a = f32(q), b = f32(v);
  let dot = 0, na = 0, nb = 0, l2 = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i]! * b[i]!; na += a[i]! ** 2; nb += b[i]! ** 2; l2 += (a[i]! - b[i]!) ** 2; }
  return space === 'l2' ? l2 : space === 'ip' ? 1 - dot : (na === 0 || nb === 0 ? 1 : 1 - dot / Math.sqrt(na * nb));
}

describe('chroma: server routes', () => {
  it('heartbeat, version, pre-flight checks, identity, healthcheck', async () => {
    expect(await cc.heartbeat()).toBeGreaterThan(1.6e18);
    expect(await cc.version()).toBe('1.0.0');
    expect(await cc.getUserIdentity()).toEqual({ user_id: '', tenant: 'default_tenant', databases: ['default_database'] });
    const c = client(server);
    expect((await c.get('/api/v2/pre-flight-checks')).json).toEqual({ max_batch_size: 10_000 });
    expect((await c.get('/api/v2/healthcheck')).json).toEqual({ is_executor_ready: true });
    expect((await c.post('/api/v2/reset', {})).status).toBe(403);
    expect((await c.get('/api/v1/heartbeat')).status).toBe(410);
    const nf = await c.get('/api/v2/nothing-here');
    expect(nf.status).toBe(404);
    expect(nf.json.error).toBe('NotFoundError');
  });

  it('tenants and databases: create, get, list, delete (with their collections)', async () => {
    const c = client(server);
    expect((await c.get('/api/v2/tenants/default_tenant')).json).toEqual({ name: 'default_tenant' });
    expect((await c.get('/api/v2/tenants/nobody')).status).toBe(404);
    expect((await c.post('/api/v2/tenants', { name: 'acme' })).status).toBe(200);
    expect((await c.post('/api/v2/tenants', { name: 'acme' })).status).toBe(409);
    expect((await c.post('/api/v2/tenants', { name: 'ab' })).status).toBe(400);
    expect((await c.post('/api/v2/tenants', {})).status).toBe(422);
    expect((await c.post('/api/v2/tenants/acme/databases', { name: 'prod' })).status).toBe(200);
    expect((await c.post('/api/v2/tenants/acme/databases', { name: 'prod' })).status).toBe(409);
    const db = await c.get('/api/v2/tenants/acme/databases/prod');
    expect(db.json).toMatchObject({ name: 'prod', tenant: 'acme' });
    expect((await c.get('/api/v2/tenants/acme/databases')).json.map((d: { name: string }) => d.name)).toEqual(['prod']);
    expect((await c.get('/api/v2/tenants/default_tenant/databases/default_database')).json.id).toBe('00000000-0000-0000-0000-000000000000');

    const other = new ChromaClient({ host: new URL(base).hostname, port: Number(new URL(base).port), tenant: 'acme', database: 'prod' });
    const col = await other.createCollection({ name: 'in-prod', embeddingFunction: ef });
    await col.add({ ids: ['x'], embeddings: [[1, 2]] });
    expect(await other.countCollections()).toBe(1);
    expect((await cc.listCollections()).map((x) => x.name)).not.toContain('in-prod');
    expect((await c.post('/api/v2/tenants/acme/databases/nope/collections', { name: 'abc' })).status).toBe(400);
    expect((await c.del('/api/v2/tenants/acme/databases/prod')).status).toBe(200);
    expect((await c.get('/api/v2/tenants/acme/databases/prod')).status).toBe(404);
    expect((await c.del('/api/v2/tenants/acme/databases/prod')).status).toBe(404);
    expect((await c.get('/v1/collections')).json.collections.map((x: { name: string }) => x.name)).not.toContain(`chroma-${col.id}`);
  });
});

describe('chroma: collections', () => {
  it('create, get_or_create, get by name and id, list, count, modify, rename, delete', async () => {
    const a = await cc.createCollection({ name: 'alpha', metadata: { team: 'x', 'hnsw:space': 'cosine' }, embeddingFunction: ef });
    expect(a.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.configuration.hnsw?.space).toBe('cosine');
    expect(await failure(cc.createCollection({ name: 'alpha', embeddingFunction: ef }))).toBe('ChromaUniqueError');
    const again = await cc.getOrCreateCollection({ name: 'alpha', metadata: { other: 1 }, embeddingFunction: ef });
    expect(again.id).toBe(a.id);
    expect(again.metadata).toEqual({ team: 'x', 'hnsw:space': 'cosine' }); // get_or_create keeps the existing one
    const b = await cc.createCollection({ name: 'beta', configuration: { hnsw: { space: 'ip', ef_search: 20, max_neighbors: 8 } }, embeddingFunction: ef });
    expect(b.configuration.hnsw).toMatchObject({ space: 'ip', ef_search: 20, max_neighbors: 8 });
    expect(b.configuration.embedding_function).toEqual({ type: 'known', name: 'no-embed', config: {} });
    const got = await cc.getCollection({ name: 'beta', embeddingFunction: ef });
    expect(got.id).toBe(b.id);
    const c = client(server);
    const byId = await c.get(`${P}/collections/${b.id}`);
    expect(byId.json.name).toBe('beta'); // an id works where Chroma takes a name, too
    expect(byId.json.dimension).toBeNull();
    const names = (await cc.listCollections()).map((x) => x.name);
    expect(names).toEqual(expect.arrayContaining(['alpha', 'beta']));
    expect(await cc.countCollections()).toBe(names.length);
    expect((await cc.listCollections({ limit: 1, offset: 1 })).length).toBe(1);

    await b.modify({ name: 'gamma', metadata: { v: 2 } });
    expect(await failure(cc.getCollection({ name: 'beta', embeddingFunction: ef }))).toBe('ChromaNotFoundError');
    const g = await cc.getCollection({ name: 'gamma', embeddingFunction: ef });
    expect(g.id).toBe(b.id);
    expect(g.metadata).toEqual({ v: 2 });
    expect((await c.put(`${P}/collections/${b.id}`, { new_name: 'alpha' })).status).toBe(409);
    expect((await c.put(`${P}/collections/${b.id}`, { new_configuration: { hnsw: { ef_search: 33 } } })).status).toBe(200);
    expect((await cc.getCollection({ name: 'gamma', embeddingFunction: ef })).configuration.hnsw?.ef_search).toBe(33);

    await g.add({ ids: ['1'], embeddings: [[1, 0, 0]] });
    expect((await c.get(`${P}/collections/gamma`)).json.dimension).toBe(3);
    await cc.deleteCollection({ name: 'gamma' });
    expect(await failure(cc.getCollection({ name: 'gamma', embeddingFunction: ef }))).toBe('ChromaNotFoundError');
    expect(await failure(cc.deleteCollection({ name: 'gamma' }))).toBe('ChromaNotFoundError');
    expect(await failure(g.count())).toBe('ChromaNotFoundError');
  });

  it('bad names, spaces and configurations are 400 / 422', async () => {
    const c = client(server);
    for (const body of [{ name: 'ab' }, { name: '-abc' }, { name: 'a..b' }, { name: 'x'.repeat(600) }, { name: 'ok-name', metadata: { 'hnsw:space': 'hamming' } },
      { name: 'ok-name', metadata: {} }, { name: 'ok-name', metadata: { 'hnsw:bogus': 1 } }, { name: 'ok-name', configuration: { hnsw: { max_neighbors: 1 } } }]) {
      expect((await c.post(`${P}/collections`, body)).status, JSON.stringify(body).slice(0, 80)).toBe(400);
    }
    for (const body of [{}, { name: 5 }, { name: 'ok-name', metadata: { a: null } }, { name: 'ok-name', configuration: { hnsw: { bogus: 1 } } }, { name: 'ok-name', get_or_create: 'yes' }]) {
      expect((await c.post(`${P}/collections`, body)).status, JSON.stringify(body)).toBe(422);
    }
    expect((await c.post(`${P}/collections/not-a-uuid/get`, {})).status).toBe(400);
    expect((await c.post(`${P}/collections/11111111-1111-4111-8111-111111111111/get`, {})).status).toBe(404);
  });
});

describe('chroma: records', () => {
  it('add / get / count / upsert / update / delete with Chroma semantics', async () => {
    const col = await cc.createCollection({ name: 'records', embeddingFunction: ef });
    await col.add({
      ids: ['a', 'b', 'c', 'd'], embeddings: [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]],
      metadatas: [{ x: 1, s: 'hi', k: true }, { x: 2 }, undefined as never, { x: 4, f: 1.5, 'a.b': 'dotted', $d: 'dollar' }],
      documents: ['hello world', 'foo bar', 'now doc', 'Hello'], uris: ['u1', 'u2', 'u3', 'u4'],
    });
    expect(await col.count()).toBe(4);
    await col.add({ ids: ['a', 'e'], embeddings: [[9, 9, 9], [2, 2, 2]], metadatas: [{ x: 100 }, { z: 1 }] }); // an existing id is ignored
    let r = await col.get({ include: ['metadatas', 'documents', 'uris', 'embeddings'] as never });
    expect(r.ids).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(r.metadatas).toEqual([{ x: 1, s: 'hi', k: true }, { x: 2 }, null, { x: 4, f: 1.5, 'a.b': 'dotted', $d: 'dollar' }, { z: 1 }]);
    expect(r.embeddings[0]).toEqual([1, 0, 0]);
    expect(r.documents).toEqual(['hello world', 'foo bar', 'now doc', 'Hello', null]);
    expect(r.uris).toEqual(['u1', 'u2', 'u3', 'u4', null]);

    // upsert merges metadata (a null removes a key), keeps the document and uri not given
    await col.upsert({ ids: ['a', 'f'], embeddings: [[1, 0, 0.5], [3, 3, 3]], metadatas: [{ x: null, y: 'new' } as never, { w: 1 }] });
    // update skips a missing id, keeps the embedding when none is given
    // (raw: with documents and no embeddings the client would call its embedding function)
    expect((await client(server).post(`${P}/collections/${col.id}/update`, { ids: ['b', 'zz'], metadatas: [{ x: null }, { q: 1 }], documents: ['new b', 'nothing'] })).status).toBe(200);
    await col.update({ ids: ['c'], embeddings: [[0, 0, 2]] });
    r = await col.get({ ids: ['f', 'c', 'b', 'a'], include: ['metadatas', 'documents', 'uris', 'embeddings'] as never });
    expect(r.ids).toEqual(['a', 'b', 'c', 'f']); // insertion order, not request order
    expect(r.metadatas).toEqual([{ s: 'hi', k: true, y: 'new' }, null, null, { w: 1 }]);
    expect(r.documents).toEqual(['hello world', 'new b', 'now doc', null]);
    expect(r.uris).toEqual(['u1', 'u2', 'u3', null]);
    expect(r.embeddings).toEqual([[1, 0, 0.5], [0, 1, 0], [0, 0, 2], [3, 3, 3]]);
    expect(await col.count()).toBe(6);

    // where: $ne and $nin match records that lack the key; dotted and $ keys are plain keys
    const ids = async (where: object, whereDocument?: object) => (await col.get({ where: where as never, whereDocument: whereDocument as never, include: [] })).ids;
    expect(await ids({ x: { $ne: 4 } })).toEqual(['a', 'b', 'c', 'e', 'f']);
    expect(await ids({ x: 4 })).toEqual(['d']);
    expect(await ids({ x: { $gte: 4 } })).toEqual(['d']);
    expect(await ids({ f: { $lt: 2 } })).toEqual(['d']);
    expect(await ids({ k: true })).toEqual(['a']);
    expect(await ids({ 'a.b': 'dotted' })).toEqual(['d']);
    expect(await ids({ $d: { $eq: 'dollar' } })).toEqual(['d']);
    expect(await ids({ x: { $gt: 0 } }, { $contains: 'Hell' })).toEqual(['d']);
    expect(await ids({ y: 'new' }, { $not_contains: 'xyz' })).toEqual(['a']);
    const c = client(server);
    const raw = async (body: object) => (await c.post(`${P}/collections/${col.id}/get`, { include: [], ...body })).json.ids;
    // the client's own checks refuse $in / $nin / $and / $or in 3.0.0, so these go raw
    expect(await raw({ where: { x: { $in: [4, 1] } } })).toEqual(['d']);
    expect(await raw({ where: { x: { $nin: [4] } } })).toEqual(['a', 'b', 'c', 'e', 'f']);
    expect(await raw({ where: { $and: [{ x: { $gt: 1 } }, { f: 1.5 }] } })).toEqual(['d']);
    expect(await raw({ where: { $or: [{ z: 1 }, { w: 1 }] } })).toEqual(['e', 'f']);
    expect(await raw({ where: { $or: [] } })).toEqual([]);
    expect(await raw({ where: { $and: [] } })).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(await raw({ where_document: { $or: [{ $contains: 'new' }, { $contains: 'Hello' }] } })).toEqual(['b', 'd']);
    expect(await raw({ where_document: { $and: [{ $contains: 'o' }, { $not_contains: 'bar' }] } })).toEqual(['a', 'c', 'd']);
    expect(await raw({ where_document: { $not_contains: 'o' } })).toEqual(['b', 'e', 'f']); // no document: never contains
    // limit and offset in insertion order
    expect((await col.get({ limit: 2, offset: 1, include: [] })).ids).toEqual(['b', 'c']);
    expect((await col.get({ offset: 5, include: [] })).ids).toEqual(['f']);
    expect((await col.get({ limit: 0, include: [] })).ids).toEqual([]);

    // delete by where, by where_document, by ids ∩ where; delete {} deletes nothing
    expect((await c.post(`${P}/collections/${col.id}/delete`, {})).status).toBe(200);
    expect(await col.count()).toBe(6);
    await col.delete({ where: { z: 1 } });
    await col.delete({ whereDocument: { $contains: 'new b' } });
    await col.delete({ ids: ['a', 'c'], where: { s: 'hi' } });
    expect((await col.get({ include: [] })).ids).toEqual(['c', 'd', 'f']);
    await col.delete({ ids: ['c', 'nope'] });
    await col.add({ ids: ['a'], embeddings: [[1, 0, 0]] }); // re-added: last in insertion order
    expect((await col.get({ include: [] })).ids).toEqual(['d', 'f', 'a']);
  });

  it('query: several queries, n_results, Chroma distances for l2 / cosine / ip, include combinations, filters', async () => {
    const r = prng(77);
    const dim = 6;
    const vecs = Array.from({ length: 60 }, () => Array.from({ length: dim }, () => Math.round((r() * 2 - 1) * 1000) / 1000));
    const ids = vecs.map((_, i) => `id${i}`);
    const metas = vecs.map((_, i) => ({ n: i, even: i % 2 === 0, tag: `t${i % 3}` }));
    const docs = vecs.map((_, i) => `document number ${i}${i % 5 === 0 ? ' five' : ''}`);
    const queries = [vecs[3]!.map((x) => x + 0.01), Array.from({ length: dim }, () => r() - 0.5)];
    for (const space of ['l2', 'cosine', 'ip'] as const) {
      const col = await cc.createCollection({ name: `q-${space}`, metadata: { 'hnsw:space': space }, embeddingFunction: ef });
      await col.add({ ids, embeddings: vecs, metadatas: metas, documents: docs });
      const want = (q: number[], keep: (i: number) => boolean, k: number) => vecs.map((v, i) => ({ id: ids[i]!, d: chromaDistance(space, q, v) }))
        .filter((_, i) => keep(i)).sort((a, b) => a.d - b.d).slice(0, k);
      const res = await col.query({ queryEmbeddings: queries, nResults: 7, include: ['distances', 'metadatas', 'documents', 'embeddings', 'uris'] as never });
      expect(res.ids.length).toBe(2);
      queries.forEach((q, qi) => {
        const w = want(q, () => true, 7);
        expect(res.ids[qi]).toEqual(w.map((x) => x.id));
        res.distances[qi]!.forEach((d, j) => expect(d!).toBeCloseTo(w[j]!.d, 4));
        res.ids[qi]!.forEach((id, j) => {
          const i = ids.indexOf(id);
          expect(res.metadatas[qi]![j]).toEqual(metas[i]);
          expect(res.documents[qi]![j]).toBe(docs[i]);
          expect(res.embeddings[qi]![j]).toEqual(f32(vecs[i]!).map((x) => Number(x.toPrecision(9))).map((x, t) => (Math.fround(x) === Math.fround(vecs[i]![t]!) ? vecs[i]![t]! : x)));
          expect(res.uris[qi]![j]).toBeNull();
        });
      });
      const filtered = await col.query({ queryEmbeddings: [queries[1]!], nResults: 5, where: { even: true }, whereDocument: { $contains: 'five' }, include: ['distances'] as never });
      const wf = want(queries[1]!, (i) => i % 2 === 0 && i % 5 === 0, 5);
      expect(filtered.ids[0]).toEqual(wf.map((x) => x.id));
      expect(filtered.documents).toEqual([]);
      const onlyIds = await col.query({ queryEmbeddings: [queries[0]!], nResults: 3, ids: ['id1', 'id2', 'id3', 'id4'], include: [] });
      expect(onlyIds.ids[0]).toEqual(want(queries[0]!, (i) => i >= 1 && i <= 4, 3).map((x) => x.id));
      const many = await col.query({ queryEmbeddings: [queries[0]!], nResults: 1000, include: ['distances'] as never });
      expect(many.ids[0]!.length).toBe(60);
    }
  });

  it('bad input is 4xx and changes nothing: wrong dim, NaN, huge numbers, duplicate ids, unknown collection, malformed bodies', async () => {
    const col = await cc.createCollection({ name: 'strict', embeddingFunction: ef });
    await col.add({ ids: ['a'], embeddings: [[1, 2, 3]] });
    const c = client(server);
    const before = await fingerprint(server);
    const path = `${P}/collections/${col.id}`;
    const cases: [string, unknown, number][] = [
      ['add', { ids: ['b'], embeddings: [[1, 2]] }, 400],
      ['add', { ids: ['b'], embeddings: [[1, 2, 1e39]] }, 400],
      ['add', { ids: ['b', 'b'], embeddings: [[1, 2, 3], [1, 2, 3]] }, 400],
      ['add', { ids: ['b', 'c'], embeddings: [[1, 2, 3]] }, 400],
      ['add', { ids: [''], embeddings: [[1, 2, 3]] }, 400],
      ['add', { ids: ['b'] }, 400],
      ['add', { ids: ['b'], embeddings: [[1, 'x', 3]] }, 422],
      ['add', { ids: [1], embeddings: [[1, 2, 3]] }, 422],
      ['add', { ids: ['b'], embeddings: [[1, 2, 3]], metadatas: [{ a: null }] }, 422],
      ['add', { ids: ['b'], embeddings: [[1, 2, 3]], metadatas: [{ a: [1] }] }, 422],
      ['add', { embeddings: [[1, 2, 3]] }, 422],
      ['add', [1, 2], 422],
      ['upsert', { ids: ['a'], embeddings: [[1, 2]] }, 400],
      ['update', { ids: ['a'], embeddings: [[1, 2, 3, 4]] }, 400],
      ['update', { ids: ['a', 'a'], metadatas: [{ k: 1 }, { k: 2 }] }, 400],
      ['query', { query_embeddings: [[1, 2]] }, 400],
      ['query', { query_embeddings: [[1, 2, 3]], n_results: -1 }, 422],
      ['query', { n_results: 1 }, 422],
      ['query', { query_embeddings: [[1, 2, 3]], include: ['bogus'] }, 422],
      ['get', { where: { x: { $gt: 'a' } } }, 400],
      ['get', { where: { x: 1, y: 2 } }, 400],
      ['get', { where: {} }, 400],
      ['get', { where: { x: { $in: [] } } }, 400],
      ['get', { where: { x: { $in: [1, 'a'] } } }, 400],
      ['get', { where_document: { $regex: 'a+' } }, 400],
      ['get', { where_document: { $contains: 1 } }, 400],
      ['get', { limit: -1 }, 422],
      ['delete', { where: { $and: { x: 1 } } }, 400],
      ['delete', { where_document: {} }, 400],
    ];
    for (const [op, body, status] of cases) {
      const res = await c.post(`${path}/${op}`, body);
      expect(res.status, `${op} ${JSON.stringify(body)} -> ${res.text}`).toBe(status);
      expect(typeof res.json.error, res.text).toBe('string');
      expect(typeof res.json.message).toBe('string');
    }
    expect((await c.raw('POST', `${path}/add`, '{"ids": ["b"], "embeddings": [[1, NaN, 3]]}', 'application/json')).status).toBe(400);
    expect((await c.raw('POST', `${path}/add`, '{"ids": ["b"', 'application/json')).status).toBe(400);
    expect((await c.raw('POST', `${path}/add`, 'ids=b', 'text/plain')).status).toBe(415);
    expect((await c.post(`${P}/collections/11111111-1111-4111-8111-111111111111/add`, { ids: ['a'], embeddings: [[1]] })).status).toBe(404);
    expect(await fingerprint(server)).toBe(before);
    expect(await failure(col.add({ ids: ['x', 'x'], embeddings: [[1, 2, 3], [1, 2, 3]] }))).toBe('ChromaValueError'); // the client checks first
    expect(await failure(col.add({ ids: ['x'], embeddings: [[1, 2]] }))).toBe('ChromaClientError');
    expect(await col.count()).toBe(1);
  });

  it('records survive a restart (catalog, documents, insertion order)', async () => {
    const dataDir = tempDir();
    const open = async () => {
      const s = await start({ dataDir });
      const u = new URL(s.url);
      return { s, c: new ChromaClient({ host: u.hostname, port: Number(u.port) }) };
    };
    const one = await open();
    const col = await one.c.createCollection({ name: 'durable', metadata: { 'hnsw:space': 'ip' }, embeddingFunction: ef });
    await col.add({ ids: ['z', 'y'], embeddings: [[1, 0], [0, 1]], documents: ['zed', 'why'], metadatas: [{ a: 1 }, { b: 2 }] });
    await col.modify({ name: 'durable2' });
    await one.s.close();
    const two = await open();
    const again = await two.c.getCollection({ name: 'durable2', embeddingFunction: ef });
    expect(again.id).toBe(col.id);
    expect(again.configuration.hnsw?.space).toBe('ip');
    await again.add({ ids: ['x'], embeddings: [[1, 1]] });
    const r = await again.get({ include: ['documents', 'metadatas'] as never });
    expect(r.ids).toEqual(['z', 'y', 'x']);
    expect(r.documents).toEqual(['zed', 'why', null]);
    expect(r.metadatas).toEqual([{ a: 1 }, { b: 2 }, null]);
    const q = await again.query({ queryEmbeddings: [[1, 0]], nResults: 1, include: ['distances'] as never });
    expect(q.ids[0]).toEqual(['z']);
    expect(q.distances[0]![0]).toBeCloseTo(0, 6); // ip: 1 - dot
  });
});
