// The kernel seam: the memory where rows live (an Arena) and the kernels that run over it.
//
// Every kernel argument that names data is a byte offset into the arena; rows are row-major
// (`rows + (i * dim + j) * 4` for f32, `rows + i * dim + j` for i8). One call handles a whole block
// of rows, so the cost of crossing into WebAssembly is paid once per block, never per pair.
// Two backends implement the same surface: WebAssembly SIMD128 (wasm-kernels.ts) and a plain
// TypeScript reference (js-kernels.ts).
import { NearestError } from '../errors.js';

/** The name a backend reports in stats and bench output. */
export type KernelName = 'wasm-simd128' | 'js-reference';

/** Distance kernels over one arena. All pointers are byte offsets; f32 pointers are 4-aligned. */
export interface Kernels {
  readonly name: KernelName;
  /** dot(a, b) over `dim` f32 values. */
  dotF32(a: number, b: number, dim: number): number;
  /** |a - b|^2 over `dim` f32 values. */
  l2sqF32(a: number, b: number, dim: number): number;
  /** out[i] = dot(q, row i), i in [0, n). */
  scanDotF32(q: number, rows: number, n: number, dim: number, out: number): void;
  /** out[i] = |q - row i|^2, i in [0, n). */
  scanL2sqF32(q: number, rows: number, n: number, dim: number, out: number): void;
  /** out[i] = dot(q, row slots[i]), slots an i32 array of `count` entries. */
  gatherDotF32(q: number, rows: number, slots: number, count: number, dim: number, out: number): void;
  /** out[i] = |q - row slots[i]|^2. */
  gatherL2sqF32(q: number, rows: number, slots: number, count: number, dim: number, out: number): void;
  /** Packs nq queries [nq][dim] into ceil(nq/4) transposed panels [dim][4] (zero-padded). */
  packQueriesF32(qs: number, nq: number, dim: number, out: number): void;
  /** Dot products of 8 packed queries (two panels at qp) with rows [0, n): out[i*8 + lane]. */
  blockDotF32(qp: number, rows: number, n: number, dim: number, out: number): void;
  /** dot(a, b) over `dim` int8 values in [-127, 127] (quantizer codes), exact, as an integer. */
  dotI8(a: number, b: number, dim: number): number;
  /** |a - b|^2 over `dim` int8 values, exact, as an integer. */
  l2sqI8(a: number, b: number, dim: number): number;
  /** out[i] = dot(q, row i) over int8 rows, i32 results. */
  scanDotI8(q: number, rows: number, n: number, dim: number, out: number): void;
  /** out[i] = |q - row i|^2 over int8 rows, i32 results. */
  scanL2sqI8(q: number, rows: number, n: number, dim: number, out: number): void;
  /** out[i] = dot(q, row slots[i]) over int8 rows, i32 results. */
  gatherDotI8(q: number, rows: number, slots: number, count: number, dim: number, out: number): void;
  /** out[i] = |q - row slots[i]|^2 over int8 rows, i32 results. */
  gatherL2sqI8(q: number, rows: number, slots: number, count: number, dim: number, out: number): void;
  /** PQ lookups: out[i] = Σ_j table[j·ksub + codes[i·m + j]] (u8 codes, f32 table [m][ksub]). */
  adcScanU8(table: number, codes: number, n: number, m: number, ksub: number, out: number): void;
  /**
   * Fast-scan PQ (4-bit codes): `sign`·table ([m][16] f32) into `signed`, quantized into u8 lookup
   * tables [m][16] at `lut`; writes the scale a and Σ_j min_j (f32) at params, params + 4.
   */
  pq4Lut(table: number, m: number, sign: number, signed: number, lut: number, params: number): void;
  /**
   * Fast-scan PQ: over `n` entries in blocks of 32 (ListStore's packed4 layout), the entries whose
   * quantized sum is ≤ qthr and whose exact sum (as adcScanU8 adds it) is ≤ fthr: indexes (i32) at
   * outIdx and exact sums (f32) at outDist. Returns their count.
   */
  pq4fsScan(lut: number, signed: number, codes: number, n: number, m: number, qthr: number, fthr: number, outIdx: number, outDist: number): number;
  /** out[i] = Σ_j w[j]·(q[j] − codes[i·dim + j])² (f32 q and w, u8 codes). */
  scanWl2U8(q: number, w: number, codes: number, n: number, dim: number, out: number): void;
  /** out[i] = Σ_j q[j]·codes[i·dim + j] (f32 q, u8 codes). */
  scanDotU8(q: number, codes: number, n: number, dim: number, out: number): void;
  /**
   * For 8 packed queries (two panels at qp): the row minimising norms[i] − 2·q·row_i, written as
   * i32 indexes at outIdx, its f32 key at outKey and the second-smallest key at outKey2 (8 each).
   */
  blockArgminF32(qp: number, rows: number, n: number, dim: number, norms: number, outIdx: number, outKey: number, outKey2: number): void;
  /** out[i] = a[i] + scale·b[i] over n f32 values. */
  axpyF32(out: number, a: number, b: number, scale: number, n: number): void;
  /**
   * HNSW beam search on level 0 inside the module (WebAssembly only; see hnsw_search0 in
   * assembly/kernels.ts and Space.searchLevel0). The JavaScript reference is HnswCore.searchLayer.
   */
  hnswSearch0?(
    rows: number, dim: number, metric: number, level0: number, stride0: number, norms: number, deleted: number,
    q: number, invQ: number, ep: number, epKey: number, ef: number, visited: number, epoch: number,
    candKeys: number, candSlots: number, candCap: number, resKeys: number, resSlots: number, nb: number, kout: number, outKeys: number, outSlots: number,
    locks: number, meta: number, qs: number, qA: number, qP: number, qf: number, mid: number,
  ): number;
}

