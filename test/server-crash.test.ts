// HTTP-level crash tests of `nearest serve` (the real CLI, node dist/cli/main.js, on loopback).
//   SIGKILL: concurrent clients write through the native API (JSON and base64 upserts in batches,
//            binary upserts with firstId, deletes by ids and by filter) and the Qdrant-compatible one
//            (PUT points?wait=true, set and overwrite payload) to an HNSW and a flat collection, with
//            numeric, UUID and plain string ids; the process is killed at seeded random moments
//            (also while it starts and recovers) and restarted on the same directory. After each
//            restart: every write answered 2xx is there with exactly its content, each write in
//            flight at the kill is there whole or not at all, nothing never sent appears, and
//            searches agree with brute force over the model.
//   SIGTERM: requests in flight when the signal arrives are answered 2xx, the process exits 0,
//            and every acknowledged write is there after a restart.
// The model stays exact because a client never sends a write naming an id (or, for a filter
// delete, a group) that another write in flight names: each id's writes are ordered in time, so
// its state is the last acknowledged write's, or the in-flight one's.
// Kills: NEAREST_HTTP_CRASH_KILLS (default 30); seed: NEAREST_HTTP_CRASH_SEED. A violation keeps
// the data directory aside and names it in the failure.
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { prng as rng } from './helpers.js';
import { cleanup, spawnServe } from './server-helpers.js';

const KILLS = Number(process.env.NEAREST_HTTP_CRASH_KILLS ?? 30);
if (!Number.isSafeInteger(KILLS) || KILLS < 1) throw new Error(`NEAREST_HTTP_CRASH_KILLS must be a positive integer, got ${process.env.NEAREST_HTTP_CRASH_KILLS}`);
const SEED = Number(process.env.NEAREST_HTTP_CRASH_SEED ?? 20261201);
const DIM = 8;
const WORKERS = 8;

const work = mkdtempSync(join(tmpdir(), 'nearest-http-crash-'));
afterAll(async () => {
  await cleanup();
  rmSync(work, { recursive: true, force: true });
});

const serve = (dir: string) => spawnServe(['--data', dir, '--port', '0', '--log-level', 'silent']);

interface Reply { status: number; json: any }

async function send(url: string, method: string, path: string, body?: unknown, raw?: Buffer): Promise<Reply> {
  const headers: Record<string, string> = {};
  let payload: string | Buffer | undefined;
  if (raw !== undefined) { payload = raw; headers['content-type'] = 'application/octet-stream'; }
  else if (body !== undefined) { payload = JSON.stringify(body); headers['content-type'] = 'application/json'; }
  const r = await fetch(url + path, { method, headers, body: payload });
  const text = await r.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { json = text; }
  return { status: r.status, json };
}

// --- the model ---

type Id = number | string;
interface State { vector: number[]; metadata: Record<string, unknown> | undefined }
type Coll = 'h' | 'f';
const COLLECTIONS: Record<Coll, { index: string; metric: 'cosine' | 'euclidean' }> = {
  h: { index: 'HNSW16', metric: 'cosine' },
  f: { index: 'Flat', metric: 'euclidean' },
};
const GROUPS = 8;

/** A write's effect on each id it names: the state before (known: no other write names it) and after. */
interface Change { key: string; before: State | null; after: State | null }
interface Write { what: string; coll: Coll; changes: Change[] }

const keyOf = (coll: Coll, id: Id) => `${coll}|${typeof id === 'number' ? 'n' : 's'}:${id}`;

class Model {
  readonly ids: { id: Id; kind: 'num' | 'uuid' | 'str'; group: number }[] = [];
  readonly state = new Map<string, State>();
  readonly locked = new Set<string>();

  constructor(r: () => number) {
    const hex = (n: number) => Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join('');
    for (let i = 0; i < 80; i++) this.ids.push({ id: i, kind: 'num', group: i % GROUPS });
    for (let i = 0; i < 40; i++) this.ids.push({ id: `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`, kind: 'uuid', group: i % GROUPS });
    for (let i = 0; i < 20; i++) this.ids.push({ id: `s-${i}`, kind: 'str', group: i % GROUPS });
  }

  get(coll: Coll, id: Id): State | null { return this.state.get(keyOf(coll, id)) ?? null; }

