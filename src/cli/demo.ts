#!/usr/bin/env node
// The demo behind `npm run demo`: similarity search over Fashion-MNIST (installed with apt where
// possible, otherwise generated clustered data, and it says which), printing a few queries with the
// neighbours found and their labels, recall against a float64 brute force, and queries per second.
// Imports only the public API.
import { parseArgs } from 'node:util';
import { FlatIndex, kernels, type Metric } from '../index.js';
import { clusteredDataset, loadFashionMnist, type Dataset } from '../io/datasets-entry.js';

const { values } = parseArgs({
  options: {
    k: { type: 'string', default: '10' },
    metric: { type: 'string', default: 'euclidean' },
    show: { type: 'string', default: '5' },
    synthetic: { type: 'boolean', default: false },
    'no-install': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  console.log(`usage: npm run demo -- [--k 10] [--metric euclidean|cosine|dot] [--show 5] [--synthetic] [--no-install]`);
  process.exit(0);
}
const k = Number(values.k);
const show = Number(values.show);
const metric = values.metric as Metric;

function load(): { ds: Dataset; note: string } {
  if (!values.synthetic) {
    const ds = loadFashionMnist({ install: !values['no-install'] });
    if (ds) return { ds, note: `Fashion-MNIST from ${ds.source} (60,000 × 784 corpus, 10,000 queries)` };
  }
  const ds = clusteredDataset({ n: 60000, nq: 10000, dim: 784, clusters: 10, seed: 1 });
  return { ds, note: `generated clustered data (${values.synthetic ? 'asked for' : 'Fashion-MNIST is not installed and apt is unavailable'}): 60,000 × 784, 10 clusters` };
}

function exactReference(ds: Dataset, qi: number, kk: number): number[] {
  // Independent float64 brute force with a full sort (the textbook version), for the recall check.
  const dim = ds.dim, n = ds.train.length / dim;
  const q = ds.test.subarray(qi * dim, (qi + 1) * dim);
  const scored: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    let dot = 0, qq = 0, xx = 0, l2 = 0;
    for (let j = 0; j < dim; j++) {
      const a = q[j], b = ds.train[i * dim + j];
      dot += a * b; qq += a * a; xx += b * b; l2 += (a - b) * (a - b);
    }
    const s = metric === 'euclidean' ? -l2 : metric === 'dot' ? dot : qq && xx ? dot / Math.sqrt(qq * xx) : 0;
    scored.push([s, i]);
  }
  scored.sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  return scored.slice(0, kk).map((s) => s[1]);
}

const t0 = performance.now();
const { ds, note } = load();
console.log(`data: ${note}`);
console.log(`kernels: ${kernels.name}`);
const dim = ds.dim;
const index = new FlatIndex({ dim, metric });
let t = performance.now();
index.add(ds.train);
console.log(`FlatIndex (${metric}): added ${index.size} vectors in ${((performance.now() - t) / 1000).toFixed(2)} s, ${(index.stats().memoryBytes / 2 ** 20).toFixed(1)} MiB`);

const label = (labels: Uint8Array | undefined, i: number) => (labels && ds.labelNames ? ds.labelNames[labels[i]] : '?');
console.log(`\n${show} queries and their ${Math.min(k, 5)} nearest neighbours:`);
for (let qi = 0; qi < show; qi++) {
  const hits = index.search(ds.test.subarray(qi * dim, (qi + 1) * dim), k);
  const same = hits.filter((h) => ds.trainLabels && ds.testLabels && ds.trainLabels[h.id] === ds.testLabels[qi]).length;
  console.log(`  query ${qi} [${label(ds.testLabels, qi)}] — ${same}/${hits.length} neighbours share its label`);
  for (const h of hits.slice(0, 5)) {
    console.log(`      #${String(h.id).padEnd(6)} ${label(ds.trainLabels, h.id).padEnd(12)} score ${h.score.toFixed(4)}  distance ${h.distance.toFixed(4)}`);
  }
}

const check = 20;
let found = 0;
for (let qi = 0; qi < check; qi++) {
  const truth = new Set(exactReference(ds, qi, k));
  found += index.search(ds.test.subarray(qi * dim, (qi + 1) * dim), k).filter((h) => truth.has(h.id)).length;
}
console.log(`\nrecall@${k} against a float64 brute force (${check} queries): ${(found / (check * k)).toFixed(4)}`);

const nq = 300;
t = performance.now();
for (let qi = 0; qi < nq; qi++) index.search(ds.test.subarray(qi * dim, (qi + 1) * dim), k);
const single = nq / ((performance.now() - t) / 1000);
const nb = ds.test.length / dim;
t = performance.now();
const batch = index.searchBatch(ds.test, k);
const batchQps = nb / ((performance.now() - t) / 1000);
let agree = 0;
for (let qi = 0; qi < nb; qi++) {
  if (ds.testLabels && ds.trainLabels && batch.ids[qi * k] >= 0 && ds.trainLabels[batch.ids[qi * k]] === ds.testLabels[qi]) agree++;
}
console.log(`queries per second: ${single.toFixed(1)} one query per call (1 thread), ${batchQps.toFixed(1)} in one batch of ${nb} (${index.threads} threads)`);
if (ds.testLabels) console.log(`1-NN label accuracy over all ${nb} queries: ${(agree / nb).toFixed(4)}`);
console.log(`total ${((performance.now() - t0) / 1000).toFixed(1)} s`);
