// How much IVF-Flat recall at small nprobe depends on the k-means seed, ours beside FAISS's:
// a single-seed comparison (bench/ivf.ts) at nprobe 1–2 differs by up to ~0.02 between two
// correct implementations. Trains IVF1024,Flat on Fashion-MNIST for several seeds with FAISS's
// random start and with our default k-means++ start, and prints recall@10 per seed and the means.
//   npx tsx bench/ivf-seeds.ts [--seeds 1,2,3] [--nprobe 1,2,4,8]
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { FlatIndex, IvfIndex } from 'nearest';
import { loadFashionMnist } from 'nearest/datasets';

const { values: args } = parseArgs({ options: { seeds: { type: 'string', default: '1,2,3' }, nprobe: { type: 'string', default: '1,2,4,8' } } });
const seeds = args.seeds!.split(',').map(Number), nprobes = args.nprobe!.split(',').map(Number);
const nlist = 1024, niter = 25, nq = 1000, k = 10, dim = 784;
const ds = loadFashionMnist({ install: true });
if (!ds) throw new Error('Fashion-MNIST is missing (Debian package dataset-fashion-mnist)');
const queries = ds.test.subarray(0, nq * dim);
const flat = new FlatIndex({ dim, metric: 'euclidean' });
flat.add(ds.train);
const truth = flat.searchBatch(queries, k).ids;

const rows: { system: string; seed: number; recalls: number[] }[] = [];
for (const init of ['random', 'kmeans++'] as const) {
  for (const seed of seeds) {
    const ivf = new IvfIndex({ dim, metric: 'euclidean', nlist, niter, seed, kmeansInit: init });
    ivf.train(ds.train);
    ivf.add(ds.train);
    const recalls = nprobes.map((nprobe) => {
      const got = ivf.searchBatch(queries, k, { nprobe }).ids;
      let hits = 0;
      for (let i = 0; i < nq; i++) {
        const t = new Set(truth.subarray(i * k, (i + 1) * k));
        for (let j = 0; j < k; j++) if (t.has(got[i * k + j])) hits++;
      }
      return hits / (nq * k);
    });
    rows.push({ system: `nearest (${init})`, seed, recalls });
    process.stderr.write(`nearest ${init} seed ${seed}: ${recalls.map((r) => r.toFixed(4)).join(' ')}\n`);
  }
}
const py = spawnSync('/usr/bin/python3', [new URL('./systems/faiss_ivf_seeds.py', import.meta.url).pathname, String(nlist), String(niter), String(nq), seeds.join(','), nprobes.join(',')],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
if (py.status === 0) {
  const got = JSON.parse(py.stdout.trim().split('\n').at(-1)!) as { seeds: Record<string, number[]> };
  for (const seed of seeds) rows.push({ system: 'faiss (random)', seed, recalls: got.seeds[String(seed)] });
} else process.stderr.write(`faiss skipped (exit ${py.status}): is python3-faiss installed?\n`);

process.stdout.write(`\nIVF${nlist},Flat on Fashion-MNIST, niter ${niter}, ${nq} queries: recall@10 by nprobe (${nprobes.join(', ')})\n`);
for (const r of rows) process.stdout.write(`${r.system.padEnd(20)} seed ${String(r.seed).padEnd(5)} ${r.recalls.map((x) => x.toFixed(4)).join('  ')}\n`);
for (const system of [...new Set(rows.map((r) => r.system))]) {
  const mine = rows.filter((r) => r.system === system);
  const mean = nprobes.map((_, i) => mine.reduce((s, r) => s + r.recalls[i], 0) / mine.length);
  process.stdout.write(`${system.padEnd(20)} mean       ${mean.map((x) => x.toFixed(4)).join('  ')}\n`);
}
