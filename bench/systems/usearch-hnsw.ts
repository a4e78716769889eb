// HNSW sweep child: usearch's HNSW index (npm usearch, native addon with NumKong/SimSIMD kernels).
// Its JS API fixes expansion_search at construction (no setter), so the index is built once, saved
// to bench/.cache, and re-loaded (fully into RAM with load(), not view()) into a new Index with
// expansion_search = ef for every sweep point; the build is measured on the original index.

import { createRequire } from 'node:module';
import { rmSync } from 'node:fs';
import { collectGarbage, describeError, packageVersion, skip } from '../lib/child.ts';
import { loadSweepData, measureBuild, progress, readSweepSpec, runSweep, sweepReport } from '../lib/sweep.ts';

interface UsearchIndex {
  add(keys: BigUint64Array, vectors: Float32Array, threads?: number): void;
  search(vector: Float32Array, k: number, threads: number): { keys: BigUint64Array; distances: Float32Array };
  save(path: string): void;
  load(path: string): void;
  size(): number;
}
interface IndexConfig {
  metric: string;
  dimensions: number;
  connectivity: number;
  expansion_add: number;
  expansion_search: number;
}
type Usearch = { Index: new (config: IndexConfig) => UsearchIndex };

const spec = readSweepSpec();
const require = createRequire(import.meta.url);
let lib: Usearch;
let version = 'unknown';
try {
  const mod = require('usearch') as Usearch & { default?: Usearch };
  lib = typeof mod.Index === 'function' ? mod : mod.default!;
  if (typeof lib?.Index !== 'function') throw new Error('usearch has no Index export');
  version = packageVersion('usearch');
} catch (error) {
  skip(spec.system, spec.mode, `cannot load usearch: ${describeError(error)}`);
  process.exit(0);
}

const { corpus, queries } = loadSweepData(spec);
const { dim, k, corpusRows: n } = spec;
const metric = spec.metric === 'euclidean' ? 'l2sq' : 'cos';
const config = (ef: number): IndexConfig => ({ metric, dimensions: dim, connectivity: spec.m, expansion_add: spec.efConstruction, expansion_search: ef });

const { value: built, measure } = measureBuild(spec, () => {
  const index = new lib.Index(config(spec.efSearch[0]));
  const keys = new BigUint64Array(n);
  for (let i = 0; i < n; i++) keys[i] = BigInt(i);
  index.add(keys, corpus, spec.buildThreads);
  return index;
});
if (built.size() !== n) throw new Error(`usearch index holds ${built.size()} of ${n} vectors`);

const savePath = `${spec.idsPrefix}.usearch`;
built.save(savePath);
// usearch's addon reads the query's whole ArrayBuffer: give each query its own.
const queryRows: Float32Array[] = [];
for (let i = 0; i < spec.queryRows; i++) queryRows.push(queries.slice(i * dim, (i + 1) * dim));

let sweep: ReturnType<typeof runSweep>;
try {
  sweep = runSweep(spec, corpus, queries, (ef) => {
    // The previous point's index is unreachable by now: let its ~200 MB go before loading the next.
    collectGarbage();
    const fresh = new lib.Index(config(ef));
    fresh.load(savePath);
    if (fresh.size() !== n) throw new Error(`reloaded usearch index holds ${fresh.size()} of ${n} vectors`);
    return (i) => fresh.search(queryRows[i], k, 1).keys;
  });
} finally {
  rmSync(savePath, { force: true });
}
progress(spec, 'done');

sweepReport(spec, measure, sweep, {
  buildThreads: spec.buildThreads,
  version,
  notes:
    `Index({ metric: '${metric}', connectivity: ${spec.m}, expansion_add: ${spec.efConstruction}, expansion_search: ef }); add(keys, rows, ${spec.buildThreads} threads); ` +
    `search(q, ${k}, 1 thread) per query; expansion_search is fixed per Index, so each point re-loads the saved index into a new Index`,
});
