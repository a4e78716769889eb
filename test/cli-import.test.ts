// nearest import end to end through the real bin: every format from files the real libraries wrote
// (numpy, h5py, hyparquet-writer), damaged and truncated files (one line naming the row or offset,
// exit 1, the collection keeps what it had), --on-error skip, --ids / --metadata, idempotent
// re-runs, progress when piped and on a pseudo-terminal, and peak memory on a larger file.
import { spawnSync } from 'node:child_process';
import { appendFileSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parquetWriteFile } from 'hyparquet-writer';
import { BIN, PY_BASE, RSS_WRAPPER, collectionInfo, nearest, python, records, tempDir } from './cli-helpers.js';

const N = 300, D = 8;
let t: ReturnType<typeof tempDir>;
let dir: string;
const db = () => join(dir, 'db');
const base = (i: number, j: number) => Math.fround((i * D + j) / 1000 + 0.5);
const small = (i: number, j: number) => (i * D + j) % 100;

beforeAll(() => {
  t = tempDir('nearest-import-');
  dir = t.dir;
  python(`${PY_BASE}
import h5py, json
n, d = ${N}, ${D}
a = base(n, d).astype(np.float32)
s = (np.arange(n*d).reshape(n, d) % 100)
np.save('f32.npy', a); np.save('f64.npy', base(n, d)); np.save('f16.npy', s.astype(np.float16))
np.save('u8.npy', s.astype(np.uint8)); np.save('i8.npy', (s - 50).astype(np.int8)); np.save('one.npy', a[3])
np.save('fortran.npy', np.asfortranarray(a)); np.save('c16.npy', s.astype(np.complex64)); np.save('three.npy', a.reshape(n, 2, 4))
np.save('ids.npy', np.arange(n, dtype=np.int64) * 10)
bad = a.copy(); bad[7, 2] = np.nan; bad[200, 0] = np.inf; np.save('nan.npy', bad)
def vecs(name, arr, dt):
    with open(name, 'wb') as f:
        for r in arr: f.write(np.array([d], dtype=np.int32).tobytes() + r.astype(dt).tobytes())
vecs('a.fvecs', a, np.float32); vecs('a.ivecs', s, np.int32); vecs('a.bvecs', s, np.uint8)
def binf(name, arr, dt):
    with open(name, 'wb') as f: f.write(np.array([n, d], dtype=np.uint32).tobytes() + arr.astype(dt).tobytes())
binf('a.fbin', a, np.float32); binf('a.u8bin', s, np.uint8); binf('a.i8bin', s - 50, np.int8)
with h5py.File('ann.hdf5', 'w') as f:
    f.create_dataset('train', data=a); f.create_dataset('test', data=a[:20]); f.create_dataset('neighbors', data=np.zeros((20, 5), dtype=np.int32))
    f.attrs['distance'] = 'euclidean'
with open('a.jsonl', 'w') as f:
    for i in range(n): f.write(json.dumps({'id': 'doc-%d' % i, 'vector': a[i].tolist(), 'title': 't%d' % i, 'n': i}) + '\\n')
with open('emb.ndjson', 'w') as f:
    for i in range(n): f.write(json.dumps({'key': i, 'embedding': a[i].tolist()}) + '\\r\\n')
with open('ids.txt', 'w') as f:
    for i in range(n): f.write('id-%d\\n' % i)
with open('meta.jsonl', 'w') as f:
    for i in range(n): f.write(json.dumps({'row': i}) + '\\n')
`, dir);
  const vectors = Array.from({ length: N }, (_, i) => Array.from({ length: D }, (_, j) => base(i, j)));
  parquetWriteFile({
    filename: join(dir, 'a.parquet'), rowGroupSize: 64,
    columnData: [
      { name: 'id', data: Array.from({ length: N }, (_, i) => BigInt(i + 1000)), type: 'INT64' },
      { name: 'embedding', data: vectors },
      { name: 'label', data: Array.from({ length: N }, (_, i) => `l${i % 4}`), type: 'STRING' },
    ],
  });
});
afterAll(() => t.remove());

async function importOk(file: string, name: string, ...extra: string[]) {
  const r = await nearest(['import', file, '--db', db(), '--collection', name, '--metric', 'euclidean', ...extra], dir);
  expect(r.stderr).not.toMatch(/Error:|at .*\.js/);
  expect(r.code, r.stderr).toBe(0);
  return r;
}