  free(coll: Coll, id: Id): boolean { return !this.locked.has(keyOf(coll, id)); }

  lock(w: Write): void { for (const c of w.changes) this.locked.add(c.key); }

  unlock(w: Write): void { for (const c of w.changes) this.locked.delete(c.key); }

  apply(w: Write): void {
    for (const c of w.changes) {
      if (c.after === null) this.state.delete(c.key); else this.state.set(c.key, c.after);
    }
  }

  records(coll: Coll): [Id, State][] {
    return this.ids.map((x) => [x.id, this.get(coll, x.id)] as [Id, State | null]).filter((e): e is [Id, State] => e[1] !== null);
  }
}

const sameState = (a: State | null, b: State | null) => (a === null || b === null ? a === b : isDeepStrictEqual(a.vector, b.vector) && isDeepStrictEqual(a.metadata, b.metadata));

// --- the workload ---

interface Figures {
  kills: number; killsInStartup: number; killsBeforeListening: number; acknowledged: number; inFlightAtKill: number;
  inFlightApplied: number; inFlightAbsent: number; inFlightNoChange: number; byKind: Record<string, number>; searches: number; recallHits: number; recallTotal: number;
}

const f32 = (x: number) => Math.fround(x);
const base64 = (v: number[]) => Buffer.from(new Float32Array(v).buffer).toString('base64');

