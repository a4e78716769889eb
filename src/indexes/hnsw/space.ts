// The distance computer of HNSW traversal for one thread: a query set once, then keys (smaller is
// closer) for a list of slots in one kernel call, over float32 rows or int8 codes.
import { alignUp, type Arena } from '../../distance/kernels.js';
import { cosineKey } from '../../distance/metric.js';
import { inverseNorm } from '../normalize.js';
import { CODE_META, META_A, META_ORIGIN, META_P, META_STEP, type ScalarQuantizer } from '../quant/sq8.js';

/** Metric codes (no strings in hot loops). */
export const EUCLIDEAN = 0, COSINE = 1, DOT = 2;

/**
 * Under cosine, rows with 1/|x| above this (|x| < 2^-30) are compared in float64: the float32
 * products of two such rows' components can underflow to zero and lose their direction.
 */
const TINY_INV_NORM = 2 ** 30;

/** Byte offsets of one thread's scratch in an arena: query, slot list and kernel output. */
export interface Scratch { queryOff: number; slotsOff: number; outOff: number }

/** @internal Whether Space.searchLevel0 runs (the tests turn it off to compare with the JavaScript search). */
let wasmTraversal = true;
/** @internal */
export function setWasmTraversal(enabled: boolean): void { wasmTraversal = enabled; }

/** Candidates and results the WebAssembly level-0 search has room for (beyond, JavaScript searches). */
export const WASM_CAND_CAP = 16384, WASM_RES_CAP = 4096;

/**
 * Where the WebAssembly level-0 search finds the graph in the rows arena, and one thread's scratch
 * for it (byte offsets): the visited set (u32 per slot), the two heaps, a neighbour list, its
 * kernel output and the sorted results.
 */
export interface WasmSearch {
  level0Off: number; stride0: number; normsOff: number; deletedOff: number; locksOff: number;
  /** The int8 codes' constants (CODE_META f64 a slot), with int8 traversal (the codes' arena holds the graph then). */
  codeMetaOff: number;
  visitedOff: number; candKeys: number; candSlots: number; resKeys: number; resSlots: number;
  nb: number; kout: number; outKeys: number; outSlots: number;
}

/** Where the WebAssembly search finds the graph (the offsets that do not depend on the thread). */
export type WasmGraph = Pick<WasmSearch, 'level0Off' | 'stride0' | 'normsOff' | 'deletedOff' | 'locksOff' | 'codeMetaOff'>;

/** Scratch bytes of one thread's WasmSearch for `capacity` slots and lists of m0 entries. */
export function wasmScratchBytes(capacity: number, m0: number): number {
  return wasmScratchAt(0, capacity, m0, { level0Off: 0, stride0: 0, normsOff: 0, deletedOff: 0, locksOff: 0, codeMetaOff: 0 }).end;
}

/** Lays out a WasmSearch's scratch at `base` (64-aligned; the graph offsets given); `end` is the byte past it. */
export function wasmScratchAt(base: number, capacity: number, m0: number, graph: WasmGraph): WasmSearch & { end: number } {
  let at = alignUp(base);
  const take = (bytes: number) => { const off = at; at += alignUp(bytes); return off; };
  const visitedOff = take(capacity * 4);
  const candKeys = take(WASM_CAND_CAP * 8), candSlots = take(WASM_CAND_CAP * 4);
  const resKeys = take((WASM_RES_CAP + 1) * 8), resSlots = take((WASM_RES_CAP + 1) * 4);
  const nb = take((m0 + 1) * 4), kout = take((m0 + 1) * 4);
  const outKeys = take((WASM_RES_CAP + 1) * 8), outSlots = take((WASM_RES_CAP + 1) * 4);
  return { ...graph, visitedOff, candKeys, candSlots, resKeys, resSlots, nb, kout, outKeys, outSlots, end: at };
}

/** Scratch bytes per thread per arena for rows of `rowBytes` and lists of up to `maxList` slots. */
export function scratchBytes(rowBytes: number, maxList: number): number {
  return Math.ceil((rowBytes + 64) / 64) * 64 + 2 * Math.ceil((maxList * 4 + 64) / 64) * 64;
}

