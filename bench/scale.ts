// Scale demonstration for IVF-PQ (issue #4): a synthetic 1,000,000 × 128 corpus with realistic
// structure (Gaussian clusters in a 16-d latent space, mapped to 128-d, plus noise), generated and
// added in chunks so the raw floats never sit in memory at once, then searched. Reports peak RSS
// (the bar: within 2 GiB), recall@10 against exact search (computed chunk by chunk and merged),
// queries per second at several nprobe, and build times.
//
//   npm run bench:scale              # 1M vectors
//   npm run bench:scale -- --n 200000 # smaller
import { parseArgs } from 'node:util';
import { writeFileSync, mkdirSync } from 'node:fs';
import { FlatIndex, IvfIndex, createIndex, describeIndex } from 'nearest';

const { values } = parseArgs({ options: {
  n: { type: 'string', default: '1000000' }, nq: { type: 'string', default: '1000' },
  spec: { type: 'string', default: 'IVF4096,PQ16,RFlat' }, chunk: { type: 'string', default: '100000' },
} });
const n = Number(values.n), nq = Number(values.nq), chunk = Number(values.chunk);
const dim = 128, latentDim = 16, clusters = 200, k = 10;

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
function normal(r: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}
const structure = normal(prng(42));
const centres = Float64Array.from({ length: clusters * latentDim }, () => 3 * structure());
const map = Float64Array.from({ length: latentDim * dim }, () => structure() / Math.sqrt(latentDim));
function generate(rows: number, seed: number): Float32Array {
  const r = prng(seed), g = normal(r), out = new Float32Array(rows * dim), z = new Float64Array(latentDim);
  for (let i = 0; i < rows; i++) {
    const c = Math.floor(r() * clusters);
    for (let a = 0; a < latentDim; a++) z[a] = centres[c * latentDim + a] + g();
    for (let d = 0; d < dim; d++) {
      let v = 0.15 * g();
      for (let a = 0; a < latentDim; a++) v += z[a] * map[a * dim + d];
      out[i * dim + d] = v;
    }
  }
  return out;
}

const rss = () => process.memoryUsage().rss;
// Temporary kernel memories (assignment arenas, the per-chunk exact index) are garbage once a step
// ends; collect them so the peak reflects what the index keeps, not how lazily V8 frees them.
const collect = () => (globalThis as { gc?: () => void }).gc?.();
const peak = () => process.resourceUsage().maxRSS * 1024;
const log = (s: string) => process.stderr.write(s + '\n');
const queries = generate(nq, 7);
const index = createIndex(values.spec!, { dim, metric: 'euclidean' }) as IvfIndex;
log(`${describeIndex(index)} over ${n.toLocaleString()} × ${dim} (chunks of ${chunk.toLocaleString()})`);

let t = performance.now();
const sampleSize = Math.min(n, index.nlist * 64);
index.train(generate(sampleSize, 1000));
collect();
const trainSeconds = (performance.now() - t) / 1000;
log(`trained on ${sampleSize.toLocaleString()} vectors in ${trainSeconds.toFixed(1)} s`);

// Exact ground truth merged over chunks: best k (distance, id) per query.
const truthD = new Float64Array(nq * k).fill(Infinity), truthI = new Float64Array(nq * k).fill(-1);
t = performance.now();
let gtSeconds = 0;
for (let start = 0, c = 0; start < n; start += chunk, c++) {
  const rows = generate(Math.min(chunk, n - start), 2000 + c);
  const count = rows.length / dim;
  const ids = Float64Array.from({ length: count }, (_, i) => start + i);
  index.add(rows, ids);
  const g0 = performance.now();
  const flat = new FlatIndex({ dim, metric: 'euclidean' });
  flat.add(rows, ids);
  const part = flat.searchBatch(queries, k);
  for (let q = 0; q < nq; q++) {
    const merged: [number, number][] = [];
    for (let j = 0; j < k; j++) merged.push([truthD[q * k + j], truthI[q * k + j]], [part.distances[q * k + j], part.ids[q * k + j]]);
    merged.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (let j = 0; j < k; j++) { truthD[q * k + j] = merged[j][0]; truthI[q * k + j] = merged[j][1]; }
  }
  gtSeconds += (performance.now() - g0) / 1000;
  collect();
  log(`  added ${(start + count).toLocaleString()} — rss ${(rss() / 2 ** 20).toFixed(0)} MiB`);
}
const addSeconds = (performance.now() - t) / 1000 - gtSeconds;
(globalThis as { gc?: () => void }).gc?.();
const stats = index.stats();
const rows: { nprobe: number; recall: number; qps: number }[] = [];
for (const nprobe of [1, 4, 8, 16, 32, 64]) {
  let found = 0;
  const t0 = performance.now();
  for (let q = 0; q < nq; q++) {
    const hits = index.search(queries.subarray(q * dim, (q + 1) * dim), k, { nprobe, refineFactor: index.refine ? 8 : undefined } as never);
    const truth = new Set(truthI.subarray(q * k, (q + 1) * k));
    found += hits.filter((h) => truth.has(h.id)).length;
  }
  const qps = nq / ((performance.now() - t0) / 1000);
  rows.push({ nprobe, recall: found / (nq * k), qps });
  log(`nprobe ${nprobe}: recall@10 ${(found / (nq * k)).toFixed(4)}, ${qps.toFixed(0)} QPS (1 thread)`);
}
const result = {
  spec: describeIndex(index), n, dim, nq, k, trainSeconds, addSeconds,
  indexMemoryBytes: stats.memoryBytes, peakRssBytes: peak(), withinTwoGiB: peak() < 2 * 2 ** 30, sweep: rows,
  note: 'peak RSS includes one 100k-row chunk of raw floats and the exact ground-truth FlatIndex of that chunk',
};
console.log(JSON.stringify(result, null, 1));
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/scale-ivfpq.json', JSON.stringify(result, null, 1));
log(`peak RSS ${(peak() / 2 ** 20).toFixed(0)} MiB (${result.withinTwoGiB ? 'within' : 'OVER'} 2 GiB); index ${(stats.memoryBytes / 2 ** 20).toFixed(0)} MiB`);
