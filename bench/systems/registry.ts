// The systems the benchmarks know how to run, each as a child process (so time, CPU and memory are
// per system). Add a system by adding an entry here and a child script honouring lib/protocol.ts;
// the approximate-index benchmarks will add entries with `params` sweeps (efSearch, nprobe, ...).

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildSpec, Mode, SweepSpec } from '../lib/protocol.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The repository root (children run with it as cwd, so `--import tsx` and `'nearest'` resolve). */
export const REPO_ROOT = join(HERE, '..', '..');

export interface SystemDefinition {
  /** Registry key, also the `system` field of reports. */
  name: string;
  /** Human label for tables and charts. */
  label: string;
  /** Our own library (ratios are ours ÷ peer). */
  ours?: boolean;
  runtime: 'node' | 'python';
  /** Child script, relative to bench/systems. */
  script: string;
  modes: Mode[];
  /** Queries timed in single mode: sized for ~5-10 s per run on Fashion-MNIST. */
  singleQueries: number;
  /** Untimed warm-up: calls in single mode, rows of one call in batch mode. */
  warmup: { single: number; batch: number };
  /** What the system is, for the results file. */
  description: string;
}

/** Exact (brute-force) k-NN systems: ours and the peers it is measured against. */
export const exactSystems: SystemDefinition[] = [
  {
    name: 'nearest',
    label: 'nearest FlatIndex',
    ours: true,
    runtime: 'node',
    script: 'nearest-flat.ts',
    modes: ['single', 'batch'],
    singleQueries: 1000,
    warmup: { single: 20, batch: 64 },
    description: "this package's exact FlatIndex via the public API ('nearest', built dist/)",
  },
  {
    name: 'faiss',
    label: 'FAISS IndexFlatL2',
    runtime: 'python',
    script: 'faiss_flat.py',
    modes: ['single', 'batch'],
    singleQueries: 1000,
    warmup: { single: 20, batch: 64 },
    description: "FAISS IndexFlatL2 via Debian's python3-faiss (C++, OpenMP + OpenBLAS)",
  },
  {
    name: 'usearch',
    label: 'usearch exactSearch',
    runtime: 'node',
    script: 'usearch-exact.ts',
    modes: ['single', 'batch'],
    singleQueries: 1000,
    warmup: { single: 20, batch: 64 },
    description: 'usearch (npm) exactSearch: native addon with NumKong/SimSIMD kernels',
  },
  {
    name: 'hnswlib-node',
    label: 'hnswlib-node Bruteforce',
    runtime: 'node',
    script: 'hnswlib-node-bf.ts',
    modes: ['single'],
    singleQueries: 1000,
    warmup: { single: 20, batch: 0 },
    description: "hnswlib's BruteforceSearch through the hnswlib-node addon (C++)",
  },
  {
    name: 'naive-js',
    label: 'naive JS loop',
    runtime: 'node',
    script: 'naive-js.ts',
    modes: ['single'],
    singleQueries: 100,
    warmup: { single: 3, batch: 0 },
    description: 'textbook JavaScript brute force: sqrt-sum-of-squares into objects + full sort',
  },
];

/** An HNSW system of the sweep suite: one child per dataset builds once and sweeps efSearch. */
export interface HnswSystemDefinition {
  name: string;
  label: string;
  ours?: boolean;
  runtime: 'node' | 'python';
  script: string;
  /** Passed to the child as SweepSpec.params. */
  params: Record<string, unknown>;
  /** Needs the -march=native rebuild of hnswlib-node (bench/lib/native-addon.ts); its path is added to params. */
  nativeAddon?: boolean;
  description: string;
}

