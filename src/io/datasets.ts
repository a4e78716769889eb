// Datasets for tests and benchmarks: Fashion-MNIST read from its IDX files, and seeded synthetic
// clustered data with low intrinsic dimension (the structure real embeddings have), plus the small
// seeded PRNG both tests and benchmarks share.

import { accessSync, constants, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { delimiter, join } from 'node:path';
import { NearestError, invalidArgument } from '../errors.js';
import { readIdxFile } from './idx-ubyte.js';

/** An in-memory dataset: a corpus (`train`) and queries (`test`), rows row-major float32. */
export interface Dataset {
  /** Short identifier, stable for a given content (used as a cache key by the benchmarks). */
  name: string;
  /** Values per row. */
  dim: number;
  /** Corpus rows, `train.length / dim` of them. */
  train: Float32Array;
  /** Class of each corpus row, when the dataset has classes. */
  trainLabels?: Uint8Array;
  /** Query rows, `test.length / dim` of them. */
  test: Float32Array;
  /** Class of each query row, when the dataset has classes. */
  testLabels?: Uint8Array;
  /** Name of each class, indexed by label. */
  labelNames?: string[];
  /** Where the data came from (a directory, or the generator and its parameters). */
  source: string;
}

/** Debian's `dataset-fashion-mnist` package installs the four gzipped IDX files here. */
export const FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

/** The ten Fashion-MNIST classes, indexed by label. */
export const FASHION_MNIST_LABELS: readonly string[] = Object.freeze([
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
]);

const FASHION_FILES = {
  trainImages: 'train-images-idx3-ubyte.gz',
  trainLabels: 'train-labels-idx1-ubyte.gz',
  testImages: 't10k-images-idx3-ubyte.gz',
  testLabels: 't10k-labels-idx1-ubyte.gz',
} as const;

/** Options of {@link loadFashionMnist}. */
export interface LoadFashionMnistOptions {
  /** Directory holding the four `.gz` IDX files, default {@link FASHION_MNIST_DIR}. */
  dir?: string;
  /**
   * When the files are missing, install Debian's `dataset-fashion-mnist` with apt-get (only when
   * apt-get exists and the process runs as root; apt's output goes to stderr). Default false.
   */
  install?: boolean;
}

/**
 * Loads Fashion-MNIST: 60,000 corpus rows and 10,000 query rows of 784 pixel values (0..255 as
 * float32, unnormalised — the data of ann-benchmarks' fashion-mnist-784-euclidean), with labels.
 * Costs about 220 MB of float32 plus the inflated bytes while converting.
 *
 * @returns the dataset, or `null` when the files are absent (and could not be installed).
 * @throws NearestError `CORRUPT_FILE` when the files exist but are malformed or of unexpected shape.
 */
export function loadFashionMnist(options: LoadFashionMnistOptions = {}): Dataset | null {
  checkKeys('loadFashionMnist', options, ['dir', 'install']);
  const dir = options.dir ?? FASHION_MNIST_DIR;
  const install = options.install ?? false;
  if (typeof dir !== 'string' || dir.length === 0) throw invalidArgument('dir must be a non-empty string', { received: dir });
  if (typeof install !== 'boolean') throw invalidArgument('install must be a boolean', { received: install });

  const paths = {
    trainImages: join(dir, FASHION_FILES.trainImages),
    trainLabels: join(dir, FASHION_FILES.trainLabels),
    testImages: join(dir, FASHION_FILES.testImages),
    testLabels: join(dir, FASHION_FILES.testLabels),
  };
  const present = (): boolean => Object.values(paths).every((p) => existsSync(p));
  if (!present()) {
    if (!install || !aptInstall('dataset-fashion-mnist') || !present()) return null;
  }

  const train = readImages(paths.trainImages, 60000);
  const test = readImages(paths.testImages, 10000);
  const trainLabels = readLabels(paths.trainLabels, 60000);
  const testLabels = readLabels(paths.testLabels, 10000);
  return {
    name: 'fashion-mnist-784',
    dim: 784,
    train,
    trainLabels,
    test,
    testLabels,
    labelNames: [...FASHION_MNIST_LABELS],
    source: dir,
  };
}

function readImages(path: string, rows: number): Float32Array {
  const { dims, data } = readIdxFile(path);
  if (dims.length !== 3 || dims[0] !== rows || dims[1] !== 28 || dims[2] !== 28) {
    throw new NearestError('CORRUPT_FILE', `${path}: dims [${dims.join(', ')}], expected [${rows}, 28, 28]`, {
      path,
      expected: [rows, 28, 28],
      received: dims,
    });
  }
  // Element-wise conversion: 0..255 become the same float32 values.
  return new Float32Array(data);
}

function readLabels(path: string, rows: number): Uint8Array {
  const { dims, data } = readIdxFile(path);
  if (dims.length !== 1 || dims[0] !== rows) {
    throw new NearestError('CORRUPT_FILE', `${path}: dims [${dims.join(', ')}], expected [${rows}]`, {
      path,
      expected: [rows],
      received: dims,
    });
  }
  for (let i = 0; i < data.length; i++) {
    if (data[i] >= FASHION_MNIST_LABELS.length) {
      throw new NearestError('CORRUPT_FILE', `${path}: label ${data[i]} at row ${i}, expected 0..9`, {
        path,
        row: i,
        received: data[i],
      });
    }
  }
  return data.slice();
}

/** Installs a Debian package when we can (root, apt-get on PATH); apt's output goes to stderr. */
function aptInstall(pkg: string): boolean {
  if (process.platform !== 'linux' || process.getuid?.() !== 0 || findOnPath('apt-get') === null) return false;
  const run = (args: string[]): boolean =>
    spawnSync('apt-get', args, {
      stdio: ['ignore', process.stderr, process.stderr],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    }).status === 0;
  if (run(['install', '-y', pkg])) return true;
  // A fresh container often has no package lists yet.
  return run(['update']) && run(['install', '-y', pkg]);
}

function findOnPath(command: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir.length === 0) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** Options of {@link clusteredDataset}. */
export interface ClusteredDatasetOptions {
  /** Corpus rows. */
  n: number;
  /** Query rows, drawn from the same distribution (distinct points). */
  nq: number;
  /** Values per row. */
  dim: number;
  /** Gaussian clusters, default 10. Labels are the cluster index modulo 256. */
  clusters?: number;
  /** PRNG seed, default 1234. The same options always give the same bytes. */
  seed?: number;
  /** Dimension of the subspace the clusters live in, default min(dim, 10). */
  intrinsicDim?: number;
}

const CLUSTER_SPREAD = 3; // std-dev of the cluster centres, in units of a cluster's own std-dev
const NOISE = 0.05; // full-dimensional isotropic noise added after the map, relative to the signal

/**
 * Seeded synthetic data with realistic structure, in the spirit of FAISS's `get_dataset_2`:
 * points from `clusters` Gaussian clusters (uneven sizes and widths) in an `intrinsicDim`-dimensional
 * latent space, mapped to `dim` dimensions by a random linear map, plus small isotropic noise.
 * Nearest-neighbour structure is therefore low-dimensional (like embeddings) rather than uniform
 * noise, which is what makes recall tests of approximate indexes meaningful.
 *
 * Cost: O((n + nq) · intrinsicDim · dim) time, 4·(n + nq)·dim bytes.
 */
export function clusteredDataset(opts: ClusteredDatasetOptions): Dataset {
  if (typeof opts !== 'object' || opts === null) throw invalidArgument('clusteredDataset expects an options object', { received: opts });
  checkKeys('clusteredDataset', opts, ['n', 'nq', 'dim', 'clusters', 'seed', 'intrinsicDim']);
  const { n, nq, dim } = opts;
  const clusters = opts.clusters ?? 10;
  const seed = opts.seed ?? 1234;
  requireInt('n', n, 0);
  requireInt('nq', nq, 0);
  requireInt('dim', dim, 1);
  requireInt('clusters', clusters, 1);
  requireInt('seed', seed, Number.MIN_SAFE_INTEGER);
  const intrinsicDim = opts.intrinsicDim ?? Math.min(dim, 10);
  requireInt('intrinsicDim', intrinsicDim, 1);
  if (intrinsicDim > dim) {
    throw invalidArgument(`intrinsicDim ${intrinsicDim} exceeds dim ${dim}`, { expected: `1..${dim}`, received: intrinsicDim });
  }

  const rand = rng(seed);
  const normal = gaussian(rand);

  // Latent cluster centres, widths and (uneven) weights.
  const centres = new Float64Array(clusters * intrinsicDim);
  for (let i = 0; i < centres.length; i++) centres[i] = CLUSTER_SPREAD * normal();
  const widths = new Float64Array(clusters);
  const cumulative = new Float64Array(clusters);
  let total = 0;
  for (let c = 0; c < clusters; c++) {
    widths[c] = 0.5 + rand();
    total += 0.25 + rand();
    cumulative[c] = total;
  }

  // Random linear map latent -> dim; entries N(0, 1/intrinsicDim) keep coordinate scale ~ latent scale.
  const map = new Float64Array(intrinsicDim * dim);
  const mapScale = 1 / Math.sqrt(intrinsicDim);
  for (let i = 0; i < map.length; i++) map[i] = mapScale * normal();
  const noise = NOISE * Math.sqrt(CLUSTER_SPREAD * CLUSTER_SPREAD + 1);

  const latent = new Float64Array(intrinsicDim);
  const generate = (rows: number): { data: Float32Array; labels: Uint8Array } => {
    const data = new Float32Array(rows * dim);
    const labels = new Uint8Array(rows);
    for (let r = 0; r < rows; r++) {
      const u = rand() * total;
      let c = 0;
      while (c < clusters - 1 && cumulative[c] <= u) c++;
      labels[r] = c & 0xff;
      for (let j = 0; j < intrinsicDim; j++) latent[j] = centres[c * intrinsicDim + j] + widths[c] * normal();
      const base = r * dim;
      for (let d = 0; d < dim; d++) data[base + d] = noise * normal();
      for (let j = 0; j < intrinsicDim; j++) {
        const z = latent[j];
        const rowOfMap = j * dim;
        for (let d = 0; d < dim; d++) data[base + d] += z * map[rowOfMap + d];
      }
    }
    return { data, labels };
  };

  const train = generate(n);
  const test = generate(nq);
  return {
    name: `clustered-n${n}-q${nq}-d${dim}-c${clusters}-i${intrinsicDim}-s${seed}`,
    dim,
    train: train.data,
    trainLabels: train.labels,
    test: test.data,
    testLabels: test.labels,
    labelNames: Array.from({ length: clusters }, (_, i) => `cluster-${i}`),
    source: `clusteredDataset(n=${n}, nq=${nq}, dim=${dim}, clusters=${clusters}, intrinsicDim=${intrinsicDim}, seed=${seed})`,
  };
}

/**
 * A small, fast, seeded PRNG (mulberry32, seeded through splitmix32 so nearby seeds diverge):
 * returns a function giving uniform floats in [0, 1) with 32 bits of randomness. Not
 * cryptographic. The same seed always yields the same sequence on every platform.
 */
export function rng(seed: number): () => number {
  if (typeof seed !== 'number' || !Number.isFinite(seed)) throw invalidArgument('seed must be a finite number', { received: seed });
  // splitmix32 finaliser over the seed (truncated to 32 bits).
  let z = (Math.trunc(seed) + 0x9e3779b9) | 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  let state = (z ^ (z >>> 16)) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal deviates from a uniform source (Box-Muller; the second deviate is kept). */
export function gaussian(rand: () => number): () => number {
  let spare = 0;
  let hasSpare = false;
  return () => {
    if (hasSpare) {
      hasSpare = false;
      return spare;
    }
    let u = rand();
    while (u === 0) u = rand(); // log(0) guard
    const v = rand();
    const radius = Math.sqrt(-2 * Math.log(u));
    const angle = 2 * Math.PI * v;
    spare = radius * Math.sin(angle);
    hasSpare = true;
    return radius * Math.cos(angle);
  };
}

function requireInt(name: string, value: unknown, min: number): void {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw invalidArgument(`${name} must be an integer >= ${min}`, { received: value, expected: `integer >= ${min}` });
  }
}

function checkKeys(fn: string, options: object, allowed: readonly string[]): void {
  if (typeof options !== 'object' || options === null) throw invalidArgument(`${fn} options must be an object`, { received: options });
  for (const key of Object.keys(options)) {
    if (!allowed.includes(key)) {
      throw invalidArgument(`unknown ${fn} option "${key}"; allowed: ${allowed.join(', ')}`, { received: key, allowed: [...allowed] });
    }
  }
}