/** Lays out a Scratch at `base`. */
export function scratchAt(base: number, rowBytes: number, maxList: number): Scratch {
  const queryOff = base;
  const slotsOff = queryOff + Math.ceil((rowBytes + 64) / 64) * 64;
  const outOff = slotsOff + Math.ceil((maxList * 4 + 64) / 64) * 64;
  return { queryOff, slotsOff, outOff };
}

export class Space {
  readonly dim: number;
  readonly metric: number;
  readonly quantized: boolean;
  private readonly rows: Arena;
  private readonly codes: Arena | null;
  private readonly rowsOff: number;
  private readonly codesOff: number;
  private readonly rowScratch: Scratch;
  private readonly codeScratch: Scratch | null;
  private readonly quantizer: ScalarQuantizer | null;
  /** Per slot: 1/|x| of the float rows (cosine; unused otherwise). The cosine query is a unit vector. */
  invNorms: Float64Array;
  /** Per slot: the constants of its int8 code (CODE_META values: step, A, P, origin; see sq8.ts). */
  codeMeta: Float64Array;
  /** The query's code constants. */
  private readonly qMeta = new Float64Array(CODE_META);
  private invQ = 0;
  private readonly codeTmp: Int8Array;
  /** Longest slot list one kernel call may take (the scratch size). */
  readonly maxList: number;
  /** The WebAssembly level-0 search over float rows (null: search in JavaScript). */
  private wasm: WasmSearch | null = null;
  private wasmEpoch = 0;
  private wasmCapacity = 0;

  constructor(o: {
    dim: number; metric: number; rows: Arena; rowsOff: number; rowScratch: Scratch;
    codes: Arena | null; codesOff: number; codeScratch: Scratch | null; quantizer: ScalarQuantizer | null; invNorms: Float64Array; codeMeta: Float64Array; maxList: number;
  }) {
    this.codeMeta = o.codeMeta;
    this.maxList = o.maxList;
    this.dim = o.dim; this.metric = o.metric;
    this.rows = o.rows; this.rowsOff = o.rowsOff; this.rowScratch = o.rowScratch;
    this.codes = o.codes; this.codesOff = o.codesOff; this.codeScratch = o.codeScratch;
    this.quantizer = o.quantizer;
    this.quantized = o.codes !== null;
    this.invNorms = o.invNorms;
    this.codeTmp = new Int8Array(o.dim);
  }

  // Views cached per query: the arenas never grow while a query or an insertion runs.
  private rowF32!: Float32Array;
  private rowI32!: Int32Array;
  private codeI32: Int32Array | null = null;

  /** The arena the graph and the WebAssembly search live in: the codes' with int8 traversal, else the rows'. */
  private get home(): Arena { return this.codes ?? this.rows; }

  /**
   * Enables the WebAssembly level-0 search with this layout (its visited set is cleared, below
   * `zeroFrom`), or disables it (null). On the WebAssembly kernels only.
   */
  setWasmSearch(layout: WasmSearch | null, capacity: number, zeroFrom = Infinity): void {
    this.wasm = layout && this.home.kernels.hnswSearch0 ? layout : null;
    this.wasmCapacity = capacity;
    this.wasmEpoch = 0;
    // (Memory from `zeroFrom` on is known to be zero: left untouched.)
    const w = this.wasm, end = w ? Math.min(w.visitedOff + capacity * 4, zeroFrom) : 0;
    if (w && w.visitedOff < end) this.home.u8().fill(0, w.visitedOff, end);
  }

