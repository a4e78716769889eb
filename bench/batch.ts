// searchBatch on all cores (issue 13's bar: on 2 threads ≥ 1.8× one thread, for every index type),
// on several shapes of data, one run:
//
//   npm run bench:batch                 # build, then this: word vectors 100-d, Fashion-MNIST 784-d, clustered 960-d
//   npx tsx bench/batch.ts --quick      # smoke size
//   npx tsx bench/batch.ts --data wordvecs --passes 5
//
// Per data set and index (Flat; HNSW m 16; IVF-Flat, IVF-SQ8 and IVF-PQ with re-ranking, nlist
// 256, nprobe 8): one searchBatch of every query with k = 10 on 1 thread and on 2 threads,
// alternating, `--passes` times; the median wall time of each. QPS is queries per wall second;
// QPS/CPU-s divides by the process's CPU time (every thread's) over the same call, so it shows
// what the second thread costs. The two runs must give the same ids (checked). Results:
// bench/results/batch.json (batch-quick.json with --quick).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FlatIndex, HnswIndex, IvfIndex, kernels, type BatchResult } from 'nearest';
import { clusteredDataset } from 'nearest/datasets';
import { benchArgs } from './lib/args.ts';
import { loadBenchData } from './lib/bench-data.ts';
import { describeEnvironment } from './lib/environment.ts';
import { median } from './lib/stats.ts';

const { args } = benchArgs('usage: tsx bench/batch.ts [--quick] [--data wordvecs,fashion-mnist,clustered-960] [--passes 3]', {
  quick: { type: 'boolean', default: false },
  data: { type: 'string', default: 'wordvecs,fashion-mnist,clustered-960' },
  passes: { type: 'string', default: '3' },
});
const quick = args.quick === true, passes = Number(args.passes);
const root = fileURLToPath(new URL('..', import.meta.url));
const log = (m: string) => process.stderr.write(`${m}\n`);
const K = 10;

interface Shape { name: string; metric: 'cosine' | 'euclidean'; dim: number; corpus: Float32Array; queries: Float32Array }
async function shapes(): Promise<Shape[]> {
  const out: Shape[] = [];
  for (const id of String(args.data).split(',')) {
    if (id === 'clustered-960') {
      const n = quick ? 5000 : 30_000, nq = quick ? 200 : 1000;
      const d = clusteredDataset({ n, nq, dim: 960, clusters: 100, seed: 3 });
      out.push({ name: `clustered 960-d (${n.toLocaleString('en-US')})`, metric: 'euclidean', dim: 960, corpus: d.train, queries: d.test });
      continue;
    }
    if (id !== 'wordvecs' && id !== 'fashion-mnist') throw new Error(`--data: unknown set ${id}`);
    const d = await loadBenchData(id, { quick, nq: quick ? 200 : 2000, log });
    if ('skipped' in d) { log(`${id}: skipped (${d.skipped})`); continue; }
    out.push({ name: `${d.label}`, metric: d.metric === 'cosine' ? 'cosine' : 'euclidean', dim: d.dim, corpus: d.corpus, queries: d.queries });
  }
  return out;
}

type Searcher = { searchBatch(q: Float32Array, k: number, o: { threads: number }): BatchResult };
function pqM(dim: number): number {
  for (const m of [Math.round(dim / 4), 32, 28, 25, 24, 20, 16]) if (m >= 1 && dim % m === 0) return m;
  return 1;
}
function indexes(s: Shape): { name: string; make: () => Searcher }[] {
  const nlist = quick ? 64 : 256, dim = s.dim, metric = s.metric;
  const ivf = (encoding: ConstructorParameters<typeof IvfIndex>[0]['encoding'], refine: boolean) => () => {
    const index = new IvfIndex({ dim, metric, nlist, nprobe: 8, encoding, refine, ...(refine ? { refineFactor: 4 } : {}), threads: 2 });
    index.train(s.corpus);
    index.add(s.corpus);
    return index;
  };
  return [
    { name: 'Flat', make: () => { const f = new FlatIndex({ dim, metric, threads: 2 }); f.add(s.corpus); return f; } },
    { name: 'HNSW16', make: () => { const h = new HnswIndex({ dim, metric, m: 16, efConstruction: 100, efSearch: 64, threads: 2 }); h.add(s.corpus); return h; } },
    { name: `IVF${nlist},Flat`, make: ivf('flat', false) },
    { name: `IVF${nlist},SQ8`, make: ivf('sq8', false) },
    { name: `IVF${nlist},PQ${pqM(dim)},RFlat`, make: ivf({ pq: { m: pqM(dim) } }, true) },
  ];
}