/** HNSW systems (m = 16, efConstruction = 200 for all). */
export const hnswSystems: HnswSystemDefinition[] = [
  {
    name: 'nearest',
    label: 'nearest HNSW float32',
    ours: true,
    runtime: 'node',
    script: 'nearest-hnsw.ts',
    params: { quantization: 'none' },
    description: "this package's HnswIndex, quantization 'none', via the public API ('nearest', built dist/)",
  },
  {
    name: 'nearest-int8',
    label: 'nearest HNSW int8',
    ours: true,
    runtime: 'node',
    script: 'nearest-hnsw.ts',
    params: { quantization: 'int8' },
    description: "this package's HnswIndex, quantization 'int8' (int8 traversal, float32 re-ranking)",
  },
  {
    name: 'hnswlib-node',
    label: 'hnswlib-node',
    runtime: 'node',
    script: 'hnswlib-node-hnsw.ts',
    params: {},
    description: 'hnswlib HierarchicalNSW through the npm hnswlib-node addon as installed (node-gyp defaults: -O3, SSE)',
  },
  {
    name: 'hnswlib-node-native',
    label: 'hnswlib-node -march=native',
    runtime: 'node',
    script: 'hnswlib-node-hnsw.ts',
    params: {},
    nativeAddon: true,
    description: 'the same addon rebuilt here with CXXFLAGS="-O3 -march=native" (AVX-512 distance kernels on this CPU)',
  },
  {
    name: 'hnswlib',
    label: 'hnswlib (Python)',
    runtime: 'python',
    script: 'hnswlib_hnsw.py',
    params: {},
    description: "hnswlib C++ via Debian's python3-hnswlib: add_items with 2 threads (the build-time reference)",
  },
  {
    name: 'faiss',
    label: 'FAISS IndexHNSWFlat',
    runtime: 'python',
    script: 'faiss_hnsw.py',
    params: {},
    description: "FAISS IndexHNSWFlat via Debian's python3-faiss (OpenMP build)",
  },
  {
    name: 'usearch',
    label: 'usearch HNSW',
    runtime: 'node',
    script: 'usearch-hnsw.ts',
    params: {},
    description: 'usearch (npm) HNSW Index: native addon with NumKong/SimSIMD kernels',
  },
];

/** Python interpreter for the Python peers: $NEAREST_BENCH_PYTHON, else Debian's /usr/bin/python3. */
export function pythonExecutable(): string {
  return process.env.NEAREST_BENCH_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
}

/** The command line and environment that run `def` with `spec`. */
export function childCommand(def: SystemDefinition, spec: ChildSpec): { command: string; args: string[]; env: NodeJS.ProcessEnv } {
  const script = join(HERE, def.script);
  const threads = String(spec.threads);
  if (def.runtime === 'python') {
    return {
      command: pythonExecutable(),
      args: [script, JSON.stringify(spec)],
      // Thread pools read these at load time, so they must be set before the interpreter imports them.
      env: { ...process.env, OMP_NUM_THREADS: threads, OPENBLAS_NUM_THREADS: threads, MKL_NUM_THREADS: threads, PYTHONUNBUFFERED: '1' },
    };
  }
  return {
    command: process.execPath,
    args: ['--expose-gc', '--import', 'tsx', script, JSON.stringify(spec)],
    env: { ...process.env },
  };
}

/** The command line and environment of an HNSW sweep child. */
export function sweepCommand(def: HnswSystemDefinition, spec: SweepSpec): { command: string; args: string[]; env: NodeJS.ProcessEnv } {
  const script = join(HERE, def.script);
  if (def.runtime === 'python') {
    // OpenMP pools size themselves at load: build threads; children drop to 1 for searching.
    const threads = String(spec.buildThreads);
    return {
      command: pythonExecutable(),
      args: [script, JSON.stringify(spec)],
      env: { ...process.env, OMP_NUM_THREADS: threads, OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1', PYTHONUNBUFFERED: '1' },
    };
  }
  return {
    command: process.execPath,
    args: ['--expose-gc', '--import', 'tsx', script, JSON.stringify(spec)],
    env: { ...process.env },
  };
}
