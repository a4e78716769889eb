// nearest build / query / tune / info / verify end to end through the real bin (node
// dist/cli/main.js) in a temporary directory, output piped (plain progress lines): --json shapes,
// exit codes, damaged files for verify, and the tune bar at a small scale (20k clustered vectors:
// the chosen setting's recall on a second, unseen sample is at least the target − 0.01).
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Database, FlatIndex, HnswIndex, saveIndex } from '../dist/index.js';
import { clusteredRows } from './helpers.js';

const BIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'nearest-cli-coll-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: work, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}
const json = (s: string) => JSON.parse(s.trim().split('\n').at(-1)!);

/** A float32 .npy of `n` rows of `dim` (what numpy's np.save writes). */
function npy(file: string, rows: Float32Array, n: number, dim: number): void {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${n}, ${dim}), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1'); head[6] = 1; head[7] = 0; head.writeUInt16LE(header.length, 8);
  writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(rows.buffer, rows.byteOffset, rows.byteLength)]));
}

const DIM = 16;
const db = join(work, 'db');
const data = clusteredRows(2000, DIM, 10, 3);

beforeAll(async () => {
  const d = await Database.open(db);
  const c = await d.createCollection('docs', { dim: DIM, metric: 'euclidean' });
  await c.upsert(Array.from({ length: 2000 }, (_, i) => ({ id: i, vector: data.subarray(i * DIM, (i + 1) * DIM), metadata: { g: i % 3, name: `doc ${i}` } })));
  await d.close();
});

