// Differential test of the Chroma-compatible API: the REAL Chroma server (chromadb 3.0.0's
// `chroma run`, a Chroma 1.0.0 server) and ours, driven by the same seeded flows through the same
// chromadb client (and, for what the 3.0.0 client's own checks refuse — $in, $nin, $and, $or —
// the same raw HTTP requests), compared response by response: ids and their order, distances to
// 1e-4, metadatas, documents, uris, embeddings, error statuses and error names.
//
// The only differences allowed are the named exceptions below; every other one fails the test.
//
// Where PostgreSQL is installed (CI installs it), a two-node cluster (`nearest serve --cluster`, 2
// shards × 2 replicas) is a third target, compared with the real Chroma the same way; its raw
// requests go to the two nodes in turn, so a write through one node is read through the other.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer as netServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChromaClient, type Collection } from 'chromadb';
import { cleanup, spawnServe, start, tempDir } from './server-helpers.js';
import { postgresBin, startPostgres, type TestPostgres } from './pg-helpers.js';
import { prng } from './helpers.js';
import { ef } from './chroma-helpers.js';

/**
 * Differences between Chroma 1.0.0 and this server that the test tolerates, each by name (see
 * docs/server.md, "Chroma-compatible API"). Nothing else may differ.
 */
const EXCEPTIONS = {
  /** Collection and database ids are UUIDs each server invents; collections list in id order on both, so the order of a listing follows those ids. */
  INVENTED_IDS: 'collection and database ids (and so the order of a collection listing) differ',
  /** The heartbeat is the server's clock. */
  HEARTBEAT: 'nanosecond heartbeat is a timestamp',
  /** pre-flight-checks reports each server's own batch limit (Chroma 5461, ours limits.batchSize). */
  MAX_BATCH_SIZE: 'max_batch_size is each server\'s limit',
  /**
   * Where Chroma 1.0.0 itself fails — a 5xx, or a dropped connection (a panic) — ours must answer
   * below 500, and the answers are not compared. Seen: a query by ids none of which exist any more
   * ("Error finding id", 500), a query with n_results 0 on a filled collection (connection dropped).
   */
  CHROMA_FAILS: 'Chroma answers 5xx or drops the connection; ours answers < 500',
  /** Error messages are each server's words; the status and the error name are compared. */
  ERROR_MESSAGES: 'error messages differ in wording',
} as const;

afterAll(cleanup);


interface Target { name: string; readonly base: string; client: ChromaClient }
let chroma: ChildProcess | undefined;
/** The real Chroma first; each other target is compared with it. */
let targets: Target[];
let db: TestPostgres | undefined;

function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = netServer();
    s.listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => res(p)); });
    s.on('error', rej);
  });
}

// listCollections builds each collection's embedding function; collections made without one name
// Chroma's default, whose package is not installed, and the client logs that. Not a difference.
const consoleError = console.error;
console.error = (...args: unknown[]) => { if (!String(args[0]).includes('@chroma-core/default-embed')) consoleError(...args); };

