// nearest/hnswlib-node and nearest/faiss-node: the behaviour hnswlib-node's and faiss-node's own
// documented examples and tests show (written anew), differentials against the real hnswlib-node
// (BruteforceSearch exact: same neighbours and distances; HierarchicalNSW: recall@10 ≥ 0.98), the
// seed's FAISS example ported line by line, LangChain community's HNSWLib and FaissStore flows on
// the drop-ins (their loaders overridden), and the shim package that stands in for an npm alias.
import { execFile } from 'node:child_process';
import { mkdir, readFile, readdir, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it, vi } from 'vitest';
import realHnswlib from 'hnswlib-node';
import { SyntheticEmbeddings } from '@langchain/core/utils/testing';
import { Document } from '@langchain/core/documents';
import { HNSWLib } from '@langchain/community/vectorstores/hnswlib';
import { FaissStore } from '@langchain/community/vectorstores/faiss';
import { HnswIndex, NearestError, indexFromBuffer, indexToBuffer, inspectPath, readIndexAppData, saveIndex } from 'nearest';
import hnswlib, { BruteforceSearch, HierarchicalNSW, InnerProductSpace, L2Space } from 'nearest/hnswlib-node';
import faiss, { Index, IndexFlatIP, IndexFlatL2, IndexHNSWFlat, MetricType, normalize_L2 } from 'nearest/faiss-node';
import { tempDirs } from './adapter-helpers.js';
import { clusteredRows, gaussian } from './helpers.js';

const tempDir = tempDirs('dropins');

function rowsOf(flat: Float32Array, dim: number): number[][] {
  return Array.from({ length: flat.length / dim }, (_, i) => Array.from(flat.subarray(i * dim, (i + 1) * dim)));
}

function codeOf(f: () => unknown): string | undefined {
  try { f(); } catch (e) { return e instanceof NearestError ? e.code : `not a NearestError: ${String(e)}`; }
  return undefined;
}

