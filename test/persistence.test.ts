// Persistence: index files round-trip for every index; damaged files (truncated, bit-flipped,
// wrong magic, future version, out-of-range graph ids) are CORRUPT_FILE / UNSUPPORTED_VERSION;
// loader fuzzing with fast-check; the durable store's log, lock and recovery (SIGKILL tests: crash.test.ts).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { FlatIndex, HnswIndex, IvfIndex, indexFromBuffer, indexToBuffer, loadIndex, NearestError, readIndexAppData, saveIndex, VectorStore } from 'nearest';
import { readContainer, writeContainer, crc32 } from '../dist/io/container.js';
import { scanLog } from '../dist/io/log.js';
import { clusteredRows } from './helpers.js';

const work = mkdtempSync(join(tmpdir(), 'nearest-test-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const dim = 16, n = 600;
const rows = clusteredRows(n, dim, 8, 51);
const queries = clusteredRows(30, dim, 8, 52);

function makers(): [string, () => FlatIndex | HnswIndex | IvfIndex][] {
  const ivf = (encoding: ConstructorParameters<typeof IvfIndex>[0]['encoding'], refine = false) => () => {
    const i = new IvfIndex({ dim, metric: 'euclidean', nlist: 8, nprobe: 3, encoding, refine });
    i.train(rows);
    return i;
  };
  return [
    ['flat', () => new FlatIndex({ dim, metric: 'cosine' })],
    ['hnsw', () => new HnswIndex({ dim, metric: 'euclidean', m: 8, threads: 1 })],
    ['hnsw int8', () => new HnswIndex({ dim, metric: 'cosine', m: 8, quantization: 'int8', threads: 1 })],
    ['ivf flat', ivf('flat')],
    ['ivf sq8', ivf('sq8')],
    ['ivf pq + refine', ivf({ pq: { m: 4, nbits: 6 } }, true)],
    ['ivf pq fast-scan', ivf({ pq: { m: 8, fastScan: true } })],
  ];
}

function codeOf(fn: () => unknown): string {
  try { fn(); } catch (e) { if (e instanceof NearestError) return e.code; throw e; }
  return 'no error';
}

describe('index files', () => {
  for (const [name, make] of makers()) {
    it(`${name}: identical results before and after save/load; deletions stay deleted`, async () => {
      const index = make();
      index.add(rows);
      index.remove([3, 5, 7, 100]);
      const path = join(work, `${name.replace(/\W/g, '_')}.nrst`);
      await saveIndex(index, path);
      const loaded = await loadIndex(path);
      expect(loaded.constructor).toBe(index.constructor);
      expect(loaded.size).toBe(index.size);
      const a = index.searchBatch(queries, 10), b = loaded.searchBatch(queries, 10);
      expect(b.ids).toEqual(a.ids);
      expect(b.distances).toEqual(a.distances);
      expect(loaded.has(3)).toBe(false);
      const again = indexFromBuffer(indexToBuffer(loaded));
      expect(again.searchBatch(queries, 10).ids).toEqual(a.ids);
      // The loaded index keeps working: adds get fresh ids, never a removed one's results.
      loaded.add(rows.subarray(0, dim));
      expect(loaded.size).toBe(index.size + 1);
    });
  }

  it('bad files give typed errors, never crashes', async () => {
    const index = new HnswIndex({ dim, metric: 'euclidean', m: 8, threads: 1 });
    index.add(rows);
    const buf = indexToBuffer(index);
    const { header, sections } = readContainer(buf);
    // Truncation at every section boundary and inside every section.
    let at = 64;
    for (const [, bytes] of sections) {
      for (const cut of [at, at + 8, at + 24 + Math.floor(bytes.length / 2)]) expect(codeOf(() => indexFromBuffer(buf.slice(0, cut)))).toBe('CORRUPT_FILE');
      at += 24 + Math.ceil(bytes.length / 8) * 8;
    }
    const wrongMagic = buf.slice(); wrongMagic[0] ^= 0xff;
    expect(codeOf(() => indexFromBuffer(wrongMagic))).toBe('CORRUPT_FILE');
    const future = buf.slice();
    new DataView(future.buffer).setUint16(4, 2, true);
    new DataView(future.buffer).setUint32(60, crc32(future.subarray(0, 60)), true);
    expect(codeOf(() => indexFromBuffer(future))).toBe('UNSUPPORTED_VERSION');
    // A neighbour id out of range, with every checksum valid.
    const l0 = new Int32Array(sections.get('GL0 ')!.slice().buffer);
    l0[1] = 10 ** 6;
    const rebuilt = writeContainer(header, [...sections].map(([tag, bytes]) => ({ tag, bytes: tag === 'GL0 ' ? new Uint8Array(l0.buffer) : bytes })));
    expect(codeOf(() => indexFromBuffer(rebuilt))).toBe('CORRUPT_FILE');
    // A count that disagrees, a huge claimed section length.
    const huge = buf.slice();
    new DataView(huge.buffer).setFloat64(64 + 8, 2 ** 50, true);
    expect(codeOf(() => indexFromBuffer(huge))).toBe('CORRUPT_FILE');
    expect(codeOf(() => indexFromBuffer(new Uint8Array(10)))).toBe('CORRUPT_FILE');
    await expect(loadIndex(join(work, 'missing.nrst'))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  for (const [name, make] of makers().filter(([nm]) => nm !== 'hnsw int8')) {
    it(`fuzz (${name}): every truncation and byte mutation is detected`, () => {
      const index = make();
      index.add(rows.subarray(0, 200 * dim));
      index.remove([1]);
      const buf = indexToBuffer(index);
      fc.assert(fc.property(fc.nat({ max: buf.length - 1 }), (cut) => {
        expect(codeOf(() => indexFromBuffer(buf.slice(0, cut)))).toBe('CORRUPT_FILE');
      }), { numRuns: 1000 });
      fc.assert(fc.property(fc.nat({ max: buf.length - 1 }), fc.integer({ min: 1, max: 255 }), (pos, flip) => {
        const bad = buf.slice();
        bad[pos] ^= flip;
        expect(['CORRUPT_FILE', 'UNSUPPORTED_VERSION']).toContain(codeOf(() => indexFromBuffer(bad)));
      }), { numRuns: 2000 });
    });
  }
});

describe('application data in index files', () => {
  it('round-trips appData, which loading ignores and a damaged byte of fails', () => {
    const index = new FlatIndex({ dim: 4, metric: 'euclidean' });
    index.add(clusteredRows(50, 4, 3, 9));
    const plain = indexToBuffer(index);
    expect(readIndexAppData(plain)).toBeNull();
    const app = new Uint8Array([1, 2, 3, 4, 5, 6, 7]);
    const withApp = indexToBuffer(index, { appData: app });
    expect(Array.from(readIndexAppData(withApp)!)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const back = indexFromBuffer(withApp) as FlatIndex;
    expect(back.size).toBe(50);
    expect(Array.from(back.ids())).toEqual(Array.from(index.ids()));
    const flipped = withApp.slice();
    flipped[withApp.length - 3] ^= 1; // inside the APPD payload (its padding is the last byte)
    for (const read of [() => readIndexAppData(flipped), () => indexFromBuffer(flipped)]) {
      expect(() => read()).toThrow(expect.objectContaining({ code: 'CORRUPT_FILE' }));
    }
    expect(() => indexToBuffer(index, { appData: [1, 2] as never })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => indexToBuffer(index, { appdata: app } as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});

describe('durable store', () => {
  it('keeps acknowledged writes across reopen, compaction and a torn log tail', async () => {
    const dir = join(work, 'store-a');
    const s = await VectorStore.open<{ n: number }>(dir, { dim: 4, metric: 'euclidean' });
    const ids = await s.addBatch([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]], [{ n: 1 }, { n: 2 }, { n: 3 }]);
    await s.upsert({ id: 'doc', vector: [1, 1, 1, 1], metadata: { n: 9 } });
    await s.delete(ids[1]);
    await s.compact();
    await s.upsert([{ id: 'late', vector: [2, 2, 2, 2], metadata: { n: 10 } }]);
    await s.upsert([{ id: 'torn', vector: [3, 3, 3, 3], metadata: { n: 11 } }]);
    await s.close();
    // Tear the last record in half.
    const wal = join(dir, readdirSync(dir).filter((n) => n.startsWith('wal-')).sort().at(-1)!);
    truncateSync(wal, (await scanLog(new Uint8Array(readFileSync(wal)))).frames.at(-1)!.end - 10);
    const t = await VectorStore.open<{ n: number }>(dir, { dim: 4, metric: 'euclidean' });
    expect(t.size).toBe(4);
    expect(t.get('late')?.metadata).toEqual({ n: 10 });
    expect(t.has('torn')).toBe(false);
    expect(t.has(ids[1])).toBe(false);
    expect(t.search([1, 1, 1, 1], 1)[0].id).toBe('doc');
    await t.upsert({ id: 'after', vector: [5, 5, 5, 5] });
    await t.close();
    const u = await VectorStore.open(dir, { dim: 4, metric: 'euclidean' });
    expect(u.has('after') && u.has('late')).toBe(true);
    await u.close();
  });

  it('writes issued while compact() runs are neither lost nor duplicated', async () => {
    const dir = join(work, 'store-c');
    const s = await VectorStore.open(dir, { dim: 2 });
    await s.addBatch(Array.from({ length: 50 }, (_, i) => [i, 1]));
    const writes: Promise<unknown>[] = [];
    const compaction = s.compact();
    for (let i = 0; i < 20; i++) writes.push(s.upsert({ id: `w${i}`, vector: [i, 2] }));
    await Promise.all([compaction, ...writes]);
    await s.compact();
    await s.upsert({ id: 'last', vector: [9, 9] });
    await s.close();
    const t = await VectorStore.open(dir, { dim: 2 });
    expect(t.size).toBe(71);
    for (let i = 0; i < 20; i++) expect(t.get(`w${i}`)?.vector).toEqual(new Float32Array([i, 2]));
    await t.close();
  });

  it('one writer: a second writer gets LOCKED, readers are allowed, read-only refuses writes', async () => {
    const dir = join(work, 'store-b');
    const s = await VectorStore.open(dir, { dim: 2 });
    await s.add([1, 2]);
    await expect(VectorStore.open(dir, { dim: 2 })).rejects.toMatchObject({ code: 'LOCKED' });
    // Another process trying to write gets LOCKED too.
    const child = spawn(process.execPath, ['--input-type=module', '-e', `import { VectorStore } from 'nearest'; VectorStore.open(${JSON.stringify(dir)}, { dim: 2 }).then(() => console.log('opened'), (e) => console.log(e.code));`], { cwd: process.cwd() });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    await new Promise((r) => child.on('exit', r));
    expect(output.trim()).toBe('LOCKED');
    const ro = await VectorStore.open(dir, { dim: 2, readOnly: true });
    expect(ro.size).toBe(1);
    await expect(ro.add([3, 4])).rejects.toMatchObject({ code: 'UNSUPPORTED' });
    await s.close();
    const again = await VectorStore.open(dir, { dim: 2 });
    expect(again.size).toBe(1);
    await again.close();
    await expect(VectorStore.open(dir, { dim: 3 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
