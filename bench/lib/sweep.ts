// Helpers for HNSW sweep children written in TypeScript (the Python twin is run_sweep in
// bench/systems/_common.py): read a SweepSpec, build with time / CPU / memory measured the same way
// for every system, sweep efSearch with warm-up + timed passes, print the one JSON line.

import { readFileSync } from 'node:fs';
import { loadData, peakRss, rssAfterGc, stopwatch, writeIds } from './child.ts';
import { readIds, recall } from './exact.ts';
import type { SweepPoint, SweepReport, SweepSpec } from './protocol.ts';

export function readSweepSpec(): SweepSpec {
  const arg = process.argv[2];
  if (arg === undefined) throw new Error('usage: <child> <sweep spec json>');
  return JSON.parse(arg) as SweepSpec;
}

/** Progress line on stderr (the parent echoes it, prefixed with system/dataset). */
export function progress(_spec: SweepSpec, message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Loads corpus and queries (kept reachable for the process lifetime, see child.ts). */
export function loadSweepData(spec: SweepSpec): { corpus: Float32Array; queries: Float32Array } {
  return loadData({ ...spec, threads: 1, warmup: 0, timeBudgetSeconds: 0, idsPath: '', params: spec.params });
}

export interface BuildMeasure {
  wallSeconds: number;
  cpuSeconds: number;
  memoryBytes: number;
}

/** Runs `build` between GC'd RSS readings and a wall + CPU stopwatch. */
export function measureBuild<T>(spec: SweepSpec, build: () => T): { value: T; measure: BuildMeasure } {
  progress(spec, `building ${spec.corpusRows} x ${spec.dim} (m ${spec.m}, efConstruction ${spec.efConstruction})`);
  const rss0 = rssAfterGc();
  const stop = stopwatch();
  const value = build();
  const { wallSeconds, cpuSeconds } = stop();
  const memoryBytes = rssAfterGc() - rss0;
  progress(spec, `built in ${wallSeconds.toFixed(1)} s wall, ${cpuSeconds.toFixed(1)} CPU-s, RSS +${(memoryBytes / 2 ** 20).toFixed(1)} MB`);
  return { value, measure: { wallSeconds, cpuSeconds, memoryBytes } };
}

function median(values: number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/**
 * The efSearch sweep. `prepare(ef)` readies the index for that efSearch and returns the
 * single-query search (ids of query i, best first). Per point: `warmup` untimed queries, then
 * `passes` timed passes over all queries (ids recorded in every pass, so each pass does the same
 * work), median QPS and QPS/CPU-s. Stops after a point reaching `stopRecall` or falling below `minQps`.
 */
export function runSweep(
  spec: SweepSpec,
  corpus: Float32Array,
  queries: Float32Array,
  prepare: (ef: number) => (i: number) => ArrayLike<number | bigint>,
): { points: SweepPoint[]; stoppedEarly?: string } {
  const { k, queryRows: nq, dim } = spec;
  const gt = readIds(spec.groundTruthPath);
  const kthBytes = readFileSync(spec.kthPath);
  const kth = new Float64Array(nq);
  new Uint8Array(kth.buffer).set(kthBytes.subarray(0, nq * 8));
  const points: SweepPoint[] = [];
  const ids = new Int32Array(nq * k);
  for (let e = 0; e < spec.efSearch.length; e++) {
    const ef = spec.efSearch[e];
    const search = prepare(ef);
    for (let i = 0; i < Math.min(spec.warmup, nq); i++) search(i % nq);
    const passes: { wallSeconds: number; cpuSeconds: number }[] = [];
    for (let p = 0; p < spec.passes; p++) {
      ids.fill(-1);
      const stop = stopwatch();
      for (let i = 0; i < nq; i++) {
        const found = search(i);
        const m = Math.min(found.length, k);
        for (let j = 0; j < m; j++) ids[i * k + j] = Number(found[j]);
      }
      passes.push(stop());
    }
    const idsPath = `${spec.idsPrefix}-ef${ef}.i32`;
    writeIds(idsPath, ids);
    const rc = recall(ids, nq, k, gt, kth, corpus, queries, spec.corpusRows, dim, spec.metric).tieAware;
    const point: SweepPoint = {
      ef,
      queries: nq,
      passes,
      qps: median(passes.map((p) => nq / p.wallSeconds)),
      qpsPerCpuSecond: median(passes.map((p) => nq / Math.max(p.cpuSeconds, 1e-9))),
      childRecall: rc,
      idsPath,
    };
    points.push(point);
    progress(spec, `ef ${String(ef).padStart(3)}: recall@${k} ${rc.toFixed(4)}, ${point.qps.toFixed(0)} QPS, ${point.qpsPerCpuSecond.toFixed(0)} QPS/CPU-s`);
    if (e === spec.efSearch.length - 1) break;
    if (rc >= spec.stopRecall) return { points, stoppedEarly: `recall ${rc.toFixed(4)} >= ${spec.stopRecall} at ef ${ef}` };
    if (point.qps < spec.minQps) return { points, stoppedEarly: `QPS ${point.qps.toFixed(0)} < ${spec.minQps} at ef ${ef}` };
  }
  return { points };
}

/** Prints the report line. */
export function sweepReport(
  spec: SweepSpec,
  build: BuildMeasure,
  sweep: { points: SweepPoint[]; stoppedEarly?: string },
  extra: { buildThreads: number; indexMemoryBytes?: number; kernels?: string; version?: string; notes: string },
): void {
  const out: SweepReport = {
    system: spec.system,
    dataset: spec.dataset,
    buildWallSeconds: build.wallSeconds,
    buildCpuSeconds: build.cpuSeconds,
    buildThreads: extra.buildThreads,
    memoryBytes: build.memoryBytes,
    peakRssBytes: peakRss(),
    notes: extra.notes,
    points: sweep.points,
  };
  if (extra.indexMemoryBytes !== undefined) out.indexMemoryBytes = extra.indexMemoryBytes;
  if (extra.kernels !== undefined) out.kernels = extra.kernels;
  if (extra.version !== undefined) out.version = extra.version;
  if (sweep.stoppedEarly !== undefined) out.stoppedEarly = sweep.stoppedEarly;
  process.stdout.write(`${JSON.stringify(out)}\n`);
}
