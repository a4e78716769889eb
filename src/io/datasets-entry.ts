// Entry point `nearest/datasets` (Node.js only): dataset readers and generators kept out of the
// main entry so that `import 'nearest'` stays free of node:fs and runs in browsers.
export { readIdx, readIdxFile, isGzip, type IdxTensor, type ReadIdxOptions } from './idx-ubyte.js';
export {
  loadFashionMnist, clusteredDataset, rng, gaussian, FASHION_MNIST_DIR, FASHION_MNIST_LABELS,
  type Dataset, type LoadFashionMnistOptions, type ClusteredDatasetOptions,
} from './datasets.js';
