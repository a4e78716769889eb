// Exact k-NN benchmark: Fashion-MNIST (60k x 784 corpus, 10k queries), k = 10, euclidean.
// Runs every system of the registry in its own child process, `--runs` times (medians reported),
// prints a table and the headline ratios, and writes bench/results/exact.{json,svg}.
// Started by bench/run.ts (`--suite exact`, or both suites by default).

import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import Table from 'cli-table3';
import { loadFashionMnist } from '../../src/io/datasets.ts';
import { intArg, log, type BenchArgs } from '../lib/args.ts';
import { barChart, formatNumber, type Bar } from '../lib/chart.ts';
import { describeEnvironment } from '../lib/environment.ts';
import { kthDistances, readIds, recall, type GroundTruthMeta } from '../lib/exact.ts';
import { groundTruth } from '../lib/ground-truth.ts';
import { isChildReport, isSkipReport, type ChildReport, type ChildSpec, type Mode } from '../lib/protocol.ts';
import { spawnJson } from '../lib/spawn.ts';
import { REPO_ROOT, childCommand, exactSystems, pythonExecutable, type SystemDefinition } from '../systems/registry.ts';

const K = 10;
const CACHE_DIR = join(REPO_ROOT, 'bench', '.cache');
const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');

export async function runExactSuite(args: BenchArgs): Promise<void> {
  const quick = args.quick ?? false;
  const runs = intArg('runs', args.runs, quick ? 1 : 3);
  const batchThreads = intArg('threads', args.threads, os.cpus().length);
  const timeBudget = intArg('time-budget', args['time-budget'], 10);
  const modes: Mode[] = (args.modes?.split(',') ?? ['single', 'batch']).map((m) => {
    if (m !== 'single' && m !== 'batch') {
      log(`unknown mode ${m}; expected single or batch`);
      process.exit(2);
    }
    return m;
  });
  let systems = exactSystems;
  if (args.systems !== undefined) {
    const wanted = args.systems.split(',');
    const unknown = wanted.filter((w) => !exactSystems.some((s) => s.name === w));
    if (unknown.length > 0) {
      log(`unknown system(s) ${unknown.join(', ')}; known: ${exactSystems.map((s) => s.name).join(', ')}`);
      process.exit(2);
    }
    systems = exactSystems.filter((s) => wanted.includes(s.name));
  }

  // ---- data -------------------------------------------------------------------------------------

  const t0 = performance.now();
  const dataset = loadFashionMnist({ install: true });
  if (dataset === null) {
    log('Fashion-MNIST is not available (apt package dataset-fashion-mnist could not be installed); aborting.');
    process.exit(1);
  }
  const dim = dataset.dim;
  const trainRows = dataset.train.length / dim;
  const testRows = dataset.test.length / dim;
  const n = Math.min(intArg('n', args.n, quick ? 5000 : trainRows), trainRows);
  const nq = Math.min(intArg('nq', args.nq, quick ? 200 : testRows), testRows);
  const corpus = dataset.train.subarray(0, n * dim);
  const queries = dataset.test.subarray(0, nq * dim);
  log(`dataset ${dataset.name}: corpus ${n} x ${dim}, queries ${nq}, k ${K} (loaded in ${seconds(t0)} s from ${dataset.source})`);

  mkdirSync(CACHE_DIR, { recursive: true });
  mkdirSync(RESULTS_DIR, { recursive: true });
  // Raw little-endian float32 for the children (np.fromfile / readSync); they read the first rows they need.
  if (os.endianness() !== 'LE') throw new Error('the raw .f32 cache files assume a little-endian host');
  const corpusPath = join(CACHE_DIR, `${dataset.name}-train.f32`);
  const queriesPath = join(CACHE_DIR, `${dataset.name}-test.f32`);
  writeRaw(corpusPath, dataset.train);
  writeRaw(queriesPath, dataset.test);

  function writeRaw(path: string, data: Float32Array): void {
    if (existsSync(path) && statSync(path).size === data.byteLength) return;
    writeFileSync(path, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  function seconds(from: number): string {
    return ((performance.now() - from) / 1000).toFixed(1);
  }

  // ---- ground truth -----------------------------------------------------------------------------

  async function computeGroundTruth(): Promise<{ ids: Int32Array; meta: GroundTruthMeta; cached: boolean }> {
    const gtSource = args['gt-source'] ?? 'nearest';
    if (gtSource !== 'nearest' && gtSource !== 'faiss') {
      log(`--gt-source must be nearest or faiss, got ${gtSource}`);
      process.exit(2);
    }
    return groundTruth({
      cacheDir: CACHE_DIR,
      dataset: dataset!.name,
      metric: 'euclidean',
      corpus,
      queries,
      n,
      nq,
      dim,
      k: K,
      threads: batchThreads,
      source: gtSource,
      noCache: args['no-cache'] ?? false,
      log,
      faiss: async () => {
        const faiss = exactSystems.find((s) => s.name === 'faiss')!;
        const outcome = await runChild(faiss, 'batch', 0, nq, join(CACHE_DIR, 'gt-faiss-tmp.i32'));
        if (!('report' in outcome)) return { skipped: outcome.skipped };
        const ids = readIds(outcome.report.idsPath);
        rmSync(outcome.report.idsPath, { force: true });
        return ids;
      },
    });
  }

  // ---- running systems --------------------------------------------------------------------------

  interface RunResult extends ChildReport {
    run: number;
    recallAt10: number;
    idRecallAt10: number;
    childSeconds: number;
  }

  async function runChild(
    def: SystemDefinition,
    mode: Mode,
    run: number,
    queryRows: number,
    idsPath: string,
  ): Promise<{ report: ChildReport; childSeconds: number } | { skipped: string }> {
    const spec: ChildSpec = {
      system: def.name,
      mode,
      threads: mode === 'single' ? 1 : batchThreads,
      metric: 'euclidean',
      dim,
      k: K,
      corpusPath,
      corpusRows: n,
      queriesPath,
      queryRows,
      warmup: mode === 'single' ? def.warmup.single : def.warmup.batch,
      // Batch: only systems that need several calls (usearch) can stop early; give them 3x.
      timeBudgetSeconds: mode === 'single' ? timeBudget : 3 * timeBudget,
      idsPath,
      params: {},
    };
    const { command, args: childArgs, env } = childCommand(def, spec);
    const outcome = await spawnJson({
      command,
      args: childArgs,
      env,
      cwd: REPO_ROOT,
      timeoutSeconds: quick ? 300 : 1800,
      echoStderr: args.verbose ?? false,
      label: `${def.name}/${mode}#${run}`,
    });
    if (!outcome.ok) return { skipped: outcome.reason };
    if (isSkipReport(outcome.json)) return { skipped: outcome.json.reason };
    if (!isChildReport(outcome.json)) return { skipped: `malformed report: ${JSON.stringify(outcome.json).slice(0, 200)}` };
    return { report: outcome.json, childSeconds: outcome.seconds };
  }

  function median(values: number[]): number {
    const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
    if (v.length === 0) return NaN;
    const mid = v.length >> 1;
    return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
  }

  interface Aggregate {
    system: string;
    label: string;
    ours: boolean;
    mode: Mode;
    threads: number;
    runs: RunResult[];
    skipped?: string;
    failures: string[];
    queries: number;
    qps: number;
    qpsPerCpuSecond: number;
    wallSeconds: number;
    cpuSeconds: number;
    buildSeconds: number;
    memoryBytes: number;
    indexMemoryBytes?: number;
    peakRssBytes: number;
    recallAt10: number;
    recallAt10Min: number;
    idRecallAt10: number;
    kernels?: string;
    version?: string;
    notes: string;
  }

  function aggregate(def: SystemDefinition, mode: Mode, results: RunResult[], failures: string[]): Aggregate {
    const base = { system: def.name, label: def.label, ours: def.ours ?? false, mode, failures, runs: results };
    if (results.length === 0) {
      return {
        ...base,
        threads: mode === 'single' ? 1 : batchThreads,
        skipped: failures[0] ?? 'no runs',
        queries: 0,
        qps: NaN,
        qpsPerCpuSecond: NaN,
        wallSeconds: NaN,
        cpuSeconds: NaN,
        buildSeconds: NaN,
        memoryBytes: NaN,
        peakRssBytes: NaN,
        recallAt10: NaN,
        recallAt10Min: NaN,
        idRecallAt10: NaN,
        notes: '',
      };
    }
    const m = (f: (r: RunResult) => number | undefined): number => median(results.map((r) => f(r) ?? NaN));
    const agg: Aggregate = {
      ...base,
      threads: results[0].threads,
      queries: m((r) => r.queries),
      qps: m((r) => r.qps),
      qpsPerCpuSecond: m((r) => r.qpsPerCpuSecond),
      wallSeconds: m((r) => r.wallSeconds),
      cpuSeconds: m((r) => r.cpuSeconds),
      buildSeconds: m((r) => r.buildSeconds),
      memoryBytes: m((r) => r.memoryBytes),
      peakRssBytes: m((r) => r.peakRssBytes),
      recallAt10: m((r) => r.recallAt10),
      recallAt10Min: Math.min(...results.map((r) => r.recallAt10)),
      idRecallAt10: m((r) => r.idRecallAt10),
      notes: results[0].notes,
    };
    const indexMemory = m((r) => r.indexMemoryBytes);
    if (Number.isFinite(indexMemory)) agg.indexMemoryBytes = indexMemory;
    if (results[0].kernels !== undefined) agg.kernels = results[0].kernels;
    if (results[0].version !== undefined) agg.version = results[0].version;
    return agg;
  }

  // ---- main -------------------------------------------------------------------------------------

  const gt = await computeGroundTruth();
  const kth = kthDistances(gt.ids, corpus, queries, nq, dim, K);
  const environment = describeEnvironment(REPO_ROOT, pythonExecutable());

  const plan: { def: SystemDefinition; mode: Mode; queryRows: number }[] = [];
  for (const def of systems) {
    for (const mode of def.modes) {
      if (!modes.includes(mode)) continue;
      const single = intArg('single-queries', args['single-queries'], def.singleQueries);
      plan.push({ def, mode, queryRows: mode === 'single' ? Math.min(single, nq) : nq });
    }
  }

  const collected = new Map<string, { results: RunResult[]; failures: string[] }>();
  const keyOf = (def: SystemDefinition, mode: Mode): string => `${def.name}/${mode}`;
  const skippedForGood = new Set<string>();
  const tRuns = performance.now();
  // Runs are interleaved (all systems, then all again) so slow drifts of a shared machine spread evenly.
  for (let run = 1; run <= runs; run++) {
    for (const { def, mode, queryRows } of plan) {
      const key = keyOf(def, mode);
      if (!collected.has(key)) collected.set(key, { results: [], failures: [] });
      const slot = collected.get(key)!;
      if (skippedForGood.has(key)) continue;
      const idsPath = join(CACHE_DIR, `ids-${def.name}-${mode}-${run}.i32`);
      const tChild = performance.now();
      const outcome = await runChild(def, mode, run, queryRows, idsPath);
      if ('skipped' in outcome) {
        log(`[run ${run}/${runs}] ${key}: skipped — ${outcome.skipped}`);
        slot.failures.push(outcome.skipped);
        // A system that is not installed will not appear in the next run either.
        if (slot.results.length === 0) skippedForGood.add(key);
        continue;
      }
      const r = outcome.report;
      const found = readIds(r.idsPath);
      rmSync(r.idsPath, { force: true });
      const rc = recall(found, r.queries, K, gt.ids, kth, corpus, queries, n, dim);
      slot.results.push({ ...r, run, recallAt10: rc.tieAware, idRecallAt10: rc.ids, childSeconds: outcome.childSeconds });
      log(
        `[run ${run}/${runs}] ${key}: ${formatNumber(r.qps)} QPS, ${formatNumber(r.qpsPerCpuSecond)} QPS/CPU-s, ` +
          `recall@10 ${rc.tieAware.toFixed(4)}, ${r.queries} queries in ${r.wallSeconds.toFixed(2)} s ` +
          `(child ${seconds(tChild)} s)${r.kernels ? `, kernels ${r.kernels}` : ''}`,
      );
    }
  }
  log(`all runs done in ${seconds(tRuns)} s`);

  const aggregates = plan.map(({ def, mode }) => {
    const slot = collected.get(keyOf(def, mode)) ?? { results: [], failures: ['not run'] };
    return aggregate(def, mode, slot.results, slot.failures);
  });

  // ---- report -----------------------------------------------------------------------------------

  const ours = new Map<Mode, Aggregate>();
  for (const a of aggregates) if (a.ours && !a.skipped) ours.set(a.mode, a);
  const rawRowsBytes = n * dim * 4;
  const mb = (bytes: number | undefined): string => (bytes === undefined || !Number.isFinite(bytes) ? '—' : (bytes / 2 ** 20).toFixed(1));
  const times = (x: number): string => (Number.isFinite(x) ? `${x >= 10 ? x.toFixed(1) : x.toFixed(2)}×` : '—');

  const table = new Table({
    head: ['system', 'mode', 'threads', 'queries', 'QPS', 'QPS/CPU-s', 'recall@10', 'build s', 'memory MB', 'ours/peer QPS'],
    colAligns: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
    style: { head: [], border: [], compact: true },
  });
  for (const a of aggregates) {
    if (a.skipped) {
      table.push([a.label, a.mode, { colSpan: 8, content: `skipped: ${a.skipped.slice(0, 90)}` }]);
      continue;
    }
    const ourSame = ours.get(a.mode);
    const memory = a.indexMemoryBytes !== undefined ? `${mb(a.memoryBytes)} (index ${mb(a.indexMemoryBytes)})` : mb(a.memoryBytes);
    table.push([
      a.ours ? `${a.label} *` : a.label,
      a.mode,
      String(a.threads),
      String(a.queries),
      formatNumber(a.qps),
      formatNumber(a.qpsPerCpuSecond),
      a.recallAt10.toFixed(4),
      a.buildSeconds.toFixed(2),
      memory,
      a.ours ? '—' : ourSame ? times(ourSame.qps / a.qps) : '—',
    ]);
  }

  const peer = (system: string, mode: Mode): Aggregate | undefined => aggregates.find((a) => a.system === system && a.mode === mode && !a.skipped);
  const ratio = (name: string, ourMode: Mode, system: string, mode: Mode) => {
    const o = ours.get(ourMode);
    const p = peer(system, mode);
    return {
      name,
      qps: o && p ? o.qps / p.qps : NaN,
      qpsPerCpuSecond: o && p ? o.qpsPerCpuSecond / p.qpsPerCpuSecond : NaN,
    };
  };
  const ratios = [
    ratio('ours single ÷ FAISS single', 'single', 'faiss', 'single'),
    ratio('ours single ÷ usearch single', 'single', 'usearch', 'single'),
    ratio('ours single ÷ hnswlib-node single', 'single', 'hnswlib-node', 'single'),
    ratio('ours single ÷ naive JS', 'single', 'naive-js', 'single'),
    ratio('ours batch ÷ FAISS batch', 'batch', 'faiss', 'batch'),
    ratio('ours batch ÷ usearch batch', 'batch', 'usearch', 'batch'),
  ];
  const ourMemory = ours.get('single') ?? ours.get('batch');
  const memoryRatio = {
    rawRowsBytes,
    indexMemoryBytes: ourMemory?.indexMemoryBytes ?? NaN,
    rssDeltaBytes: ourMemory?.memoryBytes ?? NaN,
    indexOverRaw: (ourMemory?.indexMemoryBytes ?? NaN) / rawRowsBytes,
    rssDeltaOverRaw: (ourMemory?.memoryBytes ?? NaN) / rawRowsBytes,
  };

  const out = process.stdout;
  out.write(`\nExact k-NN, ${dataset.name}: ${n} x ${dim} corpus, k=${K}, euclidean; medians of ${runs} run(s)\n`);
  out.write(`${environment.cpuModel}, ${environment.logicalCpus} logical CPUs, node ${environment.node}` +
    `${ourMemory?.kernels ? `, nearest kernels: ${ourMemory.kernels}` : ''}\n`);
  out.write(`ground truth: ${gt.meta.source}${gt.cached ? ' (cached)' : ''}; recall@10 counts ties at the 10th distance\n`);
  out.write(`${table.toString()}\n`);
  out.write('* ours. memory = RSS growth while adding the corpus (index: the index\'s own stats().memoryBytes)\n\n');
  out.write('ratios (>1: ours is faster)\n');
  for (const r of ratios) out.write(`  ${r.name.padEnd(36)} QPS ${times(r.qps).padStart(7)}   QPS/CPU-s ${times(r.qpsPerCpuSecond).padStart(7)}\n`);
  out.write(
    `  ${'ours memory ÷ raw float32 rows'.padEnd(36)} index ${times(memoryRatio.indexOverRaw)}, RSS Δ ${times(memoryRatio.rssDeltaOverRaw)}` +
      ` (raw ${mb(rawRowsBytes)} MB)\n`,
  );

  const partial = ['systems', 'modes', 'n', 'nq', 'single-queries'].some((o) => args[o as keyof typeof args] !== undefined);
  const suffix = args.out ?? (quick ? 'exact-quick' : partial ? 'exact-partial' : 'exact');
  if (!/^[\w.-]+$/.test(suffix)) throw new Error(`--out must be a plain file stem, got ${suffix}`);
  const jsonPath = join(RESULTS_DIR, `${suffix}.json`);
  const svgPath = join(RESULTS_DIR, `${suffix}.svg`);
  const resultsDocument = {
    benchmark: 'exact-knn',
    dataset: { name: dataset.name, source: dataset.source, n, nq, dim, k: K, metric: 'euclidean' },
    config: { quick, runs, batchThreads, timeBudgetSeconds: timeBudget },
    environment: { ...environment, kernels: ourMemory?.kernels ?? null },
    groundTruth: { ...gt.meta, cached: gt.cached },
    results: aggregates.map((a) => ({
      ...a,
      description: exactSystems.find((s) => s.name === a.system)?.description,
      runs: a.runs.map(({ idsPath: _ids, ...rest }) => rest),
    })),
    ratios,
    memory: memoryRatio,
  };
  writeFileSync(jsonPath, `${JSON.stringify(resultsDocument, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);

  const bars: Bar[] = aggregates
    .filter((a) => !a.skipped)
    .sort((a, b) => (a.mode === b.mode ? b.qps - a.qps : a.mode === 'single' ? -1 : 1))
    .map((a) => ({
      label: `${a.label} · ${a.mode === 'single' ? 'single query, 1 thread' : `batch, ${a.threads} threads`}`,
      value: a.qps,
      annotation: `${formatNumber(a.qps)} QPS · recall ${a.recallAt10.toFixed(3)}`,
      highlight: a.ours,
      group: a.mode,
    }));
  writeFileSync(
    svgPath,
    barChart({
      title: `Exact k-NN on ${dataset.name} (${n} × ${dim}, k=${K}, euclidean)`,
      subtitle: `queries per second, median of ${runs} run(s); higher is better`,
      bars,
      axisLabel: 'queries per second (log scale)',
      footer: [
        `${environment.cpuModel}, ${environment.logicalCpus} logical CPUs, node ${environment.node}${ourMemory?.kernels ? `, nearest kernels ${ourMemory.kernels}` : ''}, ${environment.date.slice(0, 10)}`,
        `command: npm run bench -- --suite exact${quick ? ' --quick' : ''}`,
      ],
    }),
  );
  out.write(`\nwrote ${jsonPath}\nwrote ${svgPath}\n`);
}