  /**
   * Beam search of width `ef` on level 0 from (ep, epKey) in WebAssembly, the current query set;
   * `tombstones`: deleted slots are traversed, not returned; `locked`: lists are read under their
   * slot's lock (other threads are inserting). Writes the results ascending by key
   * to slots / keys (room for ef entries) and returns their count, or −1 when it cannot (no
   * WebAssembly search here, ef above WASM_RES_CAP, or the candidate heap full): then search in
   * JavaScript. Identical to HnswCore.searchLayer otherwise.
   */
  searchLevel0(ep: number, epKey: number, ef: number, tombstones: boolean, slots: Int32Array, keys: Float64Array, locked = false): number {
    const w = this.wasm;
    if (w === null || !wasmTraversal || ef > WASM_RES_CAP) return -1;
    const home = this.home;
    if (++this.wasmEpoch === 0xffffffff) {
      home.u8().fill(0, w.visitedOff, w.visitedOff + this.wasmCapacity * 4);
      this.wasmEpoch = 1;
    }
    // Over codes, the keys codeKeys computes: the query's code and constants, the slots' (qMeta / codeMeta).
    const q = this.qMeta, codes = this.codes !== null;
    const mode = codes ? (this.metric === DOT ? 3 : 4) : this.metric === EUCLIDEAN ? 0 : this.metric === COSINE ? 1 : 2;
    const count = home.kernels.hnswSearch0!(
      codes ? this.codesOff : this.rowsOff, this.dim, mode, w.level0Off, w.stride0, w.normsOff, tombstones ? w.deletedOff : 0,
      codes ? this.codeScratch!.queryOff : this.rowScratch.queryOff, this.invQ, ep, epKey, ef, w.visitedOff, this.wasmEpoch,
      w.candKeys, w.candSlots, WASM_CAND_CAP, w.resKeys, w.resSlots, w.nb, w.kout, w.outKeys, w.outSlots, locked ? w.locksOff : 0,
      w.codeMetaOff, q[META_STEP], q[META_A], q[META_P], q[META_ORIGIN], codes ? this.quantizer!.midSq : 0,
    );
    if (count < 0) return -1;
    const i32 = home.i32(), f64 = home.f64();
    slots.set(i32.subarray(w.outSlots >> 2, (w.outSlots >> 2) + count));
    keys.set(f64.subarray(w.outKeys >> 3, (w.outKeys >> 3) + count));
    return count;
  }

  /** Re-derives the cached views (after the arenas may have grown). */
  refresh(): void {
    this.rowF32 = this.rows.f32();
    this.rowI32 = this.rows.i32();
    this.codeI32 = this.codes ? this.codes.i32() : null;
  }

  /** Sets the query from a float vector (under cosine its unit vector, normalised in float64). */
  setQuery(q: Float32Array): void {
    this.refresh();
    if (this.metric === COSINE) this.setUnitQuery(q, 0, inverseNorm(q, 0, this.dim));
    else { this.rows.f32().set(q, this.rowScratch.queryOff >> 2); this.invQ = 0; }
    if (this.codes) {
      this.quantizer!.encode(q, 0, 1, this.codeTmp, this.qMeta);
      this.codes.i8().set(this.codeTmp, this.codeScratch!.queryOff);
    }
  }

  /** Writes `inv`·v[from, from + dim) into the query scratch as the (cosine) query. */
  private setUnitQuery(v: Float32Array, from: number, inv: number): void {
    const f = this.rows.f32(), at = this.rowScratch.queryOff >> 2;
    for (let j = 0; j < this.dim; j++) f[at + j] = v[from + j] * inv;
    this.invQ = 1;
  }

  /** Sets the query to stored row `slot` (for inserting it). */
  setQueryToSlot(slot: number): void {
    this.refresh();
    const dim = this.dim;
    const f = this.rows.f32();
    const src = (this.rowsOff >> 2) + slot * dim;
    if (this.metric === COSINE) this.setUnitQuery(f, src, this.invNorms[slot]);
    else { f.copyWithin(this.rowScratch.queryOff >> 2, src, src + dim); this.invQ = 0; }
    if (this.codes) {
      const u8 = this.codes.u8();
      const at = this.codesOff + slot * dim;
      u8.copyWithin(this.codeScratch!.queryOff, at, at + dim);
      this.qMeta.set(this.codeMeta.subarray(slot * CODE_META, (slot + 1) * CODE_META));
    }
  }

  /**
   * Traversal keys of the query against `count` slots. Over float rows they are exact: squared L2
   * summed directly (the four-row kernel keeps enough loads in flight that this costs no more than
   * the dot-and-norms form, and leaves nothing to re-score), the negated dot, or the negated
   * cosine. Over int8 codes they only rank; final results are re-scored by exactKeys.
   */
  keys(slots: Int32Array, count: number, out: Float64Array): void {
    if (this.codes) this.codeKeys(this.codeScratch!.queryOff, this.qMeta, 0, slots, count, out);
    else this.floatKeys(this.rowScratch.queryOff, this.invQ, slots, count, out);
  }

