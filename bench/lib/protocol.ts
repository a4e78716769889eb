// The contract between the bench parent (run.ts) and each system's child process.
//
// The parent starts one child per (system, mode, run) with a ChildSpec as its single argv argument
// (JSON). The child loads the raw float32 files named in the spec, builds its index, measures, writes
// the ids it found (int32 little-endian, `queries × k`, -1 for none) to `idsPath`, and prints exactly
// one JSON line on stdout: a ChildReport, or a SkipReport when the system is unavailable. Anything
// else goes to stderr. Python children follow the same contract (bench/systems/_common.py).

/** How queries are issued: one call per query on one thread, or all queries in one call. */
export type Mode = 'single' | 'batch';

/** Input of a child, passed as JSON in argv. */
export interface ChildSpec {
  /** Registry name of the system. */
  system: string;
  mode: Mode;
  /** Threads the system may use (1 for single mode). */
  threads: number;
  /** 'euclidean' for the exact benchmark; children map it to their own metric names. */
  metric: 'euclidean' | 'cosine' | 'dot';
  dim: number;
  k: number;
  /** Raw little-endian float32 rows; the child reads the first `corpusRows` rows. */
  corpusPath: string;
  corpusRows: number;
  /** Raw little-endian float32 rows; the child measures the first `queryRows` rows. */
  queriesPath: string;
  queryRows: number;
  /** Untimed queries before measuring (single mode: that many calls; batch: one call of that many rows). */
  warmup: number;
  /**
   * Single mode stops after this many seconds of timed queries, even if `queryRows` are not done;
   * batch children that must split the batch into several calls stop after the call that crosses it.
   */
  timeBudgetSeconds: number;
  /** Where to write the int32 ids (measured queries × k). */
  idsPath: string;
  /** System-specific parameters (efSearch, nprobe, ...) for the approximate benchmarks to come. */
  params: Record<string, unknown>;
}

/** Output of a child that ran. */
export interface ChildReport {
  system: string;
  mode: Mode;
  threads: number;
  /** Queries timed (may be fewer than asked in single mode when the time budget ran out). */
  queries: number;
  wallSeconds: number;
  /** Process CPU time (user + system, all threads) over the timed section. */
  cpuSeconds: number;
  qps: number;
  qpsPerCpuSecond: number;
  /** Time to put the corpus into the index (0 for systems that search the caller's array). */
  buildSeconds: number;
  /** Resident-set growth caused by building the index (after GC where the runtime allows). */
  memoryBytes: number;
  /** The index's own account of its memory, when it has one. */
  indexMemoryBytes?: number;
  /** Peak resident set of the whole child process. */
  peakRssBytes: number;
  /** Kernel backend name, when the system reports one. */
  kernels?: string;
  /** Version of the system under test. */
  version?: string;
  notes: string;
  idsPath: string;
}

/** Output of a child whose system is unavailable. */
export interface SkipReport {
  system: string;
  mode: Mode;
  skipped: true;
  reason: string;
}

export function isSkipReport(value: unknown): value is SkipReport {
  return typeof value === 'object' && value !== null && (value as { skipped?: unknown }).skipped === true;
}

export function isChildReport(value: unknown): value is ChildReport {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return typeof r.system === 'string' && typeof r.qps === 'number' && typeof r.queries === 'number' && typeof r.idsPath === 'string';
}
