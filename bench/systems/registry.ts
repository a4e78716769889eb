// The systems the benchmarks know how to run, each as a child process (so time, CPU and memory are
// per system). Add a system by adding an entry here and a child script honouring lib/protocol.ts;
// the approximate-index benchmarks will add entries with `params` sweeps (efSearch, nprobe, ...).

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildSpec, Mode } from '../lib/protocol.ts';

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