describe('nearest/hnswlib-node: hnswlib-node documented behaviour', () => {
  it('the README example of HierarchicalNSW', () => {
    const index = new HierarchicalNSW('l2', 5);
    index.initIndex(1000, 16, 200, 100);
    index.addPoint([0, 1, 2, 3, 4], 0);
    index.addPoint([1, 2, 3, 4, 5], 1);
    index.addPoint([3, 4, 5, 6, 6], 2);
    const result = index.searchKnn([1, 4, 2, 3, 4], 3);
    // squared L2: |(1,3,0,0,0)|² = 10, |(0,2,-1,-1,-1)|² = 7, |(-2,0,-3,-3,-2)|² = 26
    expect(result).toEqual({ distances: [7, 10, 26], neighbors: [1, 0, 2] });
    expect(result).toEqual(((): unknown => {
      const real = new realHnswlib.HierarchicalNSW('l2', 5);
      real.initIndex(1000, 16, 200, 100);
      real.addPoint([0, 1, 2, 3, 4], 0); real.addPoint([1, 2, 3, 4, 5], 1); real.addPoint([3, 4, 5, 6, 6], 2);
      return real.searchKnn([1, 4, 2, 3, 4], 3);
    })());
  });

  it('the README example of BruteforceSearch', () => {
    const index = new BruteforceSearch('l2', 5);
    index.initIndex(1000);
    index.addPoint([0, 1, 2, 3, 4], 0);
    index.addPoint([1, 2, 3, 4, 5], 1);
    index.addPoint([3, 4, 5, 6, 6], 2);
    expect(index.searchKnn([1, 4, 2, 3, 4], 3)).toEqual({ distances: [7, 10, 26], neighbors: [1, 0, 2] });
    expect(index.getCurrentCount()).toBe(3);
    expect(index.getMaxElements()).toBe(1000);
    expect(index.getNumDimensions()).toBe(5);
  });

  it('the default export is the CommonJS module object (what `import hnswlib from "hnswlib-node"` gives)', () => {
    expect(hnswlib.HierarchicalNSW).toBe(HierarchicalNSW);
    expect(hnswlib.BruteforceSearch).toBe(BruteforceSearch);
    expect(Object.keys(hnswlib).sort()).toEqual(Object.keys(realHnswlib).filter((k) => k in hnswlib).sort());
  });

  it('distance conventions: l2 squared, ip 1 − dot, cosine 1 − cosine (stored normalized)', () => {
    for (const space of ['l2', 'ip', 'cosine'] as const) {
      const ours = new HierarchicalNSW(space, 2), real = new realHnswlib.HierarchicalNSW(space, 2);
      for (const x of [ours, real]) { x.initIndex(4); x.addPoint([3, 4], 0); x.addPoint([1, 0], 1); x.addPoint([0, 0.5], 2); }
      const a = ours.searchKnn([1, 1], 3), b = real.searchKnn([1, 1], 3);
      expect(a.neighbors).toEqual(b.neighbors);
      a.distances.forEach((d, i) => expect(d).toBeCloseTo(b.distances[i]!, 6));
      expect(ours.getPoint(0)).toEqual(real.getPoint(0));
    }
    expect(new L2Space(2).distance([0, 0], [3, 4])).toBe(25);
    expect(new InnerProductSpace(2).distance([1, 2], [3, 4])).toBe(-10);
    expect(new L2Space(3).getNumDimensions()).toBe(3);
  });

  it('initIndex takes an options object; defaults: ef 10, m 16', () => {
    const index = new HierarchicalNSW('cosine', 3);
    expect(index.getCurrentCount()).toBe(0);
    expect(index.getMaxElements()).toBe(0);
    index.initIndex({ maxElements: 10, m: 8, efConstruction: 50, randomSeed: 7, allowReplaceDeleted: true });
    expect(index.getMaxElements()).toBe(10);
    expect(index.getEf()).toBe(10);
    index.setEf(32);
    expect(index.getEf()).toBe(32);
    expect(index.getNumDimensions()).toBe(3);
  });

  it('errors: before initIndex, wrong dimension, full index, k above maxElements, bad space, wrong arity', () => {
    const index = new HierarchicalNSW('l2', 3);
    expect(() => index.searchKnn([1, 2, 3], 1)).toThrow('Search index has not been initialized, call `initIndex` in advance.');
    expect(() => index.addPoint([1, 2, 3], 0)).toThrow('Search index has not been initialized');
    expect(() => index.writeIndexSync('/nonexistent/x')).toThrow('Search index is not constructed.');
    index.initIndex(2);
    expect(() => index.addPoint([1, 2], 0)).toThrow('Invalid the given array length (expected 3, but got 2).');
    expect(codeOf(() => index.addPoint([1, 2], 0))).toBe('DIMENSION_MISMATCH');
    expect(codeOf(() => index.addPoint([1, NaN, 2], 0))).toBe('NON_FINITE_VALUE');
    expect(codeOf(() => index.addPoint([1, 2, 3], -1))).toBe('INVALID_ARGUMENT'); // hnswlib would wrap it to 2^32 − 1
    expect(codeOf(() => index.addPoint([1, 2, 3], 1.5))).toBe('INVALID_ARGUMENT');
    index.addPoint([1, 2, 3], 0);
    index.addPoint([1, 2, 4], 1);
    expect(() => index.addPoint([1, 2, 5], 2)).toThrow('Hnswlib Error: The number of elements exceeds the specified limit');
    expect(codeOf(() => index.addPoint([1, 2, 5], 2))).toBe('CAPACITY_EXCEEDED');
    index.addPoint([9, 9, 9], 1); // an existing label is updated, not added
    expect(index.getCurrentCount()).toBe(2);
    expect(index.getPoint(1)).toEqual([9, 9, 9]);
    expect(() => index.searchKnn([1, 2, 3], 3)).toThrow('Invalid the number of k-nearest neighbors (cannot be given a value greater than `maxElements`: 2).');
    expect(() => index.searchKnn([1, 2], 1)).toThrow('Invalid the given array length (expected 3, but got 2).');
    expect(index.searchKnn([1, 2, 3], 0)).toEqual({ distances: [], neighbors: [] });
    expect(() => new HierarchicalNSW('foo' as 'l2', 2)).toThrow('Wrong space name, expected "l2", "ip", or "cosine".');
    expect(() => new (HierarchicalNSW as unknown as new (s: string) => unknown)('l2')).toThrow('Expected 2 arguments, but got 1.');
    expect(() => index.resizeIndex(1)).toThrow('Hnswlib Error: Cannot resize, max element is less than the current number of elements');
    index.resizeIndex(3);
    index.addPoint([1, 2, 5], 2);
    expect(index.getMaxElements()).toBe(3);
  });

  it('markDelete / unmarkDelete / getIdsList / getPoint, as hnswlib-node reports them', () => {
    const ours = new HierarchicalNSW('l2', 2), real = new realHnswlib.HierarchicalNSW('l2', 2);
    const msgs = (f: () => unknown) => { try { f(); return 'ok'; } catch (e) { return (e as Error).message; } };
    for (const x of [ours, real]) { x.initIndex(5); x.addPoint([0, 0], 0); x.addPoint([1, 0], 1); x.addPoint([2, 0], 2); }
    for (const x of [ours, real]) x.markDelete(1);
    expect(ours.searchKnn([1, 0], 3)).toEqual(real.searchKnn([1, 0], 3));
    expect(ours.getCurrentCount()).toBe(real.getCurrentCount()); // marked-deleted points still count
    expect([...ours.getIdsList()].sort()).toEqual([...real.getIdsList()].sort());
    for (const [f, g] of [
      [() => ours.markDelete(1), () => real.markDelete(1)],
      [() => ours.markDelete(9), () => real.markDelete(9)],
      [() => ours.unmarkDelete(9), () => real.unmarkDelete(9)],
      [() => ours.getPoint(1), () => real.getPoint(1)],
      [() => ours.getPoint(9), () => real.getPoint(9)],
    ] as const) expect(msgs(f).startsWith(msgs(g))).toBe(true);
    expect(codeOf(() => ours.getPoint(9))).toBe('NOT_FOUND');
    for (const x of [ours, real]) x.unmarkDelete(1);
    expect(msgs(() => ours.unmarkDelete(1)).startsWith(msgs(() => real.unmarkDelete(1)))).toBe(true);
    expect(ours.searchKnn([1, 0], 1)).toEqual({ distances: [0], neighbors: [1] });
    // adding under a marked-deleted label unmarks it with the new point
    ours.markDelete(2);
    ours.addPoint([5, 0], 2);
    expect(ours.getPoint(2)).toEqual([5, 0]);
    expect(ours.getCurrentCount()).toBe(3);
  });

  it('allowReplaceDeleted: a new label takes a marked-deleted place; without it, replacement is refused', () => {
    const ours = new HierarchicalNSW('ip', 2), real = new realHnswlib.HierarchicalNSW('ip', 2);
    for (const x of [ours, real]) {
      x.initIndex({ maxElements: 2, allowReplaceDeleted: true });
      x.addPoint([1, 0], 0); x.addPoint([0, 1], 1); x.markDelete(0);
      x.addPoint([2, 2], 7, true);
    }
    expect([...ours.getIdsList()].sort()).toEqual([...real.getIdsList()].sort());
    expect(ours.getCurrentCount()).toBe(2);
    expect(ours.searchKnn([1, 1], 2)).toEqual(real.searchKnn([1, 1], 2)); // { distances: [-3, 0], neighbors: [7, 1] }
    const strict = new HierarchicalNSW('l2', 2);
    strict.initIndex(3);
    strict.addPoint([1, 0], 0);
    strict.markDelete(0);
    expect(() => strict.addPoint([2, 2], 7, true)).toThrow('Hnswlib Error: Replacement of deleted elements is disabled in constructor');
  });

  it('searchKnn with a filter on labels', () => {
    const index = new HierarchicalNSW('l2', 1);
    index.initIndex(100);
    for (let i = 0; i < 100; i++) index.addPoint([i], i);
    const r = index.searchKnn([50], 5, (label) => label % 2 === 1);
    expect(new Set(r.neighbors)).toEqual(new Set([49, 51, 47, 53, 45]));
    expect(r.distances).toEqual([1, 1, 9, 9, 25]);
    expect(r.neighbors.every((l) => l % 2 === 1)).toBe(true);
    expect(r.neighbors.length).toBe(5);
    const bf = new BruteforceSearch('l2', 1);
    bf.initIndex(100);
    for (let i = 0; i < 100; i++) bf.addPoint([i], i);
    expect(bf.searchKnn([50], 3, (l) => l >= 90)).toEqual({ distances: [1600, 1681, 1764], neighbors: [90, 91, 92] });
    expect(bf.searchKnn([50], 3, () => false)).toEqual({ distances: [], neighbors: [] });
  });

  it('BruteforceSearch: update in place, removePoint (absent ones ignored), capacity', () => {
    const bf = new BruteforceSearch('l2', 2);
    expect(() => bf.searchKnn([1, 2], 1)).toThrow('Search index has not been initialized');
    bf.initIndex(2);
    bf.addPoint([1, 2], 3);
    bf.addPoint([2, 2], 3);
    expect(bf.getCurrentCount()).toBe(1);
    expect(bf.searchKnn([1, 2], 1)).toEqual({ distances: [1], neighbors: [3] });
    bf.addPoint([1, 2], 4);
    expect(() => bf.addPoint([1, 2], 5)).toThrow('Hnswlib Error: The number of elements exceeds the specified limit');
    expect(() => bf.searchKnn([1, 2], 3)).toThrow('cannot be given a value greater than `maxElements`: 2');
    bf.removePoint(9);
    bf.removePoint(3);
    expect(bf.getCurrentCount()).toBe(1);
    expect(bf.searchKnn([1, 2], 1)).toEqual({ distances: [0], neighbors: [4] });
  });

  it('writeIndex / readIndex and the Sync forms round-trip in nearest\'s format', async () => {
    const dir = await tempDir();
    const dim = 8;
    const data = rowsOf(clusteredRows(300, dim, 6, 11), dim);
    const index = new HierarchicalNSW('cosine', dim);
    index.initIndex(400);
    data.forEach((p, i) => index.addPoint(p, i));
    index.markDelete(5);
    const q = data[7]!;
    expect(await index.writeIndex(join(dir, 'h.index'))).toBe(true);
    index.writeIndexSync(join(dir, 'h-sync.index'));
    for (const file of ['h.index', 'h-sync.index']) {
      const a = new HierarchicalNSW('cosine', dim);
      if (file === 'h.index') expect(await a.readIndex(join(dir, file))).toBe(true); else a.readIndexSync(join(dir, file));
      // As in hnswlib: the capacity and the marked-deleted point come back (it still counts).
      expect(a.getCurrentCount()).toBe(300);
      expect(a.getMaxElements()).toBe(400);
      expect(a.getEf()).toBe(10);
      expect(a.searchKnn(q, 10)).toEqual(index.searchKnn(q, 10));
      expect(() => a.getPoint(5)).toThrow('Label not found');
      expect(a.getIdsList().sort((x, y) => x - y)).toEqual(index.getIdsList().sort((x, y) => x - y));
      // A new label at the count (what LangChain's HNSWLib hands out) cannot hit a held one.
      a.addPoint(data[0]!, a.getCurrentCount());
      expect(a.getCurrentCount()).toBe(301);
      a.unmarkDelete(5);
      expect(a.searchKnn(data[5]!, 1).neighbors).toEqual([5]);
      expect(() => a.markDelete(5)).not.toThrow();
      expect((await inspectPath(join(dir, file))).kind).toBe('index-file');
    }
    // A file of an earlier version (a bare index file): no marked points, capacity = its size.
    const bare = new HnswIndex({ dim, metric: 'cosine' });
    bare.add(new Float32Array(data.slice(0, 20).flat()));
    await saveIndex(bare, join(dir, 'bare.index'));
    const old = new HierarchicalNSW('cosine', dim);
    await old.readIndex(join(dir, 'bare.index'));
    expect([old.getCurrentCount(), old.getMaxElements()]).toEqual([20, 20]);
    // Damaged application data: CORRUPT_FILE, nothing adopted.
    const bytes = new Uint8Array(await readFile(join(dir, 'h.index')));
    const app = readIndexAppData(bytes)!;
    const broken = indexToBuffer(indexFromBuffer(bytes), { appData: app.subarray(0, app.length - 4) });
    await writeFile(join(dir, 'broken.index'), broken);
    const victim = new HierarchicalNSW('cosine', dim);
    victim.initIndex(5);
    expect(codeOf(() => victim.readIndexSync(join(dir, 'broken.index')))).toBe('CORRUPT_FILE');
    expect(victim.getMaxElements()).toBe(5);
    bytes[bytes.length - 9] ^= 0xff; // inside the last section (APPD): its checksum fails
    await writeFile(join(dir, 'flipped.index'), bytes);
    await expect(victim.readIndex(join(dir, 'flipped.index'))).rejects.toMatchObject({ code: 'CORRUPT_FILE' });
    const wrongSpace = new HierarchicalNSW('l2', dim);
    await expect(wrongSpace.readIndex(join(dir, 'h.index'))).rejects.toThrow(/metric 'cosine'/);
    const wrongDim = new HierarchicalNSW('cosine', dim + 1);
    expect(codeOf(() => wrongDim.readIndexSync(join(dir, 'h.index')))).toBe('DIMENSION_MISMATCH');
    await expect(new HierarchicalNSW('l2', 2).readIndex(join(dir, 'missing.index'))).rejects.toThrow(`Hnswlib Error: failed to open file: ${join(dir, 'missing.index')}`);
    expect(() => new HierarchicalNSW('l2', 2).readIndexSync(join(dir, 'missing.index'))).toThrow('Hnswlib Error: failed to open file');
    const bf = new BruteforceSearch('l2', 2);
    bf.initIndex(3);
    bf.addPoint([1, 2], 3);
    bf.writeIndexSync(join(dir, 'bf.index'));
    await bf.writeIndex(join(dir, 'bf2.index'));
    const b2 = new BruteforceSearch('l2', 2);
    b2.readIndexSync(join(dir, 'bf.index'));
    expect([b2.getCurrentCount(), b2.getMaxElements()]).toEqual([1, 3]);
    await b2.readIndex(join(dir, 'bf2.index'));
    expect(b2.searchKnn([1, 2], 1)).toEqual({ distances: [0], neighbors: [3] });
    expect(codeOf(() => new HierarchicalNSW('l2', 2).readIndexSync(join(dir, 'bf.index')))).toBe('INVALID_ARGUMENT');
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });
});

