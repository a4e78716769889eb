import { IvfIndex, FlatIndex } from 'nearest';
import { loadFashionMnist } from 'nearest/datasets';
const ds = loadFashionMnist();
const dim = 784, N = 60000;
const train = ds.train.subarray(0, N*dim);
const flat = new FlatIndex({ dim, metric: 'euclidean' }); flat.add(train);
const nq = 500; const qs = ds.test.subarray(0, nq*dim);
const gt = flat.searchBatch(qs, 10);
const enc = process.argv[2] === 'pq' ? { pq: { m: 28 } } : process.argv[2] || 'flat';
const refine = process.argv[3] === 'refine';
const ivf = new IvfIndex({ dim, metric: 'euclidean', nlist: 1024, encoding: enc, refine });
let t = performance.now(); ivf.train(train); console.log('train s', ((performance.now()-t)/1000).toFixed(1));
t = performance.now(); ivf.add(train); console.log('add s', ((performance.now()-t)/1000).toFixed(1), ivf.stats());
for (const nprobe of [1, 4, 8, 16, 32]) {
  t = performance.now(); let found = 0;
  for (let i = 0; i < nq; i++) {
    const r = ivf.search(qs.subarray(i*dim,(i+1)*dim), 10, refine ? { nprobe, refineFactor: 8 } : { nprobe });
    const truth = new Set(Array.from(gt.ids.subarray(i*10, i*10+10)));
    found += r.filter(x => truth.has(x.id)).length;
  }
  console.log('nprobe', nprobe, 'recall', (found/(nq*10)).toFixed(4), 'QPS', (nq/((performance.now()-t)/1000)).toFixed(0));
}
