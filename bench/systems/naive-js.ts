// Benchmark child: the brute force a tutorial would write — for every row, sqrt of the sum of
// squared differences into an array of { id, distance } objects, then a full sort. Deliberately
// not optimised: it is the baseline "why use a library at all".

import { loadData, readSpec, report, rssAfterGc, runSingle, skip, stopwatch } from '../lib/child.ts';

const spec = readSpec();
if (spec.mode !== 'single') {
  skip(spec.system, spec.mode, 'naive-js has no batch mode');
  process.exit(0);
}
const { corpus, queries } = loadData(spec);
const { dim, k } = spec;

const rss0 = rssAfterGc();
const build = stopwatch();
// "The index": one Float32Array per stored vector, as tutorials keep them.
const vectors: Float32Array[] = [];
for (let i = 0; i < spec.corpusRows; i++) vectors.push(corpus.subarray(i * dim, (i + 1) * dim));
const buildSeconds = build().wallSeconds;
const memoryBytes = rssAfterGc() - rss0;

function euclidean(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    sum += d * d;
  }
  return Math.sqrt(sum);
}

function search(query: Float32Array, topK: number): { id: number; distance: number }[] {
  const results: { id: number; distance: number }[] = [];
  for (let id = 0; id < vectors.length; id++) results.push({ id, distance: euclidean(query, vectors[id]) });
  results.sort((a, b) => a.distance - b.distance);
  return results.slice(0, topK);
}

const measured = runSingle(spec, (i) => search(queries.subarray(i * dim, (i + 1) * dim), k).map((r) => r.id));
report(spec, measured, {
  buildSeconds,
  memoryBytes,
  notes: 'array of Float32Array rows; per query: sqrt(sum of squares) into {id, distance}[] + full sort',
  threads: 1,
});
