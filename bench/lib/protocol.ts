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

// ---- approximate indexes: one child per (system, dataset) builds once and sweeps a parameter ----

/** Input of an HNSW sweep child (JSON in argv, like ChildSpec). */
export interface SweepSpec {
  system: string;
  /** Always 'single' (one query per call); kept so skip lines look like the exact suite's. */
  mode: 'single';
  /** Dataset id: 'euclidean' (raw pixels) or 'cosine' (L2-normalised copy). */
  dataset: string;
  /** The metric the system is asked for: euclidean on raw rows, cosine on normalised rows. */
  metric: 'euclidean' | 'cosine';
  dim: number;
  k: number;
  corpusPath: string;
  corpusRows: number;
  queriesPath: string;
  queryRows: number;
  /** Graph degree (hnswlib M; 2·m links on level 0) and build beam width. */
  m: number;
  efConstruction: number;
  /** Threads the system may build with (systems without a parallel add use 1 and say so). */
  buildThreads: number;
  /** efSearch values, in order; the sweep may stop early (see stopRecall / minQps). */
  efSearch: number[];
  /** Timed passes over all `queryRows` queries per point; the median pass is reported. */
  passes: number;
  /** Untimed queries before the passes of each point. */
  warmup: number;
  /** Stop after the first point whose recall@k reaches this. */
  stopRecall: number;
  /** Stop after the first point whose (median) wall QPS falls below this. */
  minQps: number;
  /** Ground truth (int32, queryRows × k) and k-th true distances (float64, queryRows), for the stop rule. */
  groundTruthPath: string;
  kthPath: string;
  /** Ids of the point with efSearch e go to `${idsPrefix}-ef${e}.i32` (queryRows × k int32, -1 for none). */
  idsPrefix: string;
  /** System-specific parameters (quantization, module path of a rebuilt addon, ...). */
  params: Record<string, unknown>;
}

/** One timed pass over the queries. */
export interface SweepPass {
  wallSeconds: number;
  cpuSeconds: number;
}

/** One efSearch point of a sweep. */
export interface SweepPoint {
  ef: number;
  queries: number;
  passes: SweepPass[];
  /** Median over passes of queries ÷ wall seconds. */
  qps: number;
  /** Median over passes of queries ÷ process CPU seconds. */
  qpsPerCpuSecond: number;
  /** recall@k as the child computed it for the stop rule (the parent recomputes it from the ids). */
  childRecall: number;
  idsPath: string;
}

/** Output of a sweep child that ran. */
export interface SweepReport {
  system: string;
  dataset: string;
  buildWallSeconds: number;
  /** Process CPU seconds (all threads) while building. */
  buildCpuSeconds: number;
  /** Threads the build actually used (1 for systems without a parallel add). */
  buildThreads: number;
  /** Resident-set growth caused by building the index (after GC where the runtime allows). */
  memoryBytes: number;
  /** The index's own account of its memory, when it has one. */
  indexMemoryBytes?: number;
  peakRssBytes: number;
  kernels?: string;
  version?: string;
  notes: string;
  points: SweepPoint[];
  /** Why the sweep ended before the last efSearch value, if it did. */
  stoppedEarly?: string;
}

export function isSweepReport(value: unknown): value is SweepReport {
  if (typeof value !== 'object' || value === null) return false;
  const r = value as Record<string, unknown>;
  return typeof r.system === 'string' && typeof r.buildWallSeconds === 'number' && Array.isArray(r.points);
}
