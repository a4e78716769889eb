// The cluster on a real PostgreSQL (test/pg-helpers.ts starts one; .ci/run installs Debian's
// postgresql): query nodes are `nearest serve --cluster` child processes on loopback, driven with
// fetch and the real Qdrant client. Checked: 2 shards × 2 replicas on 3 nodes answer as one index
// (exact: identical ids and order; HNSW: recall within 0.01), a node SIGKILLed under a query load
// fails no request and catches up from its slot without a full rebuild, PostgreSQL killed during
// writes loses no acknowledged write and half-applies none, afterLsn reads wait for or route around
// a lagging replica, and a stopped or vanished node's replication slot is dropped.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { QdrantClient } from '@qdrant/js-client-rest';
import { ChromaClient } from 'chromadb';
import { ef } from './chroma-helpers.js';
import { VectorStore } from 'nearest';
import { postgresBin, startPostgres, type TestPostgres } from './pg-helpers.js';
import { call, spawnServe, type ServeProcess } from './server-helpers.js';
import { clusteredRows } from './helpers.js';

const available = postgresBin() !== null;
if (!available && process.env.NEAREST_REQUIRE_POSTGRES === '1') throw new Error('PostgreSQL is required here (NEAREST_REQUIRE_POSTGRES=1) but not installed');

interface Node { id: string; dir: string; proc: ServeProcess; url: string }

const dirs: string[] = [];
const running: Node[] = [];
function dir(): string { const d = mkdtempSync(join(tmpdir(), 'nearest-node-')); dirs.push(d); return d; }

