// Contiguous float32 rows living in a kernel arena, row-major (`row i, column j` at
// rowsOff + (i * dim + j) * 4), with a small fixed scratch area below the rows for the current
// query and the per-chunk kernel output. Rows grow at the top of the arena (WebAssembly memory and
// growable SharedArrayBuffers grow in place, so growth never copies rows); batch scratch is placed
// above the last row for the duration of one call.
import { createArena, type BackendChoice } from '../distance/backend.js';
import { alignUp, type Arena, type Kernels } from '../distance/kernels.js';

/** Rows scanned per kernel call in single-query search (the output chunk stays in L1). */
export const CHUNK = 4096;

/** Float32 rows in kernel memory. `slot` is the dense internal position of a row. */
export class RowStore {
  readonly arena: Arena;
  readonly kernels: Kernels;
  readonly dim: number;
  /** Bytes per row. */
  readonly rowBytes: number;
  /** Byte offset of the query scratch (dim f32). */
  readonly queryOff: number;
  /** Byte offset of the kernel output scratch (CHUNK f32). */
  readonly outOff: number;
  /** Byte offset of slot lists for gather kernels (CHUNK i32). */
  readonly slotsOff: number;
  /** Byte offset of row 0. */
  readonly rowsOff: number;
  private count = 0;

  constructor(dim: number, backend: BackendChoice) {
    this.dim = dim;
    this.rowBytes = dim * 4;
    this.queryOff = 64;
    this.outOff = alignUp(this.queryOff + this.rowBytes);
    this.slotsOff = alignUp(this.outOff + CHUNK * 4);
    this.rowsOff = alignUp(this.slotsOff + CHUNK * 4);
    this.arena = createArena(backend, this.rowsOff);
    this.kernels = this.arena.kernels;
  }

  /** Rows held. */
  get size(): number { return this.count; }

  /** Rows that fit before the arena must grow. */
  get capacity(): number { return Math.floor((this.arena.byteLength - this.rowsOff) / this.rowBytes); }

  /** First byte above the last row (where per-call scratch may go). */
  get end(): number { return this.rowsOff + this.count * this.rowBytes; }

  /** Byte offset of a row. */
  rowOffset(slot: number): number { return this.rowsOff + slot * this.rowBytes; }

  /** Grows the arena so that [0, bytes) is addressable. */
  reserveBytes(bytes: number): void { this.arena.grow(bytes); }

  /** Appends n rows from `data` (n * dim floats); returns the first new slot. */
  append(data: Float32Array, n: number): number {
    const first = this.count;
    this.arena.grow(this.rowsOff + (first + n) * this.rowBytes);
    this.arena.f32().set(data.subarray(0, n * this.dim), this.rowOffset(first) >> 2);
    this.count = first + n;
    return first;
  }

  /** Copies row `from` over row `to` (swap-remove). */
  move(from: number, to: number): void {
    const f = this.arena.f32();
    const src = this.rowOffset(from) >> 2;
    f.copyWithin(this.rowOffset(to) >> 2, src, src + this.dim);
  }

  /** Drops rows at and above `size`. */
  truncate(size: number): void { this.count = size; }

  /** A copy of one row. */
  read(slot: number): Float32Array {
    const at = this.rowOffset(slot) >> 2;
    return this.arena.f32().slice(at, at + this.dim);
  }

  /** Writes the query into the query scratch (dim floats). */
  setQuery(query: Float32Array): void {
    this.arena.f32().set(query, this.queryOff >> 2);
  }

  /** Squared norm of a stored row, computed by the kernels. */
  sqNorm(slot: number): number {
    const at = this.rowOffset(slot);
    return this.kernels.dotF32(at, at, this.dim);
  }
}
