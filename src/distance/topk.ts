// Bounded top-k selection: a max-heap of the k best (smallest key) entries seen so far, ties broken
// by the smaller id. O(n log k) over a scan, with an O(1) threshold test that rejects most rows.

/** The k best entries of a stream of (key, id, slot): smallest key first, then smallest id. */
export class TopK {
  /** Capacity. */
  readonly k: number;
  /** Entries currently held (≤ k). */
  size = 0;
  private readonly keys: Float64Array;
  private readonly ids: Float64Array;
  private readonly slots: Int32Array;

  constructor(k: number) {
    this.k = k;
    this.keys = new Float64Array(k);
    this.ids = new Float64Array(k);
    this.slots = new Int32Array(k);
  }

  /** Empties the heap for reuse. */
  reset(): void { this.size = 0; }

  /** Keys above this cannot enter; +Infinity until the heap is full. A key equal to it may (by id). */
  get threshold(): number { return this.size < this.k ? Infinity : this.keys[0]; }

  /** Offers an entry; kept if it beats the current worst (smaller key, or equal key and smaller id). */
  push(key: number, id: number, slot: number): void {
    const keys = this.keys, ids = this.ids, slots = this.slots;
    if (this.size < this.k) {
      let i = this.size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (keys[p] > key || (keys[p] === key && ids[p] > id)) break;
        keys[i] = keys[p]; ids[i] = ids[p]; slots[i] = slots[p];
        i = p;
      }
      keys[i] = key; ids[i] = id; slots[i] = slot;
      return;
    }
    if (key > keys[0] || (key === keys[0] && id >= ids[0])) return;
    const n = this.size;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let c = l;
      const r = l + 1;
      if (r < n && (keys[r] > keys[l] || (keys[r] === keys[l] && ids[r] > ids[l]))) c = r;
      if (keys[c] < key || (keys[c] === key && ids[c] < id)) break;
      keys[i] = keys[c]; ids[i] = ids[c]; slots[i] = slots[c];
      i = c;
    }
    keys[i] = key; ids[i] = id; slots[i] = slot;
  }

  /**
   * Drains the heap best-first into the given arrays (from offset `at`), returning the count.
   * Leaves the heap empty.
   */
  drain(keysOut: { [i: number]: number }, idsOut: { [i: number]: number } | null, slotsOut: { [i: number]: number } | null, at = 0): number {
    const n = this.size;
    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const keys = this.keys, ids = this.ids;
    order.sort((a, b) => (keys[a] - keys[b]) || (ids[a] - ids[b]));
    for (let i = 0; i < n; i++) {
      const e = order[i];
      keysOut[at + i] = keys[e];
      if (idsOut) idsOut[at + i] = ids[e];
      if (slotsOut) slotsOut[at + i] = this.slots[e];
    }
    this.size = 0;
    return n;
  }
}
