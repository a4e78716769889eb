// Metrics and the conversions between the internal ranking key and the public score/distance.
//
// Internally smaller is closer, always: the key is |q-x|^2 for euclidean, -cos(q,x) for cosine and
// -dot(q,x) for dot. Scores (higher is more similar) and distances are derived at the API edge.

/** The similarity measures every index supports. */
export type Metric = 'cosine' | 'euclidean' | 'dot';

/** All metrics, for validation messages. */
export const METRICS: readonly Metric[] = ['cosine', 'euclidean', 'dot'];

/**
 * Public score of an internal key: cosine similarity, minus the Euclidean distance, or the dot
 * product. Higher is more similar.
 */
export function keyToScore(metric: Metric, key: number): number {
  return metric === 'euclidean' ? 0 - Math.sqrt(key) : 0 - key;
}

/**
 * Public distance of an internal key: 1 - cosine similarity, the Euclidean distance, or minus the
 * dot product. Lower is more similar.
 */
export function keyToDistance(metric: Metric, key: number): number {
  switch (metric) {
    case 'euclidean': return Math.sqrt(key);
    case 'cosine': return 1 + key;
    case 'dot': return key;
  }
}
