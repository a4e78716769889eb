// Helpers for benchmark children written in TypeScript: read the spec and the raw float32 files,
// measure time / CPU / memory the same way for every system, write ids, print the one JSON line.

import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ChildReport, ChildSpec, Mode, SkipReport } from './protocol.ts';

/** Parses the ChildSpec passed as the single argv argument. */
export function readSpec(): ChildSpec {
  const arg = process.argv[2];
  if (arg === undefined) throw new Error('usage: <child> <spec json>');
  return JSON.parse(arg) as ChildSpec;
}

/**
 * Reads the first `rows` rows of a raw little-endian float32 file into a fresh Float32Array that
 * owns its whole ArrayBuffer (byteOffset 0: some native addons ignore typed-array offsets).
 */
export function readF32Rows(path: string, rows: number, dim: number): Float32Array {
  const out = new Float32Array(rows * dim);
  const bytes = new Uint8Array(out.buffer);
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size < bytes.length) throw new Error(`${path}: ${size} bytes, need ${bytes.length} for ${rows}x${dim} float32`);
    let done = 0;
    while (done < bytes.length) {
      const got = readSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 26), done);
      if (got === 0) throw new Error(`${path}: unexpected end of file`);
      done += got;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/**
 * Loads corpus and queries named by the spec, and keeps them reachable for the life of the process:
 * otherwise V8 may free the corpus once a system has copied it (its last use), and the RSS delta
 * "after adding the corpus" would subtract the corpus from the index's memory.
 */
export function loadData(spec: ChildSpec): { corpus: Float32Array; queries: Float32Array } {
  const data = {
    corpus: readF32Rows(spec.corpusPath, spec.corpusRows, spec.dim),
    queries: readF32Rows(spec.queriesPath, spec.queryRows, spec.dim),
  };
  (globalThis as { __nearestBenchData?: unknown }).__nearestBenchData = data;
  return data;
}

/** Runs a full GC when node was started with --expose-gc, so RSS deltas measure live memory. */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc();
  }
}

/** Current resident set size in bytes (after a GC when available). */
export function rssAfterGc(): number {
  collectGarbage();
  return process.memoryUsage().rss;
}

/** Peak resident set of this process, in bytes. */
export function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/** A wall-clock + process-CPU stopwatch. */
export function stopwatch(): () => { wallSeconds: number; cpuSeconds: number } {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  return () => {
    const wallSeconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    return { wallSeconds, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
  };
}

/**
 * Single-query loop shared by children: `warmup` untimed calls, then timed calls on queries
 * 0, 1, ... until `queryRows` are done or the time budget is spent. `search(i)` must return the
 * ids for query i, best first (at most k; missing entries are written as -1).
 */
export function runSingle(
  spec: ChildSpec,
  search: (i: number) => ArrayLike<number | bigint>,
): { queries: number; ids: Int32Array; wallSeconds: number; cpuSeconds: number } {
  const { k, queryRows } = spec;
  for (let i = 0; i < Math.min(spec.warmup, queryRows); i++) search(i);
  const ids = new Int32Array(queryRows * k).fill(-1);
  const budgetMs = spec.timeBudgetSeconds * 1000;
  const t0 = performance.now();
  const stop = stopwatch();
  let done = 0;
  while (done < queryRows) {
    const found = search(done);
    const m = Math.min(found.length, k);
    for (let j = 0; j < m; j++) ids[done * k + j] = Number(found[j]);
    done++;
    // performance.now() is ~50 ns; negligible next to a brute-force scan.
    if (performance.now() - t0 > budgetMs) break;
  }
  const { wallSeconds, cpuSeconds } = stop();
  return { queries: done, ids: ids.subarray(0, done * k), wallSeconds, cpuSeconds };
}

/** Writes ids as int32 little-endian. */
export function writeIds(path: string, ids: Int32Array): void {
  writeFileSync(path, new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength));
}

/** Prints the report line (and writes the ids). */
export function report(
  spec: ChildSpec,
  measured: { queries: number; ids: Int32Array; wallSeconds: number; cpuSeconds: number },
  extra: {
    buildSeconds: number;
    memoryBytes: number;
    indexMemoryBytes?: number;
    kernels?: string;
    version?: string;
    notes: string;
    threads?: number;
  },
): void {
  writeIds(spec.idsPath, measured.ids);
  const out: ChildReport = {
    system: spec.system,
    mode: spec.mode,
    threads: extra.threads ?? spec.threads,
    queries: measured.queries,
    wallSeconds: measured.wallSeconds,
    cpuSeconds: measured.cpuSeconds,
    qps: measured.queries / measured.wallSeconds,
    qpsPerCpuSecond: measured.queries / Math.max(measured.cpuSeconds, 1e-9),
    buildSeconds: extra.buildSeconds,
    memoryBytes: extra.memoryBytes,
    peakRssBytes: peakRss(),
    notes: extra.notes,
    idsPath: spec.idsPath,
  };
  if (extra.indexMemoryBytes !== undefined) out.indexMemoryBytes = extra.indexMemoryBytes;
  if (extra.kernels !== undefined) out.kernels = extra.kernels;
  if (extra.version !== undefined) out.version = extra.version;
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

/** Prints a skip line: the system could not run here. */
export function skip(system: string, mode: Mode, reason: string): void {
  const out: SkipReport = { system, mode, skipped: true, reason };
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

/** Short text of an unknown thrown value. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * Version of an installed npm package, found by walking up from its resolved entry point (works
 * for packages whose "exports" hide package.json).
 */
export function packageVersion(name: string): string {
  try {
    let dir = dirname(createRequire(import.meta.url).resolve(name));
    for (;;) {
      const candidate = join(dir, 'package.json');
      if (existsSync(candidate)) {
        const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === name && pkg.version) return pkg.version;
      }
      const parent = dirname(dir);
      if (parent === dir) return 'unknown';
      dir = parent;
    }
  } catch {
    return 'unknown';
  }
}
