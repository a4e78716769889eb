// Tests of the IDX reader and the dataset loaders (Fashion-MNIST when installed, synthetic always).

import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { readIdx, readIdxFile } from '../src/io/idx-ubyte.ts';
import { FASHION_MNIST_DIR, clusteredDataset, loadFashionMnist, rng } from '../src/io/datasets.ts';

/** Builds an IDX ubyte file: magic, big-endian u32 dims, then `data`. */
function idx(dims: number[], data: ArrayLike<number>, type = 0x08): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.length);
  out[2] = type;
  out[3] = dims.length;
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(Array.from(data), 4 + 4 * dims.length);
  return out;
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    expect(error).not.toBeInstanceOf(RangeError);
    return (error as { code?: string }).code;
  }
  return undefined;
}

describe('readIdx', () => {
  const dims = [2, 3, 4];
  const data = Array.from({ length: 24 }, (_, i) => (i * 37) & 0xff);

  it('round-trips a hand-made 3-d ubyte tensor', () => {
    const parsed = readIdx(idx(dims, data));
    expect(parsed.dims).toEqual(dims);
    expect(Array.from(parsed.data)).toEqual(data);
  });

  it('reads the big-endian dims (0x00 0x00 0xEA 0x60 is 60000)', () => {
    const bytes = Uint8Array.from([0, 0, 8, 1, 0x00, 0x00, 0x00, 0x03, 7, 8, 9]);
    expect(readIdx(bytes)).toEqual({ dims: [3], data: Uint8Array.from([7, 8, 9]) });
    const big = idx([60000], new Uint8Array(60000));
    expect(Array.from(big.subarray(4, 8))).toEqual([0x00, 0x00, 0xea, 0x60]);
    expect(readIdx(big).dims).toEqual([60000]);
  });

  it('handles an input that is a view into a larger buffer', () => {
    const inner = idx(dims, data);
    const outer = new Uint8Array(inner.length + 10);
    outer.set(inner, 5);
    const parsed = readIdx(outer.subarray(5, 5 + inner.length));
    expect(Array.from(parsed.data)).toEqual(data);
  });

  it('detects and inflates gzip input', () => {
    const gz = new Uint8Array(gzipSync(idx(dims, data)));
    expect(gz[0]).toBe(0x1f);
    expect(gz[1]).toBe(0x8b);
    const parsed = readIdx(gz);
    expect(parsed.dims).toEqual(dims);
    expect(Array.from(parsed.data)).toEqual(data);
  });

  it('accepts zero-sized dims', () => {
    expect(readIdx(idx([0, 28, 28], []))).toEqual({ dims: [0, 28, 28], data: new Uint8Array(0) });
  });

  it('rejects truncated inputs at every length with CORRUPT_FILE', () => {
    const full = idx(dims, data);
    for (let len = 0; len < full.length; len++) {
      expect(codeOf(() => readIdx(full.subarray(0, len))), `length ${len}`).toBe('CORRUPT_FILE');
    }
  });

  it('rejects trailing bytes with CORRUPT_FILE', () => {
    const full = idx(dims, [...data, 1]);
    expect(codeOf(() => readIdx(full))).toBe('CORRUPT_FILE');
  });

  it('rejects a wrong magic with CORRUPT_FILE', () => {
    const bad = idx(dims, data);
    bad[0] = 0x42;
    expect(codeOf(() => readIdx(bad))).toBe('CORRUPT_FILE');
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(codeOf(() => readIdx(png))).toBe('CORRUPT_FILE');
  });

  it('rejects unknown element types and zero ndims with CORRUPT_FILE, other IDX types as UNSUPPORTED', () => {
    expect(codeOf(() => readIdx(idx(dims, data, 0x07)))).toBe('CORRUPT_FILE');
    expect(codeOf(() => readIdx(Uint8Array.from([0, 0, 8, 0])))).toBe('CORRUPT_FILE');
    expect(codeOf(() => readIdx(idx([6], new Uint8Array(24), 0x0d)))).toBe('UNSUPPORTED');
  });

  it('rejects oversized dims without allocating', () => {
    // 2^32-1 cubed: the header claims ~8e28 elements but carries none.
    const huge = idx([0xffffffff, 0xffffffff, 0xffffffff], []);
    let error: unknown;
    try {
      readIdx(huge);
    } catch (e) {
      error = e;
    }
    expect((error as { code?: string }).code).toBe('CORRUPT_FILE');
    expect((error as { details: Record<string, unknown> }).details.dims).toEqual([0xffffffff, 0xffffffff, 0xffffffff]);
    expect(codeOf(() => readIdx(idx([10, 10], new Uint8Array(100)), { maxElements: 99 }))).toBe('CORRUPT_FILE');
    expect(readIdx(idx([10, 10], new Uint8Array(100)), { maxElements: 100 }).dims).toEqual([10, 10]);
  });

  it('caps how far a gzip stream may inflate', () => {
    const bomb = new Uint8Array(gzipSync(idx([1 << 20], new Uint8Array(1 << 20))));
    expect(bomb.length).toBeLessThan(5000);
    expect(codeOf(() => readIdx(bomb, { maxElements: 1000 }))).toBe('CORRUPT_FILE');
    expect(readIdx(bomb).dims).toEqual([1 << 20]);
  });

  it('rejects broken gzip streams with CORRUPT_FILE', () => {
    const gz = new Uint8Array(gzipSync(idx(dims, data)));
    expect(codeOf(() => readIdx(gz.subarray(0, gz.length - 9)))).toBe('CORRUPT_FILE');
    const flipped = gz.slice();
    flipped[12] ^= 0xff;
    expect(codeOf(() => readIdx(flipped))).toBe('CORRUPT_FILE');
  });

  it('rejects unknown options', () => {
    expect(codeOf(() => readIdx(idx(dims, data), { maxElement: 5 } as never))).toBe('INVALID_ARGUMENT');
  });
});

