// Contiguous float32 rows living in a kernel arena, row-major (`row i, column j` at
// rowsOff + (i * dim + j) * 4), with a small fixed scratch area below the rows for the current
// query and the per-chunk kernel output. Rows grow at the top of the arena (WebAssembly memory and
// growable SharedArrayBuffers grow in place, so growth never copies rows); batch scratch is placed
// above the last row for the duration of one call.
import { createArena, type BackendChoice } from '../distance/backend.js';
import { alignUp, type Arena, type Kernels } from '../distance/kernels.js';

/** Rows scanned per kernel call in single-query search (the output chunk stays in L1). */
export const CHUNK = 4096;

/**
 * Rows in kernel memory, float32 (elementBytes 4) or int8 codes (elementBytes 1). `slot` is the
 * dense internal position of a row.
 */
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

  constructor(dim: number, backend: BackendChoice, elementBytes: 1 | 4 = 4) {
    this.dim = dim;
    this.rowBytes = dim * elementBytes;
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

  /** Appends n rows from `data` (n * dim values of the element type); returns the first new slot. */
  append(data: Float32Array | Int8Array, n: number): number {
    const first = this.count;
    this.arena.grow(this.rowsOff + (first + n) * this.rowBytes);
    this.count = first + n;
    this.write(first, data, n);
    return first;
  }

  /** Overwrites n rows starting at `slot` (which must be below size). */
  write(slot: number, data: Float32Array | Int8Array, n: number): void {
    const values = data.subarray(0, n * this.dim);
    if (values instanceof Float32Array) this.arena.f32().set(values, this.rowOffset(slot) >> 2);
    else this.arena.i8().set(values, this.rowOffset(slot));
  }

  /** Copies row `from` over row `to` (swap-remove). */
  move(from: number, to: number): void {
    const u8 = this.arena.u8();
    const src = this.rowOffset(from);
    u8.copyWithin(this.rowOffset(to), src, src + this.rowBytes);
  }

  /** Drops rows at and above `size`. */
  truncate(size: number): void { this.count = size; }

  /** A copy of one float32 row. */
  read(slot: number): Float32Array {
    const at = this.rowOffset(slot) >> 2;
    return this.arena.f32().slice(at, at + this.dim);
  }

  /** Writes the query into the query scratch (dim floats). */
  setQuery(query: Float32Array): void {
    this.arena.f32().set(query, this.queryOff >> 2);
  }

  /**
   * Squared norm of a stored float32 row: by the kernels, or summed in float64 when that is below
   * 2^-100 (squares of components under ~1e-19 are subnormal or zero in float32, and a tiny
   * nonzero row must not look like a zero row).
   */
  sqNorm(slot: number): number {
    const at = this.rowOffset(slot);
    const sq = this.kernels.dotF32(at, at, this.dim);
    if (sq >= 2 ** -100) return sq;
    const f = this.arena.f32();
    let exact = 0;
    for (let j = 0, i = at >> 2; j < this.dim; j++) exact += f[i + j] * f[i + j];
    return exact;
  }
}
