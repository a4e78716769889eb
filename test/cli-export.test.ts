// nearest export end to end through the real bin: jsonl re-imports into an identical collection;
// npy (read back by numpy) and fbin with ids in OUT.ids re-import identically; the write is atomic
// (no temp file left, an existing output untouched when the export fails).
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectionInfo, nearest, python, records, tempDir } from './cli-helpers.js';

let t: ReturnType<typeof tempDir>;
let dir: string;
const db = () => join(dir, 'db');
const N = 500, D = 12;

beforeAll(async () => {
  t = tempDir('nearest-export-');
  dir = t.dir;
  // Mixed ids (numbers, strings, a string that looks like a number), metadata on some records.
  const lines: string[] = [];
  for (let i = 0; i < N; i++) {
    const id = i % 3 === 0 ? i : i % 3 === 1 ? `s-${i}` : `${i}`;
    const vector = Array.from({ length: D }, (_, j) => Math.sin(i * 7 + j) * (1 + j / 3));
    lines.push(JSON.stringify(i % 2 ? { id, vector, tag: `t${i % 5}`, n: i } : { id, vector }));
  }
  writeFileSync(join(dir, 'src.jsonl'), `${lines.join('\n')}\n`);
  const r = await nearest(['import', 'src.jsonl', '--db', db(), '--collection', 'src', '--metric', 'dot', '--batch', '64'], dir);
  expect(r.code, r.stderr).toBe(0);
});
afterAll(() => t.remove());

describe('nearest export', () => {
  it('jsonl: { id, vector, metadata } a line; re-imports into an identical collection', async () => {
    const r = await nearest(['export', '--db', db(), '--collection', 'src', '--format', 'jsonl', '--out', 'out.jsonl'], dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/exported 500 rows of src \(dim 12\) to out\.jsonl/);
    const first = JSON.parse(readFileSync(join(dir, 'out.jsonl'), 'utf8').split('\n')[1]);
    expect(Object.keys(first)).toEqual(['id', 'vector', 'metadata']);
    const r2 = await nearest(['import', 'out.jsonl', '--db', db(), '--collection', 'copy', '--metric', 'dot'], dir);
    expect(r2.code, r2.stderr).toBe(0);
    expect(await records(db(), 'copy')).toEqual(await records(db(), 'src'));
    expect(await collectionInfo(db(), 'copy')).toEqual(await collectionInfo(db(), 'src'));
  });

  for (const format of ['npy', 'fbin'] as const) {
    it(`${format}: float32 vectors, ids one a line in OUT.ids; re-imports with --ids identically (vectors and ids)`, async () => {
      const out = `out.${format}`;
      const r = await nearest(['export', '--db', db(), '--collection', 'src', '--format', format, '--out', out, '--json'], dir);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ rows: N, dim: D, ids: `${out}.ids` });
      const ids = readFileSync(join(dir, `${out}.ids`), 'utf8').trimEnd().split('\n');
      expect(ids).toHaveLength(N);
      expect(ids).toContain('"2"'); // a string id that looks like a number stays a string
      if (format === 'npy') python(`import numpy as np\na = np.load('${out}')\nassert a.dtype == np.float32 and a.shape == (${N}, ${D}) and a.flags.c_contiguous, (a.dtype, a.shape)`, dir);
      const r2 = await nearest(['import', out, '--db', db(), '--collection', `copy-${format}`, '--metric', 'dot', '--ids', `${out}.ids`], dir);
      expect(r2.code, r2.stderr).toBe(0);
      const strip = (rs: [unknown, number[], unknown][]) => rs.map(([id, v]) => [id, v]);
      expect(strip(await records(db(), `copy-${format}`))).toEqual(strip(await records(db(), 'src')));
    });
  }

  it('is atomic: no temp file is left; a failed export leaves an existing output as it was', async () => {
    writeFileSync(join(dir, 'keep.jsonl'), 'old\n');
    const r = await nearest(['export', '--db', db(), '--collection', 'missing', '--format', 'jsonl', '--out', 'keep.jsonl'], dir);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toMatch(/^nearest export: NOT_FOUND: collection: no collection named "missing"$/);
    expect(readFileSync(join(dir, 'keep.jsonl'), 'utf8')).toBe('old\n');
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
    expect(existsSync(join(dir, 'keep.jsonl.ids'))).toBe(false);
  });

  it('a usage error (missing --format) exits 2', async () => {
    const r = await nearest(['export', '--db', db(), '--collection', 'src', '--out', 'x'], dir);
    expect(r.code).toBe(2);
  });
});