/** Picks a write and the request that makes it, naming only ids no write in flight names; null when none is free. */
function nextWrite(m: Model, r: () => number, tick: number): { w: Write; method: string; path: string; body?: unknown; raw?: Buffer; check: (json: any) => string | null } | null {
  const coll: Coll = r() < 0.5 ? 'h' : 'f';
  const vec = () => Array.from({ length: DIM }, () => f32(r() * 2 - 1));
  const pick = (n: number, ok: (x: Model['ids'][number]) => boolean) => {
    const free = m.ids.filter((x) => m.free(coll, x.id) && ok(x));
    const out: Model['ids'] = [];
    while (out.length < n && free.length > 0) out.push(free.splice(Math.floor(r() * free.length), 1)[0]);
    return out;
  };
  const change = (id: Id, after: State | null): Change => ({ key: keyOf(coll, id), before: m.get(coll, id), after });
  const roll = r();
  if (roll < 0.3) { // native JSON upsert, numbers or base64, some records without metadata
    const xs = pick(1 + Math.floor(r() * 20), () => true);
    if (xs.length === 0) return null;
    const recs = xs.map((x) => ({ x, vector: vec(), metadata: r() < 0.15 ? undefined : { group: x.group, v: Math.floor(r() * 100), src: 'native', tick, tags: ['a', r() < 0.5 ? 'b' : 'c'] } }));
    const b64 = r() < 0.4;
    return {
      w: { what: 'upsert', coll, changes: recs.map((c) => change(c.x.id, { vector: c.vector, metadata: c.metadata })) },
      method: 'POST', path: `/v1/collections/${coll}/records`,
      body: { records: recs.map((c) => ({ id: c.x.id, vector: b64 ? base64(c.vector) : c.vector, ...(c.metadata ? { metadata: c.metadata } : {}) })) },
      check: (j) => (j.upserted === recs.length ? null : `upserted ${j.upserted} of ${recs.length}`),
    };
  }
  if (roll < 0.45) { // Qdrant upsert: numeric and UUID ids
    const xs = pick(1 + Math.floor(r() * 20), (x) => x.kind !== 'str');
    if (xs.length === 0) return null;
    const pts = xs.map((x) => ({ x, vector: vec(), payload: { group: x.group, v: Math.floor(r() * 100), src: 'qdrant', tick } }));
    return {
      w: { what: 'qdrantUpsert', coll, changes: pts.map((p) => change(p.x.id, { vector: p.vector, metadata: p.payload })) },
      method: 'PUT', path: `/collections/${coll}/points?wait=true`,
      body: { points: pts.map((p) => ({ id: p.x.id, vector: p.vector, payload: p.payload })) },
      check: (j) => (j.status === 'ok' && j.result?.status === 'completed' ? null : `answer ${JSON.stringify(j)}`),
    };
  }
  if (roll < 0.55) { // binary rows with consecutive numeric ids
    const n = 1 + Math.floor(r() * 8);
    const start = Math.floor(r() * (80 - n));
    const run = m.ids.slice(start, start + n);
    if (!run.every((x) => m.free(coll, x.id))) return null;
    const rows = run.map(() => vec());
    return {
      w: { what: 'binaryUpsert', coll, changes: run.map((x, i) => change(x.id, { vector: rows[i], metadata: undefined })) },
      method: 'POST', path: `/v1/collections/${coll}/records?firstId=${start}`, raw: Buffer.from(new Float32Array(rows.flat()).buffer),
      check: (j) => (j.upserted === n ? null : `upserted ${j.upserted} of ${n}`),
    };
  }
  if (roll < 0.67) { // delete by ids (existing or not)
    const xs = pick(1 + Math.floor(r() * 10), () => true);
    if (xs.length === 0) return null;
    const existing = xs.filter((x) => m.get(coll, x.id) !== null).length;
    return {
      w: { what: 'deleteIds', coll, changes: xs.map((x) => change(x.id, null)) },
      method: 'POST', path: `/v1/collections/${coll}/records/delete`, body: { ids: xs.map((x) => x.id) },
      check: (j) => (j.deleted === existing ? null : `deleted ${j.deleted}, ${existing} existed`),
    };
  }
  if (roll < 0.8) { // delete by filter: one group, below a value (it names, and locks, every id of the group)
    const g = Math.floor(r() * GROUPS);
    const members = m.ids.filter((x) => x.group === g);
    if (!members.every((x) => m.free(coll, x.id))) return null;
    const below = Math.floor(r() * 60);
    const hit = members.filter((x) => { const s = m.get(coll, x.id); return s?.metadata?.group === g && (s.metadata.v as number) < below; });
    return {
      w: { what: 'deleteFilter', coll, changes: members.map((x) => change(x.id, hit.includes(x) ? null : m.get(coll, x.id))) },
      method: 'POST', path: `/v1/collections/${coll}/records/delete`, body: { filter: { group: g, v: { $lt: below } } },
      check: (j) => (j.deleted === hit.length ? null : `deleted ${j.deleted}, ${hit.length} matched`),
    };
  }
  // Qdrant payload on points that exist: set (merge keys), or overwrite (points of one group, which
  // the new payload keeps, so filter deletes still find each record in its own group)
  const overwrite = r() < 0.3;
  const g = Math.floor(r() * GROUPS);
  const xs = pick(1 + Math.floor(r() * 6), (x) => x.kind !== 'str' && m.get(coll, x.id) !== null && (!overwrite || x.group === g));
  if (xs.length === 0) return null;
  const payload = overwrite ? { group: g, p: Math.floor(r() * 1000) } : { p: Math.floor(r() * 1000), tick };
  return {
    w: {
      what: overwrite ? 'overwritePayload' : 'setPayload', coll,
      changes: xs.map((x) => { const s = m.get(coll, x.id)!; return change(x.id, { vector: s.vector, metadata: overwrite ? payload : { ...(s.metadata ?? {}), ...payload } }); }),
    },
    method: overwrite ? 'PUT' : 'POST', path: `/collections/${coll}/points/payload?wait=true`,
    body: { payload, points: xs.map((x) => x.id) },
    check: (j) => (j.status === 'ok' ? null : `answer ${JSON.stringify(j)}`),
  };
}

// --- checks after a restart ---

function distance(metric: 'cosine' | 'euclidean', a: number[], b: number[]): number {
  let dot = 0, na = 0, nb = 0, d = 0;
  for (let i = 0; i < a.length; i++) { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i]; d += (a[i] - b[i]) ** 2; }
  return metric === 'euclidean' ? Math.sqrt(d) : 1 - dot / Math.sqrt(na * nb);
}

