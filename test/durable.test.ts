// The storage engine: regression tests for every defect found outside the old tests (each fails on
// the store before the rewrite), fault injection at every file operation of every write path
// (crash, EIO, ENOSPC, short write) against a reference model, and model-based property tests
// (fast-check commands) over flat, HNSW and IVF stores and a Database.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { Database, NearestError, VectorStore, type DurableVectorStore, type StoreIndexOptions } from 'nearest';
import { readContainer } from '../dist/io/container.js';
import { frameRecords, scanLog } from '../dist/io/log.js';
import { CrashError, FaultFs, type FaultKind } from './fixtures/fault-fs.js';

const work = mkdtempSync(join(tmpdir(), 'nearest-durable-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let dirs = 0;
const fresh = (name: string) => join(work, `${name}-${dirs++}`);
const walOf = (dir: string) => join(dir, readdirSync(dir).filter((n) => n.startsWith('wal-')).sort().at(-1)!);

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try { await (typeof p === 'function' ? p() : p); } catch (e) { if (e instanceof NearestError) return e.code; return `raw ${(e as Error).name}: ${(e as Error).message}`; }
  return 'no error';
}

describe('durable store: defects found from outside', () => {
  it('a flipped byte in record 2 of 20 is corruption: writers refuse, readers serve the prefix, repair keeps the rest', async () => {
    const dir = fresh('flip');
    const s = await VectorStore.open(dir, { dim: 4, metric: 'euclidean' });
    for (let i = 0; i < 20; i++) await s.upsert({ id: `r${i}`, vector: [i, 0, 0, 1], metadata: { i } });
    await s.close();
    const wal = walOf(dir);
    const frames = (await scanLog(new Uint8Array(readFileSync(wal)))).frames;
    expect(frames.length).toBe(20);
    const bytes = readFileSync(wal);
    bytes[frames[1].offset + 40] ^= 0x10;
    writeFileSync(wal, bytes);
    const before = readdirSync(dir).sort().map((n) => [n, readFileSync(join(dir, n)).toString('hex')]);

    const err = await VectorStore.open(dir).catch((e) => e);
    expect(err).toBeInstanceOf(NearestError);
    expect(err.code).toBe('CORRUPT_FILE');
    expect(err.details).toMatchObject({ file: wal, offset: frames[1].offset, framesAfter: 18 });
    // Nothing was changed (no truncation, no lock left behind).
    expect(readdirSync(dir).sort().map((n) => [n, readFileSync(join(dir, n)).toString('hex')])).toEqual(before);

    const ro = await VectorStore.open(dir, { readOnly: true });
    expect(ro.size).toBe(1);
    expect(ro.damage).toMatchObject({ file: wal, offset: frames[1].offset, framesAfter: 18 });
    expect(ro.stats().damage).toEqual(ro.damage);

    const report = await VectorStore.repair(dir);
    expect(report).toMatchObject({ framesKept: 19, damagedRanges: 1 });
    expect(readFileSync(report.savedTo[0]).length).toBe(frames[1].end - frames[1].offset);
    const t = await VectorStore.open(dir);
    expect(t.size).toBe(19);
    expect(t.has('r1')).toBe(false);
    expect(t.get('r19')?.metadata).toEqual({ i: 19 });
    await t.upsert({ id: 'new', vector: [1, 1, 1, 1] });
    await t.close();
    expect((await VectorStore.open(dir, { readOnly: true })).size).toBe(20);
  });

  it('a torn last frame is cut silently; damage at the end of an older log is corruption', async () => {
    const dir = fresh('torn');
    const s = await VectorStore.open(dir, { dim: 2 });
    await s.upsert({ id: 'a', vector: [1, 0] });
    await s.upsert({ id: 'b', vector: [0, 1] });
    await s.close();
    const wal = walOf(dir);
    const b = readFileSync(wal);
    const last = (await scanLog(new Uint8Array(b))).frames.at(-1)!;
    writeFileSync(wal, b.subarray(0, last.end - 3)); // the last frame torn, the preallocated zeros gone
    const t = await VectorStore.open(dir);
    expect(t.keys()).toEqual(['a']);
    await t.upsert({ id: 'c', vector: [1, 1] });
    await t.close();
    const after = await scanLog(new Uint8Array(readFileSync(wal)));
    expect(after.frames.length).toBe(2); // the torn frame was overwritten, its bytes are gone
    expect(after.tornBytes + after.damaged.length).toBe(0);
    expect((await VectorStore.open(dir, { readOnly: true })).keys().sort()).toEqual(['a', 'c']);
    // A damaged tail in a log that is not the last one is corruption, not a torn write.
    const d2 = fresh('torn-old');
    const u = await VectorStore.open(d2, { dim: 2 });
    await u.upsert({ id: 'a', vector: [1, 0] });
    await u.close();
    const w1 = walOf(d2);
    const bytes = readFileSync(w1);
    const f = (await scanLog(new Uint8Array(bytes))).frames.at(-1)!;
    bytes[f.end - 2] ^= 1;
    writeFileSync(w1, bytes);
    writeFileSync(w1.replace(/\d{6}/, (g) => String(Number(g) + 1).padStart(6, '0')), new Uint8Array(0));
    expect(await codeOf(VectorStore.open(d2))).toBe('CORRUPT_FILE');
  });

  it('locks: read-only handles neither count as writers nor block them; closing one never releases another\'s lock', async () => {
    const dir = fresh('lock');
    const w = await VectorStore.open(dir, { dim: 2 });
    const ro = await VectorStore.open(dir, { readOnly: true });
    await ro.close();
    expect(await codeOf(VectorStore.open(dir))).toBe('LOCKED');
    expect(await codeOf(VectorStore.open(dir, { dim: 2 }))).toBe('LOCKED');
    await w.upsert({ id: 1, vector: [1, 2] });
    await w.close();
    const ro2 = await VectorStore.open(dir, { readOnly: true });
    const w2 = await VectorStore.open(dir); // a reader alone does not block a writer
    await w2.upsert({ id: 2, vector: [2, 2] });
    await ro2.close();
    expect(await codeOf(VectorStore.open(dir))).toBe('LOCKED');
    await w2.close();
    // A concurrent open in the same tick: exactly one wins.
    const both = await Promise.allSettled([VectorStore.open(dir), VectorStore.open(dir)]);
    expect(both.filter((r) => r.status === 'fulfilled').length).toBe(1);
    for (const r of both) if (r.status === 'fulfilled') await r.value.close(); else expect(r.reason.code).toBe('LOCKED');
  });

  it('a lock left by a dead process is taken over; one of a live process is LOCKED', async () => {
    const dir = fresh('stale');
    const s = await VectorStore.open(dir, { dim: 2 });
    await s.close();
    writeFileSync(join(dir, 'LOCK'), JSON.stringify({ pid: 2 ** 22 + 12345, start: '1', host: (await import('node:os')).hostname(), token: 'x' }));
    const t = await VectorStore.open(dir);
    await t.close();
    // pid 1 is alive, but with another start time it is a reused pid: stale.
    writeFileSync(join(dir, 'LOCK'), JSON.stringify({ pid: 1, start: 'not-its-start-time', host: (await import('node:os')).hostname(), token: 'y' }));
    const u = await VectorStore.open(dir);
    await u.close();
  });

  it('upsert and compact in the same tick, and under Promise.all, settle; so do later writes and close', async () => {
    const dir = fresh('tick');
    const s = await VectorStore.open(dir, { dim: 2 });
    const a = s.upsert({ id: 'x', vector: [1, 2] });
    const c = s.compact();
    await Promise.all([a, c]);
    await Promise.all([s.upsert({ id: 'y', vector: [3, 4] }), s.compact(), s.upsert({ id: 'z', vector: [5, 6] }), s.compact(), s.delete('x')]);
    await s.upsert({ id: 'w', vector: [7, 8] });
    await s.close();
    const t = await VectorStore.open(dir, { readOnly: true });
    expect(t.keys().sort()).toEqual(['w', 'y', 'z']);
  });

  it('metadata is owned: changing the caller\'s object, a get() result or a hit changes nothing, before or after restart', async () => {
    for (const durable of [false, true]) {
      const dir = fresh('meta');
      const s = durable ? await VectorStore.open(dir, { dim: 2 }) : new VectorStore({ dim: 2 });
      const meta = { tags: ['a'], nested: { n: 1 } };
      await s.upsert({ id: 'k', vector: [1, 0], metadata: meta });
      meta.tags.push('b'); meta.nested.n = 2;
      const got = s.get('k')!;
      expect(got.metadata).toEqual({ tags: ['a'], nested: { n: 1 } });
      expect(() => { (got.metadata as { tags: string[] }).tags.push('c'); }).toThrow(TypeError);
      const hit = s.search([1, 0], 1)[0];
      expect(() => { (hit.metadata as { nested: { n: number } }).nested.n = 5; }).toThrow(TypeError);
      got.vector[0] = 99;
      expect(s.get('k')!.vector[0]).toBe(1);
      if (durable) {
        await (s as DurableVectorStore).close();
        const t = await VectorStore.open(dir);
        expect(t.get('k')!.metadata).toEqual({ tags: ['a'], nested: { n: 1 } });
        await t.close();
      }
    }
  });

  it('metadata JSON cannot hold is INVALID_ARGUMENT naming the path, and changes nothing', async () => {
    const bad: [unknown, string][] = [
      [{ tags: ['a', 'b', NaN] }, 'metadata.tags[2]'], [{ x: Infinity }, 'metadata.x'], [{ f: () => 1 }, 'metadata.f'],
      [{ d: new Date(0) }, 'metadata.d'], [{ m: new Map() }, 'metadata.m'], [{ s: new Set() }, 'metadata.s'],
      [{ t: new Float32Array(2) }, 'metadata.t'], [{ u: undefined }, 'metadata.u'], [{ b: 1n }, 'metadata.b'], [[1, , 3], 'metadata[1]'],
    ];
    const cyc: Record<string, unknown> = {}; cyc.self = cyc;
    bad.push([cyc, 'metadata.self']);
    const dir = fresh('json');
    const d = await VectorStore.open(dir, { dim: 2 });
    const m = new VectorStore({ dim: 2 });
    for (const [value, path] of bad) {
      for (const s of [m, d]) {
        const e = await (async () => { try { await s.upsert({ id: 'q', vector: [1, 1], metadata: value }); } catch (err) { return err as NearestError; } return null; })();
        expect(e?.code, path).toBe('INVALID_ARGUMENT');
        expect(e?.message).toContain(path);
        expect(s.size).toBe(0);
      }
    }
    expect(await codeOf(() => m.add([1, 1], { n: NaN }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(() => m.addBatch([[1, 1]], [{ n: -Infinity }]))).toBe('INVALID_ARGUMENT');
    await d.close();
  });

  it('id arguments: a single id or an array of ids, never a string iterated', async () => {
    const dir = fresh('ids');
    const d = await VectorStore.open(dir, { dim: 2 });
    const m = new VectorStore({ dim: 2 });
    for (const s of [m, d]) {
      await s.upsert([{ id: 'a', vector: [1, 0] }, { id: 'b', vector: [0, 1] }, { id: 'c', vector: [1, 1] }, { id: 5, vector: [2, 2] }]);
      expect(await codeOf(async () => s.deleteMany('abc' as never))).toBe('INVALID_ARGUMENT');
      expect(await codeOf(async () => s.deleteMany(5 as never))).toBe('INVALID_ARGUMENT');
      expect(await codeOf(async () => s.delete(null as never))).toBe('INVALID_ARGUMENT');
      expect(await codeOf(async () => s.delete({} as never))).toBe('INVALID_ARGUMENT');
      expect(await codeOf(async () => s.deleteMany([1.5] as never))).toBe('INVALID_ARGUMENT');
      expect(s.size).toBe(4);
      expect(await s.delete(5)).toBe(true);
      expect(await s.deleteMany(['a', 'missing'])).toBe(1);
      expect(s.keys().sort()).toEqual(['b', 'c']);
    }
    await d.close();
  });

  it('open: a file is INVALID_ARGUMENT, a missing directory read-only is NOT_FOUND (and not created), unknown options refused', async () => {
    const file = join(work, 'a-file');
    writeFileSync(file, 'x');
    expect(await codeOf(VectorStore.open(file, { dim: 2 }))).toBe('INVALID_ARGUMENT');
    const missing = fresh('missing');
    expect(await codeOf(VectorStore.open(missing, { dim: 2, readOnly: true }))).toBe('NOT_FOUND');
    expect(await codeOf(VectorStore.open(missing))).toBe('NOT_FOUND');
    expect(() => readdirSync(missing)).toThrow();
    expect(await codeOf(VectorStore.open(missing, { dim: 2, compactbytes: 5 } as never))).toBe('INVALID_ARGUMENT');
  });

  it('reopen checks: conflicting dim, metric or index are INVALID_ARGUMENT naming what is stored; reindex swaps the index', async () => {
    const dir = fresh('reopen');
    const s = await VectorStore.open(dir, { dim: 3, metric: 'euclidean' });
    await s.upsert(Array.from({ length: 50 }, (_, i) => ({ id: i, vector: [i, i % 7, 1], metadata: { i } })));
    await s.close();
    const e1 = await VectorStore.open(dir, { dim: 3, index: { type: 'hnsw' } }).catch((e) => e);
    expect(e1.code).toBe('INVALID_ARGUMENT');
    expect(e1.message).toContain('flat');
    expect(await codeOf(VectorStore.open(dir, { dim: 4 }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(VectorStore.open(dir, { metric: 'cosine' }))).toBe('INVALID_ARGUMENT');
    const same = await VectorStore.open(dir, { dim: 3, metric: 'euclidean', index: { type: 'flat' } });
    expect(same.stats().index).toBe('Flat');
    await same.close();
    const r = await VectorStore.open(dir, { index: { type: 'hnsw', m: 8 }, reindex: true });
    expect(r.stats().index).toBe('HNSW8');
    expect(r.size).toBe(50);
    expect(r.search([10, 3, 1], 1)[0].id).toBe(10);
    await r.close();
    const again = await VectorStore.open(dir);
    expect(again.stats()).toMatchObject({ index: 'HNSW8', size: 50, dim: 3, metric: 'euclidean' });
    expect(again.get(7)?.metadata).toEqual({ i: 7 });
    await again.close();
  });

  it('the log holds the caller\'s vectors (not normalised ones) and the snapshot header its metric', async () => {
    const dir = fresh('ivfcos');
    const s = await VectorStore.open(dir, { dim: 4, metric: 'cosine', index: { type: 'ivf', nlist: 2, trainAt: 20 } });
    await s.upsert(Array.from({ length: 30 }, (_, i) => ({ id: i, vector: [i + 1, 2, 3, 4] })));
    await s.compact();
    await s.upsert({ id: 'v', vector: [10, 20, 30, 40] });
    await s.close();
    const frames = (await scanLog(new Uint8Array(readFileSync(walOf(dir))))).frames;
    const recs = frameRecords(frames[0], 'wal');
    expect(Array.from(recs[0].vectors!)).toEqual([10, 20, 30, 40]);
    for (const metric of ['euclidean', 'dot', 'cosine'] as const) {
      const d = fresh(`metric-${metric}`);
      const t = await VectorStore.open(d, { dim: 2, metric });
      await t.close();
      expect(readContainer(new Uint8Array(readFileSync(join(d, 'snapshot.nrst')))).header.metric).toBe(['cosine', 'euclidean', 'dot'].indexOf(metric));
    }
  });

  it('an IVF-PQ store with trainAt below what training needs is refused up front', () => {
    expect(() => new VectorStore({ dim: 8, index: { type: 'ivf', nlist: 4, encoding: { pq: { m: 2, nbits: 8 } }, trainAt: 100 } })).toThrow(/trainAt must be an integer ≥ 256/);
    const s = new VectorStore({ dim: 8, metric: 'euclidean', index: { type: 'ivf', nlist: 4, encoding: { pq: { m: 2, nbits: 8 } }, trainAt: 256 } });
    const rows = Array.from({ length: 300 }, (_, i) => Array.from({ length: 8 }, (_, j) => Math.sin(i * 7 + j)));
    s.addBatch(rows);
    s.add(rows[0]);
    expect(s.stats().index).toMatch(/^IVF4,PQ2/);
  });

  it('automatic ids refuse to pass 2^53 − 1', async () => {
    const m = new VectorStore({ dim: 1 });
    m.upsert({ id: Number.MAX_SAFE_INTEGER, vector: [1] });
    expect(await codeOf(() => m.add([2]))).toBe('CAPACITY_EXCEEDED');
    expect(m.size).toBe(1);
  });
});

// ---- fault injection

type Model = Map<string | number, { vector: number[]; metadata: unknown }>;

function snapshotOf(s: { keys(): (string | number)[]; get(id: string | number): { vector: Float32Array; metadata: unknown } | undefined }): Model {
  const out: Model = new Map();
  for (const id of s.keys()) { const r = s.get(id)!; out.set(id, { vector: Array.from(r.vector), metadata: r.metadata }); }
  return out;
}
function same(a: Model, b: Model): boolean {
  if (a.size !== b.size) return false;
  for (const [id, r] of a) {
    const o = b.get(id);
    if (!o || JSON.stringify(o.metadata) !== JSON.stringify(r.metadata) || o.vector.some((v, i) => v !== r.vector[i])) return false;
  }
  return true;
}

type Op = { kind: 'upsert'; records: { id: string | number; vector: number[]; metadata?: unknown }[] } | { kind: 'delete'; ids: (string | number)[] } | { kind: 'compact' };

function applyModel(model: Model, op: Op): void {
  if (op.kind === 'upsert') for (const r of op.records) model.set(r.id, { vector: r.vector, metadata: r.metadata });
  else if (op.kind === 'delete') for (const id of op.ids) model.delete(id);
}

const DIM = 4;
function script(): Op[] {
  const ops: Op[] = [];
  let x = 1;
  const rnd = () => (x = (x * 48271) % 2147483647) / 2147483647;
  for (let i = 0; i < 14; i++) {
    if (i === 5 || i === 10) { ops.push({ kind: 'compact' }); continue; }
    if (i % 4 === 3) { ops.push({ kind: 'delete', ids: [Math.floor(rnd() * 12), `s${Math.floor(rnd() * 6)}`] }); continue; }
    const n = 1 + Math.floor(rnd() * 4);
    const ids = new Set<string | number>();
    while (ids.size < n) ids.add(rnd() < 0.5 ? Math.floor(rnd() * 12) : `s${Math.floor(rnd() * 6)}`);
    ops.push({ kind: 'upsert', records: [...ids].map((id) => ({ id, vector: Array.from({ length: DIM }, () => Math.fround(rnd() * 2 - 1)), metadata: { op: i } })) });
  }
  return ops;
}

const INDEXES: [string, StoreIndexOptions][] = [
  ['flat', { type: 'flat' }],
  ['hnsw', { type: 'hnsw', m: 4 }],
  ['ivf', { type: 'ivf', nlist: 2, trainAt: 8 }],
];

/** Runs the script on `fs` until a fault stops it; returns how many ops were acknowledged. */
async function runScript(fs: FaultFs, dir: string, index: StoreIndexOptions, ops: Op[], violations: string[], label: string): Promise<{ acked: number; model: Model }> {
  const model: Model = new Map();
  let acked = 0;
  let s: DurableVectorStore;
  try {
    s = await VectorStore.open(dir, { dim: DIM, metric: 'euclidean', index, compactBytes: 600, fileSystem: fs });
  } catch (e) {
    if (!(e instanceof CrashError) && !(e instanceof NearestError && e.code === 'IO_ERROR') && !['EIO', 'ENOSPC'].includes((e as { code?: string }).code ?? '')) violations.push(`${label}: open threw ${String(e)}`);
    return { acked, model };
  }
  for (const op of ops) {
    const before = snapshotOf(s);
    let p: Promise<unknown>;
    try {
      p = op.kind === 'upsert' ? s.upsert(op.records) : op.kind === 'delete' ? s.deleteMany(op.ids) : s.compact();
    } catch (e) {
      if (!(e instanceof NearestError && e.code === 'IO_ERROR')) violations.push(`${label}: op threw synchronously ${String(e)}`);
      break;
    }
    // Not visible before it is acknowledged.
    if (!same(snapshotOf(s), before)) violations.push(`${label}: a write was visible before it was acknowledged`);
    try { await p; } catch {
      // Nothing unacknowledged is visible after the failure either.
      if (!same(snapshotOf(s), model)) violations.push(`${label}: after a failed write the store shows unacknowledged state`);
      break;
    }
    applyModel(model, op);
    acked++;
    if (!same(snapshotOf(s), model)) violations.push(`${label}: after op ${acked} the store differs from the model`);
  }
  return { acked, model };
}

async function checkRecovery(fs: FaultFs, dir: string, ops: Op[], acked: number, violations: string[], label: string): Promise<void> {
  // Acknowledged prefix present; the in-flight op all or nothing; nothing else.
  const accept: Model[] = [];
  const m: Model = new Map();
  for (let i = 0; i < ops.length && i <= acked; i++) {
    if (i === acked) { const next = new Map(m); applyModel(next, ops[i]); accept.push(new Map(m), next); } else applyModel(m, ops[i]);
  }
  if (acked >= ops.length) accept.push(m);
  let t: DurableVectorStore;
  try {
    t = await VectorStore.open(dir, { fileSystem: fs });
  } catch (e) {
    if (e instanceof NearestError && e.code === 'NOT_FOUND' && acked === 0) return; // crashed before the store existed
    violations.push(`${label}: reopen failed: ${String(e)}`);
    return;
  }
  const got = snapshotOf(t);
  if (!accept.some((a) => same(a, got))) violations.push(`${label}: recovered ${got.size} records; acked ${acked} ops; matches no acceptable state`);
  // And the recovered store works.
  try { await t.upsert({ id: 'after', vector: [1, 2, 3, 4] }); await t.close(); } catch (e) { violations.push(`${label}: recovered store cannot write: ${String(e)}`); }
}

describe('durable store: fault injection at every file operation', () => {
  const ops = script();
  for (const [name, index] of INDEXES) {
    it(`${name}: crash, EIO, ENOSPC and short writes at every step leave the acknowledged prefix and nothing unacknowledged`, async () => {
      const clean = new FaultFs(7);
      const violations: string[] = [];
      const r = await runScript(clean, '/db/s', index, ops, violations, 'clean');
      expect(r.acked).toBe(ops.length);
      expect(violations).toEqual([]);
      const total = clean.ops;
      // Closing and reopening is part of the path too.
      expect(total).toBeGreaterThan(40);
      let points = 0;
      for (let at = 1; at <= total; at++) {
        for (const kind of ['crash', 'eio', 'enospc', 'short'] as FaultKind[]) {
          let fs = new FaultFs(at * 31 + kind.length);
          fs.schedule(at, kind);
          const label = `${name} ${kind} at op ${at}`;
          const { acked } = await runScript(fs, '/db/s', index, ops, violations, label);
          // Then the power goes (whatever was not fsynced is gone, maybe torn) and a new process opens it.
          fs.crash(true);
          fs = fs.restart();
          await checkRecovery(fs, '/db/s', ops, acked, violations, label);
          points++;
        }
      }
      expect(violations.slice(0, 10)).toEqual([]);
      expect(points).toBe(total * 4);
    });
  }

  it('EIO on any read while opening is IO_ERROR and changes nothing; the next open sees everything', async () => {
    for (const [name, index] of INDEXES) {
      let fs = new FaultFs(11);
      const ops = script();
      const violations: string[] = [];
      const { acked, model } = await runScript(fs, '/r', index, ops, violations, `${name} setup`);
      expect(acked).toBe(ops.length);
      fs = fs.restart(); // the writer process exits
      const before = fs.reads;
      const t = await VectorStore.open('/r', { fileSystem: fs });
      const reads = fs.reads - before;
      await t.close();
      expect(reads).toBeGreaterThan(3);
      for (let r = 1; r <= reads; r++) {
        fs.scheduleRead(fs.reads + r);
        const e = await VectorStore.open('/r', { fileSystem: fs }).then(async (s) => { await s.close(); return null; }, (err) => err);
        expect(e?.code, `${name}: read ${r}`).toBe('IO_ERROR');
        fs = fs.restart();
        const u = await VectorStore.open('/r', { fileSystem: fs });
        expect(same(snapshotOf(u), model), `${name}: read ${r}`).toBe(true);
        await u.close();
      }
      for (const readOnly of [true]) {
        fs.scheduleRead(fs.reads + 2);
        expect(await codeOf(VectorStore.open('/r', { fileSystem: fs, readOnly }))).toBe('IO_ERROR');
      }
    }
  });

  it('a failed fsync makes the store refuse later writes with IO_ERROR; the failed write is never visible', async () => {
    const fs = new FaultFs(3);
    const s = await VectorStore.open('/f', { dim: 2, fileSystem: fs });
    await s.upsert({ id: 'ok', vector: [1, 1] });
    fs.schedule(fs.ops + 2, 'eio'); // write, then fsync fails
    expect(await codeOf(s.upsert({ id: 'lost', vector: [2, 2] }))).toBe('IO_ERROR');
    expect(s.has('lost')).toBe(false);
    expect(await codeOf(s.upsert({ id: 'later', vector: [3, 3] }))).toBe('IO_ERROR');
    expect(s.keys()).toEqual(['ok']);
  });

  it('Database: crash and I/O errors at every step of create and drop leave the old or the new catalog', async () => {
    const scenario = async (fs: FaultFs): Promise<number> => {
      let done = 0;
      try {
        const db = await Database.open('/d', { fileSystem: fs });
        const a = await db.createCollection('alpha', { dim: 2 }); done++;
        await a.upsert({ id: 1, vector: [1, 0] }); done++;
        await db.createCollection('beta', { dim: 3, metric: 'dot' }); done++;
        await db.dropCollection('alpha'); done++;
        await db.createCollection('alpha', { dim: 4 }); done++;
        await db.close(); done++;
      } catch { /* stopped by the fault */ }
      return done;
    };
    const states = [
      [], ['alpha'], ['alpha'], ['alpha', 'beta'], ['beta'], ['beta', 'alpha'], ['beta', 'alpha'],
    ];
    const clean = new FaultFs(1);
    expect(await scenario(clean)).toBe(6);
    const violations: string[] = [];
    for (let at = 1; at <= clean.ops; at++) {
      for (const kind of ['crash', 'eio', 'short'] as FaultKind[]) {
        let fs = new FaultFs(at);
        fs.schedule(at, kind);
        const done = await scenario(fs);
        fs.crash(true); fs = fs.restart();
        let names: string[];
        try {
          const db = await Database.open('/d', { fileSystem: fs });
          names = db.listCollections().map((c) => c.name);
          if (names.includes('alpha') && db.collection('alpha').dim === 2 && done >= 2 && !db.collection('alpha').has(1) && !names.includes('beta')) violations.push(`${kind}@${at}: acknowledged record lost`);
          await db.createCollection('gamma', { dim: 2 });
          await db.close();
        } catch (e) { violations.push(`${kind}@${at}: reopen failed: ${String(e)}`); continue; }
        const ok = [JSON.stringify(states[done]), JSON.stringify(states[Math.min(done + 1, 6)])];
        if (!ok.includes(JSON.stringify(names))) violations.push(`${kind}@${at}: done ${done}, catalog ${JSON.stringify(names)}`);
      }
    }
    expect(violations.slice(0, 10)).toEqual([]);
  });
});

// ---- model-based property tests

describe('durable store: model-based (fast-check commands)', () => {
  const id = fc.oneof(fc.integer({ min: 0, max: 15 }), fc.constantFrom('a', 'b', 'c', 'd', 'e'));
  const vec = fc.array(fc.float({ noNaN: true, noDefaultInfinity: true, min: -100, max: 100 }), { minLength: DIM, maxLength: DIM });
  const meta = fc.option(fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.parse(JSON.stringify(v))), { nil: undefined });
  type Cmd = { t: 'upsert'; recs: { id: string | number; vector: number[]; metadata: unknown }[] } | { t: 'delete'; ids: (string | number)[] } | { t: 'compact' } | { t: 'reopen' } | { t: 'crash' } | { t: 'fault'; kind: FaultKind };
  const cmd: fc.Arbitrary<Cmd> = fc.oneof(
    { weight: 6, arbitrary: fc.uniqueArray(fc.record({ id, vector: vec, metadata: meta }), { selector: (r) => r.id, minLength: 1, maxLength: 4 }).map((recs) => ({ t: 'upsert' as const, recs })) },
    { weight: 2, arbitrary: fc.array(id, { minLength: 1, maxLength: 3 }).map((ids) => ({ t: 'delete' as const, ids })) },
    { weight: 1, arbitrary: fc.constant({ t: 'compact' as const }) },
    { weight: 1, arbitrary: fc.constant({ t: 'reopen' as const }) },
    { weight: 1, arbitrary: fc.constant({ t: 'crash' as const }) },
    { weight: 1, arbitrary: fc.constantFrom('eio', 'enospc', 'short', 'crash').map((kind) => ({ t: 'fault' as const, kind: kind as FaultKind })) },
  );

  for (const [name, index] of INDEXES) {
    it(`${name}: random upsert / delete / compact / reopen / crash / fault sequences agree with a Map`, async () => {
      await fc.assert(fc.asyncProperty(fc.array(cmd, { minLength: 1, maxLength: 25 }), fc.integer({ min: 1, max: 1000 }), async (cmds, seed) => {
        let fs = new FaultFs(seed);
        const open = () => VectorStore.open('/m', { dim: DIM, metric: 'euclidean', index, compactBytes: 400, fileSystem: fs });
        let s = await open();
        const model: Model = new Map();
        let inflight: Model | null = null; // a state that may or may not have reached the disk
        const norm = (v: number[]) => v.map((x) => Math.fround(x) === 0 ? 0 : Math.fround(x));
        for (const c of cmds) {
          if (c.t === 'fault') { fs.schedule(fs.ops + 1 + (seed % 3), c.kind); continue; }
          if (c.t === 'reopen' || c.t === 'crash') {
            if (c.t === 'crash') { fs.crash(true); } else await s.close().catch(() => {});
            fs = fs.restart();
            s = await open();
            const got = snapshotOf(s);
            if (!same(got, model)) {
              if (inflight && same(got, inflight)) { for (const k of [...model.keys()]) model.delete(k); for (const [k, v] of inflight) model.set(k, v); } else return false;
            }
            inflight = null;
            continue;
          }
          try {
            if (c.t === 'upsert') {
              const next = new Map(model);
              for (const r of c.recs) next.set(r.id, { vector: norm(r.vector), metadata: r.metadata });
              inflight = next;
              await s.upsert(c.recs);
              for (const [k, v] of next) model.set(k, v);
              for (const k of [...model.keys()]) if (!next.has(k)) model.delete(k);
            } else if (c.t === 'delete') {
              const next = new Map(model);
              for (const k of c.ids) next.delete(k);
              inflight = next;
              await s.deleteMany(c.ids);
              for (const k of c.ids) model.delete(k);
            } else {
              inflight = null;
              await s.compact();
            }
            inflight = null;
          } catch (e) {
            if (e instanceof NearestError && e.code === 'IO_ERROR' || e instanceof CrashError || ['EIO', 'ENOSPC'].includes((e as { code?: string }).code ?? '')) {
              // The store gave up: reopen as a new process would (after a power cut for a crash).
              fs = fs.restart();
              s = await open();
              const got = snapshotOf(s);
              if (same(got, model)) { inflight = null; continue; }
              if (inflight && same(got, inflight)) { for (const k of [...model.keys()]) model.delete(k); for (const [k, v] of inflight) model.set(k, v); inflight = null; continue; }
              return false;
            }
            throw e;
          }
          if (!same(snapshotOf(s), model)) return false;
        }
        await s.close().catch(() => {});
        return true;
      }), { numRuns: 60 });
    });
  }

  it('Database: random create / drop / write / reopen / crash sequences agree with a model', async () => {
    const dcmd = fc.oneof(
      fc.record({ t: fc.constant('create' as const), name: fc.constantFrom('a', 'b', 'c'), dim: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ t: fc.constant('drop' as const), name: fc.constantFrom('a', 'b', 'c') }),
      fc.record({ t: fc.constant('write' as const), name: fc.constantFrom('a', 'b', 'c'), id: fc.integer({ min: 0, max: 5 }) }),
      fc.record({ t: fc.constant('reopen' as const) }),
      fc.record({ t: fc.constant('crash' as const) }),
    );
    await fc.assert(fc.asyncProperty(fc.array(dcmd, { maxLength: 20 }), async (cmds) => {
      let fs = new FaultFs(5);
      let db = await Database.open('/db', { fileSystem: fs });
      const model = new Map<string, { dim: number; ids: Set<number> }>();
      for (const c of cmds) {
        if (c.t === 'create') {
          if (model.has(c.name)) { if ((await codeOf(db.createCollection(c.name, { dim: c.dim }))) !== 'ALREADY_EXISTS') return false; continue; }
          await db.createCollection(c.name, { dim: c.dim });
          model.set(c.name, { dim: c.dim, ids: new Set() });
        } else if (c.t === 'drop') {
          if ((await db.dropCollection(c.name)) !== model.has(c.name)) return false;
          model.delete(c.name);
        } else if (c.t === 'write') {
          const m = model.get(c.name);
          if (!m) { if ((await codeOf(async () => db.collection(c.name))) !== 'NOT_FOUND') return false; continue; }
          await db.collection(c.name).upsert({ id: c.id, vector: new Array(m.dim).fill(c.id + 1) });
          m.ids.add(c.id);
        } else {
          if (c.t === 'crash') fs.crash(true); else await db.close();
          fs = fs.restart();
          db = await Database.open('/db', { fileSystem: fs });
        }
        const names = db.listCollections().map((x) => x.name).sort();
        if (JSON.stringify(names) !== JSON.stringify([...model.keys()].sort())) return false;
        for (const [n, m] of model) {
          const col = db.collection(n);
          if (col.dim !== m.dim || col.size !== m.ids.size || [...m.ids].some((i) => !col.has(i))) return false;
        }
      }
      await db.close();
      return true;
    }), { numRuns: 60 });
  });

  it('Database: names are validated and never reach the file system', async () => {
    const fs = new FaultFs(2);
    const db = await Database.open('/names', { fileSystem: fs });
    for (const bad of ['', '..', '.', 'a/b', 'a\\b', '/abs', 'x\0y', 'x'.repeat(256), '.hidden', '-x', 'catalog', 'LOCK', 7, null]) {
      expect(await codeOf(async () => db.createCollection(bad as never, { dim: 2 })), String(bad)).toBe('INVALID_ARGUMENT');
    }
    await db.createCollection('ok.name-1_x', { dim: 2 });
    expect(await codeOf(async () => db.createCollection('ok.name-1_x', { dim: 2 }))).toBe('ALREADY_EXISTS');
    expect(await fs.readdir('/names/collections')).toEqual(['c-1']);
    expect(await codeOf(Database.open('/names', { fileSystem: fs }))).toBe('LOCKED');
    await db.close();
  });
});

describe('IdMap (the id tables of indexes and stores)', () => {
  it('agrees with a Map over random dense, sparse and huge ids, sets, deletes and growth', async () => {
    const { IdMap } = await import('../dist/storage/id-map.js');
    fc.assert(fc.property(fc.array(fc.tuple(fc.boolean(), fc.oneof(fc.nat(3000), fc.nat(2 ** 30), fc.constant(Number.MAX_SAFE_INTEGER)), fc.nat(2 ** 31 - 2)), { maxLength: 400 }), (ops) => {
      const a = new IdMap(), b = new Map<number, number>();
      for (const [set, id, v] of ops) {
        if (set) { a.set(id, v); b.set(id, v); } else if (a.delete(id) !== b.delete(id)) return false;
        if (a.size !== b.size || a.get(id) !== b.get(id) || a.has(id) !== b.has(id)) return false;
      }
      const got = [...a.entries()].sort((x, y) => x[0] - y[0]), want = [...b.entries()].sort((x, y) => x[0] - y[0]);
      return JSON.stringify(got) === JSON.stringify(want) && [...a.values()].length === b.size;
    }), { numRuns: 200 });
  });
});

describe('durable store: compaction failures', () => {
  it('a compaction that fails (ENOSPC writing the snapshot) changes nothing; writes go on; stats say why', async () => {
    let fs = new FaultFs(21);
    const s = await VectorStore.open('/c', { dim: 2, fileSystem: fs });
    await s.upsert(Array.from({ length: 50 }, (_, i) => ({ id: i, vector: [i, 1] })));
    // The compaction's steps: open the next log, fsync the directory, then the snapshot's temp file.
    fs.schedule(fs.ops + 4, 'enospc');
    expect(await codeOf(s.compact())).toBe('IO_ERROR');
    expect(s.stats().lastCompactionError).toContain('ENOSPC');
    await s.upsert({ id: 'after', vector: [5, 5] });
    expect(s.size).toBe(51);
    await s.compact();
    expect(s.stats().lastCompactionError).toBeNull();
    fs.crash(true); fs = fs.restart();
    const t = await VectorStore.open('/c', { fileSystem: fs });
    expect(t.size).toBe(51);
    await t.close();
  });
});

describe('durable store: found by the crash tests', () => {
  it('an empty upsert or addBatch is logged and replays (it made the store impossible to reopen)', async () => {
    const dir = fresh('empty');
    const s = await VectorStore.open(dir, { dim: 2 });
    await s.upsert([{ id: 1, vector: [1, 2] }]);
    await s.upsert([]);
    expect(await s.addBatch([])).toEqual([]);
    expect(await s.deleteMany([])).toBe(0);
    await s.close();
    const t = await VectorStore.open(dir);
    expect(t.keys()).toEqual([1]);
    await t.close();
  });

  it('an empty or pid-less LOCK file (a writer killed while creating it) is stale at once', async () => {
    const dir = fresh('emptylock');
    const s = await VectorStore.open(dir, { dim: 2 });
    await s.close();
    for (const body of ['', 'garbage', '{"host":"x"}']) {
      writeFileSync(join(dir, 'LOCK'), body);
      const t = await VectorStore.open(dir);
      await t.close();
    }
    expect(readdirSync(dir).filter((n) => n.startsWith('LOCK'))).toEqual([]);
  });
});

describe('stores and databases are not confused', () => {
  it('Database.open of a store directory and VectorStore.open of a database directory are INVALID_ARGUMENT', async () => {
    const sdir = fresh('a-store');
    await (await VectorStore.open(sdir, { dim: 2 })).close();
    expect(await codeOf(Database.open(sdir))).toBe('INVALID_ARGUMENT');
    const ddir = fresh('a-db');
    await (await Database.open(ddir)).close();
    expect(await codeOf(VectorStore.open(ddir, { dim: 2 }))).toBe('INVALID_ARGUMENT');
    expect(readdirSync(ddir).sort()).toEqual(['catalog.json', 'collections']);
  });
});

describe('store reads for servers', () => {
  it('entries() and count(filter) read metadata without vectors; refineFactor reaches refined IVF stores only', async () => {
    const s = new VectorStore<{ n: number }>({ dim: 2, metric: 'euclidean', index: { type: 'ivf', nlist: 2, trainAt: 10, encoding: 'sq8', refine: true } });
    s.upsert(Array.from({ length: 20 }, (_, i) => ({ id: i, vector: [i, 1], metadata: { n: i % 3 } })));
    expect([...s.entries()].length).toBe(20);
    expect(s.count()).toBe(20);
    expect(s.count({ n: 0 })).toBe(7);
    expect(s.search([3, 1], 2, { refineFactor: 4 }).map((h) => h.id)).toEqual([3, 2]);
    expect(await codeOf(() => new VectorStore({ dim: 2 }).search([1, 1], 1, { refineFactor: 2 }))).toBe('INVALID_ARGUMENT');
  });
});

describe('durable store: faults during recovery and repair', () => {
  /** A store whose last log ends in a torn frame (a crash mid-write); returns the model of what was acknowledged. */
  async function tornStore(seed: number): Promise<{ fs: FaultFs; model: Model }> {
    let fs = new FaultFs(seed);
    const s = await VectorStore.open('/t', { dim: DIM, metric: 'euclidean', fileSystem: fs });
    const model: Model = new Map();
    for (let i = 0; i < 6; i++) {
      const recs = [{ id: i, vector: [i, 1, 2, 3], metadata: { i } }];
      await s.upsert(recs);
      model.set(i, { vector: recs[0].vector, metadata: recs[0].metadata });
    }
    await s.compact();
    await s.upsert({ id: 'late', vector: [9, 9, 9, 9] });
    model.set('late', { vector: [9, 9, 9, 9], metadata: undefined });
    fs.schedule(fs.ops + 2, 'crash'); // the next frame's fsync: its write may be torn
    await s.upsert({ id: 'torn', vector: [1, 1, 1, 1] }).catch(() => {});
    fs = fs.restart();
    return { fs, model };
  }

  it('a crash at every step of a recovering open loses nothing acknowledged', async () => {
    const clean = await tornStore(3);
    const before = clean.fs.ops;
    const t = await VectorStore.open('/t', { fileSystem: clean.fs });
    const steps = clean.fs.ops - before;
    const tornApplied = t.has('torn');
    await t.close();
    expect(steps).toBeGreaterThan(2);
    for (let k = 1; k <= steps; k++) {
      for (const kind of ['crash', 'eio', 'short'] as FaultKind[]) {
        let { fs, model } = await tornStore(3);
        fs.schedule(fs.ops + k, kind);
        await VectorStore.open('/t', { fileSystem: fs }).then((s) => s.close()).catch(() => {});
        fs.crash(true); fs = fs.restart();
        const u = await VectorStore.open('/t', { fileSystem: fs });
        const got = snapshotOf(u);
        const alt = new Map(model); alt.set('torn', { vector: [1, 1, 1, 1], metadata: undefined });
        expect(same(got, model) || (tornApplied && same(got, alt)), `${kind} at recovery step ${k}`).toBe(true);
        await u.close();
      }
    }
  });

  it('a crash at every step of repair keeps every intact record; repair can be run again', async () => {
    const damaged = async (): Promise<FaultFs> => {
      const fs = new FaultFs(9);
      const s = await VectorStore.open('/p', { dim: 2, fileSystem: fs });
      for (let i = 0; i < 8; i++) await s.upsert({ id: i, vector: [i, 1] });
      await s.close();
      const wal = (await fs.readdir('/p')).filter((n) => n.startsWith('wal-')).sort().at(-1)!;
      const bytes = fs.bytes(`/p/${wal}`).slice();
      const frames = (await scanLog(bytes)).frames;
      bytes[frames[2].offset + 30] ^= 0xff;
      fs.setBytes(`/p/${wal}`, bytes);
      return fs;
    };
    const clean = await damaged();
    const before = clean.ops;
    await VectorStore.repair('/p', { fileSystem: clean });
    const steps = clean.ops - before;
    for (let k = 1; k <= steps; k++) {
      let fs = await damaged();
      fs.schedule(fs.ops + k, 'crash');
      await VectorStore.repair('/p', { fileSystem: fs }).catch(() => {});
      fs = fs.restart();
      await VectorStore.repair('/p', { fileSystem: fs });
      const s = await VectorStore.open('/p', { fileSystem: fs });
      expect(s.keys().sort(), `crash at repair step ${k}`).toEqual([0, 1, 3, 4, 5, 6, 7]);
      await s.close();
    }
  });
});

describe('durable store: the last frame', () => {
  it('a complete last frame with a flipped byte (payload or header) is corruption, never cut; an incomplete one is a torn tail', async () => {
    for (const where of ['payload', 'header', 'trailer-missing']) {
      const dir = fresh(`last-${where}`);
      const s = await VectorStore.open(dir, { dim: 3 });
      await s.upsert([{ id: 'a', vector: [1, 0, 0] }]);
      await s.upsert([{ id: 'b', vector: [0, 1, 0] }, { id: 'c', vector: [0, 0, 1] }]);
      await s.close();
      const wal = walOf(dir);
      const bytes = readFileSync(wal);
      const last = (await scanLog(new Uint8Array(bytes))).frames.at(-1)!;
      if (where === 'payload') bytes[last.offset + 40] ^= 1;
      else if (where === 'header') bytes[last.offset + 5] ^= 1;
      else bytes.fill(0, last.end - 8, last.end);
      writeFileSync(wal, bytes);
      const e = await VectorStore.open(dir).catch((err) => err);
      if (where === 'trailer-missing') {
        expect(e.keys?.()).toEqual(['a']); // an interrupted write: never acknowledged, cut
        await e.close();
      } else {
        expect(e.code, where).toBe('CORRUPT_FILE');
        expect(e.details.offset).toBe(last.offset);
        const ro = await VectorStore.open(dir, { readOnly: true });
        expect(ro.keys()).toEqual(['a']);
        expect(ro.damage).not.toBeNull();
      }
    }
  });
});

describe('a closed durable store', () => {
  it('refuses reads and writes with CLOSED; stats still answer', async () => {
    const s = await VectorStore.open(fresh('closed'), { dim: 2 });
    await s.upsert({ id: 'a', vector: [1, 0] });
    await s.close();
    for (const call of [() => s.get('a'), () => s.has('a'), () => s.keys(), () => s.search([1, 0], 1), () => s.count(), () => s.upsert({ id: 'b', vector: [0, 1] })]) {
      expect(await codeOf(async () => call())).toBe('CLOSED');
    }
    expect(s.stats().size).toBe(1);
    await s.close(); // twice is fine
  });
});