describe('nearest/hnswlib-node: differential against the real hnswlib-node', () => {
  const dim = 32, n = 4000, nq = 100, k = 10;
  const corpus = rowsOf(clusteredRows(n, dim, 24, 5), dim);
  const queries = rowsOf(clusteredRows(nq, dim, 24, 6), dim);

  for (const space of ['l2', 'ip', 'cosine'] as const) {
    it(`BruteforceSearch '${space}': the same neighbours and distances (within 1e-5) as hnswlib-node's`, () => {
      const ours = new BruteforceSearch(space, dim), real = new realHnswlib.BruteforceSearch(space, dim);
      ours.initIndex(n); real.initIndex(n);
      corpus.forEach((p, i) => { ours.addPoint(p, i); real.addPoint(p, i); });
      let worst = 0, differing = 0;
      for (const q of queries) {
        const a = ours.searchKnn(q, k), b = real.searchKnn(q, k);
        // hnswlib's result order among equal distances is its heap's; compare as sets where distances tie
        if (a.neighbors.join() !== b.neighbors.join()) differing++;
        a.distances.forEach((d, i) => { worst = Math.max(worst, Math.abs(d - b.distances[i]!) / Math.max(1, Math.abs(b.distances[i]!))); });
        expect(new Set(a.neighbors)).toEqual(new Set(b.neighbors));
      }
      expect(worst).toBeLessThanOrEqual(1e-5);
      expect(differing).toBe(0);
      console.log(`BruteforceSearch ${space}: ${nq} queries, top-${k} identical, worst relative distance difference ${worst.toExponential(2)}`);
    });
  }

  it('HierarchicalNSW: recall@10 ≥ 0.98 against exact search, beside the real hnswlib-node\'s', () => {
    for (const space of ['l2', 'cosine'] as const) {
      const exact = new BruteforceSearch(space, dim);
      exact.initIndex(n);
      const ours = new HierarchicalNSW(space, dim), real = new realHnswlib.HierarchicalNSW(space, dim);
      ours.initIndex(n, 16, 200, 100); real.initIndex(n, 16, 200, 100);
      ours.setEf(64); real.setEf(64);
      corpus.forEach((p, i) => { exact.addPoint(p, i); ours.addPoint(p, i); real.addPoint(p, i); });
      let hitOurs = 0, hitReal = 0;
      for (const q of queries) {
        const truth = new Set(exact.searchKnn(q, k).neighbors);
        hitOurs += ours.searchKnn(q, k).neighbors.filter((l) => truth.has(l)).length;
        hitReal += real.searchKnn(q, k).neighbors.filter((l) => truth.has(l)).length;
      }
      const rOurs = hitOurs / (nq * k), rReal = hitReal / (nq * k);
      console.log(`HierarchicalNSW ${space} (n ${n}, dim ${dim}, m 16, efConstruction 200, ef 64): recall@10 nearest ${rOurs.toFixed(3)}, hnswlib-node ${rReal.toFixed(3)}`);
      expect(rOurs).toBeGreaterThanOrEqual(0.98);
    }
  });
});