/** A list of [id, distance] hits against brute force over the model: the same distances rank by rank, each id at its true distance. */
function compareHits(coll: Coll, m: Model, query: number[], hits: [Id, number][], k: number, only?: (s: State) => boolean): string | null {
  const metric = COLLECTIONS[coll].metric;
  const truth = m.records(coll).filter(([, s]) => !only || only(s)).map(([id, s]) => [id, distance(metric, query, s.vector)] as [Id, number]).sort((a, b) => a[1] - b[1]).slice(0, k);
  const tol = (x: number) => 1e-4 * Math.max(1, Math.abs(x));
  if (hits.length !== truth.length) return `${hits.length} hits, brute force has ${truth.length}`;
  for (let i = 0; i < hits.length; i++) {
    const [id, d] = hits[i];
    const s = m.get(coll, id);
    if (!s || (only && !only(s))) return `hit ${i} is ${JSON.stringify(id)}, which the model does not hold (or the filter excludes)`;
    if (Math.abs(distance(metric, query, s.vector) - d) > tol(d)) return `hit ${i} (${JSON.stringify(id)}) at distance ${d}, truly ${distance(metric, query, s.vector)}`;
    if (Math.abs(truth[i][1] - d) > tol(d)) return `rank ${i}: distance ${d}, brute force ${truth[i][1]}`;
  }
  return null;
}