async function startNode(db: TestPostgres, id: string, dataDir = dir(), extra: string[] = []): Promise<Node> {
  const proc = spawnServe(['--cluster', db.url, '--node-id', id, '--port', '0', '--data', dataDir, '--lease-seconds', '4', '--log-level', 'warn', ...extra]);
  const url = await proc.url;
  const node = { id, dir: dataDir, proc, url };
  running.push(node);
  return node;
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ready = (n: Node) => until(`${n.id} ready`, async () => (await call(n.url, 'GET', '/readyz')).status === 200);
const liveCount = async (n: Node) => ((await call(n.url, 'GET', '/cluster')).json.nodes as { live: boolean; url: string }[]).filter((x) => x.live && x.url !== '').length;

async function stopNode(n: Node, signal: NodeJS.Signals): Promise<void> {
  n.proc.child.kill(signal);
  await n.proc.exit;
  running.splice(running.indexOf(n), 1);
}

describe.skipIf(!available)('a cluster on PostgreSQL', () => {
  let db: TestPostgres;
  let sql: pg.Pool;
  const dim = 16, n = 3000;
  const rows = clusteredRows(n, dim, 12, 71), queries = clusteredRows(200, dim, 12, 72);
  const records = Array.from({ length: n }, (_, i) => ({ id: i, vector: Array.from(rows.subarray(i * dim, (i + 1) * dim)), metadata: { tag: i % 5 } }));
  let nodes: Node[] = [];

  beforeAll(async () => {
    db = await startPostgres();
    sql = new pg.Pool({ connectionString: db.url });
    sql.on('error', () => {}); // idle connections drop when PostgreSQL is killed on purpose
    nodes = [await startNode(db, 'n1'), await startNode(db, 'n2'), await startNode(db, 'n3')];
    await Promise.all(nodes.map(ready));
    await until('three live nodes', async () => (await liveCount(nodes[0])) === 3);
  }, 90_000);

  afterAll(async () => {
    for (const x of running.splice(0)) { x.proc.child.kill('SIGKILL'); await x.proc.exit; }
    await sql?.end();
    await db?.destroy();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('2 shards × 2 replicas on 3 nodes: exact search equals one index (ids and order), HNSW recall within 0.01, writes answer their LSN', async () => {
    const qdrant = new QdrantClient({ url: nodes[0].url, checkCompatibility: false });
    await qdrant.createCollection('exact', { vectors: { size: dim, distance: 'Euclid' }, shard_number: 2, replication_factor: 2 });
    expect((await call(nodes[1].url, 'PUT', '/v1/collections/graph', { dim, metric: 'cosine', index: 'HNSW16', shards: 2, replicas: 2 })).status).toBe(201);
    // Every node holds some replica; every shard has two on distinct nodes.
    const status = (await call(nodes[2].url, 'GET', '/cluster')).json;
    const placement = status.collections.find((c: { name: string }) => c.name === 'exact').placement as { replicas: { node: string }[] }[];
    expect(placement).toHaveLength(2);
    for (const p of placement) expect(new Set(p.replicas.map((r) => r.node)).size).toBe(2);
    expect(new Set(placement.flatMap((p) => p.replicas.map((r) => r.node)))).toEqual(new Set(['n1', 'n2', 'n3']));

    let lsn = '';
    for (let i = 0; i < n; i += 500) {
      const r = await call(nodes[i / 500 % 3].url, 'POST', '/v1/collections/exact/records', { records: records.slice(i, i + 500) });
      expect(r.status, r.text).toBe(200);
      expect(r.json.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      lsn = r.json.lsn;
    }
    const q = await qdrant.upsert('graph', { wait: true, points: records.map((r) => ({ id: r.id, vector: r.vector, payload: r.metadata })) });
    const graphLsn = (q as unknown as { lsn: string }).lsn;
    expect(graphLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);

    const exact = new VectorStore({ dim, metric: 'euclidean' });
    exact.upsert(records.map((r) => ({ id: r.id, vector: new Float32Array(r.vector), metadata: r.metadata })));
    const hnsw = new VectorStore({ dim, metric: 'cosine', index: { type: 'hnsw', m: 16 } });
    hnsw.upsert(records.map((r) => ({ id: r.id, vector: new Float32Array(r.vector), metadata: r.metadata })));
    const flatCos = new VectorStore({ dim, metric: 'cosine' });
    flatCos.upsert(records.map((r) => ({ id: r.id, vector: new Float32Array(r.vector) })));
    let hitsOurs = 0, hitsOne = 0, graphQueries = 0;
    for (let i = 0; i < 200; i++) {
      const v = Array.from(queries.subarray(i * dim, (i + 1) * dim));
      const node = nodes[i % 3];
      if (i % 5 === 0) { // exact: every fifth query, both APIs
      const got = await call(node.url, 'POST', '/v1/collections/exact/search', { vector: v, k: 10, exact: true, consistency: { afterLsn: lsn } });
      expect(got.status, got.text).toBe(200);
      const want = exact.search(new Float32Array(v), 10);
      expect(got.json.hits.map((h: { id: number }) => h.id)).toEqual(want.map((h) => h.id));
      expect(got.json.hits.map((h: { distance: number }) => h.distance)).toEqual(want.map((h) => h.distance));
      // Qdrant's exact search through the client, with a payload filter.
      const qs = (await qdrant.query('exact', { query: v, limit: 5, params: { exact: true }, filter: { must: [{ key: 'tag', match: { value: 2 } }] }, with_payload: true })).points;
      expect(qs.map((h) => h.id)).toEqual(exact.search(new Float32Array(v), 5, { filter: { tag: 2 } }).map((h) => h.id));
      }
      const truth = new Set(flatCos.search(new Float32Array(v), 10).map((h) => h.id));
      // The same beam on both sides (64: where a one-shard and a two-shard graph both sit near
      // recall 1, so a parallel build's luck does not decide the comparison).
      const g = await call(node.url, 'POST', '/v1/collections/graph/search', { vector: v, k: 10, efSearch: 64, consistency: { afterLsn: graphLsn } });
      expect(g.status, g.text).toBe(200);
      hitsOurs += g.json.hits.filter((h: { id: number }) => truth.has(h.id)).length;
      hitsOne += hnsw.search(new Float32Array(v), 10, { efSearch: 64 }).filter((h) => truth.has(h.id as number)).length;
      graphQueries++;
    }
    expect(hitsOurs / (10 * graphQueries)).toBeGreaterThanOrEqual(hitsOne / (10 * graphQueries) - 0.01);
    // Records by id from their shards' replicas, through both APIs.
    const got = await call(nodes[2].url, 'POST', '/v1/collections/exact/records/get', { ids: [5, 2999, 123456, 7], include: ['metadata', 'vector'], consistency: { afterLsn: lsn } });
    expect(got.status, got.text).toBe(200);
    expect(got.json.records.map((r: { id: number }) => r.id)).toEqual([5, 2999, 7]);
    expect(got.json.records[0]).toEqual({ id: 5, metadata: { tag: 0 }, vector: Array.from(new Float32Array(records[5].vector)) });
    const points = await qdrant.retrieve('graph', { ids: [11, 12], with_payload: true });
    expect(points.map((p) => [p.id, p.payload])).toEqual([[11, { tag: 1 }], [12, { tag: 2 }]]);
    // What PostgreSQL holds is what was acknowledged.
    const count = await sql.query('SELECT count(*)::int AS n FROM nearest.p1');
    expect(count.rows[0].n).toBe(n);
  }, 120_000);

  it('nearest cluster status shows nodes, placement, applied LSNs and slots', async () => {
    const main = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
    const text = execFileSync(process.execPath, [main, 'cluster', 'status', '--url', nodes[1].url], { encoding: 'utf8' });
    expect(text).toMatch(/collection exact: dim 16, euclidean, 2 shard\(s\) × 2 replica\(s\)/);
    for (const id of ['n1', 'n2', 'n3']) expect(text).toContain(`nearest_node_${id}`);
    const json = JSON.parse(execFileSync(process.execPath, [main, 'cluster', 'status', '--url', nodes[1].url, '--json'], { encoding: 'utf8' }));
    expect(json.nodes.filter((x: { live: boolean }) => x.live)).toHaveLength(3);
    expect(json.collections.find((c: { name: string }) => c.name === 'exact').placement[0].replicas[0].appliedLsn).toMatch(/\//);
    const down = spawnSync(process.execPath, [main, 'cluster', 'status', '--url', 'http://127.0.0.1:1'], { encoding: 'utf8' });
    expect(down.status).toBe(1);
    expect(down.stderr).toContain('cannot reach');
  });

  it("LangChain's QdrantVectorStore (the real @langchain/qdrant) works against any node", async () => {
    const { QdrantVectorStore } = await import('@langchain/qdrant');
    const { Embeddings } = await import('@langchain/core/embeddings');
    const embed = (t: string) => { const v = new Array<number>(8).fill(0.5); for (const ch of t) v[ch.charCodeAt(0) % 8] += 1; return v; };
    class Fake extends Embeddings {
      constructor() { super({}); }
      async embedDocuments(texts: string[]) { return texts.map(embed); }
      async embedQuery(t: string) { return embed(t); }
    }
    const texts = ['the cat sat on the mat', 'dogs chase cats', 'quantum chromodynamics', 'a kitten on a mat', 'stock markets fell'];
    const store = await QdrantVectorStore.fromTexts(texts, texts.map((_, i) => ({ n: i, parity: i % 2 ? 'odd' : 'even' })), new Fake(), { url: nodes[0].url, collectionName: 'lc' });
    const reader = new QdrantVectorStore(new Fake(), { url: nodes[2].url, collectionName: 'lc' });
    const want = new VectorStore({ dim: 8, metric: 'cosine' });
    texts.forEach((t, i) => want.upsert({ id: i, vector: new Float32Array(embed(t)) }));
    const q = 'cat on a mat';
    const expected = want.search(new Float32Array(embed(q)), 3).map((h) => texts[h.id as number]);
    const got = await until('the replicas to apply the texts', async () => {
      const docs = await reader.similaritySearch(q, 3);
      return docs.length === 3 ? docs : undefined;
    });
    expect(got.map((d) => d.pageContent)).toEqual(expected);
    expect(got[0].metadata).toHaveProperty('parity');
    const odd = await reader.similaritySearchWithScore(q, 5, { must: [{ key: 'metadata.parity', match: { value: 'odd' } }] });
    expect(odd.map(([d]) => d.metadata.parity)).toEqual(['odd', 'odd']);
    await store.addDocuments([{ pageContent: 'a cat on a mat', metadata: { n: 9, parity: 'odd' } }]);
    const after = await until('the added document', async () => {
      const docs = await reader.similaritySearch('a cat on a mat', 1);
      return docs[0]?.pageContent === 'a cat on a mat' ? docs : undefined;
    });
    expect(after[0].metadata.n).toBe(9);
  }, 60_000);

  it('count, scroll (in id order, across shards) and delete by filter, through both APIs', async () => {
    const qdrant = new QdrantClient({ url: nodes[1].url, checkCompatibility: false });
    expect((await call(nodes[0].url, 'POST', '/v1/collections/exact/records/count', {})).json.count).toBe(n);
    expect((await qdrant.count('exact', { filter: { must: [{ key: 'tag', match: { value: 2 } }] }, exact: true })).count).toBe(n / 5);
    const seen: number[] = [];
    let cursor: string | null | undefined;
    do {
      const page = await call(nodes[2].url, 'POST', '/v1/collections/exact/records/scroll', { limit: 700, ...(cursor ? { cursor } : {}) });
      expect(page.status, page.text).toBe(200);
      seen.push(...page.json.records.map((r: { id: number }) => r.id));
      cursor = page.json.nextCursor;
    } while (cursor);
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => i));
    const tagged = await qdrant.scroll('exact', { filter: { must: [{ key: 'tag', match: { value: 3 } }] }, limit: 10000, with_payload: true });
    expect(tagged.points.map((p) => p.id)).toEqual(Array.from({ length: n / 5 }, (_, i) => i * 5 + 3));
    expect(tagged.next_page_offset).toBeNull();
    const page = await qdrant.scroll('exact', { limit: 4, offset: 10 });
    expect([page.points.map((p) => p.id), page.next_page_offset]).toEqual([[10, 11, 12, 13], 14]);
    // Delete by filter: the matching rows leave PostgreSQL and every replica.
    const del = await call(nodes[0].url, 'POST', '/collections/exact/points/delete', { filter: { must: [{ key: 'tag', match: { value: 4 } }] } });
    expect(del.status, del.text).toBe(200);
    expect((await sql.query('SELECT count(*)::int AS c FROM nearest.p1')).rows[0].c).toBe(n - n / 5);
    const s4 = await call(nodes[2].url, 'POST', '/v1/collections/exact/search', { vector: records[4].vector, k: 3, exact: true, filter: { tag: 4 }, consistency: { afterLsn: del.json.result.lsn } });
    expect(s4.json.hits).toEqual([]);
    expect((await call(nodes[0].url, 'POST', '/v1/collections/exact/records/scroll', { cursor: 'bogus' })).status).toBe(400);
    // Payload updates in PostgreSQL, seen by every replica.
    await qdrant.setPayload('exact', { payload: { color: 'red' }, points: [1, 2], wait: true });
    await qdrant.overwritePayload('exact', { payload: { only: true }, points: [3], wait: true });
    await qdrant.deletePayload('exact', { keys: ['tag'], points: [2], wait: true });
    const set = await call(nodes[0].url, 'POST', '/collections/exact/points/payload', { payload: { shade: 'dark' }, filter: { must: [{ key: 'color', match: { value: 'red' } }] } });
    const got2 = await call(nodes[2].url, 'POST', '/v1/collections/exact/records/get', { ids: [1, 2, 3], consistency: { afterLsn: set.json.result.lsn } });
    expect(got2.json.records.map((r: { metadata: unknown }) => r.metadata)).toEqual([{ tag: 1, color: 'red', shade: 'dark' }, { color: 'red', shade: 'dark' }, { only: true }]);
    const restore = await call(nodes[0].url, 'PUT', '/collections/exact/points/payload', { payload: { tag: 1 }, points: [1] });
    expect(restore.status).toBe(200);
    await call(nodes[0].url, 'PUT', '/collections/exact/points/payload', { payload: { tag: 2 }, points: [2] });
    await call(nodes[0].url, 'PUT', '/collections/exact/points/payload', { payload: { tag: 3 }, points: [3] });
    // Put them back for the tests that follow.
    // (wait=true, the client's default: answered once every replica has applied it, so no afterLsn below)
    const back = await qdrant.upsert('exact', { wait: true, points: records.filter((r) => r.metadata.tag === 4).map((r) => ({ id: r.id, vector: r.vector, payload: r.metadata })) });
    expect(back.status).toBe('completed');
    // has_id, alone and with other conditions, in search, count, scroll, payload updates and delete.
    const hasIds = [1, 2, 3, 7, 12, 999999];
    const only = await qdrant.query('exact', { query: records[0].vector, limit: 10, params: { exact: true }, filter: { must: [{ has_id: hasIds }] } });
    const exact = new VectorStore({ dim, metric: 'euclidean' });
    exact.upsert(records.map((r) => ({ id: r.id, vector: new Float32Array(r.vector), metadata: r.metadata })));
    expect(only.points.map((p) => p.id)).toEqual(exact.search(new Float32Array(records[0].vector), 10, { exact: true, ids: hasIds }).map((h) => h.id));
    expect((await qdrant.count('exact', { filter: { must: [{ has_id: hasIds }, { key: 'tag', match: { value: 2 } }] } })).count).toBe(3); // 2, 7, 12
    expect((await qdrant.scroll('exact', { filter: { must: [{ has_id: hasIds }] }, limit: 100 })).points.map((p) => p.id)).toEqual([1, 2, 3, 7, 12]);
    await qdrant.setPayload('exact', { payload: { picked: true }, filter: { must: [{ has_id: [7, 12] }] }, wait: true });
    // wait=true: once answered, another node reads the change without afterLsn.
    const picked = await call(nodes[2].url, 'POST', '/collections/exact/points/scroll', { filter: { must: [{ key: 'picked', match: { value: true } }] }, limit: 10 });
    expect(picked.json.result.points.map((p: { id: number }) => p.id)).toEqual([7, 12]);
    const res = await qdrant.delete('exact', { filter: { must: [{ has_id: [7, 12, 13] }, { key: 'picked', match: { value: true } }] }, wait: true });
    expect(res.status).toBe('completed');
    expect((await call(nodes[1].url, 'POST', '/collections/exact/points/count', { filter: { must: [{ has_id: [7, 12, 13] }] } })).json.result.count).toBe(1);
    const again = await call(nodes[0].url, 'POST', '/v1/collections/exact/records', { records: records.filter((r) => r.id === 7 || r.id === 12) });
    expect(again.status).toBe(200);
    await call(nodes[1].url, 'POST', '/v1/collections/exact/search', { vector: records[0].vector, k: 1, consistency: { afterLsn: again.json.lsn } });
    await call(nodes[2].url, 'POST', '/v1/collections/exact/search', { vector: records[0].vector, k: 1, consistency: { afterLsn: again.json.lsn } });
  }, 60_000);

  it('the Chroma API through any node: concurrent adds through three nodes take turns; reads on another node see every acknowledged write', async () => {
    const clients = nodes.map((x) => { const u = new URL(x.url); return new ChromaClient({ host: u.hostname, port: Number(u.port) }); });
    const made = await clients[0].createCollection({ name: 'docs', metadata: { 'hnsw:space': 'cosine' }, embeddingFunction: ef });
    const cols = await Promise.all(clients.map((c) => c.getCollection({ name: 'docs', embeddingFunction: ef })));
    expect(cols.map((c) => c.id)).toEqual([made.id, made.id, made.id]);
    // Three writers add overlapping ids at once: each id is added once, by whichever writer came first (Chroma's add ignores existing ids).
    const rowsOf = (w: number) => Array.from({ length: 40 }, (_, i) => i + w * 20).map((i) => ({ id: `d${i}`, vector: records[i].vector, writer: w }));
    await Promise.all(cols.map((c, w) => {
      const rs = rowsOf(w);
      return c.add({ ids: rs.map((r) => r.id), embeddings: rs.map((r) => r.vector), metadatas: rs.map((r) => ({ writer: r.writer, n: Number(r.id.slice(1)) })), documents: rs.map((r) => `doc ${r.id}`) });
    }));
    for (const c of cols) expect(await c.count()).toBe(80);
    const all = await cols[2].get({ include: ['metadatas' as never, 'documents' as never] });
    expect(new Set(all.ids).size).toBe(80);
    // Every record's metadata is its first writer's, whole (no mix of two writes).
    for (const [i, id] of all.ids.entries()) {
      const m = all.metadatas[i] as { writer: number; n: number };
      expect(m.n).toBe(Number(id.slice(1)));
      expect(rowsOf(m.writer).some((r) => r.id === id)).toBe(true);
      expect(all.documents[i]).toBe(`doc ${id}`);
    }
    // Insertion order (get's order) is one order for all nodes.
    for (const c of cols.slice(0, 2)) expect((await c.get()).ids).toEqual(all.ids);
    // An update through one node is read through another at once; a query finds each stored vector itself.
    await cols[0].update({ ids: ['d5'], metadatas: [{ n: 5, writer: 9 }] });
    expect((await cols[1].get({ ids: ['d5'] })).metadatas).toEqual([{ n: 5, writer: 9 }]);
    const found = await cols[1].query({ queryEmbeddings: [records[7].vector, records[70].vector], nResults: 1, where: { n: { $gte: 0 } } });
    expect(found.ids).toEqual([['d7'], ['d70']]);
    await cols[2].delete({ where: { writer: 9 } });
    expect(await cols[0].count()).toBe(79);
    expect((await cols[0].get({ ids: ['d5'] })).ids).toEqual([]);
    // Dropping it through a third node drops its cluster collection everywhere.
    await clients[1].deleteCollection({ name: 'docs' });
    await expect(clients[2].getCollection({ name: 'docs', embeddingFunction: ef })).rejects.toThrow();
    const left = await sql.query("SELECT count(*)::int AS n FROM nearest.collections WHERE name LIKE 'chroma-%'");
    expect(left.rows[0].n).toBe(0);
  }, 60_000);

  it('bad requests get clear errors and write nothing', async () => {
    const before = (await sql.query('SELECT count(*)::int AS n FROM nearest.p1')).rows[0].n;
    const u = nodes[0].url;
    expect((await call(u, 'POST', '/v1/collections/exact/records', { records: [{ id: 1, vector: [1, 2] }] })).json.error.code).toBe('DIMENSION_MISMATCH');
    expect((await call(u, 'POST', '/v1/collections/exact/records', { records: [{ id: 1, vector: Array(dim).fill(0) }, { id: 1, vector: Array(dim).fill(1) }] })).json.error.code).toBe('DUPLICATE_ID');
    expect((await call(u, 'POST', '/v1/collections/exact/search', { vector: Array(dim).fill(0), k: 0 })).status).toBe(400);
    expect((await call(u, 'POST', '/v1/collections/exact/search', { vector: Array(dim).fill(0), k: 3, consistency: { afterLsn: 'soon' } })).status).toBe(400);
    expect((await call(u, 'POST', '/v1/collections/nope/search', { vector: [0], k: 3 })).status).toBe(404);
    expect((await call(u, 'PUT', '/v1/collections/exact', { dim })).status).toBe(409);
    expect((await call(u, 'PUT', '/v1/collections/toomany', { dim, replicas: 4 })).status).toBe(400);
    expect((await call(u, 'POST', '/v1/collections/exact/records', { records: [{ id: 1, vector: Array(dim).fill(0) }], extra: 1 })).status).toBe(400);
    expect((await sql.query('SELECT count(*)::int AS n FROM nearest.p1')).rows[0].n).toBe(before);
  });

  it('a node SIGKILLed under a query load fails no request; restarted, it catches up from its slot without a full rebuild', async () => {
    const victim = nodes[2];
    let stop = false, failed = 0, answered = 0;
    const load = (async () => {
      let i = 0;
      while (!stop) {
        const v = Array.from(queries.subarray((i % 40) * dim, (i % 40 + 1) * dim));
        const r = await call(nodes[i % 2].url, 'POST', '/v1/collections/exact/search', { vector: v, k: 10, exact: true }).catch(() => null);
        if (!r || r.status !== 200 || r.json.hits.length !== 10) failed++; else answered++;
        i++;
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    await stopNode(victim, 'SIGKILL');
    // Writes while it is down: they reach it through its slot when it is back.
    const extra = Array.from({ length: 200 }, (_, i) => ({ id: 10_000 + i, vector: Array.from(rows.subarray(i * dim, (i + 1) * dim)), metadata: { tag: 9 } }));
    const w = await call(nodes[0].url, 'POST', '/v1/collections/exact/records', { records: extra });
    expect(w.status).toBe(200);
    await new Promise((r) => setTimeout(r, 1500));
    stop = true;
    await load;
    expect(failed).toBe(0);
    expect(answered).toBeGreaterThan(20);
    const back = await startNode(db, victim.id, victim.dir);
    nodes[2] = back;
    await ready(back);
    const prom = (await call(back.url, 'GET', '/metrics')).text;
    expect(prom).toMatch(/# TYPE nearest_cluster_replayed_changes_total counter\nnearest_cluster_replayed_changes_total [1-9]/);
    expect(prom).toMatch(/nearest_cluster_full_rebuilds_total 0\n/);
    const metrics = (await call(back.url, 'GET', '/cluster')).json.counters;
    expect(metrics.fullRebuilds).toBe(0);
    expect(metrics.replayedChanges).toBeGreaterThan(0);
    // Its own replicas have the writes it missed: search it alone by the shards it holds.
    const mine = (await call(back.url, 'GET', '/cluster')).json.collections.find((c: { name: string }) => c.name === 'exact').placement
      .filter((p: { replicas: { node: string }[] }) => p.replicas.some((r) => r.node === back.id)).map((p: { shard: number }) => p.shard);
    const r = await call(back.url, 'POST', '/cluster/v1/search', { collection: 'exact', shards: mine, vector: extra[0].vector, k: 1, exact: true, afterLsn: w.json.lsn, waitMs: 5000 });
    expect(r.status, r.text).toBe(200);
  }, 90_000);

  it('PostgreSQL killed during writes: no acknowledged write is lost, none is half-applied', async () => {
    const acked: number[] = [];
    let writing = true;
    const writer = (async () => {
      for (let b = 0; writing && b < 400; b++) {
        const batch = Array.from({ length: 5 }, (_, j) => ({ id: 20_000 + b * 5 + j, vector: Array(dim).fill(b % 7), metadata: { batch: b } }));
        const r = await call(nodes[0].url, 'POST', '/v1/collections/exact/records', { records: batch }).catch(() => null);
        if (r && r.status === 200) acked.push(b);
      }
    })();
    await new Promise((r) => setTimeout(r, 400));
    await db.crash();
    await new Promise((r) => setTimeout(r, 500));
    await db.start();
    await new Promise((r) => setTimeout(r, 800));
    writing = false;
    await writer;
    for (const x of nodes) expect(x.proc.child.exitCode, x.proc.stderr()).toBeNull(); // the nodes outlive PostgreSQL's crash
    expect(acked.length).toBeGreaterThan(0);
    const client = new pg.Pool({ connectionString: db.url });
    client.on('error', () => {});
    try {
      const got = await client.query("SELECT (payload->>'batch')::int AS b, count(*)::int AS n FROM nearest.p1 WHERE payload ? 'batch' GROUP BY 1");
      const sizes = new Map(got.rows.map((r) => [r.b as number, r.n as number]));
      for (const b of acked) expect(sizes.get(b), `batch ${b}`).toBe(5);
      for (const [, size] of sizes) expect(size).toBe(5); // whole batches or nothing
    } finally { await client.end(); }
    // The nodes reconnect and follow again: a new write is seen through afterLsn.
    const w = await until('a write after the restart', async () => {
      const r = await call(nodes[1].url, 'POST', '/v1/collections/exact/records', { records: [{ id: 99_999, vector: Array(dim).fill(123.5) }] });
      return r.status === 200 ? r : undefined;
    });
    const s = await call(nodes[2].url, 'POST', '/v1/collections/exact/search', { vector: Array(dim).fill(123.5), k: 1, exact: true, consistency: { afterLsn: w.json.lsn } });
    expect(s.status, s.text).toBe(200);
    expect(s.json.hits.map((h: { id: number }) => h.id)).toContain(99_999);
  }, 90_000);

  it('afterLsn: a search waits for a lagging replica or reads one that has caught up', async () => {
    const lagging = nodes[1];
    lagging.proc.child.kill('SIGSTOP'); // frozen: applies nothing, answers nothing
    try {
      const w = await call(nodes[0].url, 'POST', '/v1/collections/exact/records', { records: [{ id: 55_555, vector: Array(dim).fill(-4) }] });
      expect(w.status).toBe(200);
      const s = await call(nodes[2].url, 'POST', '/v1/collections/exact/search', { vector: Array(dim).fill(-4), k: 1, exact: true, consistency: { afterLsn: w.json.lsn } });
      expect(s.status, s.text).toBe(200);
      expect(s.json.hits[0].id).toBe(55_555);
      // An LSN no replica will reach in time: the documented timeout error.
      const far = await call(nodes[0].url, 'POST', '/v1/collections/exact/search', { vector: Array(dim).fill(0), k: 1, consistency: { afterLsn: 'FF/0' } });
      expect(far.status).toBe(504);
      expect(far.json.error.code).toBe('TIMEOUT');
    } finally {
      lagging.proc.child.kill('SIGCONT');
    }
  }, 60_000);

  it('follows an application table written with plain SQL (insert, update, delete), sharded by id hash', async () => {
    await sql.query('CREATE TABLE docs (doc_id bigint PRIMARY KEY, embedding real[], title text, lang text)');
    const vec = (i: number) => Array.from(rows.subarray((i % n) * dim, (i % n + 1) * dim));
    const insert = async (from: number, to: number) => {
      for (let i = from; i < to; i++) await sql.query('INSERT INTO docs VALUES ($1, $2::real[], $3, $4)', [i, vec(i), `doc ${i}`, i % 2 ? 'en' : 'fr']);
    };
    await insert(0, 300); // rows that predate the collection: copied when the nodes take it
    await sql.query('INSERT INTO docs VALUES (5000, NULL, $1, $2)', ['no vector', 'en']); // not indexable: left out
    const created = await call(nodes[0].url, 'PUT', '/collections/docs', {
      vectors: { size: dim, distance: 'Euclid' }, shard_number: 2, replication_factor: 2,
      source: { table: 'docs', id: 'doc_id', vector: 'embedding', payload: ['title', 'lang'] },
    });
    expect(created.status, created.text).toBe(200);
    await insert(300, 350);
    await sql.query('UPDATE docs SET embedding = $1 WHERE doc_id < 20', [vec(2000)]);
    await sql.query("UPDATE docs SET title = 'renamed' WHERE doc_id BETWEEN 20 AND 29");
    await sql.query('DELETE FROM docs WHERE doc_id BETWEEN 100 AND 129');
    const lsn = (await sql.query('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0].lsn as string;
    const ref = new VectorStore({ dim, metric: 'euclidean' });
    for (const r of (await sql.query('SELECT doc_id, embedding, title, lang FROM docs WHERE embedding IS NOT NULL')).rows) {
      ref.upsert({ id: Number(r.doc_id), vector: new Float32Array(r.embedding as number[]), metadata: { title: r.title, lang: r.lang } });
    }
    expect(ref.size).toBe(320);
    for (let i = 0; i < 10; i++) {
      const v = i === 0 ? vec(2000) : Array.from(queries.subarray(i * dim, (i + 1) * dim));
      const got = await call(nodes[(i % 2) + 1].url, 'POST', '/v1/collections/docs/search', { vector: v, k: 25, exact: true, consistency: { afterLsn: lsn } });
      expect(got.status, got.text).toBe(200);
      const want = ref.search(new Float32Array(v), 25);
      expect(got.json.hits.map((h: { id: number }) => h.id)).toEqual(want.map((h) => h.id));
      expect(got.json.hits.map((h: { metadata: unknown }) => h.metadata)).toEqual(want.map((h) => h.metadata));
    }
    // It is written with SQL, not through nearest; a bad source is refused naming the problem.
    const w = await call(nodes[0].url, 'POST', '/v1/collections/docs/records', { records: [{ id: 1, vector: vec(1) }] });
    expect([w.status, w.json.error.code]).toEqual([400, 'UNSUPPORTED']);
    await sql.query('CREATE TABLE two_keys (a int, b int, e real[], PRIMARY KEY (a, b))');
    const badKey = await call(nodes[0].url, 'PUT', '/v1/collections/bad', { dim, source: { table: 'two_keys', id: 'a', vector: 'e' } });
    expect([badKey.status, badKey.json.error.code]).toEqual([400, 'INVALID_ARGUMENT']);
    expect((await call(nodes[0].url, 'PUT', '/v1/collections/bad', { dim, source: { table: 'nope', id: 'a', vector: 'e' } })).status).toBe(404);
    expect((await call(nodes[0].url, 'PUT', '/v1/collections/bad', { dim, source: { table: 'docs; drop table docs', id: 'a', vector: 'e' } })).status).toBe(400);
  }, 60_000);

  it('dropping a collection removes its table and every replica; the name can be used again', async () => {
    const u = nodes[0].url;
    expect((await call(u, 'PUT', '/v1/collections/tmp', { dim: 4, shards: 2, replicas: 2 })).status).toBe(201);
    const w = await call(nodes[1].url, 'POST', '/v1/collections/tmp/records', { records: [{ id: 1, vector: [1, 0, 0, 0] }] });
    expect(w.status).toBe(200);
    const num = (await sql.query("SELECT num FROM nearest.collections WHERE name = 'tmp'")).rows[0].num as number;
    const qdrant = new QdrantClient({ url: nodes[2].url, checkCompatibility: false });
    expect(await qdrant.deleteCollection('tmp')).toBe(true);
    expect((await sql.query('SELECT to_regclass($1) AS t', [`nearest.p${num}`])).rows[0].t).toBeNull();
    for (const x of nodes) {
      expect((await call(x.url, 'POST', '/v1/collections/tmp/search', { vector: [1, 0, 0, 0], k: 1 })).status).toBe(404);
      await until(`${x.id} removed its replicas`, async () => !existsSync(join(x.dir, `c${num}-s0`)) && !existsSync(join(x.dir, `c${num}-s1`)));
    }
    expect((await call(u, 'DELETE', '/v1/collections/tmp')).status).toBe(404);
    // Writes to other collections keep flowing through every node's stream.
    const after = await call(nodes[0].url, 'POST', '/v1/collections/exact/records', { records: [{ id: 77_777, vector: Array(dim).fill(-9) }] });
    const seen = await call(nodes[2].url, 'POST', '/v1/collections/exact/search', { vector: Array(dim).fill(-9), k: 1, exact: true, consistency: { afterLsn: after.json.lsn } });
    expect(seen.json.hits[0].id).toBe(77_777);
    expect((await call(u, 'PUT', '/v1/collections/tmp', { dim: 4, shards: 1, replicas: 1 })).status).toBe(201);
    const again = await call(nodes[1].url, 'POST', '/v1/collections/tmp/records', { records: [{ id: 2, vector: [0, 1, 0, 0] }] });
    const s2 = await call(nodes[2].url, 'POST', '/v1/collections/tmp/search', { vector: [0, 1, 0, 0], k: 5, consistency: { afterLsn: again.json.lsn } });
    expect(s2.json.hits.map((h: { id: number }) => h.id)).toEqual([2]);
  }, 60_000);

  it('a node stopped with SIGTERM drops its slot; one gone past its lease has its slot dropped by the others', async () => {
    const slots = async () => (await sql.query("SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE 'nearest_node_%'")).rows.map((r) => r.slot_name as string).sort();
    const extra = await startNode(db, 'n4');
    await ready(extra);
    expect(await slots()).toContain('nearest_node_n4');
    await stopNode(extra, 'SIGTERM');
    expect(extra.proc.child.exitCode).toBe(0);
    expect(await slots()).not.toContain('nearest_node_n4');
    const ghost = await startNode(db, 'n5');
    await ready(ghost);
    await stopNode(ghost, 'SIGKILL');
    await until('the ghost slot dropped', async () => !(await slots()).includes('nearest_node_n5'), 20_000);
  }, 60_000);

  it('a node that joins later takes replicas at a rebalance: copied in under a query load and writes, searches stay exact, the replaced replicas retire', async () => {
    const late = await startNode(db, 'n6');
    await ready(late);
    await until('n6 live for every node', async () => {
      for (const x of nodes) if (!((await call(x.url, 'GET', '/cluster')).json.nodes as { id: string; live: boolean; url: string }[]).some((y) => y.id === 'n6' && y.live && y.url !== '')) return false;
      return true;
    });
    const qs = Array.from({ length: 12 }, (_, i) => Array.from(queries.subarray(i * dim, (i + 1) * dim)));
    const base = await call(nodes[0].url, 'POST', '/v1/collections/exact/records', { records: [] });
    const baseline = await Promise.all(qs.map(async (v) => (await call(nodes[0].url, 'POST', '/v1/collections/exact/search', { vector: v, k: 10, exact: true, consistency: { afterLsn: base.json.lsn } })).json.hits.map((h: { id: number }) => h.id)));
    const dry = await call(nodes[1].url, 'POST', '/cluster/rebalance', { dryRun: true });
    expect(dry.status, dry.text).toBe(200);
    const toLate = (dry.json.moves as { collection: string; to: string }[]).filter((m) => m.to === 'n6');
    expect(toLate.length).toBeGreaterThan(0);
    expect(JSON.stringify((await call(nodes[1].url, 'GET', '/cluster')).json)).not.toContain('copying'); // a dry run changes nothing
    expect((await call(nodes[1].url, 'POST', '/cluster/rebalance', { bogus: 1 })).status).toBe(400);

    // Searches through the old nodes and writes of far-away rows go on while replicas move.
    let stop = false, failed = 0, wrong = 0, searches = 0, lastLsn = base.json.lsn as string;
    const load = (async () => {
      for (let i = 0; !stop; i++) {
        const r = await call(nodes[i % 3].url, 'POST', '/v1/collections/exact/search', { vector: qs[i % qs.length], k: 10, exact: true });
        searches++;
        if (r.status !== 200) failed++;
        else if (JSON.stringify(r.json.hits.map((h: { id: number }) => h.id)) !== JSON.stringify(baseline[i % qs.length])) wrong++;
        if (i % 10 === 0) {
          const w = await call(nodes[(i + 1) % 3].url, 'POST', '/v1/collections/exact/records', { records: [{ id: 900_000 + i, vector: Array(dim).fill(40 + i / 1000), metadata: { moving: true } }] });
          if (w.status === 200) lastLsn = w.json.lsn; else failed++;
        }
      }
    })();
    const main = join(import.meta.dirname, '..', 'dist', 'cli', 'main.js');
    const out = await new Promise<string>((res, rej) => execFile(process.execPath, [main, 'cluster', 'rebalance', '--url', nodes[2].url, '--wait', '--json', '--timeout', '60'], { encoding: 'utf8' }, (e, stdout, stderr) => (e ? rej(new Error(`${e.message}: ${stderr}`)) : res(stdout))));
    await new Promise((r) => setTimeout(r, 300));
    stop = true;
    await load;
    const result = JSON.parse(out) as { moves: { collection: string; shard: number; from: string | null; to: string }[]; done: boolean };
    expect(result.done).toBe(true);
    expect(result.moves.filter((m) => m.to === 'n6').length).toBe(toLate.length);
    expect(searches).toBeGreaterThan(20);
    expect([failed, wrong]).toEqual([0, 0]);

    // n6 now serves its shards: its own replica answers first, with every row written before and during the move.
    const st = (await call(late.url, 'GET', '/cluster')).json;
    const exactCol = st.collections.find((c: { name: string }) => c.name === 'exact');
    const replicas = exactCol.placement.flatMap((p: { replicas: { node: string; state: string }[] }) => p.replicas);
    expect(replicas.every((r: { state: string }) => r.state === 'ready')).toBe(true);
    for (const p of exactCol.placement) expect(p.replicas).toHaveLength(2);
    const lateShards = exactCol.placement.filter((p: { replicas: { node: string }[] }) => p.replicas.some((r) => r.node === 'n6')).map((p: { shard: number }) => p.shard);
    if (result.moves.some((m) => m.collection === 'exact' && m.to === 'n6')) expect(lateShards.length).toBeGreaterThan(0);
    const moved = await call(late.url, 'POST', '/v1/collections/exact/records/count', { filter: { moving: true } });
    const written = await sql.query("SELECT count(*)::int AS n FROM nearest.p1 WHERE payload->>'moving' = 'true'");
    expect(moved.json.count).toBe(written.rows[0].n);
    for (const v of qs.slice(0, 4)) {
      const r = await call(late.url, 'POST', '/v1/collections/exact/search', { vector: v, k: 10, exact: true, consistency: { afterLsn: lastLsn } });
      expect(r.json.hits.map((h: { id: number }) => h.id)).toEqual(baseline[qs.indexOf(v)]);
    }
    expect(st.counters.fullRebuilds).toBeGreaterThan(0);
    // The replaced replicas are gone from their old nodes' disks: every replica's rows add up to shards × replicas copies.
    const sizes = await Promise.all([...nodes, late].map(async (x) => (await call(x.url, 'GET', '/v1/collections/exact')).json.localSize as number));
    const total = (await sql.query('SELECT count(*)::int AS n FROM nearest.p1')).rows[0].n as number;
    await until('retired replicas removed', async () => {
      const now = await Promise.all([...nodes, late].map(async (x) => (await call(x.url, 'GET', '/v1/collections/exact')).json.localSize as number));
      return now.reduce((a, b) => a + b, 0) === 2 * total;
    }, 10_000).catch(() => { throw new Error(`local sizes ${sizes.join(', ')} do not add up to 2 × ${total}`); });
    // Nothing more to move.
    expect((await call(nodes[0].url, 'POST', '/cluster/rebalance', {})).json.moves).toEqual([]);

    // n6 is lost for good: past its lease, a rebalance gives its shards new replicas on the nodes left.
    await stopNode(late, 'SIGKILL');
    await until('n6 expired', async () => !((await call(nodes[0].url, 'GET', '/cluster')).json.nodes as { id: string; live: boolean }[]).some((y) => y.id === 'n6' && y.live), 20_000);
    const heal = await call(nodes[0].url, 'POST', '/cluster/rebalance', {});
    expect(heal.json.moves.filter((m: { collection: string }) => m.collection === 'exact')).toEqual(lateShards.map((shard: number) => expect.objectContaining({ collection: 'exact', shard, from: 'n6' })));
    await until('healed', async () => {
      const c = ((await call(nodes[1].url, 'GET', '/cluster')).json.collections as { name: string; placement: { replicas: { node: string; state: string }[] }[] }[]).find((x) => x.name === 'exact')!;
      return c.placement.every((p) => p.replicas.length === 2 && p.replicas.every((r) => r.state === 'ready' && r.node !== 'n6'));
    }, 30_000);
    for (const [i, v] of qs.entries()) {
      const r = await call(nodes[i % 3].url, 'POST', '/v1/collections/exact/search', { vector: v, k: 10, exact: true });
      expect(r.json.hits.map((h: { id: number }) => h.id)).toEqual(baseline[i]);
    }
  }, 120_000);
});