describe('nearest/faiss-node: faiss-node documented behaviour', () => {
  it('the README example, line by line', async () => {
    const dir = await tempDir();
    const dimension = 2;
    const index = new IndexFlatL2(dimension);
    expect(index.getDimension()).toBe(2);
    expect(index.isTrained()).toBe(true);
    expect(index.ntotal()).toBe(0);
    index.add([1, 0]);
    index.add([1, 2]);
    index.add([1, 3]);
    index.add([1, 1]);
    expect(index.ntotal()).toBe(4);
    const k = 4;
    const results = index.search([1, 0], k);
    expect(results.labels).toEqual([0, 3, 1, 2]);
    expect(results.distances).toEqual([0, 1, 4, 9]);
    const fname = join(dir, 'faiss.index');
    index.write(fname);
    const index_loaded = IndexFlatL2.read(fname);
    expect(index_loaded.getDimension()).toBe(2);
    expect(index_loaded.ntotal()).toBe(4);
    const results1 = index_loaded.search([1, 1], 4);
    expect(results1.labels).toEqual([3, 0, 1, 2]);
    expect(results1.distances).toEqual([0, 1, 1, 4]);
    const newIndex = new IndexFlatL2(dimension);
    newIndex.mergeFrom(index);
    expect(newIndex.ntotal()).toBe(4);
    expect(newIndex.search([1, 2], 1)).toEqual({ distances: [0], labels: [1] });
    const removedCount = newIndex.removeIds([0]);
    expect(removedCount).toBe(1);
    expect(newIndex.ntotal()).toBe(3);
    expect(newIndex.search([1, 2], 1)).toEqual({ distances: [0], labels: [0] });
    const ipIndex = new IndexFlatIP(2);
    ipIndex.add([1, 0]);
    const index_buf = newIndex.toBuffer();
    expect(Buffer.isBuffer(index_buf)).toBe(true);
    const deserializedIndex = Index.fromBuffer(index_buf);
    expect(deserializedIndex.ntotal()).toBe(3);
    const hnswIndex = Index.fromFactory(2, 'HNSW,Flat', MetricType.METRIC_INNER_PRODUCT);
    const x = [1, 0, 0, 1];
    hnswIndex.train(x);
    hnswIndex.add(x);
    expect(hnswIndex.ntotal()).toBe(2);
    expect(faiss.IndexFlatL2).toBe(IndexFlatL2); // the default export is the module object
  });

  it('Index.fromFactory: Flat, Flat with IP, HNSW training; toBuffer / fromBuffer', () => {
    const flat = Index.fromFactory(2, 'Flat');
    flat.add([1, 0, 0, 1]);
    expect(flat.ntotal()).toBe(2);
    expect(flat.search([1, 0], 2)).toEqual({ distances: [0, 2], labels: [0, 1] });
    const ip = Index.fromFactory(2, 'Flat', MetricType.METRIC_INNER_PRODUCT);
    ip.add([1, 0, 0, 1, 2, 2]);
    expect(ip.search([1, 0], 3)).toEqual({ distances: [2, 1, 0], labels: [2, 0, 1] }); // raw inner products, largest first
    const hnsw = Index.fromFactory(2, 'HNSW,Flat');
    hnsw.train([1, 0, 0, 1]);
    hnsw.add([1, 0, 0, 1]);
    expect(hnsw.ntotal()).toBe(2);
    const back = Index.fromBuffer(flat.toBuffer());
    expect(back.ntotal()).toBe(flat.ntotal());
    expect(back.search([0, 1], 1)).toEqual({ distances: [0], labels: [1] });
    const ivf = Index.fromFactory(4, 'IVF2,Flat');
    expect(ivf.isTrained()).toBe(false);
    const g = gaussian(3);
    const train = Array.from({ length: 4 * 64 }, () => g());
    expect(codeOf(() => ivf.add(train))).toBe('NOT_TRAINED');
    ivf.train(train);
    expect(ivf.isTrained()).toBe(true);
    ivf.add(train);
    expect(ivf.ntotal()).toBe(64);
    expect(ivf.search(train.slice(8, 12), 1).labels).toEqual([2]);
    expect(() => Index.fromFactory(2, 'Bogus')).toThrow(/bad token 'Bogus'/);
    expect(codeOf(() => Index.fromFactory(2, 'Flat', MetricType.METRIC_L1))).toBe('UNSUPPORTED');
    expect(() => (Index.fromFactory as unknown as (d: number) => Index)(2)).toThrow('Expected 2 or 3 arguments, but got 1.');
  });

  describe('IndexFlatL2 (faiss-node\'s unit tests, written anew)', () => {
    it('read: a missing file', () => {
      expect(() => IndexFlatL2.read('not_existed_file')).toThrow(/^Error.*could not open not_existed_file for reading: No such file or directory$/);
    });
    it('ntotal, getDimension, isTrained', () => {
      const index = new IndexFlatL2(1);
      expect(index.ntotal()).toBe(0);
      index.add([1]);
      expect(index.ntotal()).toBe(1);
      index.add([1, 2, 3]);
      expect(index.ntotal()).toBe(4);
      expect(new IndexFlatL2(128).getDimension()).toBe(128);
      expect(index.isTrained()).toBe(true);
    });
    it('add: argument checks', () => {
      const index = new IndexFlatL2(2) as unknown as { add: (...a: unknown[]) => void };
      expect(() => index.add()).toThrow('Expected 1 argument, but got 0.');
      expect(() => index.add([], 1)).toThrow('Expected 1 argument, but got 2.');
      expect(() => index.add('[1, 2, 3]')).toThrow('Invalid the first argument type, must be an Array.');
      expect(() => index.add([1, '2'])).toThrow('Expected a Number as array item. (at: 1)');
      expect(() => index.add([1, 2, 3])).toThrow('Invalid the given array length.');
      expect(() => index.add([1, 2, 3, 4, 5])).toThrow('Invalid the given array length.');
      expect(() => index.add([1])).toThrow('Invalid the given array length.');
    });
    it('search: argument checks and results', () => {
      const index = new IndexFlatL2(2);
      index.add([1, 0]); index.add([1, 2]); index.add([1, 3]); index.add([1, 1]);
      const s = index as unknown as { search: (...a: unknown[]) => unknown };
      expect(() => s.search()).toThrow('Expected 2 arguments, but got 0.');
      expect(() => s.search([], 1, 2)).toThrow('Expected 2 arguments, but got 3.');
      expect(() => s.search('[1, 2, 3]', 2)).toThrow('Invalid the first argument type, must be an Array.');
      expect(() => s.search([1, 2, 3], '2')).toThrow('Invalid the second argument type, must be a Number.');
      expect(() => s.search([1, 2], 6)).toThrow('Invalid the number of k (cannot be given a value greater than `ntotal`: 4).');
      expect(() => s.search([1, '2'], 2)).toThrow('Expected a Number as array item. (at: 1)');
      expect(() => s.search([1, 2, 3], 2)).toThrow('Invalid the given array length.');
      expect(() => s.search([1], 2)).toThrow('Invalid the given array length.');
      expect(index.search([1, 0], 1)).toEqual({ distances: [0], labels: [0] });
      expect(index.search([1, 0], 4)).toEqual({ distances: [0, 1, 4, 9], labels: [0, 3, 1, 2] });
      expect(index.search([1, 1], 4)).toEqual({ distances: [0, 1, 1, 4], labels: [3, 0, 1, 2] });
      // several queries at once: nq·k values, row-major
      expect(index.search([1, 0, 1, 3], 2)).toEqual({ distances: [0, 1, 0, 1], labels: [0, 3, 2, 1] });
    });
    it('mergeFrom: checks, results, and the merged index emptied (FAISS merge_from)', () => {
      const index1 = new IndexFlatL2(2);
      index1.add([1, 0]); index1.add([1, 2]); index1.add([1, 3]); index1.add([1, 1]);
      const index2 = new IndexFlatL2(2);
      const m = index2 as unknown as { mergeFrom: (...a: unknown[]) => void };
      expect(() => m.mergeFrom()).toThrow('Expected 1 argument, but got 0.');
      expect(() => m.mergeFrom(index1, 2)).toThrow('Expected 1 argument, but got 2.');
      expect(() => m.mergeFrom(1)).toThrow('Invalid argument type, must be an object.');
      expect(() => m.mergeFrom('string')).toThrow('Invalid argument type, must be an object.');
      expect(() => m.mergeFrom({})).toThrow('Invalid argument');
      expect(() => m.mergeFrom({ foo: 'bar' })).toThrow('Invalid argument');
      expect(() => index2.mergeFrom(new IndexFlatL2(3))).toThrow('The merging index must have the same dimension.');
      expect(codeOf(() => index2.mergeFrom(new IndexFlatIP(2)))).toBe('INVALID_ARGUMENT');
      index2.mergeFrom(index1);
      expect(index2.search([1, 0], 4)).toEqual({ distances: [0, 1, 4, 9], labels: [0, 3, 1, 2] });
      expect(index2.search([1, 1], 4)).toEqual({ distances: [0, 1, 1, 4], labels: [3, 0, 1, 2] });
      expect(index1.ntotal()).toBe(0);
    });
    it('removeIds: checks, counts, and labels shifting down', () => {
      const make = () => { const i = new IndexFlatL2(2); i.add([1, 0]); i.add([1, 1]); i.add([1, 2]); i.add([1, 3]); return i; };
      const r = make() as unknown as { removeIds: (...a: unknown[]) => number };
      expect(() => r.removeIds()).toThrow('Expected 1 argument, but got 0.');
      expect(() => r.removeIds([], 1)).toThrow('Expected 1 argument, but got 2.');
      expect(() => r.removeIds('[1, 2, 3]')).toThrow('Invalid the first argument type, must be an Array.');
      expect(() => r.removeIds([1, '2'])).toThrow('Expected a Number as array item. (at: 1)');
      const counts = make();
      expect(counts.removeIds([])).toBe(0);
      expect(counts.removeIds([0])).toBe(1);
      expect(counts.removeIds([0, 1])).toBe(2);
      expect(counts.removeIds([2])).toBe(0);
      expect(counts.removeIds([0, 1, 2])).toBe(1);
      let index = make();
      expect(index.search([1, 1], 1)).toEqual({ distances: [0], labels: [1] });
      expect(index.removeIds([0])).toBe(1);
      expect(index.search([1, 1], 1)).toEqual({ distances: [0], labels: [0] });
      index = make();
      expect(index.removeIds([0, 1])).toBe(2);
      expect(index.search([1, 3], 1)).toEqual({ distances: [0], labels: [1] });
      index = make();
      expect(index.removeIds([0, 1, 2, 4, 5])).toBe(3);
      expect(index.search([1, 3], 1)).toEqual({ distances: [0], labels: [0] });
      // labels stay positional after a write / read
      index = make();
      index.removeIds([1]);
      const back = IndexFlatL2.fromBuffer(index.toBuffer());
      expect(back.search([1, 3], 3)).toEqual(index.search([1, 3], 3));
      expect(back.search([1, 3], 3).labels).toEqual([2, 1, 0]);
      back.add([5, 5]);
      expect(back.search([5, 5], 1)).toEqual({ distances: [0], labels: [3] });
    });
  });

  it('IndexFlatIP distances are inner products; a class reads only its own kind', async () => {
    const dir = await tempDir();
    const ip = new IndexFlatIP(2);
    ip.add([1, 0, 0, 2, 3, 3]);
    expect(ip.search([1, 1], 3)).toEqual({ distances: [6, 2, 1], labels: [2, 1, 0] });
    ip.write(join(dir, 'ip.index'));
    expect(IndexFlatIP.read(join(dir, 'ip.index')).search([1, 1], 1)).toEqual({ distances: [6], labels: [2] });
    expect(Index.read(join(dir, 'ip.index'))).toBeInstanceOf(Index);
    expect(() => IndexFlatL2.read(join(dir, 'ip.index'))).toThrow(/not an IndexFlatL2/);
    expect(codeOf(() => Index.fromBuffer(Buffer.from('not an index')))).toBe('CORRUPT_FILE');
  });
});

