// Benchmark child: our exact FlatIndex, imported through the package name (dist/, as users get it).
// single: index.search(query, k) per query on the main thread; batch: one searchBatch call.

import { describeError, loadData, readSpec, report, rssAfterGc, runSingle, skip, stopwatch } from '../lib/child.ts';

const spec = readSpec();

let api: typeof import('nearest');
try {
  api = await import('nearest');
} catch (error) {
  skip(spec.system, spec.mode, `cannot import 'nearest' (run npm run build first): ${describeError(error)}`);
  process.exit(0);
}

const { corpus, queries } = loadData(spec);
const { dim, k } = spec;

const rss0 = rssAfterGc();
const build = stopwatch();
const index = new api.FlatIndex({ dim, metric: spec.metric });
index.add(corpus);
const buildSeconds = build().wallSeconds;
const memoryBytes = rssAfterGc() - rss0;
const stats = index.stats();

if (spec.mode === 'single') {
  const measured = runSingle(spec, (i) => index.search(queries.subarray(i * dim, (i + 1) * dim), k).map((hit) => hit.id));
  report(spec, measured, {
    buildSeconds,
    memoryBytes,
    indexMemoryBytes: stats.memoryBytes,
    kernels: stats.kernels,
    notes: 'FlatIndex.search per query, main thread',
    threads: 1,
  });
} else {
  const warm = Math.min(spec.warmup, spec.queryRows);
  if (warm > 0) index.searchBatch(queries.subarray(0, warm * dim), k, { threads: spec.threads });
  const stop = stopwatch();
  const result = index.searchBatch(queries, k, { threads: spec.threads });
  const { wallSeconds, cpuSeconds } = stop();
  const ids = new Int32Array(spec.queryRows * k);
  for (let i = 0; i < ids.length; i++) ids[i] = result.ids[i];
  report(spec, { queries: spec.queryRows, ids, wallSeconds, cpuSeconds }, {
    buildSeconds,
    memoryBytes,
    indexMemoryBytes: stats.memoryBytes,
    kernels: stats.kernels,
    notes: `FlatIndex.searchBatch, threads: ${spec.threads}`,
  });
}
