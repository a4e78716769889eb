// A binary min-heap of (key, slot) pairs on typed arrays, reused across searches (no allocation
// per query once grown). A max-heap is the same heap over negated keys.

export class SlotHeap {
  size = 0;
  keys: Float64Array;
  slots: Int32Array;

  constructor(capacity = 64) {
    this.keys = new Float64Array(capacity);
    this.slots = new Int32Array(capacity);
  }

  clear(): void { this.size = 0; }

  /** Smallest key (undefined behaviour when empty). */
  topKey(): number { return this.keys[0]; }
  topSlot(): number { return this.slots[0]; }

  push(key: number, slot: number): void {
    if (this.size === this.keys.length) this.growTo(this.size * 2);
    const keys = this.keys, slots = this.slots;
    let i = this.size++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (keys[p] <= key) break;
      keys[i] = keys[p]; slots[i] = slots[p];
      i = p;
    }
    keys[i] = key; slots[i] = slot;
  }

  /** Removes the top; returns its slot. */
  pop(): number {
    const keys = this.keys, slots = this.slots;
    const top = slots[0];
    const n = --this.size;
    if (n > 0) {
      const key = keys[n], slot = slots[n];
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && keys[c + 1] < keys[c]) c++;
        if (keys[c] >= key) break;
        keys[i] = keys[c]; slots[i] = slots[c];
        i = c;
      }
      keys[i] = key; slots[i] = slot;
    }
    return top;
  }

  private growTo(capacity: number): void {
    const keys = new Float64Array(capacity), slots = new Int32Array(capacity);
    keys.set(this.keys); slots.set(this.slots);
    this.keys = keys; this.slots = slots;
  }
}
