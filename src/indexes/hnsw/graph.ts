// HNSW graph storage in (shared) typed arrays, so worker threads can build and search the same
// graph: level 0 in one fixed-stride block ([count, n_1..n_m0] per slot, hnswlib's layout), upper
// levels in a pool addressed per slot, a level per slot, tombstones, one futex lock per slot, and a
// few global words. Growing reallocates and copies (main thread only, never during a parallel job).
import { sharedBuffer } from '../../parallel/pool.js';

/** Indexes into `meta`. */
export const ENTRY = 0, MAX_LEVEL = 1, GLOBAL_LOCK = 2, UPPER_USED = 3;

/** The buffers of a graph, as posted to workers. */
export interface GraphBuffers {
  capacity: number;
  m: number;
  m0: number;
  level0: ArrayBufferLike;
  levels: ArrayBufferLike;
  upperOff: ArrayBufferLike;
  upper: ArrayBufferLike;
  locks: ArrayBufferLike;
  deleted: ArrayBufferLike;
  meta: ArrayBufferLike;
}

const alloc = sharedBuffer;

/** Typed views over GraphBuffers. */
export class Graph {
  readonly capacity: number;
  readonly m: number;
  readonly m0: number;
  /** Stride of a level-0 record: count + m0 neighbours. */
  readonly stride0: number;
  readonly level0: Int32Array;
  readonly levels: Int8Array;
  readonly upperOff: Int32Array;
  readonly upper: Int32Array;
  readonly locks: Int32Array;
  readonly deleted: Uint8Array;
  readonly meta: Int32Array;
  readonly buffers: GraphBuffers;

  constructor(b: GraphBuffers) {
    this.buffers = b;
    this.capacity = b.capacity; this.m = b.m; this.m0 = b.m0; this.stride0 = b.m0 + 1;
    this.level0 = new Int32Array(b.level0);
    this.levels = new Int8Array(b.levels);
    this.upperOff = new Int32Array(b.upperOff);
    this.upper = new Int32Array(b.upper);
    this.locks = new Int32Array(b.locks);
    this.deleted = new Uint8Array(b.deleted);
    this.meta = new Int32Array(b.meta);
  }

  /** A new empty graph. */
  static create(capacity: number, m: number, upperCapacity: number): Graph {
    const m0 = 2 * m;
    const meta = alloc(64);
    new Int32Array(meta).set([-1, -1, 0, 0]);
    return new Graph({
      capacity, m, m0,
      level0: alloc(capacity * (m0 + 1) * 4),
      levels: alloc(capacity),
      upperOff: alloc(capacity * 4),
      upper: alloc(Math.max(1, upperCapacity) * 4),
      locks: alloc(capacity * 4),
      deleted: alloc(capacity),
      meta,
    });
  }

  /** A copy with room for `capacity` slots and `upperCapacity` upper-level words. */
  grow(capacity: number, upperCapacity: number): Graph {
    const g = Graph.create(Math.max(capacity, this.capacity), this.m, Math.max(upperCapacity, this.upper.length));
    g.level0.set(this.level0); g.levels.set(this.levels); g.upperOff.set(this.upperOff);
    g.upper.set(this.upper); g.deleted.set(this.deleted); g.meta.set(this.meta);
    return g;
  }

  /** Offset (in words) of the list of `slot` at `level`: [count, neighbours...]. */
  listAt(slot: number, level: number): number {
    return level === 0 ? slot * this.stride0 : this.upperOff[slot] + (level - 1) * (this.m + 1);
  }

  /** The array holding lists of `level`. */
  listArray(level: number): Int32Array { return level === 0 ? this.level0 : this.upper; }

  /** Reserves upper-level lists for a slot of `level` (> 0); returns false when the pool is full. */
  reserveUpper(slot: number, level: number): boolean {
    if (level === 0) { this.upperOff[slot] = -1; return true; }
    const words = level * (this.m + 1);
    const at = this.meta[UPPER_USED];
    if (at + words > this.upper.length) return false;
    this.meta[UPPER_USED] = at + words;
    this.upperOff[slot] = at;
    this.upper.fill(0, at, at + words);
    return true;
  }

  /** Takes the lock of a slot (or GLOBAL when slot = -1): futex mutex, 0 free / 1 held / 2 contended. */
  lock(slot: number): void {
    const a = slot < 0 ? this.meta : this.locks, i = slot < 0 ? GLOBAL_LOCK : slot;
    let c = Atomics.compareExchange(a, i, 0, 1);
    if (c === 0) return;
    for (let spin = 0; spin < 64 && c !== 0; spin++) c = Atomics.compareExchange(a, i, 0, 1);
    if (c === 0) return;
    if (c !== 2) c = Atomics.exchange(a, i, 2);
    while (c !== 0) {
      Atomics.wait(a, i, 2);
      c = Atomics.exchange(a, i, 2);
    }
  }

  unlock(slot: number): void {
    const a = slot < 0 ? this.meta : this.locks, i = slot < 0 ? GLOBAL_LOCK : slot;
    if (Atomics.sub(a, i, 1) !== 1) {
      Atomics.store(a, i, 0);
      Atomics.notify(a, i, 1);
    }
  }
}
