// The real data sets the server bench (and any later bench) chooses from with --data: Fashion-MNIST
// (784-d pixels, euclidean; Debian's dataset-fashion-mnist through src/io/datasets.ts) and the 100-d
// fastText word vectors built here (cosine; bench/lib/wordvecs.ts). One shape for both: a corpus,
// held-out queries, the metric, and a cache key for ground truth that changes with the content.

import { loadFashionMnist } from '../../src/io/datasets.ts';
import type { RefMetric } from './exact.ts';
import { loadWordVecs } from './wordvecs.ts';

export const BENCH_DATA = ['wordvecs', 'fashion-mnist'] as const;
export type BenchDataId = (typeof BENCH_DATA)[number];

export interface BenchData {
  id: BenchDataId;
  /** Ground-truth cache key (content-specific). */
  key: string;
  /** Human-readable description for tables. */
  label: string;
  metric: RefMetric;
  dim: number;
  n: number;
  nq: number;
  corpus: Float32Array;
  queries: Float32Array;
  source: string;
}

/** Parses a comma-separated --data value; null when it names something else. */
export function parseBenchData(value: string | undefined): BenchDataId[] | null {
  if (value === undefined) return [...BENCH_DATA];
  const ids = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  return ids.length > 0 && ids.every((id) => (BENCH_DATA as readonly string[]).includes(id)) ? (ids as BenchDataId[]) : null;
}

/**
 * Loads a data set, cut to the first `n` corpus rows and `nq` queries (at most what it has).
 * Fashion-MNIST: the 60,000 training images and the first nq of the 10,000 test images (installed
 * with apt-get when missing and running as root). Word vectors: 60,000 base words and 1,000
 * held-out query words (quick: 5,000 and 200, from a smaller model). `{ skipped }` when unavailable.
 */
export async function loadBenchData(id: BenchDataId, options: { quick: boolean; n?: number; nq?: number; log: (m: string) => void }): Promise<BenchData | { skipped: string }> {
  if (id === 'fashion-mnist') {
    const fm = loadFashionMnist({ install: true });
    if (!fm) return { skipped: 'Fashion-MNIST not found (apt-get install dataset-fashion-mnist)' };
    const n = Math.min(options.n ?? (options.quick ? 5_000 : 60_000), fm.train.length / fm.dim);
    const nq = Math.min(options.nq ?? (options.quick ? 200 : 1_000), fm.test.length / fm.dim);
    return {
      id, key: fm.name, label: `Fashion-MNIST ${n.toLocaleString('en-US')} x ${fm.dim} (euclidean)`, metric: 'euclidean', dim: fm.dim, n, nq,
      corpus: fm.train.slice(0, n * fm.dim), queries: fm.test.slice(0, nq * fm.dim), source: fm.source,
    };
  }
  const wv = await loadWordVecs({ quick: options.quick, log: options.log });
  if ('skipped' in wv) return wv;
  const n = Math.min(options.n ?? wv.meta.base, wv.meta.base);
  const nq = Math.min(options.nq ?? wv.meta.queries, wv.meta.queries);
  return {
    id, key: wv.name, label: `word vectors ${n.toLocaleString('en-US')} x ${wv.dim} (cosine)`, metric: 'cosine', dim: wv.dim, n, nq,
    corpus: wv.train.slice(0, n * wv.dim), queries: wv.test.slice(0, nq * wv.dim), source: `${wv.source} (${wv.meta.fasttext.command})`,
  };
}
