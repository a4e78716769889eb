// Helpers of the command-line tests: run the real bin (node dist/cli/main.js), write fixtures with
// the real libraries (numpy / h5py through Debian's /usr/bin/python3, hyparquet-writer), and read a
// database back through the package's public API.
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Database } from '../dist/index.js';

export const BIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
export const RSS_WRAPPER = fileURLToPath(new URL('./fixtures/cli-rss.mjs', import.meta.url));

export interface Run { code: number; stdout: string; stderr: string }

/** Runs `nearest ARGS` in `cwd`; resolves with its exit code and output (stdout / stderr piped). */
export function nearest(args: string[], cwd: string, env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Runs a Python script with Debian's python3 (numpy, h5py) in `cwd`. */
export function python(script: string, cwd: string): void {
  const r = spawnSync('/usr/bin/python3', ['-c', script], { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
}

/** A fresh temp directory and its remover. */
export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Every record of a collection, sorted by id: [id, vector, metadata]. */
export async function records(dbDir: string, name: string): Promise<[unknown, number[], unknown][]> {
  const db = await Database.open(dbDir, { readOnly: true });
  try {
    const s = db.collection(name);
    const out = [...s.entries()].map(([id, m]) => [id, Array.from(s.get(id)!.vector), m] as [unknown, number[], unknown]);
    return out.sort((a, b) => String(a[0]).localeCompare(String(b[0]), 'en', { numeric: true }));
  } finally { await db.close(); }
}

/** A collection's size and metric (or null when it does not exist). */
export async function collectionInfo(dbDir: string, name: string): Promise<{ size: number; dim: number; metric: string } | null> {
  const db = await Database.open(dbDir, { readOnly: true }).catch(() => null);
  if (!db) return null;
  try {
    if (!db.hasCollection(name)) return null;
    const s = db.collection(name);
    return { size: s.size, dim: s.dim, metric: s.metric };
  } finally { await db.close(); }
}

/** The numpy expression of the fixtures' base data: n × dim float32 values i·dim + j over 1000. */
export const PY_BASE = 'import numpy as np\ndef base(n, d): return (np.arange(n*d, dtype=np.float64).reshape(n, d) / 1000.0 + 0.5)\n';
