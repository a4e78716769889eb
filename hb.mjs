import { HnswIndex, loadIndex } from 'nearest';
import { loadFashionMnist } from 'nearest/datasets';
import fs from 'fs';
const ds = loadFashionMnist();
const dim = 784;
for (const q of ['none', 'int8']) {
  const path = `/tmp/fm-${q}.nrst`;
  if (!fs.existsSync(path)) {
    const h = new HnswIndex({ dim, metric: 'euclidean', quantization: q, threads: 2 });
    h.add(ds.train); await h.save(path);
  }
}