function timed(index: Searcher, queries: Float32Array, threads: number): { wall: number; cpu: number; ids: Float64Array } {
  const c0 = process.cpuUsage(), t0 = performance.now();
  const r = index.searchBatch(queries, K, { threads });
  const wall = (performance.now() - t0) / 1000, c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1e6, ids: r.ids };
}

const rows: { data: string; index: string; nq: number; qps1: number; qps2: number; qpsCpu1: number; qpsCpu2: number; speedup: number; sameIds: boolean }[] = [];
for (const s of await shapes()) {
  const nq = s.queries.length / s.dim;
  for (const ix of indexes(s)) {
    log(`${s.name}: building ${ix.name}`);
    const index = ix.make();
    timed(index, s.queries.subarray(0, Math.min(nq, 50) * s.dim), 2); // warm-up (workers, JIT)
    const one: ReturnType<typeof timed>[] = [], two: ReturnType<typeof timed>[] = [];
    for (let p = 0; p < passes; p++) { one.push(timed(index, s.queries, 1)); two.push(timed(index, s.queries, 2)); }
    const sameIds = one[0]!.ids.every((id, i) => id === two[0]!.ids[i]);
    const w1 = median(one.map((r) => r.wall)), w2 = median(two.map((r) => r.wall));
    const c1 = median(one.map((r) => r.cpu)), c2 = median(two.map((r) => r.cpu));
    const row = { data: s.name, index: ix.name, nq, qps1: nq / w1, qps2: nq / w2, qpsCpu1: nq / c1, qpsCpu2: nq / c2, speedup: w1 / w2, sameIds };
    rows.push(row);
    log(`  ${ix.name}: 1 thread ${row.qps1.toFixed(0)} QPS, 2 threads ${row.qps2.toFixed(0)} QPS: ${row.speedup.toFixed(2)}x${sameIds ? '' : ' (ids DIFFER)'}`);
  }
}

console.log(`\nsearchBatch, k = ${K}, all queries in one call, median of ${passes} (kernels ${kernels.name})`);
console.log(`${'data'.padEnd(34)} ${'index'.padEnd(22)} ${'QPS 1t'.padStart(9)} ${'QPS 2t'.padStart(9)} ${'QPS/CPU-s 1t'.padStart(13)} ${'QPS/CPU-s 2t'.padStart(13)}  2t/1t   bar 1.8x`);
for (const r of rows) {
  console.log(`${r.data.slice(0, 34).padEnd(34)} ${r.index.padEnd(22)} ${r.qps1.toFixed(0).padStart(9)} ${r.qps2.toFixed(0).padStart(9)} ${r.qpsCpu1.toFixed(0).padStart(13)} ${r.qpsCpu2.toFixed(0).padStart(13)}  ${r.speedup.toFixed(2).padStart(5)}   ${r.speedup >= 1.8 ? 'met' : 'NOT met'}${r.sameIds ? '' : ' (ids differ!)'}`);
}
const results = join(root, 'bench', 'results');
mkdirSync(results, { recursive: true });
writeFileSync(join(results, quick ? 'batch-quick.json' : 'batch.json'), `${JSON.stringify({
  environment: describeEnvironment(root, process.env.NEAREST_BENCH_PYTHON ?? '/usr/bin/python3'), k: K, passes, rows,
}, null, 2)}\n`);
process.exit(rows.every((r) => r.sameIds) ? 0 : 1);