describe('readIdxFile', () => {
  it('reads a gzipped file and names the path in errors', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nearest-idx-'));
    try {
      const good = join(dir, 'good-idx1-ubyte.gz');
      writeFileSync(good, gzipSync(idx([3], [1, 2, 3])));
      expect(readIdxFile(good)).toEqual({ dims: [3], data: Uint8Array.from([1, 2, 3]) });

      const bad = join(dir, 'bad-idx1-ubyte');
      writeFileSync(bad, idx([3], [1, 2]));
      let error: unknown;
      try {
        readIdxFile(bad);
      } catch (e) {
        error = e;
      }
      expect((error as { code?: string }).code).toBe('CORRUPT_FILE');
      expect((error as Error).message).toContain(bad);

      expect(codeOf(() => readIdxFile(join(dir, 'missing')))).toBe('NOT_FOUND');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('rng', () => {
  it('is deterministic per seed, in [0, 1), and differs between nearby seeds', () => {
    const a = rng(42);
    const b = rng(42);
    const c = rng(43);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(Array.from({ length: 1000 }, () => c())).not.toEqual(xs);
    for (const x of xs) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    expect(mean).toBeGreaterThan(0.45);
    expect(mean).toBeLessThan(0.55);
  });
});

describe('clusteredDataset', () => {
  const opts = { n: 500, nq: 20, dim: 33, clusters: 7, seed: 5 };

  it('is deterministic for a seed and different for another', () => {
    const a = clusteredDataset(opts);
    const b = clusteredDataset(opts);
    expect(b.train).toEqual(a.train);
    expect(b.test).toEqual(a.test);
    expect(b.trainLabels).toEqual(a.trainLabels);
    expect(b.name).toBe(a.name);
    const c = clusteredDataset({ ...opts, seed: 6 });
    expect(c.train).not.toEqual(a.train);
  });

  it('has the requested shapes, finite values and labels naming the clusters', () => {
    const ds = clusteredDataset(opts);
    expect(ds.dim).toBe(33);
    expect(ds.train.length).toBe(500 * 33);
    expect(ds.test.length).toBe(20 * 33);
    expect(ds.trainLabels?.length).toBe(500);
    expect(ds.testLabels?.length).toBe(20);
    expect(ds.labelNames).toEqual(Array.from({ length: 7 }, (_, i) => `cluster-${i}`));
    expect(ds.train.every(Number.isFinite)).toBe(true);
    expect(Math.max(...ds.trainLabels!)).toBeLessThan(7);
    expect(new Set(ds.trainLabels).size).toBeGreaterThan(1);
  });

  it('has cluster structure: nearest neighbours mostly share the label', () => {
    const ds = clusteredDataset({ n: 1000, nq: 50, dim: 64, clusters: 8, seed: 9 });
    const n = 1000;
    let same = 0;
    for (let q = 0; q < 50; q++) {
      let best = -1;
      let bestD = Infinity;
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let d = 0; d < 64; d++) {
          const t = ds.test[q * 64 + d] - ds.train[i * 64 + d];
          s += t * t;
        }
        if (s < bestD) {
          bestD = s;
          best = i;
        }
      }
      if (ds.trainLabels![best] === ds.testLabels![q]) same++;
    }
    expect(same).toBeGreaterThan(40);
  });

  it('lies close to a low-dimensional subspace', () => {
    // Rows from an intrinsicDim-dim latent space: the centred data has (nearly) rank intrinsicDim.
    // Check it cheaply: project out a Gram-Schmidt basis of intrinsicDim+5 rows and compare energy.
    const ds = clusteredDataset({ n: 400, nq: 0, dim: 50, intrinsicDim: 4, seed: 3 });
    const rows = Array.from({ length: 400 }, (_, i) => Array.from(ds.train.subarray(i * 50, (i + 1) * 50)));
    const basis: number[][] = [];
    for (const r of rows.slice(0, 12)) {
      const v = [...r];
      for (const b of basis) {
        const dot = v.reduce((s, x, j) => s + x * b[j], 0);
        for (let j = 0; j < 50; j++) v[j] -= dot * b[j];
      }
      const norm = Math.hypot(...v);
      if (norm > 1e-6) basis.push(v.map((x) => x / norm));
    }
    let total = 0;
    let residual = 0;
    for (const r of rows.slice(12)) {
      const v = [...r];
      total += v.reduce((s, x) => s + x * x, 0);
      for (const b of basis) {
        const dot = v.reduce((s, x, j) => s + x * b[j], 0);
        for (let j = 0; j < 50; j++) v[j] -= dot * b[j];
      }
      residual += v.reduce((s, x) => s + x * x, 0);
    }
    expect(residual / total).toBeLessThan(0.01);
  });

  it('rejects bad options with INVALID_ARGUMENT', () => {
    expect(codeOf(() => clusteredDataset({ n: -1, nq: 1, dim: 4 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => clusteredDataset({ n: 1, nq: 1, dim: 0 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => clusteredDataset({ n: 1, nq: 1, dim: 4, intrinsicDim: 5 }))).toBe('INVALID_ARGUMENT');
    expect(codeOf(() => clusteredDataset({ n: 1, nq: 1, dim: 4, colour: 'red' } as never))).toBe('INVALID_ARGUMENT');
  });
});

describe('loadFashionMnist', () => {
  const installed = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']
    .every((f) => existsSync(join(FASHION_MNIST_DIR, f)));

  it('returns null for a directory without the files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nearest-fmnist-'));
    try {
      expect(loadFashionMnist({ dir })).toBeNull();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads 60000x784 train and 10000x784 test when installed, else returns null', { timeout: 60_000 }, () => {
    const ds = loadFashionMnist();
    if (!installed) {
      expect(ds).toBeNull();
      return;
    }
    expect(ds).not.toBeNull();
    const d = ds!;
    expect(d.dim).toBe(784);
    expect(d.train.length).toBe(60000 * 784);
    expect(d.test.length).toBe(10000 * 784);
    expect(d.trainLabels?.length).toBe(60000);
    expect(d.testLabels?.length).toBe(10000);
    expect(d.labelNames).toEqual(['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']);
    let max = 0;
    let min = 255;
    for (let i = 0; i < 784 * 100; i++) {
      const v = d.train[i];
      expect(Number.isInteger(v)).toBe(true);
      if (v > max) max = v;
      if (v < min) min = v;
    }
    expect(min).toBe(0);
    expect(max).toBe(255);
    // Every class is present, 6000 per class in train (the dataset is balanced).
    const counts = new Array<number>(10).fill(0);
    for (const l of d.trainLabels!) counts[l]++;
    expect(counts).toEqual(new Array<number>(10).fill(6000));
  });
});