describe('the seed\'s FAISS example, ported line by line', () => {
  it('normalize_L2, IndexFlatIP, IndexHNSWFlat(d, 32), add, search', () => {
    const g = gaussian(42);
    const randn = (n: number) => Array.from({ length: n }, () => g());
    // d = 1536 and n_docs = 100_000 in the seed; smaller here so the test stays fast
    const d = 64;
    const n_docs = 5_000;
    const corpus = randn(n_docs * d);
    normalize_L2(corpus, d);
    const index_flat = new IndexFlatIP(d);
    index_flat.add(corpus);
    const index_hnsw = new IndexHNSWFlat(d, 32);
    index_hnsw.add(corpus);
    const query = randn(1 * d);
    normalize_L2(query, d);
    const k = 5;
    const { distances, labels: indices } = index_hnsw.search(query, k);

    expect(indices).toHaveLength(k);
    expect(index_flat.ntotal()).toBe(n_docs);
    expect(index_hnsw.ntotal()).toBe(n_docs);
    for (let i = 0; i < n_docs; i += 997) expect(Math.hypot(...corpus.slice(i * d, (i + 1) * d))).toBeCloseTo(1, 6);
    // IndexHNSWFlat is L2 (FAISS's default): on unit vectors squared L2 = 2 − 2·cosine
    const exact = index_flat.search(query, k);
    expect(indices).toEqual(exact.labels);
    distances.forEach((dist, i) => expect(dist).toBeCloseTo(2 - 2 * exact.distances[i]!, 5));
    const hnswIp = new IndexHNSWFlat(d, 32, MetricType.METRIC_INNER_PRODUCT);
    hnswIp.add(corpus);
    const viaIp = hnswIp.search(query, k);
    expect(viaIp.labels).toEqual(exact.labels);
    viaIp.distances.forEach((s, i) => expect(s).toBeCloseTo(exact.distances[i]!, 5));
  });
});

