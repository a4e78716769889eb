// A store's persisted search defaults (setSearchDefaults: what `nearest tune` saves), a Database
// collection's reindex, and inspectPath / verifyPath: validation, durability across reopen and
// compaction, fault injection at every file operation of setSearchDefaults, damage found by verify.
import { mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Database, NearestError, VectorStore, inspectPath, saveIndex, HnswIndex, verifyPath } from 'nearest';
import { CrashError, FaultFs, type FaultKind } from './fixtures/fault-fs.js';
import { clusteredRows } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'nearest-defaults-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
let dirs = 0;
const fresh = (name: string) => join(work, `${name}-${dirs++}`);

function codeOf(f: () => unknown): string {
  try { f(); } catch (e) { return e instanceof NearestError ? e.code : `raw ${String(e)}`; }
  return 'no error';
}

const rows = (n: number, dim: number) => Array.from({ length: n }, (_, i) => ({ id: i, vector: Array.from({ length: dim }, (_, j) => Math.sin(i * 7 + j * 3)) }));

describe('search defaults', () => {
  it('validates against the index: efSearch for hnsw, nprobe / refineFactor for ivf, nothing for flat', () => {
    const h = new VectorStore({ dim: 4, index: { type: 'hnsw' } });
    expect(codeOf(() => h.setSearchDefaults({ nprobe: 4 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => h.setSearchDefaults({ efSearch: 0 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => h.setSearchDefaults({ efSearch: 1.5 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => h.setSearchDefaults({ efSearch: 10, bogus: 1 } as never))).toBe('INVALID_ARGUMENT');
    h.setSearchDefaults({ efSearch: 123 });
    expect(h.stats().searchDefaults).toEqual({ efSearch: 123 });
    const f = new VectorStore({ dim: 4 });
    expect(codeOf(() => f.setSearchDefaults({ efSearch: 10 }))).toBe('INVALID_ARGUMENT');
    f.setSearchDefaults({});
    const ivf = new VectorStore({ dim: 4, index: { type: 'ivf', nlist: 8 } });
    expect(codeOf(() => ivf.setSearchDefaults({ nprobe: 9 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => ivf.setSearchDefaults({ refineFactor: 2 }))).toBe('INVALID_ARGUMENT'); // no refine
    ivf.setSearchDefaults({ nprobe: 8 });
    expect(ivf.stats().searchDefaults).toEqual({ nprobe: 8 });
  });

  it('searches use them unless a call passes its own; an IVF default of nprobe = nlist is exact', () => {
    const dim = 16, n = 3000;
    const data = clusteredRows(n, dim, 20, 5);
    const s = new VectorStore({ dim, metric: 'euclidean', index: { type: 'ivf', nlist: 32, trainAt: 2000 } });
    s.addBatch(data);
    const q = data.subarray(0, dim);
    const exact = s.search(q, 10, { exact: true }).map((h) => h.id);
    s.setSearchDefaults({ nprobe: 32 });
    expect(s.search(q, 10).map((h) => h.id)).toEqual(exact);
    s.setSearchDefaults({ nprobe: 1 });
    const one = s.search(q, 10, { nprobe: 1 }).map((h) => h.id);
    expect(s.search(q, 10).map((h) => h.id)).toEqual(one);
    expect(s.search(q, 10, { nprobe: 32 }).map((h) => h.id)).toEqual(exact);
  });

  it('are durable: kept across reopen (from the log) and compaction (from the snapshot); reset by a reindex', async () => {
    const dir = fresh('durable');
    const s = await VectorStore.open(dir, { dim: 8, index: { type: 'hnsw', m: 8 } });
    await s.upsert(rows(50, 8));
    await s.setSearchDefaults({ efSearch: 77 });
    await s.close();
    let t = await VectorStore.open(dir);
    expect(t.stats().searchDefaults).toEqual({ efSearch: 77 });
    await t.compact();
    await t.close();
    t = await VectorStore.open(dir, { readOnly: true });
    expect(t.stats().searchDefaults).toEqual({ efSearch: 77 });
    await t.close();
    t = await VectorStore.open(dir, { index: { type: 'hnsw', m: 16 }, reindex: true });
    expect(t.stats().searchDefaults).toEqual({});
    expect(t.stats().index).toBe('HNSW16');
    await t.close();
  });

  it('a crash, EIO, ENOSPC or short write at any step of setSearchDefaults leaves the old or the new defaults, the new ones once acknowledged', async () => {
    const setup = async (fs: FaultFs) => {
      const s = await VectorStore.open('/s', { dim: 4, index: { type: 'hnsw' }, fileSystem: fs });
      await s.upsert(rows(10, 4));
      await s.setSearchDefaults({ efSearch: 20 });
      return s;
    };
    const clean = new FaultFs(3);
    const c = await setup(clean);
    const before = clean.ops;
    await c.setSearchDefaults({ efSearch: 40 });
    await c.compact();
    await c.close();
    const total = clean.ops;
    let points = 0;
    for (let at = before + 1; at <= total; at++) {
      for (const kind of ['crash', 'eio', 'enospc', 'short'] as FaultKind[]) {
        let fs = new FaultFs(at * 13 + kind.length);
        const s = await setup(fs);
        fs.schedule(at, kind);
        let acked = false;
        try {
          await s.setSearchDefaults({ efSearch: 40 });
          acked = true;
          await s.compact();
          await s.close();
        } catch (e) {
          if (!(e instanceof CrashError) && !(e instanceof NearestError)) throw e;
        }
        fs.crash(true);
        fs = fs.restart();
        const r = await VectorStore.open('/s', { fileSystem: fs });
        const ef = r.stats().searchDefaults.efSearch;
        if (acked) expect(ef, `${kind} at ${at}`).toBe(40);
        else expect([20, 40], `${kind} at ${at}`).toContain(ef);
        expect(r.size).toBe(10);
        await r.close();
        points++;
      }
    }
    expect(points).toBeGreaterThan(8);
  });
});

describe('Database.reindexCollection', () => {
  it('rebuilds a collection with progress, keeps its records, and refuses bad options without closing it', async () => {
    const dir = fresh('db');
    const db = await Database.open(dir);
    const c = await db.createCollection('docs', { dim: 8 });
    await c.upsert(rows(300, 8).map((r) => ({ ...r, metadata: { i: r.id } })));
    await expect(db.reindexCollection('docs', { type: 'hnsw', m: 1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(db.collection('docs').size).toBe(300);
    await expect(db.reindexCollection('nope', { type: 'flat' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const seen: number[] = [];
    const s = await db.reindexCollection('docs', { type: 'hnsw', m: 8 }, { onProgress: (done) => seen.push(done) });
    expect(s.stats().index).toBe('HNSW8');
    expect(db.collection('docs')).toBe(s);
    expect(seen.at(-1)).toBe(300);
    expect(s.get(5)?.metadata).toEqual({ i: 5 });
    await db.close();
    const again = await Database.open(dir);
    expect(again.collection('docs').stats().index).toBe('HNSW8');
    await again.close();
  });
});

describe('inspectPath / verifyPath', () => {
  it('describe and check an index file, a collection, DB/NAME and a database; name the damage', async () => {
    const dir = fresh('inspect');
    const db = await Database.open(dir);
    const c = await db.createCollection('a', { dim: 4, metric: 'euclidean' });
    for (let i = 0; i < 5; i++) await c.upsert(rows(3, 4).map((r) => ({ ...r, id: r.id + 3 * i })));
    await db.close();
    const info = await inspectPath(join(dir, 'a'));
    expect(info).toMatchObject({ kind: 'collection', name: 'a', dim: 4, metric: 'euclidean', count: 15, index: 'Flat' });
    const whole = await inspectPath(dir);
    expect(whole).toMatchObject({ kind: 'database', count: 15 });
    expect((await verifyPath(dir)).ok).toBe(true);

    const idx = new HnswIndex({ dim: 4 });
    idx.add(new Float32Array(40).map((_, i) => Math.cos(i)));
    const file = join(work, 'i.nrst');
    await saveIndex(idx, file);
    expect(await inspectPath(file)).toMatchObject({ kind: 'index-file', dim: 4, count: 10, index: 'HNSW16', formatVersion: 1 });
    const bytes = readFileSync(file);
    bytes[bytes.length - 20] ^= 1;
    writeFileSync(file, bytes);
    const bad = await verifyPath(file);
    expect(bad.ok).toBe(false);
    expect(bad.problems[0]).toMatchObject({ file });
    expect(typeof bad.problems[0].section).toBe('string');

    const coll = join(dir, 'collections', readdirSync(join(dir, 'collections'))[0]);
    const wal = join(coll, readdirSync(coll).filter((n) => n.startsWith('wal-')).sort().at(-1)!);
    const w = readFileSync(wal);
    w[100] ^= 0x40;
    writeFileSync(wal, w);
    const r = await verifyPath(join(dir, 'a'));
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatchObject({ file: wal });
    expect(r.problems[0].offset).toBeLessThanOrEqual(100);
    truncateSync(join(coll, 'snapshot.nrst'), 70);
    const s2 = await verifyPath(coll);
    expect(s2.problems.some((p) => p.file.endsWith('snapshot.nrst'))).toBe(true);
    await expect(inspectPath(join(dir, 'missing'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
