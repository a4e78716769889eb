// Benchmark child: hnswlib's exact BruteforceSearch through the hnswlib-node addon (C++, compiled
// by node-gyp with default flags). Single queries only: the binding has no batch call.

import { createRequire } from 'node:module';
import { describeError, loadData, packageVersion, readSpec, report, rssAfterGc, runSingle, skip, stopwatch } from '../lib/child.ts';

interface BruteforceSearch {
  initIndex(maxElements: number): void;
  addPoint(point: number[], label: number): void;
  searchKnn(query: number[], k: number): { distances: number[]; neighbors: number[] };
}
type HnswlibNode = { BruteforceSearch: new (space: 'l2' | 'ip' | 'cosine', dim: number) => BruteforceSearch };

const spec = readSpec();
if (spec.mode !== 'single') {
  skip(spec.system, spec.mode, 'hnswlib-node BruteforceSearch has no batch call');
  process.exit(0);
}

const require = createRequire(import.meta.url);
let lib: HnswlibNode;
let version = 'unknown';
try {
  lib = require('hnswlib-node') as HnswlibNode;
  version = packageVersion('hnswlib-node');
} catch (error) {
  skip(spec.system, spec.mode, `cannot load hnswlib-node: ${describeError(error)}`);
  process.exit(0);
}

const { corpus, queries } = loadData(spec);
const { dim, k } = spec;
const space = spec.metric === 'euclidean' ? 'l2' : spec.metric === 'dot' ? 'ip' : 'cosine';

const rss0 = rssAfterGc();
const build = stopwatch();
const index = new lib.BruteforceSearch(space, dim);
index.initIndex(spec.corpusRows);
for (let i = 0; i < spec.corpusRows; i++) index.addPoint(Array.from(corpus.subarray(i * dim, (i + 1) * dim)), i);
const buildSeconds = build().wallSeconds;
const memoryBytes = rssAfterGc() - rss0;

const measured = runSingle(spec, (i) => index.searchKnn(Array.from(queries.subarray(i * dim, (i + 1) * dim)), k).neighbors);
report(spec, measured, {
  buildSeconds,
  memoryBytes,
  version,
  notes: 'BruteforceSearch.searchKnn per query (number[] in/out); addon built with default flags (SSE, no AVX)',
  threads: 1,
});
