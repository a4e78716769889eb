// HNSW sweep child: our HnswIndex, imported through the package name (dist/, as users get it).
// Parallel build with add(rows) on `buildThreads` threads (worker threads over shared memory), then
// one search(query, k, { efSearch }) call per query on the main thread.

import { describeError, skip } from '../lib/child.ts';
import { loadSweepData, measureBuild, readSweepSpec, runSweep, sweepReport } from '../lib/sweep.ts';

const spec = readSweepSpec();
const quantization = spec.params.quantization === 'int8' ? 'int8' : 'none';

let api: typeof import('nearest');
try {
  api = await import('nearest');
  if (typeof api.HnswIndex !== 'function') throw new Error("'nearest' has no HnswIndex export");
} catch (error) {
  skip(spec.system, spec.mode, `cannot import 'nearest' (run npm run build first): ${describeError(error)}`);
  process.exit(0);
}

const { corpus, queries } = loadSweepData(spec);
const { dim, k } = spec;

const { value: index, measure } = measureBuild(spec, () => {
  const index = new api.HnswIndex({ dim, metric: spec.metric, m: spec.m, efConstruction: spec.efConstruction, quantization, threads: spec.buildThreads });
  index.add(corpus);
  return index;
});
const stats = index.stats();

const sweep = runSweep(spec, corpus, queries, (efSearch) => {
  const options = { efSearch };
  return (i) => index.search(queries.subarray(i * dim, (i + 1) * dim), k, options).map((hit) => hit.id);
});

sweepReport(spec, measure, sweep, {
  buildThreads: spec.buildThreads,
  indexMemoryBytes: stats.memoryBytes,
  kernels: stats.kernels,
  notes: `HnswIndex({ m: ${spec.m}, efConstruction: ${spec.efConstruction}, quantization: '${quantization}', threads: ${spec.buildThreads} }).add(rows); search(q, ${k}, { efSearch }) per query on the main thread`,
});