/** LangChain's HNSWLib / FaissStore load their native module through a static method; point it at ours. */
const realHnswImports = HNSWLib.imports;
const realFaissImports = FaissStore.importFaiss;
afterEach(() => { HNSWLib.imports = realHnswImports; FaissStore.importFaiss = realFaissImports; });
async function useDropins(): Promise<void> {
  const h = await import('nearest/hnswlib-node');
  const f = await import('nearest/faiss-node');
  HNSWLib.imports = async () => ({ HierarchicalNSW: h.HierarchicalNSW as never });
  FaissStore.importFaiss = async () => ({ IndexFlatL2: f.IndexFlatL2 as never });
}

const texts = ['hello world', 'bye bye', 'hello nice world', 'a cat on a mat', 'the dog barks', 'vector search engines'];
const metas = texts.map((_, i) => ({ id: i, even: i % 2 === 0 }));
const embeddings = () => new SyntheticEmbeddings({ vectorSize: 16 });

describe('LangChain community HNSWLib on nearest/hnswlib-node', () => {
  it('fromTexts, similaritySearch(WithScore) with a filter, addDocuments, save / load, delete — as on the real hnswlib-node', async () => {
    const dir = await tempDir();
    const flows = async () => {
      const store = await HNSWLib.fromTexts(texts, metas, embeddings());
      const top = await store.similaritySearchWithScore('hello world', 3);
      const filtered = await store.similaritySearch('hello world', 2, (doc: Document) => doc.metadata.even === true);
      await store.addDocuments([new Document({ pageContent: 'hello brave new world', metadata: { id: 99 } })]);
      const more = await store.similaritySearch('hello brave new world', 1);
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
      const all = await store.similaritySearch('hello', 100); // k > count: HNSWLib lowers k, with a warning
      warn.mockRestore();
      return { store, top, filtered, more, all };
    };
    const real = await flows();
    await useDropins();
    const ours = await flows();
    expect(ours.top.map(([d]) => d.pageContent)).toEqual(real.top.map(([d]) => d.pageContent));
    ours.top.forEach(([, s], i) => expect(s).toBeCloseTo(real.top[i]![1], 5)); // cosine distance, lower is better
    expect(ours.top[0]![0].pageContent).toBe('hello world');
    expect(ours.top[0]![1]).toBeCloseTo(0, 6);
    expect(ours.filtered.map((d) => d.pageContent)).toEqual(real.filtered.map((d) => d.pageContent));
    expect(ours.filtered.every((d) => d.metadata.even === true)).toBe(true);
    expect(ours.more[0]!.metadata).toEqual({ id: 99 });
    expect(ours.all).toHaveLength(texts.length + 1);
    expect(ours.store.index).toBeInstanceOf(HierarchicalNSW);

    await ours.store.save(dir);
    expect((await readdir(dir)).sort()).toEqual(['args.json', 'docstore.json', 'hnswlib.index']);
    expect((await inspectPath(join(dir, 'hnswlib.index'))).kind).toBe('index-file');
    const loaded = await HNSWLib.load(dir, embeddings());
    expect(loaded.index).toBeInstanceOf(HierarchicalNSW);
    const again = await loaded.similaritySearchWithScore('hello world', 3);
    expect(again.map(([d]) => d.pageContent)).toEqual(ours.top.map(([d]) => d.pageContent));
    await loaded.addDocuments([new Document({ pageContent: 'after load', metadata: {} })]); // resizes the index
    expect((await loaded.similaritySearch('after load', 1))[0]!.pageContent).toBe('after load');
    expect(loaded.index.getCurrentCount()).toBe(texts.length + 2);

    await loaded.delete({ directory: dir });
    expect(await readdir(dir)).toEqual([]);
  });

  it('fromDocuments into an l2 space built by hand, then similaritySearchVectorWithScore', async () => {
    await useDropins();
    const store = new HNSWLib(embeddings(), { space: 'l2', numDimensions: 16 });
    await store.addDocuments(texts.map((t, i) => new Document({ pageContent: t, metadata: metas[i]! })));
    const q = await embeddings().embedQuery('the dog barks');
    const [[doc, score]] = await store.similaritySearchVectorWithScore(q, 1);
    expect(doc!.pageContent).toBe('the dog barks');
    expect(score).toBeCloseTo(0, 5);
  });
});

