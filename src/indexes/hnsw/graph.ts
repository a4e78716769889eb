// HNSW graph storage in (shared) typed arrays, so worker threads can build and search the same
// graph: level 0 in one fixed-stride block ([count, n_1..n_m0] per slot, hnswlib's layout), upper
// levels in a pool addressed per slot, a level per slot, tombstones, one futex lock per slot, and a
// few global words. Level 0 and the tombstones may live in a region of an index's kernel arena
// (`place`), where the WebAssembly search reads them; the index then moves them when it grows.
// Growing reallocates and copies the rest (main thread only, never during a parallel job).
import { sharedBuffer } from '../../parallel/pool.js';

/** Indexes into `meta`. */
export const ENTRY = 0, MAX_LEVEL = 1, GLOBAL_LOCK = 2, UPPER_USED = 3;

/** The buffers of a graph, as posted to workers. */
export interface GraphBuffers {
  capacity: number;
  m: number;
  m0: number;
  level0: ArrayBufferLike;
  /** Byte offset of level 0 in its buffer (0 unless it lives in an arena). */
  level0Off: number;
  levels: ArrayBufferLike;
  upperOff: ArrayBufferLike;
  upper: ArrayBufferLike;
  locks: ArrayBufferLike;
  locksOff: number;
  deleted: ArrayBufferLike;
  deletedOff: number;
  meta: ArrayBufferLike;
}

/** Where level 0 and the tombstones of a graph go in an arena's buffer (byte offsets). */
export interface GraphPlace { buffer: ArrayBufferLike; level0Off: number; deletedOff: number; locksOff: number }

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
    this.level0 = new Int32Array(b.level0, b.level0Off, b.capacity * this.stride0);
    this.levels = new Int8Array(b.levels);
    this.upperOff = new Int32Array(b.upperOff);
    this.upper = new Int32Array(b.upper);
    this.locks = new Int32Array(b.locks, b.locksOff, b.capacity);
    this.deleted = new Uint8Array(b.deleted, b.deletedOff, b.capacity);
    this.meta = new Int32Array(b.meta);
  }

  /**
   * A new empty graph; level 0 and the tombstones at `place` (zeroed by the caller) when given,
   * else in memory of their own.
   */
  static create(capacity: number, m: number, upperCapacity: number, place?: GraphPlace): Graph {
    const m0 = 2 * m;
    const meta = alloc(64);
    new Int32Array(meta).set([-1, -1, 0, 0]);
    return new Graph({
      capacity, m, m0,
      level0: place ? place.buffer : alloc(capacity * (m0 + 1) * 4), level0Off: place ? place.level0Off : 0,
      levels: alloc(capacity),
      upperOff: alloc(capacity * 4),
      upper: alloc(Math.max(1, upperCapacity) * 4),
      locks: place ? place.buffer : alloc(capacity * 4), locksOff: place ? place.locksOff : 0,
      deleted: place ? place.buffer : alloc(capacity), deletedOff: place ? place.deletedOff : 0,
      meta,
    });
  }

  /**
   * A copy with room for `capacity` slots and `upperCapacity` upper-level words. With `place`,
   * level 0 and the tombstones are already there (the caller moved them); without, they are
   * copied, or shared when the capacity stays.
   */
  grow(capacity: number, upperCapacity: number, place?: GraphPlace): Graph {
    const cap = Math.max(capacity, this.capacity), b = this.buffers;
    const inArena = b.level0 === b.deleted;
    if (!place && inArena && cap !== this.capacity) throw new Error('Graph.grow: a graph in an arena grows only with a new place');
    const at = place ?? (inArena ? { buffer: b.level0, level0Off: b.level0Off, deletedOff: b.deletedOff, locksOff: b.locksOff } : undefined);
    const g = Graph.create(cap, this.m, Math.max(upperCapacity, this.upper.length), at);
    if (!at) { g.level0.set(this.level0); g.deleted.set(this.deleted); }
    g.levels.set(this.levels); g.upperOff.set(this.upperOff);
    g.upper.set(this.upper); g.meta.set(this.meta);
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
