// HNSW sweep child: hnswlib's HierarchicalNSW through the hnswlib-node addon (C++). The addon is
// either the npm install (node-gyp default flags: -O3, SSE only) or the copy rebuilt with
// -march=native by bench/lib/native-addon.ts (`params.modulePath`). The binding has no parallel add
// and takes number[] only: the build converts each Float32Array row (part of what a user pays);
// queries are converted once, before timing, so the timed loop is the addon's searchKnn alone.

import { createRequire } from 'node:module';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeError, packageVersion, skip } from '../lib/child.ts';
import { loadSweepData, measureBuild, readSweepSpec, runSweep, sweepReport } from '../lib/sweep.ts';

interface HierarchicalNSW {
  initIndex(maxElements: number, m?: number, efConstruction?: number, randomSeed?: number): void;
  addPoint(point: number[], label: number): void;
  setEf(ef: number): void;
  searchKnn(query: number[], k: number): { distances: number[]; neighbors: number[] };
}
type HnswlibNode = { HierarchicalNSW: new (space: 'l2' | 'ip' | 'cosine', dim: number) => HierarchicalNSW };

const spec = readSweepSpec();
const modulePath = typeof spec.params.modulePath === 'string' ? spec.params.modulePath : null;
const require = createRequire(import.meta.url);
let lib: HnswlibNode;
let version = 'unknown';
try {
  lib = require(modulePath ?? 'hnswlib-node') as HnswlibNode;
  if (modulePath) {
    const pkg = join(modulePath, 'package.json');
    if (existsSync(pkg)) version = (JSON.parse(readFileSync(pkg, 'utf8')) as { version?: string }).version ?? 'unknown';
  } else {
    version = packageVersion('hnswlib-node');
  }
} catch (error) {
  skip(spec.system, spec.mode, `cannot load ${modulePath ?? 'hnswlib-node'}: ${describeError(error)}`);
  process.exit(0);
}

const { corpus, queries } = loadSweepData(spec);
const { dim, k, corpusRows: n } = spec;
// 'cosine' normalises inside hnswlib (a no-op on our normalised rows) and searches by inner product.
const space = spec.metric === 'euclidean' ? 'l2' : 'cosine';

const { value: index, measure } = measureBuild(spec, () => {
  const index = new lib.HierarchicalNSW(space, dim);
  index.initIndex(n, spec.m, spec.efConstruction, 100);
  for (let i = 0; i < n; i++) index.addPoint(Array.from(corpus.subarray(i * dim, (i + 1) * dim)), i);
  return index;
});

const queryArrays: number[][] = [];
for (let i = 0; i < spec.queryRows; i++) queryArrays.push(Array.from(queries.subarray(i * dim, (i + 1) * dim)));

const sweep = runSweep(spec, corpus, queries, (ef) => {
  index.setEf(ef);
  return (i) => index.searchKnn(queryArrays[i], k).neighbors;
});

sweepReport(spec, measure, sweep, {
  buildThreads: 1,
  version,
  notes:
    `HierarchicalNSW('${space}', ${dim}).initIndex(n, ${spec.m}, ${spec.efConstruction}, 100); addPoint(number[]) per row (no parallel add); ` +
    `setEf(ef); searchKnn(number[], ${k}) per query` +
    (typeof spec.params.buildFlags === 'string' ? `; addon built with ${spec.params.buildFlags}` : '; addon as installed by npm (node-gyp defaults: -O3, no -march)'),
});