beforeAll(async () => {
  const port = await freePort();
  const dir = tempDir('chroma-real-');
  chroma = spawn('node_modules/.bin/chroma', ['run', '--path', dir, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise<void>((res, rej) => {
    const timer = setTimeout(() => rej(new Error('the real Chroma server did not start within 30 s')), 30_000);
    let out = '';
    const on = (b: Buffer) => { out += b.toString(); if (out.includes('Listening on')) { clearTimeout(timer); res(); } };
    chroma!.stdout!.on('data', on);
    chroma!.stderr!.on('data', on);
    chroma!.on('exit', (code) => { clearTimeout(timer); rej(new Error(`chroma exited with ${code}: ${out.slice(-500)}`)); });
  });
  const ours = await start();
  const u = new URL(ours.url);
  targets = [
    { name: 'chroma', base: `http://127.0.0.1:${port}`, client: new ChromaClient({ host: '127.0.0.1', port }) },
    { name: 'nearest', base: ours.url, client: new ChromaClient({ host: u.hostname, port: Number(u.port) }) },
  ];
  if (postgresBin() !== null) {
    db = await startPostgres();
    const nodes = await Promise.all(['c1', 'c2'].map(async (id) => {
      const proc = spawnServe(['--cluster', db!.url, '--node-id', id, '--port', '0', '--data', tempDir('chroma-node-'), '--log-level', 'warn', '--chroma-shards', '2', '--chroma-replicas', '2']);
      return proc.url;
    }));
    // Both nodes live before the first collection is placed (2 replicas need 2 nodes).
    for (const deadline = Date.now() + 20_000; ;) {
      const live = ((await (await fetch(`${nodes[0]}/cluster`)).json()) as { nodes: { live: boolean; url: string }[] }).nodes.filter((x) => x.live && x.url !== '').length;
      if (live === 2) break;
      if (Date.now() > deadline) throw new Error('the cluster nodes did not both come up');
      await new Promise((r) => setTimeout(r, 100));
    }
    const c1 = new URL(nodes[0]);
    let turn = 0;
    targets.push({ name: 'cluster', get base() { return nodes[turn++ % 2]; }, client: new ChromaClient({ host: c1.hostname, port: Number(c1.port) }) });
  }
}, 90_000);

afterAll(async () => {
  console.error = consoleError;
  await cleanup(); // the cluster's nodes first, then its PostgreSQL
  await db?.destroy();
  if (chroma && chroma.exitCode === null) {
    const gone = new Promise((r) => chroma!.once('exit', r));
    chroma.kill('SIGTERM');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
    if (chroma.exitCode === null) chroma.kill('SIGKILL');
  }
});

/** Labels of the calls where CHROMA_FAILS applied (reported at the end). */
const chromaFailures: string[] = [];

type Outcome = { ok: true; value: unknown } | { ok: false; error: string };

async function outcome(p: Promise<unknown>): Promise<Outcome> {
  try { return { ok: true, value: await p }; } catch (e) { return { ok: false, error: (e as Error).name }; }
}

/** A raw JSON request: status, and the body (an error body is reduced to its error name, see ERROR_MESSAGES). */
async function raw(t: Target, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const r = await fetch(t.base + path, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const text = await r.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = text; }
  if (r.status >= 500) return { status: r.status, body: `${(json as { error?: string })?.error}: ${(json as { message?: string })?.message} (request ${JSON.stringify(body).slice(0, 400)})` };
  if (r.status >= 400) return { status: r.status, body: (json as { error?: string })?.error };
  return { status: r.status, body: json };
}

/**
 * Compares two results: numbers under `distances` and `embeddings` to 1e-4 (float32 arithmetic in
 * two implementations), everything else exactly — ids and their order included.
 */
function same(a: unknown, b: unknown, label: string, tolerant = false): void {
  if (typeof a === 'number' && typeof b === 'number' && tolerant) {
    expect(Math.abs(a - b), `${label}: ${a} vs ${b}`).toBeLessThan(1e-4);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    expect(b.length, `${label}: length`).toBe(a.length);
    a.forEach((x, i) => same(x, b[i], `${label}[${i}]`, tolerant));
    return;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const x = a as Record<string, unknown>, y = b as Record<string, unknown>;
    expect(Object.keys(y).sort(), `${label}: keys`).toEqual(Object.keys(x).sort());
    for (const k of Object.keys(x)) same(x[k], y[k], `${label}.${k}`, tolerant || k === 'distances' || k === 'embeddings');
    return;
  }
  expect(b, label).toEqual(a);
}

/** Runs the same call on every server and requires the same outcome as the real Chroma's. */
async function both<T>(label: string, fn: (t: Target) => Promise<T>, normalize: (v: T) => unknown = (v) => v): Promise<T | undefined> {
  const [a, ...others] = await Promise.all(targets.map((t) => outcome(fn(t))));
  const failed = (o: Outcome) => (!o.ok && o.error === 'TypeError') || (o.ok && (o.value as { status?: unknown })?.status !== undefined && ((o.value as { status: number }).status >= 500));
  if (failed(a!)) { // CHROMA_FAILS
    chromaFailures.push(label);
    others.forEach((b, i) => expect(failed(b), `${label}: ${targets[i + 1].name} failed too: ${JSON.stringify(b)}`).toBe(false));
    return undefined;
  }
  others.forEach((b, i) => {
    const name = targets[i + 1].name;
    if (!a!.ok || !b.ok) {
      expect(b.ok ? 'ok' : (b as { error: string }).error, `${label} (${name}): outcome`).toBe(a!.ok ? 'ok' : (a as { error: string }).error);
      return;
    }
    const [x, y] = [normalize((a as { value: T }).value), normalize((b as { value: T }).value)];
    try { same(x, y, `${label} (${name})`); } catch (e) {
      (e as Error).message += `\n chroma: ${JSON.stringify(x).slice(0, 1500)}\n ${name}: ${JSON.stringify(y).slice(0, 1500)}`;
      throw e;
    }
  });
  return a!.ok ? (a as { value: T }).value : undefined;
}

const P = '/api/v2/tenants/default_tenant/databases/default_database';
const WORDS = ['alpha', 'beta', 'gamma', 'delta', 'omega', 'vector', 'search', 'nearest', 'chroma'];
const TAGS = ['red', 'green', 'blue'];

function collectionShape(c: unknown): unknown {
  const { id: _id, ...rest } = c as Record<string, unknown>; // INVENTED_IDS
  return rest;
}

describe('chroma differential: the real Chroma server vs ours', () => {
  it('server routes answer the same (but for the named exceptions)', async () => {
    await both('version', (t) => t.client.version());
    await both('identity', (t) => t.client.getUserIdentity());
    await both('heartbeat', async (t) => typeof (await t.client.heartbeat())); // HEARTBEAT
    await both('pre-flight', async (t) => Object.keys((await raw(t, 'GET', '/api/v2/pre-flight-checks')).body as object)); // MAX_BATCH_SIZE
    await both('tenant', (t) => raw(t, 'GET', '/api/v2/tenants/default_tenant'));
    await both('missing tenant', (t) => raw(t, 'GET', '/api/v2/tenants/nobody-here'));
    await both('default database', (t) => raw(t, 'GET', '/api/v2/tenants/default_tenant/databases/default_database'));
    await both('create tenant', (t) => raw(t, 'POST', '/api/v2/tenants', { name: 'tenant-one' }));
    await both('create tenant again', (t) => raw(t, 'POST', '/api/v2/tenants', { name: 'tenant-one' }));
    await both('create database', (t) => raw(t, 'POST', '/api/v2/tenants/tenant-one/databases', { name: 'db-one' }));
    await both('create database again', (t) => raw(t, 'POST', '/api/v2/tenants/tenant-one/databases', { name: 'db-one' }));
    await both('list databases', async (t) => ((await raw(t, 'GET', '/api/v2/tenants/tenant-one/databases')).body as { name: string }[]).map((d) => d.name)); // INVENTED_IDS
    await both('missing database', (t) => raw(t, 'GET', '/api/v2/tenants/tenant-one/databases/db-two'));
    await both('delete database', (t) => raw(t, 'DELETE', '/api/v2/tenants/tenant-one/databases/db-one'));
    await both('delete database again', (t) => raw(t, 'DELETE', '/api/v2/tenants/tenant-one/databases/db-one'));
    await both('v1', (t) => raw(t, 'GET', '/api/v1/heartbeat'));
    await both('reset', (t) => raw(t, 'POST', '/api/v2/reset'));
    void EXCEPTIONS;
  });

  it('collections: create, get_or_create, get, list, count, modify, rename, delete, bad requests', async () => {
    await both('create', (t) => t.client.createCollection({ name: 'diff-col', metadata: { owner: 'me', 'hnsw:space': 'cosine' }, embeddingFunction: ef }).then((c) => [c.name, c.metadata, c.configuration]));
    await both('create again', (t) => t.client.createCollection({ name: 'diff-col', embeddingFunction: ef }));
    await both('get_or_create', (t) => t.client.getOrCreateCollection({ name: 'diff-col', metadata: { x: 1 }, embeddingFunction: ef }).then((c) => [c.name, c.metadata, c.configuration]));
    await both('create configured', (t) => raw(t, 'POST', `${P}/collections`, { name: 'diff-cfg', configuration: { hnsw: { space: 'ip', ef_search: 20, max_neighbors: 8, ef_construction: 50 } }, metadata: { 'hnsw:space': 'l2' } }), (r) => ({ ...r, body: collectionShape(r.body) }));
    await both('create with hnsw metadata', (t) => raw(t, 'POST', `${P}/collections`, { name: 'diff-meta', metadata: { 'hnsw:space': 'ip', 'hnsw:M': 12, 'hnsw:construction_ef': 40, 'hnsw:search_ef': 30 } }), (r) => ({ ...r, body: collectionShape(r.body) }));
    await both('get by name', (t) => raw(t, 'GET', `${P}/collections/diff-cfg`), (r) => ({ ...r, body: collectionShape(r.body) }));
    await both('get missing', (t) => raw(t, 'GET', `${P}/collections/diff-none`));
    await both('list', async (t) => (await t.client.listCollections()).map((c) => c.name).sort()); // INVENTED_IDS: order by id
    await both('count', (t) => t.client.countCollections());
    await both('list page', async (t) => (await t.client.listCollections({ limit: 2, offset: 1 })).length);
    for (const body of [{ name: 'ab' }, { name: '-abc' }, { name: 'a..b' }, { name: 'okname', metadata: { 'hnsw:space': 'hamming' } }, { name: 'okname', metadata: {} },
      { name: 'okname', metadata: { 'hnsw:bogus': 1 } }, {}, { name: 5 }, { name: 'okname', metadata: { a: null } }, { name: 'okname', configuration: { hnsw: { bogus: 1 } } }, [1]]) {
      await both(`bad create ${JSON.stringify(body)}`, (t) => raw(t, 'POST', `${P}/collections`, body));
    }
    await both('modify', async (t) => {
      const c = await t.client.getCollection({ name: 'diff-meta', embeddingFunction: ef });
      await c.modify({ name: 'diff-renamed', metadata: { v: 2 } });
      await raw(t, 'PUT', `${P}/collections/${c.id}`, { new_configuration: { hnsw: { ef_search: 77 } } });
      return collectionShape((await raw(t, 'GET', `${P}/collections/diff-renamed`)).body);
    });
    await both('old name gone', (t) => raw(t, 'GET', `${P}/collections/diff-meta`));
    await both('modify bad', async (t) => {
      const c = await t.client.getCollection({ name: 'diff-renamed', embeddingFunction: ef });
      return Promise.all([raw(t, 'PUT', `${P}/collections/${c.id}`, { new_name: 'x' }), raw(t, 'PUT', `${P}/collections/${c.id}`, { new_metadata: {} }),
        raw(t, 'PUT', `${P}/collections/${c.id}`, { new_configuration: { hnsw: { bogus: 1 } } }), raw(t, 'PUT', `${P}/collections/not-a-uuid`, {})]);
    });
    await both('record route, bad uuid', (t) => raw(t, 'POST', `${P}/collections/not-a-uuid/get`, {}));
    await both('record route, unknown uuid', (t) => raw(t, 'POST', `${P}/collections/11111111-1111-4111-8111-111111111111/get`, {}));
    await both('delete', (t) => t.client.deleteCollection({ name: 'diff-renamed' }));
    await both('delete again', (t) => t.client.deleteCollection({ name: 'diff-renamed' }));
  });

  for (const space of ['l2', 'cosine', 'ip'] as const) {
    it(`records in a ${space} collection: a seeded random flow of add / upsert / update / delete / get / query / count`, async () => {
      const r = prng({ l2: 11, cosine: 22, ip: 33 }[space]);
      const pick = <T>(a: readonly T[]): T => a[Math.floor(r() * a.length)]!;
      const dim = 8;
      const vec = () => Array.from({ length: dim }, () => Math.round((r() * 2 - 1) * 1000) / 1000);
      const cols = new Map<string, Collection>();
      await both('create', async (t) => {
        const c = await t.client.createCollection({ name: `flow-${space}`, metadata: { 'hnsw:space': space }, embeddingFunction: ef });
        cols.set(t.name, c);
        return c.configuration;
      });
      let nextId = 0;
      const known: string[] = [];
      const meta = () => {
        const m: Record<string, string | number | boolean> = {};
        if (r() < 0.8) m.n = Math.floor(r() * 20);
        if (r() < 0.7) m.score = Math.round(r() * 1000) / 100;
        if (r() < 0.6) m.tag = pick(TAGS);
        if (r() < 0.4) m.flag = r() < 0.5;
        return Object.keys(m).length > 0 ? m : undefined;
      };
      const doc = () => (r() < 0.8 ? Array.from({ length: 1 + Math.floor(r() * 4) }, () => pick(WORDS)).join(' ') : undefined);
      const records = (n: number, fresh: number) => {
        const ids: string[] = [];
        for (let i = 0; i < n; i++) {
          let id: string;
          if (i < fresh || known.length === 0) { id = `r${nextId++}`; known.push(id); } else id = pick(known);
          if (!ids.includes(id)) ids.push(id);
        }
        return { ids, embeddings: ids.map(vec), metadatas: ids.map(meta), documents: ids.map(doc), uris: ids.map(() => (r() < 0.3 ? `s3://b/${Math.floor(r() * 99)}` : undefined)) };
      };
      const where = (depth = 0): Record<string, unknown> => {
        const roll = r();
        if (depth < 2 && roll < 0.2) return { [pick(['$and', '$or'])]: Array.from({ length: 1 + Math.floor(r() * 3) }, () => where(depth + 1)) };
        const key = pick(['n', 'score', 'tag', 'flag']);
        const value = key === 'n' ? Math.floor(r() * 20) : key === 'score' ? Math.round(r() * 1000) / 100 : key === 'tag' ? pick(TAGS) : r() < 0.5;
        const ops = key === 'tag' || key === 'flag' ? ['$eq', '$ne', '$in', '$nin', null] : ['$eq', '$ne', '$gt', '$gte', '$lt', '$lte', '$in', '$nin', null];
        const op = pick(ops);
        if (op === null) return { [key]: value };
        if (op === '$in' || op === '$nin') return { [key]: { [op]: key === 'n' ? [value, Math.floor(r() * 20)] : key === 'tag' ? [value, pick(TAGS)] : [value] } };
        return { [key]: { [op]: value } };
      };
      const whereDocument = (depth = 0): Record<string, unknown> => {
        if (depth < 1 && r() < 0.25) return { [pick(['$and', '$or'])]: [whereDocument(depth + 1), whereDocument(depth + 1)] };
        return { [pick(['$contains', '$not_contains'])]: pick(WORDS).slice(0, 2 + Math.floor(r() * 4)) };
      };
      const col = (t: Target) => cols.get(t.name)!;
      const path = (t: Target) => `${P}/collections/${col(t).id}`;

      const first = records(60, 60);
      await both('add 60', (t) => col(t).add(first as never));
      for (let step = 0; step < 45; step++) {
        const op = pick(['add', 'upsert', 'update', 'delete', 'get', 'get', 'query', 'query', 'query', 'count']);
        const label = `${space} #${step} ${op}`;
        if (op === 'add') {
          const set = records(1 + Math.floor(r() * 6), Math.floor(r() * 4));
          await both(label, (t) => col(t).add(set as never));
        } else if (op === 'upsert' || op === 'update') {
          const set = records(1 + Math.floor(r() * 6), op === 'upsert' ? Math.floor(r() * 3) : 0);
          const metadatas = set.metadatas.map((m) => (m && r() < 0.5 ? { ...m, [pick(['n', 'score', 'tag', 'flag'])]: null } : m));
          const body: Record<string, unknown> = { ids: set.ids, embeddings: set.embeddings, metadatas };
          if (r() < 0.5) body.documents = set.documents.map((d) => d ?? null);
          if (op === 'update' && r() < 0.4) { delete body.embeddings; body.ids = [...set.ids, `missing${step}`]; body.metadatas = [...metadatas, { n: 1 }]; if (body.documents) (body.documents as unknown[]).push('x'); }
          await both(label, (t) => raw(t, 'POST', `${path(t)}/${op}`, body));
        } else if (op === 'delete') {
          const body: Record<string, unknown> = {};
          const roll = r();
          if (roll < 0.4) body.ids = [pick(known), pick(known), 'nope'];
          else if (roll < 0.7) body.where = where();
          else body.where_document = whereDocument();
          if (roll < 0.2) body.where = where();
          await both(label, (t) => raw(t, 'POST', `${path(t)}/delete`, body));
        } else if (op === 'get') {
          const body: Record<string, unknown> = { include: ['metadatas', 'documents', 'uris', 'embeddings'].filter(() => r() < 0.6) };
          if (r() < 0.5) body.where = where();
          if (r() < 0.3) body.where_document = whereDocument();
          if (r() < 0.2) body.ids = [pick(known), pick(known), pick(known)].filter((x, i, a) => a.indexOf(x) === i);
          if (r() < 0.4) body.limit = Math.floor(r() * 15);
          if (r() < 0.4) body.offset = Math.floor(r() * 20);
          await both(label, (t) => raw(t, 'POST', `${path(t)}/get`, body));
        } else if (op === 'query') {
          const body: Record<string, unknown> = {
            query_embeddings: Array.from({ length: 1 + Math.floor(r() * 3) }, vec),
            n_results: 1 + Math.floor(r() * 12),
            include: ['distances', 'metadatas', 'documents', 'uris', 'embeddings'].filter(() => r() < 0.6),
          };
          if (r() < 0.35) body.where = where();
          if (r() < 0.2) body.where_document = whereDocument();
          if (r() < 0.1) body.ids = known.slice(0, 10);
          if (!body.where && !body.where_document && !body.ids && r() < 0.5) {
            const qe = body.query_embeddings as number[][];
            await both(`${label} (client)`, (t) => col(t).query({ queryEmbeddings: qe, nResults: body.n_results as number, include: body.include as never }).then((x) => ({ ...x })));
          } else {
            await both(label, (t) => raw(t, 'POST', `${path(t)}/query`, body));
          }
        } else {
          await both(label, (t) => col(t).count());
        }
      }
      await both(`${space} final state`, (t) => raw(t, 'POST', `${path(t)}/get`, { include: ['metadatas', 'documents', 'uris', 'embeddings'] }));
      // bad requests: the same statuses and error names (ERROR_MESSAGES)
      const bad: [string, unknown][] = [
        ['add', { ids: ['b'], embeddings: [[1, 2]] }], ['add', { ids: ['b', 'c'], embeddings: [vec()] }], ['add', { ids: [''], embeddings: [vec()] }],
        ['add', { ids: ['b'], embeddings: [[1, 'x']] }], ['add', { ids: [1], embeddings: [vec()] }], ['add', { ids: ['b'], embeddings: [vec()], metadatas: [{ a: null }] }],
        ['add', { embeddings: [vec()] }], ['add', [1]], ['upsert', { ids: ['r1'], embeddings: [[1, 2]] }], ['update', { ids: ['r1'], embeddings: [[1, 2, 3]] }],
        ['query', { query_embeddings: [[1, 2]] }], ['query', { query_embeddings: [vec()], n_results: -1 }], ['query', { n_results: 1 }],
        ['query', { query_embeddings: [vec()], include: ['bogus'] }], ['query', { query_embeddings: [], n_results: 3 }], ['query', { query_embeddings: [vec()], n_results: 0 }],
        ['get', { where: { n: { $gt: 'a' } } }], ['get', { where: { n: 1, tag: 'red' } }], ['get', { where: {} }], ['get', { where: { n: { $in: [] } } }],
        ['get', { where: { n: { $in: [1, 'a'] } } }], ['get', { where: { n: { $gt: 1, $lt: 5 } } }], ['get', { where: { n: null } }], ['get', { where: { n: [1] } }],
        ['get', { where: { n: { $bogus: 1 } } }], ['get', { where: { $not: { n: 1 } } }], ['get', { where_document: { $matches: 'a' } }], ['get', { where_document: {} }],
        ['get', { where_document: { $contains: 1 } }], ['get', { limit: -1 }], ['get', { include: ['bogus'] }], ['delete', { where: { $and: { n: 1 } } }],
      ];
      for (const [op, body] of bad) await both(`${space} bad ${op} ${JSON.stringify(body)}`, (t) => raw(t, 'POST', `${path(t)}/${op}`, body));
      await both(`${space} bad json`, async (t) => (await fetch(`${t.base}${path(t)}/get`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"ids": [' })).status);
      await both(`${space} wrong content type`, async (t) => (await fetch(`${t.base}${path(t)}/get`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' })).status);
      await both(`${space} state after bad requests`, (t) => raw(t, 'POST', `${path(t)}/get`, { include: ['metadatas', 'documents'] }));
    });
  }

  it('Chroma failed only where CHROMA_FAILS documents it (queries), and is still up', async () => {
    expect(chromaFailures.every((l) => / query\b/.test(l)), chromaFailures.join('\n')).toBe(true);
    expect(chroma?.exitCode).toBeNull();
    await both('heartbeat after the flows', async (t) => typeof (await t.client.heartbeat()));
  });
});
