// Inverted lists in kernel memory: each list's codes are contiguous (so a probe is one sequential
// scan kernel call), lists live in regions of one arena handed out by a first-fit allocator, and
// a list that outgrows its region moves to a larger one (1.5x). Entry i of a list has an int32
// payload (the row's slot). When freed space exceeds what is used, lists are compacted in place.
import { alignUp, type Arena } from '../distance/kernels.js';

export class ListStore {
  readonly arena: Arena;
  /** Bytes per entry. */
  readonly codeBytes: number;
  readonly nlist: number;
  /** Byte offset of each list's region. */
  readonly offsets: Float64Array;
  /** Entries each region can hold / holds. */
  readonly capacities: Int32Array;
  readonly sizes: Int32Array;
  /** Slot of each entry, per list. */
  readonly slots: Int32Array[];
  private top: number;
  private readonly base: number;
  private freeBlocks: { off: number; bytes: number }[] = [];
  private freeBytes = 0;

  constructor(arena: Arena, base: number, nlist: number, codeBytes: number) {
    this.arena = arena;
    this.base = alignUp(base);
    this.top = this.base;
    this.nlist = nlist;
    this.codeBytes = codeBytes;
    this.offsets = new Float64Array(nlist);
    this.capacities = new Int32Array(nlist);
    this.sizes = new Int32Array(nlist);
    this.slots = Array.from({ length: nlist }, () => new Int32Array(0));
  }

  /** First byte above every list (where per-call scratch may go). */
  get end(): number { return this.top; }

  /** Bytes in use by list entries. */
  get usedBytes(): number {
    let n = 0;
    for (let l = 0; l < this.nlist; l++) n += this.sizes[l];
    return n * this.codeBytes;
  }

  private allocate(bytes: number): number {
    for (let i = 0; i < this.freeBlocks.length; i++) {
      const b = this.freeBlocks[i];
      if (b.bytes >= bytes) {
        const off = b.off;
        b.off += bytes; b.bytes -= bytes; this.freeBytes -= bytes;
        if (b.bytes === 0) this.freeBlocks.splice(i, 1);
        return off;
      }
    }
    const off = this.top;
    this.top = alignUp(this.top + bytes, 16);
    this.arena.grow(this.top);
    return off;
  }

  private release(off: number, bytes: number): void {
    if (bytes <= 0) return;
    this.freeBlocks.push({ off, bytes });
    this.freeBytes += bytes;
  }

  /** Makes room for `extra` more entries in list `l` (exactly, when `exact`; else with 1.5x slack). */
  reserve(l: number, extra: number, exact: boolean): void {
    const need = this.sizes[l] + extra;
    if (need <= this.capacities[l]) return;
    const cap = exact ? need : Math.max(need, Math.ceil(this.capacities[l] * 1.5), 8);
    const off = this.allocate(cap * this.codeBytes);
    const u8 = this.arena.u8();
    const old = this.offsets[l];
    u8.copyWithin(off, old, old + this.sizes[l] * this.codeBytes);
    this.release(old, this.capacities[l] * this.codeBytes);
    this.offsets[l] = off;
    this.capacities[l] = cap;
    const slots = new Int32Array(cap);
    slots.set(this.slots[l].subarray(0, this.sizes[l]));
    this.slots[l] = slots;
  }

  /** Appends one entry (codes from `src` at byte `at`) to list `l`; returns its position. */
  append(l: number, src: Uint8Array, at: number, slot: number): number {
    this.reserve(l, 1, false);
    const pos = this.sizes[l]++;
    this.arena.u8().set(src.subarray(at, at + this.codeBytes), this.offsets[l] + pos * this.codeBytes);
    this.slots[l][pos] = slot;
    return pos;
  }

  /** Removes entry `pos` of list `l` by moving the last entry into it; returns the moved slot or -1. */
  removeAt(l: number, pos: number): number {
    const last = --this.sizes[l];
    if (pos === last) return -1;
    const off = this.offsets[l], cb = this.codeBytes;
    this.arena.u8().copyWithin(off + pos * cb, off + last * cb, off + (last + 1) * cb);
    const moved = this.slots[l][last];
    this.slots[l][pos] = moved;
    return moved;
  }

  /** Compacts lists in place when more than half of the allocated space is free. */
  maybeCompact(): void {
    if (this.freeBytes <= (this.top - this.base) / 2) return;
    const order = Array.from({ length: this.nlist }, (_, l) => l).sort((a, b) => this.offsets[a] - this.offsets[b]);
    const u8 = this.arena.u8();
    let at = this.base;
    for (const l of order) {
      const bytes = this.sizes[l] * this.codeBytes;
      if (this.capacities[l] === 0) continue;
      u8.copyWithin(at, this.offsets[l], this.offsets[l] + bytes);
      this.offsets[l] = at;
      this.capacities[l] = this.sizes[l];
      at = alignUp(at + bytes, 16);
    }
    this.top = at;
    this.freeBlocks = [];
    this.freeBytes = 0;
  }
}