describe('nearest serve under SIGKILL', () => {
  it(`keeps every acknowledged write, applies in-flight batches whole or not at all, invents nothing (${KILLS} kills)`, async () => {
    const dir = join(work, 'kill');
    const r = rng(SEED);
    const m = new Model(rng(SEED ^ 0x5bd1e995));
    const f: Figures = { kills: 0, killsInStartup: 0, killsBeforeListening: 0, acknowledged: 0, inFlightAtKill: 0, inFlightApplied: 0, inFlightAbsent: 0, inFlightNoChange: 0, byKind: {}, searches: 0, recallHits: 0, recallTotal: 0 };
    let pending: Write[] = []; // in flight at a kill, not yet checked
    let created = false;
    const violation = (what: string): never => {
      const kept = mkdtempSync(join(tmpdir(), 'nearest-http-crash-failure-'));
      cpSync(dir, kept, { recursive: true });
      throw new Error(`${what} (seed ${SEED}; the data directory is kept at ${kept})`);
    };

    /** Reads every record of a collection and checks it against the model and the writes in flight. */
    const verify = async (url: string, cycle: number) => {
      for (const coll of ['h', 'f'] as Coll[]) {
        const got = new Map<string, State>();
        let cursor: string | undefined;
        do {
          const page = await send(url, 'POST', `/v1/collections/${coll}/records/scroll`, { limit: 1000, include: ['metadata', 'vector'], ...(cursor ? { cursor } : {}) });
          if (page.status !== 200) violation(`cycle ${cycle}: scroll ${coll}: ${page.status} ${JSON.stringify(page.json)}`);
          for (const rec of page.json.records as { id: Id; vector: number[]; metadata?: Record<string, unknown> }[]) {
            got.set(keyOf(coll, rec.id), { vector: rec.vector, metadata: rec.metadata });
          }
          cursor = page.json.nextCursor ?? undefined;
        } while (cursor);
        const known = new Set(m.ids.map((x) => keyOf(coll, x.id)));
        for (const k of got.keys()) if (!known.has(k)) violation(`cycle ${cycle}: ${k} is present but was never written`);
        const decided = new Set<string>();
        for (const w of pending.filter((p) => p.coll === coll)) {
          // Whole or nothing: every id the write changes shows its after state, or every one its before state.
          const differing = w.changes.filter((c) => !sameState(c.before, c.after));
          const applied = differing.filter((c) => sameState(got.get(c.key) ?? null, c.after)).length;
          const absent = differing.filter((c) => sameState(got.get(c.key) ?? null, c.before)).length;
          if (differing.length === 0) f.inFlightNoChange++;
          else if (applied === differing.length) { f.inFlightApplied++; m.apply(w); }
          else if (absent === differing.length) f.inFlightAbsent++;
          else {
            const bad = differing.find((c) => !sameState(got.get(c.key) ?? null, c.after) && !sameState(got.get(c.key) ?? null, c.before));
            violation(`cycle ${cycle}: a ${w.what} in flight at the kill is half applied: ${applied} of ${differing.length} records changed, ${absent} unchanged${bad ? `; ${bad.key} is neither (${JSON.stringify(got.get(bad.key) ?? null)})` : ''}`);
          }
          for (const c of w.changes) decided.add(c.key);
        }
        for (const x of m.ids) {
          const k = keyOf(coll, x.id);
          const want = m.get(coll, x.id), have = got.get(k) ?? null;
          if (!sameState(want, have)) violation(`cycle ${cycle}: ${k}${decided.has(k) ? ' (in flight)' : ''} is ${JSON.stringify(have)}, acknowledged ${JSON.stringify(want)}`);
        }
        const count = await send(url, 'POST', `/v1/collections/${coll}/records/count`, {});
        if (count.json.count !== m.records(coll).length) violation(`cycle ${cycle}: count ${coll} is ${count.json.count}, the model holds ${m.records(coll).length}`);
        // Searches: exact ones equal brute force; HNSW hits are live records at their true distances.
        for (let q = 0; q < 3; q++) {
          const query = Array.from({ length: DIM }, () => f32(r() * 2 - 1));
          const g = Math.floor(r() * GROUPS);
          const inGroup = (s: State) => s.metadata?.group === g;
          let problem: string | null;
          if (coll === 'f') {
            const a = await send(url, 'POST', '/v1/collections/f/search', { vector: query, k: 10, include: [] });
            problem = compareHits('f', m, query, a.json.hits.map((h: { id: Id; distance: number }) => [h.id, h.distance]), 10);
            const b = problem ?? await send(url, 'POST', '/v1/collections/f/search', { vector: query, k: 5, filter: { group: g } });
            problem ??= compareHits('f', m, query, (b as Reply).json.hits.map((h: { id: Id; distance: number }) => [h.id, h.distance]), 5, inGroup);
          } else {
            const a = await send(url, 'POST', '/collections/h/points/query', { query, limit: 10, params: { exact: true } });
            problem = compareHits('h', m, query, a.json.result.points.map((p: { id: Id; score: number }) => [p.id, 1 - p.score]), 10);
            const b = await send(url, 'POST', '/v1/collections/h/search', { vector: query, k: 10, include: [] });
            const hits = b.json.hits as { id: Id; distance: number }[];
            for (const h of hits) {
              const s = m.get('h', h.id);
              if (!s) problem ??= `HNSW hit ${JSON.stringify(h.id)} is not a live record`;
              else if (Math.abs(distance('cosine', query, s.vector) - h.distance) > 1e-4) problem ??= `HNSW hit ${JSON.stringify(h.id)} at ${h.distance}, truly ${distance('cosine', query, s.vector)}`;
            }
            const truth = new Set(m.records('h').map(([id, s]) => [id, distance('cosine', query, s.vector)] as [Id, number]).sort((x, y) => x[1] - y[1]).slice(0, 10).map(([id]) => id));
            if (hits.length !== truth.size) problem ??= `HNSW returned ${hits.length} hits for ${truth.size} records`;
            f.recallTotal += truth.size;
            f.recallHits += hits.filter((h) => truth.has(h.id)).length;
          }
          f.searches++;
          if (problem) violation(`cycle ${cycle}: search on ${coll}: ${problem}`);
        }
      }
      pending = [];
    };

    for (let cycle = 0; cycle <= KILLS; cycle++) {
      const p = serve(dir);
      const inStartup = cycle > 0 && cycle < KILLS && r() < 0.15;
      if (inStartup) {
        // Killed while starting: loading modules, opening and recovering the collections.
        const delay = r() * 800; // startup takes ~0.5 s here: module loading, then opening the database
        let listening = false;
        void p.url.then(() => { listening = true; }, () => {});
        await new Promise((res) => setTimeout(res, delay));
        p.child.kill('SIGKILL');
        const [, signal] = await p.exit;
        if (signal !== 'SIGKILL') violation(`cycle ${cycle}: the server ended by itself while starting: ${p.stderr()}`);
        f.kills++; f.killsInStartup++;
        if (!listening) f.killsBeforeListening++;
        continue;
      }
      const url = await p.url;
      if (!created) {
        for (const [name, spec] of Object.entries(COLLECTIONS)) {
          const c = await send(url, 'PUT', `/v1/collections/${name}`, { dim: DIM, ...spec });
          expect(c.status, JSON.stringify(c.json)).toBe(201);
        }
        created = true;
      }
      await verify(url, cycle);
      if (cycle === KILLS) {
        p.child.kill('SIGTERM');
        expect(await p.exit).toEqual([0, null]);
        break;
      }
      // Concurrent clients until the kill.
      let killed = false;
      const inFlight = new Set<Write>();
      const errors: string[] = [];
      let tick = 0;
      const worker = async () => {
        while (!killed) {
          const next = nextWrite(m, r, tick++);
          if (!next) { await new Promise((res) => setTimeout(res, 1)); continue; }
          const { w } = next;
          m.lock(w);
          inFlight.add(w);
          let reply: Reply | null = null;
          try { reply = await send(url, next.method, next.path, next.body, next.raw); } catch { /* the kill: outcome unknown */ }
          if (reply === null) continue; // stays in flight and locked until the next verify
          inFlight.delete(w);
          if (reply.status < 200 || reply.status > 299) { errors.push(`${w.what} answered ${reply.status} ${JSON.stringify(reply.json)}`); continue; }
          const bad = next.check(reply.json);
          if (bad) errors.push(`${w.what}: ${bad}`);
          m.apply(w);
          m.unlock(w);
          f.acknowledged++;
          f.byKind[w.what] = (f.byKind[w.what] ?? 0) + 1;
        }
      };
      const workers = Array.from({ length: WORKERS }, worker);
      await new Promise((res) => setTimeout(res, 20 + r() * 300));
      killed = true; // no new requests; the ones sent are answered before the kill or never
      p.child.kill('SIGKILL');
      const [, signal] = await p.exit;
      await Promise.all(workers);
      if (errors.length > 0) violation(`cycle ${cycle}: ${errors.length} writes failed: ${errors.slice(0, 3).join('; ')}`);
      if (signal !== 'SIGKILL') violation(`cycle ${cycle}: the server ended by itself: ${p.stderr()}`);
      f.kills++;
      f.inFlightAtKill += inFlight.size;
      pending.push(...inFlight);
      // verify() (before any new write) decides the writes in flight; the model takes what it finds.
      for (const w of inFlight) m.unlock(w);
    }
    console.log(`http crash (seed ${SEED}): ${JSON.stringify({ ...f, recall: f.recallTotal ? +(f.recallHits / f.recallTotal).toFixed(4) : null })}`);
    expect(f.kills).toBe(KILLS);
    expect(f.acknowledged).toBeGreaterThan(KILLS * 5);
    expect(f.inFlightAtKill, 'no write was in flight at any kill').toBeGreaterThan(0);
    expect(f.recallHits / f.recallTotal).toBeGreaterThan(0.9);
  }, 60_000 + KILLS * 3_000);
});

