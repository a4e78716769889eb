// Inverted lists in kernel memory: each list's codes are contiguous (so a probe is one sequential
// scan kernel call), lists live in regions of one arena handed out by a first-fit allocator, and
// a list that outgrows its region moves to a larger one (1.5x). Entry i of a list has an int32
// payload (the row's slot). When freed space exceeds what is used, lists are compacted in place.
// Entries are either `codeBytes` bytes back to back, or (fast-scan PQ, `packed4`) 4-bit codes in
// blocks of 32 entries: codeBytes codes per entry, [codeBytes][16] bytes per block, entry p of a
// block in byte j·16 + (p & 15) of sub-quantizer j, the low nibble for p < 16, the high one else
// (the layout pq4fs_scan reads). Appends, moves and reads go through writeEntry / readEntry, so
// both layouts share the allocator.
import { alignUp, type Arena } from '../distance/kernels.js';

/** Entries per fast-scan block. */
export const PQ4_BLOCK = 32;

export class ListStore {
  readonly arena: Arena;
  /** Bytes per entry as appended (one per code when packed4). */
  readonly codeBytes: number;
  /** 4-bit codes in blocks of 32 (fast-scan PQ). */
  readonly packed4: boolean;
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

  constructor(arena: Arena, base: number, nlist: number, codeBytes: number, packed4 = false) {
    this.arena = arena;
    this.packed4 = packed4;
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
    for (let l = 0; l < this.nlist; l++) n += this.bytes(this.sizes[l]);
    return n;
  }

  /** Bytes that `n` entries take. */
  bytes(n: number): number {
    return this.packed4 ? Math.ceil(n / PQ4_BLOCK) * this.codeBytes * 16 : n * this.codeBytes;
  }

  /** Writes entry `pos` of the region at `off` from the codeBytes bytes of `src` at `at`. */
  private writeEntry(off: number, pos: number, src: Uint8Array, at: number): void {
    const u8 = this.arena.u8(), cb = this.codeBytes;
    if (!this.packed4) { u8.set(src.subarray(at, at + cb), off + pos * cb); return; }
    const base = off + Math.floor(pos / PQ4_BLOCK) * cb * 16 + (pos & 15), high = (pos & 16) !== 0;
    for (let j = 0; j < cb; j++) {
      const i = base + j * 16, c = src[at + j] & 15;
      u8[i] = high ? (u8[i] & 0x0f) | (c << 4) : (u8[i] & 0xf0) | c;
    }
  }

  /** Reads entry `pos` of the region at `off` into `dst` at `at` (codeBytes bytes). */
  private readEntry(off: number, pos: number, dst: Uint8Array, at: number): void {
    const u8 = this.arena.u8(), cb = this.codeBytes;
    if (!this.packed4) { dst.set(u8.subarray(off + pos * cb, off + (pos + 1) * cb), at); return; }
    const base = off + Math.floor(pos / PQ4_BLOCK) * cb * 16 + (pos & 15), shift = (pos & 16) !== 0 ? 4 : 0;
    for (let j = 0; j < cb; j++) dst[at + j] = (u8[base + j * 16] >> shift) & 15;
  }

  /** The codes of entry `pos` of list `l` (codeBytes bytes, a copy). */
  entry(l: number, pos: number): Uint8Array {
    const out = new Uint8Array(this.codeBytes);
    this.readEntry(this.offsets[l], pos, out, 0);
    return out;
  }

  /** Every entry of list `l`, as appended, into `dst` at `at` (sizes[l]·codeBytes bytes). */
  readList(l: number, dst: Uint8Array, at: number): void {
    const off = this.offsets[l], n = this.sizes[l];
    if (!this.packed4) { dst.set(this.arena.u8().subarray(off, off + n * this.codeBytes), at); return; }
    for (let i = 0; i < n; i++) this.readEntry(off, i, dst, at + i * this.codeBytes);
  }

  /** Sets list `l` (empty) to the `n` entries of `src` from `at` with their slots. */
  fill(l: number, src: Uint8Array, at: number, n: number, slots: Int32Array): void {
    this.reserve(l, n, true);
    const off = this.offsets[l];
    if (!this.packed4) this.arena.u8().set(src.subarray(at, at + n * this.codeBytes), off);
    else for (let i = 0; i < n; i++) this.writeEntry(off, i, src, at + i * this.codeBytes);
    this.slots[l].set(slots.subarray(0, n));
    this.sizes[l] = n;
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
    const off = this.allocate(this.bytes(cap));
    const u8 = this.arena.u8();
    const old = this.offsets[l];
    u8.copyWithin(off, old, old + this.bytes(this.sizes[l]));
    this.release(old, this.bytes(this.capacities[l]));
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
    this.writeEntry(this.offsets[l], pos, src, at);
    this.slots[l][pos] = slot;
    return pos;
  }

  /** Removes entry `pos` of list `l` by moving the last entry into it; returns the moved slot or -1. */
  removeAt(l: number, pos: number): number {
    const last = --this.sizes[l];
    if (pos === last) return -1;
    const off = this.offsets[l], cb = this.codeBytes;
    if (this.packed4) {
      const codes = new Uint8Array(cb);
      this.readEntry(off, last, codes, 0);
      this.writeEntry(off, pos, codes, 0);
    } else this.arena.u8().copyWithin(off + pos * cb, off + last * cb, off + (last + 1) * cb);
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
      const bytes = this.bytes(this.sizes[l]);
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