/** One line on stderr with the code, exit 1. */
function failsWith(r: { code: number; stderr: string }, pattern: RegExp) {
  expect(r.code).toBe(1);
  const errs = r.stderr.split('\n').filter((l) => l.startsWith('nearest import:'));
  expect(errs).toHaveLength(1);
  expect(errs[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/^\s+at /m); // no stack without --verbose
}

describe('nearest import: every format', () => {
  const cases: [string, (i: number, j: number) => number][] = [
    ['f32.npy', base], ['f64.npy', base], ['f16.npy', small], ['u8.npy', small], ['i8.npy', (i, j) => small(i, j) - 50],
    ['a.fvecs', base], ['a.ivecs', small], ['a.bvecs', small], ['a.fbin', base], ['a.u8bin', small], ['a.i8bin', (i, j) => small(i, j) - 50],
  ];
  for (const [file, value] of cases) {
    it(`${file}: ${N} rows, ids = row numbers, values exact`, async () => {
      const name = file.replace('.', '_');
      await importOk(file, name, '--batch', '128');
      const recs = await records(db(), name);
      expect(recs).toHaveLength(N);
      for (const i of [0, 1, 150, N - 1]) {
        expect(recs[i][0]).toBe(i);
        expect(recs[i][1]).toEqual(Array.from({ length: D }, (_, j) => value(i, j)));
      }
    });
  }

  it('a 1-D .npy is one vector', async () => {
    await importOk('one.npy', 'one');
    const recs = await records(db(), 'one');
    expect(recs).toEqual([[0, Array.from({ length: D }, (_, j) => base(3, j)), undefined]]);
  });

  it('JSONL: string ids, the other fields as metadata, --json report', async () => {
    const r = await importOk('a.jsonl', 'jsonl', '--batch', '100', '--json');
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ rows: N, skipped: 0, format: 'jsonl', dim: D, created: true });
    expect(report.rowsPerSecond).toBeGreaterThan(0);
    expect(report.bytesPerSecond).toBeGreaterThan(0);
    const recs = await records(db(), 'jsonl');
    expect(recs[5]).toEqual(['doc-5', Array.from({ length: D }, (_, j) => base(5, j)), { title: 't5', n: 5 }]);
  });

  it('NDJSON with CRLF, --id-field and the "embedding" field', async () => {
    await importOk('emb.ndjson', 'ndjson', '--id-field', 'key');
    const recs = await records(db(), 'ndjson');
    expect(recs).toHaveLength(N);
    expect(recs[9]).toEqual([9, Array.from({ length: D }, (_, j) => base(9, j)), undefined]);
  });

  it('Parquet: list column, INT64 ids, scalar metadata, several row groups', async () => {
    await importOk('a.parquet', 'parquet', '--batch', '50');
    const recs = await records(db(), 'parquet');
    expect(recs).toHaveLength(N);
    expect(recs[0]).toEqual([1000, Array.from({ length: D }, (_, j) => base(0, j)), { label: 'l0' }]);
    expect(recs[N - 1][0]).toBe(1000 + N - 1);
  });

  it('ann-benchmarks HDF5: train by default with its distance as the metric; --dataset test', async () => {
    const r = await nearest(['import', 'ann.hdf5', '--db', db(), '--collection', 'h5', '--batch', '70'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(await collectionInfo(db(), 'h5')).toEqual({ size: N, dim: D, metric: 'euclidean' });
    expect((await records(db(), 'h5'))[42][1]).toEqual(Array.from({ length: D }, (_, j) => base(42, j)));
    await importOk('ann.hdf5', 'h5test', '--dataset', 'test');
    expect((await collectionInfo(db(), 'h5test'))!.size).toBe(20);
    failsWith(await nearest(['import', 'ann.hdf5', '--db', db(), '--collection', 'h5x', '--dataset', 'nope'], dir), /NOT_FOUND: .*no dataset "nope"; datasets: .*train/);
  });

  it('--ids (text and .npy) and --metadata beside a bare file; --format overrides the extension', async () => {
    await importOk('a.fbin', 'side', '--ids', 'ids.txt', '--metadata', 'meta.jsonl');
    const recs = await records(db(), 'side');
    expect(recs.find((r) => r[0] === 'id-17')).toEqual(['id-17', Array.from({ length: D }, (_, j) => base(17, j)), { row: 17 }]);
    await importOk('f32.npy', 'sidenpy', '--ids', 'ids.npy');
    expect((await records(db(), 'sidenpy')).map((r) => r[0]).slice(0, 3)).toEqual([0, 10, 20]);
    writeFileSync(join(dir, 'noext'), readFileSync(join(dir, 'a.fbin')));
    await importOk('noext', 'fmt', '--format', 'fbin');
    failsWith(await nearest(['import', 'noext', '--db', db(), '--collection', 'fmt2'], dir), /UNSUPPORTED: .*cannot tell the format/);
    writeFileSync(join(dir, 'short-ids.txt'), 'a\nb\n');
    failsWith(await nearest(['import', 'a.fbin', '--db', db(), '--collection', 'side2', '--ids', 'short-ids.txt'], dir), /--ids short-ids.txt holds 2 lines, a.fbin holds 300 rows/);
  });

  it('--index takes a factory string or JSON; a bad one is refused before anything is read', async () => {
    await importOk('a.fbin', 'hnsw', '--index', 'HNSW16');
    await importOk('a.fbin', 'hnswjson', '--index', '{"type":"hnsw","m":8}');
    failsWith(await nearest(['import', 'a.fbin', '--db', db(), '--collection', 'badidx', '--index', 'HNSWx'], dir), /INVALID_ARGUMENT: index: "HNSWx" is not an index factory string/);
    expect(await collectionInfo(db(), 'badidx')).toBeNull();
  });
});

describe('nearest import: refused and damaged files', () => {
  it('Fortran order, complex dtypes and 3-D arrays are refused clearly', async () => {
    failsWith(await nearest(['import', 'fortran.npy', '--db', db(), '--collection', 'ft'], dir), /UNSUPPORTED: fortran.npy: .*Fortran .* np\.ascontiguousarray/);
    failsWith(await nearest(['import', 'c16.npy', '--db', db(), '--collection', 'ft'], dir), /UNSUPPORTED: .*dtype c8 .*accepted: float32, float64, float16, int8, uint8/);
    failsWith(await nearest(['import', 'three.npy', '--db', db(), '--collection', 'ft'], dir), /UNSUPPORTED: .*shape \(300, 2, 4\)/);
    expect(await collectionInfo(db(), 'ft')).toBeNull();
  });

  const truncations: [string, number, RegExp][] = [
    ['a.fbin', 8 + 4 * D * 250 + 5, /CORRUPT_FILE: t-a\.fbin: row 250 \(offset 8008\): the file is truncated/],
    ['f32.npy', 128 + 4 * D * 100 + 1, /CORRUPT_FILE: t-f32\.npy: row 100 \(offset 3328\): the file is truncated/],
    ['a.fvecs', (4 + 4 * D) * 120 + 7, /CORRUPT_FILE: t-a\.fvecs: row 120 \(offset 4320\): the file is truncated/],
    ['a.fbin', 5, /CORRUPT_FILE: t-a\.fbin: offset 5: the file ends inside the 8-byte header/],
  ];
  for (const [file, size, pattern] of truncations) {
    it(`truncated ${file} at ${size} bytes: one line naming the row and offset, exit 1, the collection keeps what it had`, async () => {
      const name = `trunc${size}`;
      await importOk('a.fbin', name, '--ids', 'ids.txt'); // something there before
      writeFileSync(join(dir, `t-${file}`), readFileSync(join(dir, file)).subarray(0, size));
      const before = await records(db(), name);
      failsWith(await nearest(['import', `t-${file}`, '--db', db(), '--collection', name], dir), pattern);
      expect(await records(db(), name)).toEqual(before);
    });
  }

  it('a flipped per-row dim in .fvecs names the row and offset', async () => {
    const b = readFileSync(join(dir, 'a.fvecs'));
    b.writeInt32LE(9, (4 + 4 * D) * 37);
    writeFileSync(join(dir, 'flip.fvecs'), b);
    failsWith(await nearest(['import', 'flip.fvecs', '--db', db(), '--collection', 'flip'], dir), /CORRUPT_FILE: flip\.fvecs: row 37 \(offset 1332\): the row says dim 9, the first row said 8/);
  });

  it('truncated Parquet and HDF5, a .npy with a wrong magic: one line, exit 1', async () => {
    for (const [file, keep] of [['a.parquet', 0.6], ['ann.hdf5', 0.3], ['f32.npy', -1]] as const) {
      const b = readFileSync(join(dir, file));
      const out = keep < 0 ? Buffer.concat([Buffer.from('XX'), b.subarray(2)]) : b.subarray(0, Math.floor(b.length * keep));
      writeFileSync(join(dir, `bad-${file}`), out);
      failsWith(await nearest(['import', `bad-${file}`, '--db', db(), '--collection', 'damaged'], dir), /CORRUPT_FILE: bad-/);
    }
    expect((await collectionInfo(db(), 'damaged'))?.size ?? 0).toBe(0);
  });

  it('NaN / Infinity rows abort naming the row and what was imported before, or are skipped with --on-error skip', async () => {
    const r = await nearest(['import', 'nan.npy', '--db', db(), '--collection', 'nan', '--batch', '100', '--metric', 'euclidean'], dir);
    failsWith(r, /CORRUPT_FILE: nan\.npy: row 7: value 2 is NaN .*\(imported 0 rows before it; nothing of the failing batch was written\)/);
    const r2 = await nearest(['import', 'nan.npy', '--db', db(), '--collection', 'nan2', '--batch', '100', '--metric', 'euclidean', '--on-error', 'skip', '--json'], dir);
    expect(r2.code).toBe(0);
    expect(JSON.parse(r2.stdout)).toMatchObject({ rows: N - 2, skipped: 2, skippedExamples: ['row 7: value 2 is NaN (every value must be finite)', 'row 200: value 0 is Infinity (every value must be finite)'] });
    const recs = await records(db(), 'nan2');
    expect(recs.map((x) => x[0])).not.toContain(7);
    expect(recs.map((x) => x[0])).toContain(8);
  });

  it('a malformed JSONL line aborts with its line number after the earlier batches, or is skipped', async () => {
    const lines = readFileSync(join(dir, 'a.jsonl'), 'utf8').split('\n');
    lines[250] = '{"id": "doc-250", "vector": [1, 2';
    lines[260] = '{"id": "doc-260", "vector": [1, 2, 3]}';
    writeFileSync(join(dir, 'bad.jsonl'), lines.join('\n'));
    failsWith(await nearest(['import', 'bad.jsonl', '--db', db(), '--collection', 'badj', '--batch', '100'], dir),
      /CORRUPT_FILE: bad\.jsonl: line 251: not valid JSON .*\(imported 200 rows before it; nothing of the failing batch was written\)/);
    expect((await collectionInfo(db(), 'badj'))!.size).toBe(200);
    const r = await nearest(['import', 'bad.jsonl', '--db', db(), '--collection', 'badj2', '--on-error', 'skip'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/imported 298 rows/);
    expect(r.stdout).toMatch(/skipped 2 malformed rows; first: line 251: not valid JSON.*; line 261: field "vector" has 3 values, the collection's dim is 8/);
  });

  it('a file of another dim than the collection is refused', async () => {
    python(`${PY_BASE}np.save('d4.npy', base(5, 4).astype(np.float32))`, dir);
    failsWith(await nearest(['import', 'd4.npy', '--db', db(), '--collection', 'a_fbin'], dir), /DIMENSION_MISMATCH: collection a_fbin has dim 8, the file's vectors have dim 4/);
  });
});

describe('nearest import: re-runs, progress, memory', () => {
  it('re-running an import is idempotent (upsert by id)', async () => {
    await importOk('a.jsonl', 'again');
    const first = await records(db(), 'again');
    await importOk('a.jsonl', 'again');
    expect(await records(db(), 'again')).toEqual(first);
  });

  it('progress is plain lines on stderr when piped, stdout keeps the answer', async () => {
    const r = await importOk('a.fbin', 'piped');
    expect(r.stderr).toMatch(/^import piped: 300\/300 rows \(100%\), [\d,]+ rows\/s$/m);
    expect(r.stderr).not.toMatch(/\x1b\[/);
    expect(r.stdout).toMatch(/^imported 300 rows into piped \(created, dim 8, euclidean/);
  });

  it('progress is a bar with rate and ETA on a pseudo-terminal', () => {
    const cmd = `${process.execPath} ${BIN} import a.fbin --db ${db()} --collection tty`;
    const r = spawnSync('script', ['-qfc', cmd, '/dev/null'], { cwd: dir, encoding: 'utf8', env: { ...process.env, TERM: 'xterm' } });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/import tty \[[█░=\- ]+\] 100% \| 300\/300 rows \| [\d,]+ rows\/s \| ETA \d+s/);
  });

  const bigRows = Number(process.env.NEAREST_BIG_IMPORT_ROWS ?? 100_000);
  it(`a ${bigRows.toLocaleString('en-US')} × 128 .fbin is imported with peak RSS under its index size + 256 MiB`, () => {
    const file = join(dir, 'big.fbin');
    python(`
import numpy as np
n, d = ${bigRows}, 128
with open('big.fbin', 'wb') as f:
    f.write(np.array([n, d], dtype=np.uint32).tobytes())
    rng = np.random.default_rng(1)
    for s in range(0, n, 50000): f.write(rng.standard_normal((min(50000, n - s), d), dtype=np.float32).tobytes())
`, dir);
    expect(statSync(file).size).toBe(8 + bigRows * 512);
    const r = spawnSync(process.execPath, [RSS_WRAPPER, 'import', file, '--db', join(dir, 'bigdb'), '--collection', 'big', '--metric', 'euclidean', '--json'], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).rows).toBe(bigRows);
    const rss = Number(/MAXRSS (\d+)/.exec(r.stderr)![1]);
    const bound = bigRows * (4 * 128 + 8) + 256 * 2 ** 20;
    appendFileSync(join(dir, 'rss.txt'), `${rss} ${bound}\n`);
    expect(rss).toBeLessThan(bound);
  }, 120_000);
});