/** A request whose head and first `split` body bytes are sent now and the rest on finish(): in flight until then. */
function partialRequest(url: string, method: string, path: string, contentType: string, body: Buffer, split: number) {
  const u = new URL(url);
  let sock!: Socket;
  const opened = new Promise<void>((res, rej) => {
    sock = connect(Number(u.port), u.hostname, () => {
      sock.write(`${method} ${path} HTTP/1.1\r\nHost: ${u.host}\r\nContent-Type: ${contentType}\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`);
      sock.write(body.subarray(0, split));
      res();
    });
    sock.on('error', rej);
  });
  const response = opened.then(() => new Promise<Reply>((res) => {
    const chunks: Buffer[] = [];
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const at = text.indexOf('\r\n\r\n');
      let json: unknown;
      try { json = JSON.parse(text.slice(at + 4)); } catch { json = text; }
      res({ status, json });
    });
  }));
  return { opened, response, finish: () => { sock.end(body.subarray(split)); } };
}

describe('nearest serve under SIGTERM', () => {
  it('answers the requests in flight, exits 0, and keeps every acknowledged write', async () => {
    const dir = join(work, 'term');
    const r = rng(SEED + 1);
    const vec = () => Array.from({ length: DIM }, () => f32(r() * 2 - 1));
    const p = serve(dir);
    const url = await p.url;
    for (const [name, spec] of Object.entries(COLLECTIONS)) expect((await send(url, 'PUT', `/v1/collections/${name}`, { dim: DIM, ...spec })).status).toBe(201);
    const expected = new Map<string, State>();
    // Requests whose bodies are half sent when the signal arrives: native JSON, Qdrant, binary.
    const partial = [];
    for (let i = 0; i < 6; i++) {
      const coll: Coll = i % 2 === 0 ? 'h' : 'f';
      const ids = Array.from({ length: i === 0 ? 3000 : 50 }, (_, j) => 10_000 * (i + 1) + j); // the first one large
      const vectors = ids.map(vec);
      let req;
      if (i < 2) {
        const body = Buffer.from(JSON.stringify({ records: ids.map((id, j) => ({ id, vector: vectors[j], metadata: { i, j } })) }));
        req = partialRequest(url, 'POST', `/v1/collections/${coll}/records`, 'application/json', body, body.length >> 1);
        ids.forEach((id, j) => expected.set(keyOf(coll, id), { vector: vectors[j], metadata: { i, j } }));
      } else if (i < 4) {
        const body = Buffer.from(JSON.stringify({ points: ids.map((id, j) => ({ id, vector: vectors[j], payload: { q: i, j } })) }));
        req = partialRequest(url, 'PUT', `/collections/${coll}/points?wait=true`, 'application/json', body, body.length >> 1);
        ids.forEach((id, j) => expected.set(keyOf(coll, id), { vector: vectors[j], metadata: { q: i, j } }));
      } else {
        const body = Buffer.from(new Float32Array(vectors.flat()).buffer);
        req = partialRequest(url, 'POST', `/v1/collections/${coll}/records?firstId=${ids[0]}`, 'application/octet-stream', body, body.length >> 1);
        ids.forEach((id, j) => expected.set(keyOf(coll, id), { vector: vectors[j], metadata: undefined }));
      }
      partial.push(req);
    }
    await Promise.all(partial.map((q) => q.opened));
    // Whole requests, answered before the signal (acknowledged writes). Requests sent at the moment
    // of the signal are not waited for here: one that reaches an idle keep-alive connection (or the
    // accept queue) as the server closes it gets ECONNRESET, as with any HTTP server, and is not in
    // flight (the server never read it); clients retry those.
    const whole = Array.from({ length: 8 }, (_, i) => {
      const coll: Coll = i % 2 === 0 ? 'h' : 'f';
      const recs = Array.from({ length: 200 }, (_, j) => ({ id: `w${i}-${j}`, vector: vec(), metadata: { w: i } }));
      recs.forEach((x) => expected.set(keyOf(coll, x.id), { vector: x.vector, metadata: x.metadata }));
      return send(url, 'POST', `/v1/collections/${coll}/records`, { records: recs });
    });
    for (const reply of await Promise.all(whole)) expect(reply.status, JSON.stringify(reply.json)).toBe(200);
    await new Promise((res) => setTimeout(res, 100)); // the half-sent requests' heads read
    p.child.kill('SIGTERM');
    await new Promise((res) => setTimeout(res, 200));
    expect(p.child.exitCode, 'the server exited with requests in flight').toBeNull();
    const late = await fetch(`${url}/readyz`).then((x) => x.status, () => 'refused');
    expect(['refused', 503]).toContain(late);
    for (const q of partial) q.finish();
    for (const reply of await Promise.all(partial.map((q) => q.response))) expect(reply.status, JSON.stringify(reply.json)).toBe(200);
    expect(await p.exit).toEqual([0, null]);

    const again = serve(dir);
    const url2 = await again.url;
    for (const coll of ['h', 'f'] as Coll[]) {
      const page = await send(url2, 'POST', `/v1/collections/${coll}/records/scroll`, { limit: 10_000, include: ['metadata', 'vector'] });
      const got = new Map((page.json.records as { id: Id; vector: number[]; metadata?: Record<string, unknown> }[]).map((x) => [keyOf(coll, x.id), { vector: x.vector, metadata: x.metadata }]));
      const want = [...expected].filter(([k]) => k.startsWith(`${coll}|`));
      expect(got.size).toBe(want.length);
      for (const [k, s] of want) expect(sameState(got.get(k) ?? null, s), k).toBe(true);
    }
    again.child.kill('SIGTERM');
    expect(await again.exit).toEqual([0, null]);
  }, 30_000);
});
