// Metrics and the conversions between the internal ranking key and the public score/distance.
//
// Internally smaller is closer, always: the key is |q-x|^2 for euclidean, -cos(q,x) for cosine and
// -dot(q,x) for dot. Scores (higher is more similar) and distances are derived at the API edge.
// Float32 rounding can push a cosine a hair past ±1 and an approximate squared distance (PQ tables)
// below 0; these outputs are clamped to their true ranges — rounding, never input, is clamped.

/** The similarity measures every index supports. */
export type Metric = 'cosine' | 'euclidean' | 'dot';

/** All metrics, for validation messages. */
export const METRICS: readonly Metric[] = ['cosine', 'euclidean', 'dot'];

/**
 * The ranking key of a computed cosine similarity: −similarity clamped to [−1, 1], so that exactly
 * parallel vectors tie (and ties go to the smaller id) even when rounding put one of them at
 * 1.0000001.
 */
export function cosineKey(similarity: number): number {
  return similarity >= 1 ? -1 : similarity <= -1 ? 1 : 0 - similarity;
}

/**
 * Public score of an internal key: cosine similarity (in [−1, 1]), minus the Euclidean distance, or
 * the dot product. Higher is more similar.
 */
export function keyToScore(metric: Metric, key: number): number {
  switch (metric) {
    case 'euclidean': return key > 0 ? -Math.sqrt(key) : 0;
    case 'cosine': return 0 - cosineKey(-key);
    case 'dot': return 0 - key;
  }
}

/**
 * Public distance of an internal key: 1 − cosine similarity (in [0, 2]), the Euclidean distance
 * (≥ 0), or minus the dot product. Lower is more similar.
 */
export function keyToDistance(metric: Metric, key: number): number {
  switch (metric) {
    case 'euclidean': return key > 0 ? Math.sqrt(key) : 0;
    case 'cosine': return 1 + cosineKey(-key);
    case 'dot': return key;
  }
}
