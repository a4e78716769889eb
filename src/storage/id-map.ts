// IdMap: a map from ids (non-negative safe integers) to small non-negative integers (slots,
// handles), with the subset of Map's surface the indexes use. Ids that are dense — the common case:
// 0..n-1, or a store's internal handles — live in an Int32Array (4 bytes an id, against ~30 for a
// Map entry: at 1M ids, 4 MB instead of 29 MB); sparse or huge ids fall back to a Map.

/** Ids below this may go to the dense table (2^26 ids: a 256 MiB table at most). */
const DENSE_LIMIT = 2 ** 26;

export class IdMap {
  /** value + 1 per id; 0 = absent. */
  private dense = new Int32Array(0);
  private sparse: Map<number, number> | null = null;
  private count = 0;

  /** Ids held. */
  get size(): number { return this.count; }

  get(id: number): number | undefined {
    if (id < this.dense.length) { const v = this.dense[id]; return v === 0 ? undefined : v - 1; }
    return this.sparse?.get(id);
  }

  has(id: number): boolean { return this.get(id) !== undefined; }

  /** Sets id -> value (value: an integer in [0, 2^31 − 1)). */
  set(id: number, value: number): this {
    if (id >= this.dense.length && id < DENSE_LIMIT && id < 2 * this.count + 1024) this.growTo(id + 1);
    if (id < this.dense.length) {
      if (this.dense[id] === 0) this.count++;
      this.dense[id] = value + 1;
    } else {
      this.sparse ??= new Map();
      if (!this.sparse.has(id)) this.count++;
      this.sparse.set(id, value);
    }
    return this;
  }

  delete(id: number): boolean {
    if (id < this.dense.length) {
      if (this.dense[id] === 0) return false;
      this.dense[id] = 0; this.count--;
      return true;
    }
    if (this.sparse?.delete(id)) { this.count--; return true; }
    return false;
  }

  /** The values, ids in increasing order for the dense part. */
  *values(): Generator<number> {
    for (let i = 0; i < this.dense.length; i++) if (this.dense[i] !== 0) yield this.dense[i] - 1;
    if (this.sparse) yield* this.sparse.values();
  }

  /** [id, value] pairs, ids in increasing order for the dense part. */
  *entries(): Generator<[number, number]> {
    for (let i = 0; i < this.dense.length; i++) if (this.dense[i] !== 0) yield [i, this.dense[i] - 1];
    if (this.sparse) yield* this.sparse.entries();
  }

  private growTo(length: number): void {
    const next = new Int32Array(Math.min(DENSE_LIMIT, Math.max(length, Math.ceil(this.dense.length * 1.5), 1024)));
    next.set(this.dense);
    this.dense = next;
    // Ids of the sparse map that now fall inside the dense table move there.
    if (this.sparse) {
      for (const [id, v] of this.sparse) if (id < next.length) { next[id] = v + 1; this.sparse.delete(id); }
      if (this.sparse.size === 0) this.sparse = null;
    }
  }
}