describe('LangChain community FaissStore on nearest/faiss-node', () => {
  it('fromTexts, similaritySearchWithScore, addDocuments with ids, delete, save / load, mergeFrom, fromIndex', async () => {
    await useDropins();
    const dir = await tempDir();
    const store = await FaissStore.fromTexts(texts, metas, embeddings());
    expect(store.index).toBeInstanceOf(IndexFlatL2);
    const top = await store.similaritySearchWithScore('hello world', 3);
    expect(top[0]![0].pageContent).toBe('hello world');
    expect(top[0]![1]).toBeCloseTo(0, 6); // squared L2, lower is better
    expect(top[1]![1]).toBeGreaterThanOrEqual(top[0]![1]);

    const ids = await store.addDocuments([new Document({ pageContent: 'extra one', metadata: { x: 1 } }), new Document({ pageContent: 'extra two', metadata: { x: 2 } })], { ids: ['e1', 'e2'] });
    expect(ids).toEqual(['e1', 'e2']);
    expect(store.index.ntotal()).toBe(texts.length + 2);

    // delete re-maps labels on the assumption that removeIds shifts them down: searches must still name the right documents
    const firstId = store.getMapping()[0]!;
    await store.delete({ ids: [firstId, 'e1'] });
    expect(store.index.ntotal()).toBe(texts.length);
    for (const t of [...texts.slice(1), 'extra two']) expect((await store.similaritySearch(t, 1))[0]!.pageContent).toBe(t);
    expect((await store.similaritySearch('hello world', 10)).map((d) => d.pageContent)).not.toContain('hello world');
    await expect(store.delete({ ids: ['nope'] })).rejects.toThrow('DocumentIds not found: nope');

    await store.save(dir);
    expect((await readdir(dir)).sort()).toEqual(['docstore.json', 'faiss.index']);
    const loaded = await FaissStore.load(dir, embeddings());
    expect(loaded.index).toBeInstanceOf(IndexFlatL2);
    expect(loaded.index.ntotal()).toBe(texts.length);
    for (const t of texts.slice(1)) expect((await loaded.similaritySearch(t, 1))[0]!.pageContent).toBe(t);

    const other = await FaissStore.fromTexts(['merged in'], [{ m: true }], embeddings());
    await loaded.mergeFrom(other);
    expect(loaded.index.ntotal()).toBe(texts.length + 1);
    expect((await loaded.similaritySearch('merged in', 1))[0]!.metadata).toEqual({ m: true });
    const copy = await FaissStore.fromIndex(loaded, embeddings());
    expect(copy.index.ntotal()).toBe(texts.length + 1);
    expect((await copy.similaritySearch('the dog barks', 1))[0]!.pageContent).toBe('the dog barks');
  });
});