/** What a worker thread needs to open the same arena over the same memory. */
export type ArenaHandle =
  | { readonly backend: 'wasm-simd128'; readonly memory: WebAssembly.Memory }
  | { readonly backend: 'js-reference'; readonly buffer: SharedArrayBuffer };

/**
 * A growable block of linear memory with the kernels bound to it. Growing replaces the buffer, so
 * typed-array views must be re-derived after `grow` (the accessors below do that); never keep one
 * across an allocation.
 */
export abstract class Arena {
  abstract readonly kernels: Kernels;
  /** True when the memory is shared and can be handed to worker threads. */
  abstract readonly shared: boolean;
  protected abstract currentBuffer(): ArrayBufferLike;
  /** Grows the memory to at least `bytes` bytes (contents preserved, new bytes zero); CAPACITY_EXCEEDED when it cannot. */
  abstract grow(bytes: number): void;
  /** A handle for worker threads, or null when the memory is not shared. */
  abstract handle(): ArenaHandle | null;

  private viewBuffer: ArrayBufferLike | null = null;
  private viewLength = -1;
  private _f32!: Float32Array;
  private _i32!: Int32Array;
  private _u8!: Uint8Array;
  private _i8!: Int8Array;
  private _f64!: Float64Array;

  private refresh(): void {
    const buffer = this.currentBuffer();
    if (buffer !== this.viewBuffer || buffer.byteLength !== this.viewLength) {
      this.viewBuffer = buffer;
      this.viewLength = buffer.byteLength;
      this._f32 = new Float32Array(buffer);
      this._i32 = new Int32Array(buffer);
      this._u8 = new Uint8Array(buffer);
      this._i8 = new Int8Array(buffer);
      this._f64 = new Float64Array(buffer, 0, buffer.byteLength >> 3);
    }
  }
  /** Size of the memory in bytes. */
  get byteLength(): number { return this.currentBuffer().byteLength; }
  /** A float32 view of the whole memory (index = byte offset / 4). */
  f32(): Float32Array { this.refresh(); return this._f32; }
  /** An int32 view of the whole memory (index = byte offset / 4). */
  i32(): Int32Array { this.refresh(); return this._i32; }
  /** A byte view of the whole memory. */
  u8(): Uint8Array { this.refresh(); return this._u8; }
  /** A signed byte view of the whole memory. */
  i8(): Int8Array { this.refresh(); return this._i8; }
  /** A float64 view of the whole memory (index = byte offset / 8). */
  f64(): Float64Array { this.refresh(); return this._f64; }
}

/** The most memory one arena may hold: 4 GiB, WebAssembly's 32-bit address space. */
export const ARENA_MAX_BYTES = 2 ** 32;

/** The error of an arena that cannot grow to `bytes` (past ARENA_MAX_BYTES, or the system refused). */
export function arenaFull(bytes: number, cause?: unknown): NearestError {
  return new NearestError(
    'CAPACITY_EXCEEDED',
    `out of kernel memory: ${bytes} bytes needed, an index's arena holds at most 4 GiB${cause ? ` (${String((cause as Error).message ?? cause)})` : ''}`,
    { requested: bytes, max: ARENA_MAX_BYTES },
    cause ? { cause } : undefined,
  );
}

/** Rounds `bytes` up to a multiple of `align` (a power of two). */
export function alignUp(bytes: number, align = 64): number {
  return Math.ceil(bytes / align) * align;
}
