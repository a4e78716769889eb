import { HnswIndex, FlatIndex } from 'nearest';
import { loadFashionMnist } from 'nearest/datasets';
const ds = loadFashionMnist();
const N = +process.argv[2] || 20000, dim = 784, quant = process.argv[3] || 'none', threads = +process.argv[4] || 1;
const train = ds.train.subarray(0, N*dim);
const flat = new FlatIndex({ dim, metric: 'euclidean' }); flat.add(train);
const nq = 500; const qs = ds.test.subarray(0, nq*dim);
const gt = flat.searchBatch(qs, 10);
const h = new HnswIndex({ dim, metric: 'euclidean', quantization: quant, threads });
let t = performance.now(); const c0 = process.cpuUsage();
h.add(train);
const cpu = process.cpuUsage(c0);
console.log('build s', ((performance.now()-t)/1000).toFixed(2), 'cpu s', ((cpu.user+cpu.system)/1e6).toFixed(2), h.stats());
for (const ef of [16, 32, 64, 128]) {
  t = performance.now(); let found = 0;
  for (let i = 0; i < nq; i++) {
    const r = h.search(qs.subarray(i*dim,(i+1)*dim), 10, { efSearch: ef });
    const truth = new Set(Array.from(gt.ids.subarray(i*10, i*10+10)));
    found += r.filter(x => truth.has(x.id)).length;
  }
  const s = (performance.now()-t)/1000;
  console.log('ef', ef, 'recall', (found/(nq*10)).toFixed(4), 'QPS', (nq/s).toFixed(0));
}