describe('a shim package in place of an npm alias', () => {
  it('node_modules/hnswlib-node and node_modules/faiss-node re-exporting nearest\'s modules serve LangChain\'s import form', async () => {
    const root = await tempDir();
    await mkdir(join(root, 'node_modules'), { recursive: true });
    await symlink(resolve('.'), join(root, 'node_modules', 'nearest'), 'dir');
    for (const name of ['hnswlib-node', 'faiss-node']) {
      const dir = join(root, 'node_modules', name);
      await mkdir(dir);
      await writeFile(join(dir, 'package.json'), JSON.stringify({ name, version: '0.0.0-nearest', type: 'module', exports: './index.js' }));
      await writeFile(join(dir, 'index.js'), `export * from 'nearest/${name}';\nexport { default } from 'nearest/${name}';\n`);
    }
    const script = join(root, 'check.mjs');
    await writeFile(script, [
      "const { default: { HierarchicalNSW } } = await import('hnswlib-node');",
      "const { default: { IndexFlatL2 } } = await import('faiss-node');",
      "const h = new HierarchicalNSW('l2', 2); h.initIndex(2); h.addPoint([0, 0], 0); h.addPoint([3, 4], 1);",
      "const f = new IndexFlatL2(2); f.add([0, 0, 3, 4]);",
      'console.log(JSON.stringify([h.searchKnn([3, 4], 2), f.search([0, 0], 2)]));',
    ].join('\n'));
    expect(existsSync(join(root, 'node_modules', 'nearest', 'dist', 'adapters', 'hnswlib-node.js'))).toBe(true);
    const { stdout } = await promisify(execFile)(process.execPath, [script], { cwd: root });
    expect(JSON.parse(stdout)).toEqual([{ distances: [0, 25], neighbors: [1, 0] }, { distances: [0, 25], labels: [0, 1] }]);
  });
});
