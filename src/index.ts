// Public API of nearest: re-exports only.
export { NearestError, type ErrorCode } from './errors.js';
export type { Metric } from './distance/metric.js';
export type { KernelName } from './distance/kernels.js';
export type { BackendChoice } from './distance/backend.js';
export { kernels } from './kernels-info.js';
export { FlatIndex, type FlatIndexOptions, type IndexStats } from './indexes/flat.js';
export { knn, type KnnOptions, type KnnResult } from './indexes/knn.js';
export { normalize } from './indexes/normalize.js';
export type { BatchOptions, BatchResult, IdFilter, SearchHit, SearchOptions, VectorIndex, RemovableIndex } from './indexes/types.js';
export { MAX_BATCH_RESULTS, MAX_SQUARED_NORM, type VectorLike, type VectorsLike } from './indexes/validate.js';
export { HnswIndex, type HnswIndexOptions, type HnswSearchOptions, type HnswBatchOptions } from './indexes/hnsw/hnsw-index.js';
export { IvfIndex, type IvfIndexOptions, type IvfSearchOptions, type IvfEncoding } from './indexes/ivf/ivf-index.js';
export { kmeans, type KmeansOptions, type KmeansResult } from './indexes/ivf/kmeans.js';
export { createIndex, describeIndex, describeIndex as describe, type FactoryOptions, type AnyIndex } from './indexes/factory.js';
export { indexToBuffer, indexFromBuffer, saveIndex, loadIndex, type LoadOptions, type SavedIndex } from './io/index-io.js';
export { DurableVectorStore, type DurableOptions } from './io/durable-store.js';
export { VectorStore, type VectorStoreOptions, type StoreRecord, type StoredRecord, type StoreHit, type StoreSearchOptions, type RecordId } from './store/vector-store.js';
export { compileFilter } from './store/filter.js';