describe('nearest build / query', () => {
  it('query by vector, by id, from a .npy file, with a filter; --json is always a list of results', async () => {
    const v = JSON.stringify(Array.from(data.subarray(7 * DIM, 8 * DIM)));
    const t = await run(['query', '--db', db, '--collection', 'docs', '--vector', v, '--k', '3']);
    expect(t.code).toBe(0);
    expect(t.stdout.split('\n')[0]).toMatch(/^#\s+id\s+score\s+distance\s+metadata$/);
    expect(t.stdout.split('\n')[1]).toMatch(/^1\s+7\s/);
    const byId = json((await run(['query', '--db', db, '--collection', 'docs', '--id', '7', '--k', '4', '--filter', '{"g":1}', '--json'])).stdout);
    expect(byId.results).toHaveLength(1);
    expect(byId.results[0].hits).toHaveLength(4);
    expect(byId.results[0].hits[0]).toMatchObject({ id: 7, metadata: { g: 1, name: 'doc 7' } });
    for (const h of byId.results[0].hits) expect(h.metadata.g).toBe(1);
    npy(join(work, 'q.npy'), data.subarray(0, 3 * DIM), 3, DIM);
    const file = json((await run(['query', '--db', db, '--collection', 'docs', '--file', 'q.npy', '--k', '2', '--exact', '--json'])).stdout);
    expect(file.results.map((r: { hits: { id: number }[] }) => r.hits[0].id)).toEqual([0, 1, 2]);
  });

  it('query errors: one line each, usage errors exit 2, failures 1', async () => {
    const none = await run(['query', '--db', db, '--collection', 'docs']);
    expect(none.code).toBe(2);
    expect(none.stderr.trim().split('\n')).toHaveLength(1);
    const dim = await run(['query', '--db', db, '--collection', 'docs', '--vector', '[1,2]']);
    expect(dim.code).toBe(1);
    expect(dim.stderr).toMatch(/^nearest query: DIMENSION_MISMATCH: /);
    expect(dim.stderr.trim().split('\n')).toHaveLength(1);
    const missing = await run(['query', '--db', db, '--collection', 'nope', '--id', '1', '--json']);
    expect(missing.code).toBe(1);
    expect(json(missing.stdout).error.code).toBe('NOT_FOUND');
    expect((await run(['query', '--db', db, '--collection', 'docs', '--id', 'zzz'])).code).toBe(1);
    expect((await run(['query', '--db', db, '--collection', 'docs', '--vector', '[1', '--k', '2'])).code).toBe(2);
    expect((await run(['query', '--db', db, '--collection', 'docs', '--id', '1', '--ef', '10'])).stderr).toMatch(/INVALID_ARGUMENT: .*efSearch applies to hnsw/);
  });

  it('build swaps the index in, reports time and memory, prints plain progress lines when piped; bad specs exit 1', async () => {
    const b = await run(['build', '--db', db, '--collection', 'docs', '--index', 'HNSW8', '--json']);
    expect(b.code).toBe(0);
    const r = json(b.stdout);
    expect(r).toMatchObject({ collection: 'docs', previousIndex: 'Flat', index: 'HNSW8', count: 2000 });
    expect(r.buildMs).toBeGreaterThanOrEqual(0);
    expect(r.memoryBytes).toBeGreaterThan(2000 * DIM * 4);
    expect(r.rssBytes).toBeGreaterThan(r.memoryBytes);
    const plain = await run(['build', '--db', db, '--collection', 'docs', '--index', '{"type":"hnsw","m":12}']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/docs: HNSW8 -> HNSW12, 2,000 records in \d+ ms/);
    expect(plain.stderr).toMatch(/building .*: 2,000\/2,000 records \(100%\)/);
    expect(plain.stderr).not.toMatch(/\u001b\[/); // no terminal escapes when piped
    const bad = await run(['build', '--db', db, '--collection', 'docs', '--index', 'HNSW8,Bogus']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^nearest build: INVALID_ARGUMENT: /);
    const info = json((await run(['info', join(db, 'docs'), '--json'])).stdout);
    expect(info.index).toBe('HNSW12');
    const q = json((await run(['query', '--db', db, '--collection', 'docs', '--id', '3', '--ef', '50', '--json'])).stdout);
    expect(q.results[0].hits[0].id).toBe(3);
  });

  it('--help of every command has examples', async () => {
    for (const c of ['build', 'query', 'tune', 'info', 'verify']) {
      const h = await run([c, '--help']);
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(/Examples:\n\s+nearest /);
      expect(h.stdout).toContain('--json');
    }
  });
});

describe('nearest info / verify', () => {
  it('info of a collection (dir and DB/NAME), a database and an index file', async () => {
    const dir = join(db, 'collections', readdirSync(join(db, 'collections'))[0]);
    for (const p of [join(db, 'docs'), dir]) {
      const r = json((await run(['info', p, '--json'])).stdout);
      expect(r).toMatchObject({ kind: 'collection', dim: DIM, count: 2000, metric: 'euclidean', formatVersion: 1 });
      expect(typeof r.index).toBe('string');
      expect(r.logBytes).toBeGreaterThanOrEqual(0);
    }
    const whole = json((await run(['info', db, '--json'])).stdout);
    expect(whole).toMatchObject({ kind: 'database', count: 2000 });
    expect(whole.collections[0]).toMatchObject({ name: 'docs', dim: DIM });
    const idx = new HnswIndex({ dim: DIM, metric: 'dot' });
    idx.add(data.subarray(0, 100 * DIM));
    await saveIndex(idx, join(work, 'x.hnsw'));
    const f = await run(['info', 'x.hnsw']);
    expect(f.code).toBe(0);
    expect(f.stdout).toMatch(/format version: 1\ndim:\s+16\nmetric:\s+dot\nindex:\s+HNSW16\ncount:\s+100\n/);
    expect(json((await run(['info', 'x.hnsw', '--json'])).stdout)).toMatchObject({ kind: 'index-file', dim: DIM, count: 100, metric: 'dot', index: 'HNSW16' });
    const none = await run(['info', 'nothing-here']);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^nearest info: NOT_FOUND: /);
  });

  it('verify: 0 when clean; 3 naming the file and offset for a flipped byte, a truncated file, a damaged log frame', async () => {
    const flat = new FlatIndex({ dim: DIM });
    flat.add(data.subarray(0, 50 * DIM));
    const file = join(work, 'v.flat');
    await saveIndex(flat, file);
    expect((await run(['verify', file])).code).toBe(0);
    const bytes = readFileSync(file);
    bytes[bytes.length - 100] ^= 0x01;
    writeFileSync(file, bytes);
    const flipped = await run(['verify', file]);
    expect(flipped.code).toBe(3);
    expect(flipped.stderr).toContain(file);
    expect(flipped.stderr).toMatch(/offset \d+, section \w+/);
    truncateSync(file, bytes.length - 30);
    const cut = await run(['verify', file, '--json']);
    expect(cut.code).toBe(3);
    expect(json(cut.stdout)).toMatchObject({ ok: false, kind: 'index-file' });

    // A store with several log frames: flip a byte inside the second.
    const sdb = join(work, 'vdb');
    const d = await Database.open(sdb);
    const c = await d.createCollection('s', { dim: DIM });
    for (let i = 0; i < 5; i++) await c.upsert({ id: i, vector: data.subarray(i * DIM, (i + 1) * DIM) });
    await d.close();
    const clean = await run(['verify', sdb]);
    expect(clean.code).toBe(0);
    expect(clean.stdout).toMatch(/ok\s+.*wal-000001\.log \(5 frames, 5 records\)/);
    const cdir = join(sdb, 'collections', readdirSync(join(sdb, 'collections'))[0]);
    const wal = join(cdir, 'wal-000001.log');
    const w = readFileSync(wal);
    const frame = (w.length > 0 ? w.indexOf(Buffer.from('NWAL', 'latin1'), 10) : -1);
    expect(frame).toBeGreaterThan(0);
    w[frame + 40] ^= 0x20;
    writeFileSync(wal, w);
    const broken = await run(['verify', join(sdb, 's'), '--json']);
    expect(broken.code).toBe(3);
    const rep = json(broken.stdout);
    expect(rep.problems[0]).toMatchObject({ file: wal, offset: frame, record: 1 });
    expect(broken.stderr).toMatch(new RegExp(`damage: ${wal.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(offset ${frame}, record 1\\)`));
    // The writer refuses a damaged store; verify changed nothing.
    expect(readFileSync(wal).equals(w)).toBe(true);
  });
});

describe('nearest tune', () => {
  it('holds out a sample, sweeps, saves the cheapest setting; its recall on unseen queries is ≥ target − 0.01 (20k clustered)', async () => {
    const dim = 32, n = 20000, unseen = 500, k = 10, target = 0.95;
    const rows = clusteredRows(n + unseen, dim, 40, 11, 24);
    const tdb = join(work, 'tdb');
    const d = await Database.open(tdb);
    const c = await d.createCollection('t', { dim, metric: 'euclidean', index: { type: 'hnsw', m: 8, efConstruction: 64 } });
    for (let from = 0; from < n; from += 5000) {
      await c.upsert(Array.from({ length: 5000 }, (_, i) => ({ id: from + i, vector: rows.subarray((from + i) * dim, (from + i + 1) * dim) })));
    }
    await d.close();
    const svg = join(work, 'curve.svg');
    const r = await run(['tune', '--db', tdb, '--collection', 't', '--target-recall', String(target), '--k', String(k), '--sample', '500', '--svg', svg, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = json(r.stdout);
    expect(out).toMatchObject({ met: true, saved: true, targetRecall: target, k, queries: { source: 'sample', count: 500, heldOut: true }, baseSize: n - 500 });
    expect(out.chosen.params.efSearch).toBeGreaterThan(0);
    expect(out.chosen.recall).toBeGreaterThanOrEqual(target);
    expect(out.sweep.length).toBeGreaterThan(2);
    expect(out.tuningMs).toBeGreaterThan(0);
    expect(readFileSync(svg, 'utf8')).toMatch(/^<svg [^>]*>[\s\S]*<polyline[\s\S]*<\/svg>\n$/);

    // Saved as the default: a second, unseen sample searched without parameters.
    const check = await Database.open(tdb, { readOnly: true });
    const s = check.collection('t');
    expect(s.stats().searchDefaults).toEqual(out.chosen.params);
    const exact = new FlatIndex({ dim, metric: 'euclidean' });
    exact.add(rows.subarray(0, n * dim));
    let hit = 0;
    for (let i = 0; i < unseen; i++) {
      const q = rows.subarray((n + i) * dim, (n + i + 1) * dim);
      const truth = new Set(exact.search(q, k).map((h) => h.id));
      for (const h of s.search(q, k)) if (truth.has(h.id as number)) hit++;
    }
    await check.close();
    const recall = hit / (unseen * k);
    console.log(`tune 20k: target ${target}, chosen ${JSON.stringify(out.chosen.params)} (recall on the held-out sample ${out.chosen.recall.toFixed(4)}), unseen ${recall.toFixed(4)}, ${out.tuningMs} ms`);
    expect(recall).toBeGreaterThanOrEqual(target - 0.01);

    // Plain output: the table and the chosen line.
    const plain = await run(['tune', '--db', tdb, '--collection', 't', '--target-recall', '0.9', '--sample', '200', '--svg', svg, '--no-save']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^build\s+search\s+recall\s+QPS\n/);
    expect(plain.stdout).toMatch(/chosen: .*efSearch=\d+: recall 0\.\d+ >= 0\.9, [\d,]+ QPS \(not saved: --no-save\)/);
    expect(plain.stderr).toMatch(/ground truth: 200\/200 queries \(100%\)/);
  }, 60_000);

  it('IVF with --queries and --build; a target it cannot meet exits 1 with met: false and saves nothing', async () => {
    const dim = 16, n = 4000;
    const rows = clusteredRows(n + 100, dim, 20, 5);
    const idb = join(work, 'idb');
    const d = await Database.open(idb);
    const c = await d.createCollection('v', { dim, metric: 'euclidean', index: { type: 'ivf', nlist: 32, encoding: { pq: { m: 4, nbits: 4 } }, refine: true } });
    await c.upsert(Array.from({ length: n }, (_, i) => ({ id: `r${i}`, vector: rows.subarray(i * dim, (i + 1) * dim) })));
    await d.close();
    npy(join(work, 'iq.npy'), rows.subarray(n * dim), 100, dim);
    const r = await run(['tune', '--db', idb, '--collection', 'v', '--target-recall', '0.9', '--queries', 'iq.npy', '--build', '--svg', 'i.svg', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = json(r.stdout);
    expect(out.queries).toMatchObject({ source: 'file', count: 100, heldOut: false });
    expect(out.chosen.params.nprobe).toBeGreaterThan(0);
    expect(out.chosen.params.refineFactor).toBeGreaterThan(0);
    expect(new Set(out.sweep.map((p: { build: { nlist: number } }) => p.build.nlist)).size).toBeGreaterThan(1);
    const info = json((await run(['info', join(idb, 'v'), '--json'])).stdout);
    expect(info.searchDefaults).toEqual(out.chosen.params);
    expect(info.index).toContain(`IVF${out.chosen.build.nlist},`);

    const flat = join(work, 'fdb');
    const f = await Database.open(flat);
    const fc = await f.createCollection('f', { dim: 4, index: { type: 'ivf', nlist: 4, encoding: { pq: { m: 2, nbits: 2 } }, refine: false } });
    await fc.upsert(Array.from({ length: 1200 }, (_, i) => ({ id: i, vector: [Math.sin(i), Math.cos(i * 3), Math.sin(i * 7), Math.cos(i * 11)] })));
    await f.close();
    const fail = await run(['tune', '--db', flat, '--collection', 'f', '--target-recall', '0.99', '--sample', '50', '--svg', 'f.svg', '--json']);
    expect(fail.code).toBe(1);
    expect(json(fail.stdout)).toMatchObject({ met: false, chosen: null, saved: false });
    expect(fail.stderr).toMatch(/^nearest tune: TARGET_NOT_MET: target recall 0.99 cannot be met/);
    expect(json((await run(['info', join(flat, 'f'), '--json'])).stdout).searchDefaults).toEqual({});
    expect((await run(['tune', '--db', flat, '--collection', 'f', '--target-recall', '1.5'])).code).toBe(2);
  }, 60_000);

  it('takes the test rows of an ann-benchmarks HDF5 file as queries and its neighbors as the truth', async () => {
    const dir = join(work, 'h5');
    const py = `
import numpy as np, h5py
rng = np.random.default_rng(3)
c = rng.normal(size=(30, 16))
tr = (c[rng.integers(0, 30, 4000)] + 0.5 * rng.normal(size=(4000, 16))).astype('f4')
te = (c[rng.integers(0, 30, 100)] + 0.5 * rng.normal(size=(100, 16))).astype('f4')
d = ((te[:, None, :] - tr[None, :, :]) ** 2).sum(-1)
nb = np.argsort(d, axis=1)[:, :20].astype('i4')
with h5py.File('ab.hdf5', 'w') as f:
    f.attrs['distance'] = 'euclidean'; f['train'] = tr; f['test'] = te; f['neighbors'] = nb
with h5py.File('bad.hdf5', 'w') as f:
    f['train'] = tr; f['test'] = te; f['neighbors'] = nb + 100000
`;
    mkdirSync(dir, { recursive: true });
    const p = spawnSync('/usr/bin/python3', ['-c', py], { cwd: dir, encoding: 'utf8' });
    expect(p.status, p.stderr).toBe(0);
    const hdb = join(dir, 'db');
    expect((await run(['import', join(dir, 'ab.hdf5'), '--db', hdb, '--collection', 'ab', '--index', 'HNSW8', '--json'])).code).toBe(0);
    const r = await run(['tune', '--db', hdb, '--collection', 'ab', '--target-recall', '0.9', '--queries', join(dir, 'ab.hdf5'), '--no-save', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = json(r.stdout);
    expect(out.queries).toEqual({ source: 'file', count: 100, heldOut: false, truth: 'file' });
    expect(out.met).toBe(true);
    expect(out.chosen.recall).toBeGreaterThanOrEqual(0.9);
    // k beyond the file's 20 neighbours: the truth is computed instead.
    const wide = json((await run(['tune', '--db', hdb, '--collection', 'ab', '--target-recall', '0.9', '--k', '30', '--queries', join(dir, 'ab.hdf5'), '--no-save', '--json'])).stdout);
    expect(wide.queries.truth).toBe('exact');
    const bad = await run(['tune', '--db', hdb, '--collection', 'ab', '--target-recall', '0.9', '--queries', join(dir, 'bad.hdf5')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/neighbors" names row \d+, which is not a record of ab/);
  }, 60_000);
});

