import { loadIndex } from 'nearest';
import { loadFashionMnist } from 'nearest/datasets';
const ds = loadFashionMnist();
const dim = 784, q = process.argv[2] || 'int8', ef = +(process.argv[3] || 16);
const h = await loadIndex(`/tmp/fm-${q}.nrst`);
const nq = 2000;
for (let r = 0; r < 4; r++) {
  const t = performance.now(); const c = process.cpuUsage();
  for (let i = 0; i < nq; i++) h.search(ds.test.subarray(i*dim,(i+1)*dim), 10, { efSearch: ef });
  const cu = process.cpuUsage(c);
  console.log(q, 'ef', ef, 'QPS', (nq/((performance.now()-t)/1000)).toFixed(0), 'QPS/cpu', (nq/((cu.user+cu.system)/1e6)).toFixed(0));
}