  /** Traversal keys between stored row `base` and `count` slots (neighbour selection). */
  keysFrom(base: number, slots: Int32Array, count: number, out: Float64Array): void {
    if (this.codes) this.codeKeys(this.codesOff + base * this.dim, this.codeMeta, base * CODE_META, slots, count, out);
    else if (this.metric === COSINE && this.invNorms[base] > TINY_INV_NORM) this.tinyCosineKeys(base, slots, count, out);
    else this.floatKeys(this.rowsOff + base * this.dim * 4, this.metric === COSINE ? this.invNorms[base] : 0, slots, count, out);
  }

  /** Cosine keys from a tiny stored row, with float64 dot products (see TINY_INV_NORM). */
  private tinyCosineKeys(base: number, slots: Int32Array, count: number, out: Float64Array): void {
    const f = this.rowF32, dim = this.dim, rows = this.rowsOff >> 2, norms = this.invNorms, a = rows + base * dim;
    for (let i = 0; i < count; i++) {
      const b = rows + slots[i] * dim;
      let dot = 0;
      for (let j = 0; j < dim; j++) dot += f[a + j] * f[b + j];
      out[i] = cosineKey(dot * norms[base] * norms[slots[i]]);
    }
  }

  /** Whether traversal keys are approximations that the final results must be re-scored from. */
  get approximate(): boolean { return this.codes !== null; }

  /** Exact float32 keys of the query against `count` slots (re-ranking). */
  exactKeys(slots: Int32Array, count: number, out: Float64Array): void {
    this.floatKeys(this.rowScratch.queryOff, this.invQ, slots, count, out);
  }

  private loadSlots(i32: Int32Array, slotsOff: number, slots: Int32Array, count: number): void {
    const sb = slotsOff >> 2;
    for (let i = 0; i < count; i++) i32[sb + i] = slots[i];
  }

  private floatKeys(q: number, invQ: number, slots: Int32Array, count: number, out: Float64Array): void {
    const s = this.rowScratch, k = this.rows.kernels;
    this.loadSlots(this.rowI32, s.slotsOff, slots, count);
    if (this.metric === EUCLIDEAN) k.gatherL2sqF32(q, this.rowsOff, s.slotsOff, count, this.dim, s.outOff);
    else k.gatherDotF32(q, this.rowsOff, s.slotsOff, count, this.dim, s.outOff);
    const f = this.rowF32, base = s.outOff >> 2, norms = this.invNorms;
    if (this.metric === EUCLIDEAN) for (let i = 0; i < count; i++) out[i] = f[base + i];
    else if (this.metric === DOT) for (let i = 0; i < count; i++) out[i] = -f[base + i];
    else for (let i = 0; i < count; i++) out[i] = cosineKey(f[base + i] * invQ * norms[slots[i]]);
  }

  /** Keys of the code at byte `q` (its constants at qm[qa…]) against `count` slots' codes (sq8.ts). */
  private codeKeys(q: number, qm: Float64Array, qa: number, slots: Int32Array, count: number, out: Float64Array): void {
    const s = this.codeScratch!, k = this.codes!.kernels, i32 = this.codeI32!;
    this.loadSlots(i32, s.slotsOff, slots, count);
    k.gatherDotI8(q, this.codesOff, s.slotsOff, count, this.dim, s.outOff);
    const base = s.outOff >> 2, meta = this.codeMeta;
    const qs = qm[qa + META_STEP];
    if (this.metric === DOT) {
      for (let i = 0; i < count; i++) out[i] = -(qs * meta[slots[i] * CODE_META + META_STEP] * i32[base + i]);
      return;
    }
    // Squared L2 (over unit vectors for cosine); an origin differing from the query's adds its terms.
    const qA = qm[qa + META_A], qP = qm[qa + META_P], qf = qm[qa + META_ORIGIN], M = this.quantizer!.midSq;
    for (let i = 0; i < count; i++) {
      const at = slots[i] * CODE_META;
      let key = qA + meta[at + META_A] - 2 * qs * meta[at + META_STEP] * i32[base + i];
      const d = qf - meta[at + META_ORIGIN];
      if (d !== 0) key += M + 2 * d * (qP - meta[at + META_P]);
      out[i] = key;
    }
  }
}
