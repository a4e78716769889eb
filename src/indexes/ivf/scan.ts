// The search of an IvfIndex for one query, as the calling thread and worker threads both run it:
// the coarse probe (a scan of the centroids, or probes given by an HNSW coarse quantizer), the scan
// of the probed lists with the encoding's kernel, the fallback to every list when a filter leaves
// fewer than k, and the exact re-ranking (refine). It reads the index through an IvfView: one
// arena (centroids, encoding constants, lists) plus the optional float rows, with per-thread scratch
// at offsets of its own, so that any thread computes the same keys in the same order and a batch
// gives exactly what one search per query gives. The 'ivf' worker job is at the end.
import { openArena } from '../../distance/backend.js';
import { alignUp, type Arena, type ArenaHandle, type Kernels } from '../../distance/kernels.js';
import { cosineKey } from '../../distance/metric.js';
import { TopK } from '../../distance/topk.js';
import { NEXT } from '../../parallel/pool.js';

export const ENC_FLAT = 0, ENC_SQ8 = 1, ENC_PQ = 2, ENC_PQ4FS = 3;

/** Entries scanned per kernel call (the output chunk stays in L1). */
export const SCAN_CHUNK = 4096;

/**
 * Fast-scan entries per kernel call: the call filters by the threshold of the top-k as it stood
 * before it, so shorter calls pass fewer stale candidates; 512 entries amortise the call.
 */
const FS_CHUNK = 512;

/** What does not change while the index holds its trained state (a worker's copy of it). */
export interface IvfParams {
  dim: number;
  nlist: number;
  encoding: number;
  /** Inner product internally (dot, and cosine on unit vectors); else squared L2. */
  ip: boolean;
  cosine: boolean;
  codeBytes: number;
  pqM: number;
  pqKsub: number;
  pqDsub: number;
  /** Arena offsets: centroids [nlist][dim], SQ8 weights, PQ codebooks, L2 PQ precomputed tables. */
  centOff: number;
  wOff: number;
  pqCenOff: number;
  preOff: number;
}

/**
 * Byte offsets of one thread's scratch in the index arena; fsOff (fast-scan PQ only, else 0) holds
 * the signed table, the u8 lookup tables, their scale and offset, and the indexes a scan passes.
 */
export interface IvfScratch { qOff: number; q2Off: number; tableOff: number; baseOff: number; outOff: number; fsOff: number }

/** The fast-scan scratch at `fsOff` for m sub-quantizers. */
function fsAt(fsOff: number, m: number): { signed: number; lut: number; params: number; idx: number } {
  const signed = fsOff, lut = alignUp(signed + m * 64), params = alignUp(lut + m * 16);
  return { signed, lut, params, idx: alignUp(params + 16) };
}

/** Bytes of the fast-scan scratch for m sub-quantizers. */
export function fsScratchBytes(m: number): number { return fsAt(0, m).idx + FS_CHUNK * 4; }

/** Byte offsets of one thread's scratch in the rows arena (refine): the query, a slot list, the output. */
export interface RowScratch { queryOff: number; slotsOff: number; outOff: number }

type ScratchParams = Pick<IvfParams, 'dim' | 'pqM' | 'pqKsub' | 'encoding'>;

/** Scratch bytes per thread in the index arena. */
export function ivfScratchBytes(p: ScratchParams): number {
  const table = p.pqM * p.pqKsub * 4;
  return alignUp(p.dim * 4) * 2 + alignUp(table) * 2 + alignUp(SCAN_CHUNK * 4) + (p.encoding === ENC_PQ4FS ? alignUp(fsScratchBytes(p.pqM)) : 0);
}

export function ivfScratchAt(base: number, p: ScratchParams): IvfScratch {
  const table = alignUp(p.pqM * p.pqKsub * 4);
  const qOff = alignUp(base), q2Off = qOff + alignUp(p.dim * 4), tableOff = q2Off + alignUp(p.dim * 4);
  const baseOff = tableOff + table, outOff = baseOff + table;
  return { qOff, q2Off, tableOff, baseOff, outOff, fsOff: p.encoding === ENC_PQ4FS ? outOff + alignUp(SCAN_CHUNK * 4) : 0 };
}

/** Scratch bytes per thread in the rows arena. */
export function rowScratchBytes(dim: number): number { return alignUp(dim * 4) + 2 * alignUp(SCAN_CHUNK * 4); }

export function rowScratchAt(base: number, dim: number): RowScratch {
  const queryOff = alignUp(base), slotsOff = queryOff + alignUp(dim * 4);
  return { queryOff, slotsOff, outOff: slotsOff + alignUp(SCAN_CHUNK * 4) };
}

/** The index as one thread reads it. */
export interface IvfView {
  p: IvfParams;
  arena: Arena;
  /** Per list: byte offset of its codes, entry count, and the slots of its entries. */
  offsets: ArrayLike<number>;
  sizes: ArrayLike<number>;
  slotsOf: (list: number) => Int32Array;
  slotIds: Float64Array;
  /** SQ8: per-dimension minimum and step. */
  sqMin: Float32Array | null;
  sqScale: Float32Array | null;
  rows: { arena: Arena; rowsOff: number } | null;
}

/**
 * table[j·ksub + c] = ⟨v_j, centroid_jc⟩ for the vector at byte `vOff` (the PQ codebooks at
 * p.pqCenOff), written at `tableOff`: one scan kernel call per sub-space.
 */
export function subDots(kr: Kernels, p: Pick<IvfParams, 'pqM' | 'pqKsub' | 'pqDsub' | 'pqCenOff'>, vOff: number, tableOff: number): void {
  for (let j = 0; j < p.pqM; j++) {
    kr.scanDotF32(vOff + j * p.pqDsub * 4, p.pqCenOff + j * p.pqKsub * p.pqDsub * 4, p.pqKsub, p.pqDsub, tableOff + j * p.pqKsub * 4);
  }
}

/** Admits a slot (filters); null admits all. */
export type SlotAllow = ((slot: number) => boolean) | null;

/** One thread's searcher over a view, with its scratch. */
export class IvfScanner {
  private readonly probeLists: Int32Array;
  private readonly probeKeys: Float64Array;
  private coarseTop: TopK;
  private readonly coarseAll: TopK;
  private candidates: TopK | null = null;

  constructor(readonly view: IvfView, readonly scratch: IvfScratch, readonly rowScratch: RowScratch | null) {
    this.probeLists = new Int32Array(view.p.nlist);
    this.probeKeys = new Float64Array(view.p.nlist);
    this.coarseTop = new TopK(1);
    this.coarseAll = new TopK(view.p.nlist);
  }

  /**
   * The nprobe nearest lists of the query (at qOff) by a scan of the centroids, best first, into
   * probeLists / probeKeys: the coarse key is |q − c|² (L2) or ⟨q, c⟩ (inner product). Returns the count.
   */
  private coarse(nprobe: number): number {
    const { p, arena } = this.view, kr = arena.kernels, s = this.scratch;
    if (nprobe !== p.nlist && this.coarseTop.k !== nprobe) this.coarseTop = new TopK(nprobe);
    const top = nprobe === p.nlist ? this.coarseAll : this.coarseTop;
    top.reset();
    for (let start = 0; start < p.nlist; start += SCAN_CHUNK) {
      const count = Math.min(SCAN_CHUNK, p.nlist - start);
      const at = p.centOff + start * p.dim * 4;
      if (p.ip) kr.scanDotF32(s.qOff, at, count, p.dim, s.outOff);
      else kr.scanL2sqF32(s.qOff, at, count, p.dim, s.outOff);
      const f = arena.f32(), base = s.outOff >> 2;
      let threshold = top.threshold;
      for (let i = 0; i < count; i++) {
        const key = p.ip ? -f[base + i] : f[base + i];
        if (key > threshold) continue;
        top.push(key, start + i, start + i);
        threshold = top.threshold;
      }
    }
    const n = top.drain(this.probeKeys, null, this.probeLists);
    if (p.ip) for (let i = 0; i < n; i++) this.probeKeys[i] = -this.probeKeys[i];
    return n;
  }

  /**
   * The `k` best for `q` (a unit vector under cosine), into `out`: scans the nprobe lists (given
   * as `lists` / `keys`, or found by a scan of the centroids when `lists` is null), every list when
   * a filter leaves fewer than wanted, then re-ranks refineFactor·k candidates exactly (refine).
   */
  search(q: Float32Array, k: number, size: number, nprobe: number, allow: SlotAllow, refineFactor: number, lists: Int32Array | null, keys: Float64Array | null, out: TopK): void {
    const p = this.view.p, refine = this.view.rows !== null;
    const want = refine ? Math.min(size, k * refineFactor) : k;
    let top = out;
    if (refine) {
      if (this.candidates === null || this.candidates.k !== want) this.candidates = new TopK(want);
      top = this.candidates;
    }
    top.reset();
    this.view.arena.f32().set(q, this.scratch.qOff >> 2);
    let count: number;
    if (lists) { count = lists.length; this.probeLists.set(lists); this.probeKeys.set(keys!); } else count = this.coarse(nprobe);
    this.scanLists(q, count, allow, top);
    if (allow !== null && top.size < want && nprobe < p.nlist) {
      top.reset();
      this.scanLists(q, this.coarse(p.nlist), allow, top);
    }
    if (refine) {
      out.reset();
      this.refine(q, top, out);
    }
  }

  /** Scans lists probeLists[0..count) into `top` (the query `q` is at qOff); keys are internal (smaller is better). */
  private scanLists(q: Float32Array, count: number, allow: SlotAllow, top: TopK): void {
    if (this.view.p.encoding === ENC_PQ4FS) { this.fastScan(count, allow, top); return; }
    const { p, arena } = this.view, kr = arena.kernels, s = this.scratch, dim = p.dim, v = this.view;
    let f = arena.f32();
    let constant = 0;
    if (p.encoding === ENC_SQ8) {
      const lo = v.sqMin!, sc = v.sqScale!;
      for (let j = 0; j < dim; j++) {
        if (p.ip) { f[(s.q2Off >> 2) + j] = q[j] * sc[j]; constant += q[j] * lo[j]; }
        else f[(s.q2Off >> 2) + j] = (q[j] - lo[j]) / sc[j];
      }
    }
    const pq = p.encoding === ENC_PQ;
    if (pq) {
      subDots(kr, p, s.qOff, s.tableOff);
      // Under L2 each list needs its own table: keep the query's sub-dots aside.
      if (!p.ip) arena.u8().copyWithin(s.baseOff, s.tableOff, s.tableOff + p.pqM * p.pqKsub * 4);
    }
    const outBase = s.outOff >> 2, slotIds = v.slotIds;
    for (let pi = 0; pi < count; pi++) {
      const l = this.probeLists[pi];
      if (l < 0) continue; // the HNSW coarse quantizer found fewer than nprobe lists
      const size = v.sizes[l];
      if (size === 0) continue;
      const coarseKey = this.probeKeys[pi];
      if (pq && !p.ip) {
        const n = p.pqM * p.pqKsub;
        kr.axpyF32(s.tableOff, p.preOff + l * n * 4, s.baseOff, -2, n);
      }
      const slots = v.slotsOf(l);
      for (let start = 0; start < size; start += SCAN_CHUNK) {
        const n = Math.min(SCAN_CHUNK, size - start);
        const at = v.offsets[l] + start * p.codeBytes;
        if (p.encoding === ENC_FLAT) {
          if (p.ip) kr.scanDotF32(s.qOff, at, n, dim, s.outOff);
          else kr.scanL2sqF32(s.qOff, at, n, dim, s.outOff);
        } else if (p.encoding === ENC_SQ8) {
          if (p.ip) kr.scanDotU8(s.q2Off, at, n, dim, s.outOff);
          else kr.scanWl2U8(s.q2Off, p.wOff, at, n, dim, s.outOff);
        } else {
          kr.adcScanU8(s.tableOff, at, n, p.pqM, p.pqKsub, s.outOff);
        }
        f = arena.f32();
        let threshold = top.threshold;
        for (let i = 0; i < n; i++) {
          const x = f[outBase + i];
          const key = p.encoding === ENC_FLAT ? (p.cosine ? cosineKey(x) : p.ip ? -x : x)
            : p.encoding === ENC_SQ8 ? (p.ip ? -(x + constant) : x)
              : p.ip ? -(coarseKey + x) : coarseKey + x;
          if (key > threshold) continue;
          const slot = slots[start + i];
          if (allow !== null && !allow(slot)) continue;
          top.push(key, slotIds[slot], slot);
          threshold = top.threshold;
        }
      }
    }
  }

  /**
   * scanLists for fast-scan PQ: per list, the float table (as the PQ scan builds it) is quantized
   * to u8 lookup tables and the kernel passes only the entries that can beat the current k-th key,
   * with their exact table sums. The kernel's filter errs on the side of passing (the quantized
   * bound allows for every rounding), and the keys and the final test are those of the PQ scan,
   * so the results are those of the same codes scanned as `{ pq: { nbits: 4 } }`.
   */
  private fastScan(count: number, allow: SlotAllow, top: TopK): void {
    const { p, arena } = this.view, kr = arena.kernels, s = this.scratch, v = this.view, m = p.pqM;
    const fs = fsAt(s.fsOff, m), n = m * 16, blockBytes = m * 16, slotIds = v.slotIds;
    subDots(kr, p, s.qOff, s.tableOff);
    if (!p.ip) arena.u8().copyWithin(s.baseOff, s.tableOff, s.tableOff + n * 4);
    else kr.pq4Lut(s.tableOff, m, -1, fs.signed, fs.lut, fs.params);
    const margin = 0.51 * m + 2;
    for (let pi = 0; pi < count; pi++) {
      const l = this.probeLists[pi];
      if (l < 0) continue;
      const size = v.sizes[l];
      if (size === 0) continue;
      const coarseKey = this.probeKeys[pi];
      if (!p.ip) {
        kr.axpyF32(s.tableOff, p.preOff + l * n * 4, s.baseOff, -2, n);
        kr.pq4Lut(s.tableOff, m, 1, fs.signed, fs.lut, fs.params);
      }
      let f = arena.f32();
      const a = f[fs.params >> 2], sumMin = f[(fs.params >> 2) + 1];
      // The key of an entry is constant + its signed table sum (see scanLists: −(coarse + x) under IP).
      const constant = p.ip ? -coarseKey : coarseKey;
      const slots = v.slotsOf(l);
      for (let start = 0; start < size; start += FS_CHUNK) {
        const threshold = top.threshold;
        let qthr = 65535, fthr = Infinity;
        if (threshold !== Infinity) {
          const lim = threshold - constant;
          const bound = Math.floor((lim - sumMin) * a + margin + (Math.abs(lim) + Math.abs(sumMin)) * a * 1e-5);
          if (bound < 0) break; // the threshold only falls: nothing further in this list can pass
          qthr = Math.min(65535, bound);
          fthr = lim + Math.abs(lim) * 1e-5 + 1e-30;
        }
        const got = kr.pq4fsScan(fs.lut, fs.signed, v.offsets[l] + (start / 32) * blockBytes, Math.min(FS_CHUNK, size - start), m, qthr, fthr, fs.idx, s.outOff);
        if (got === 0) continue;
        f = arena.f32();
        const idx = arena.i32(), outBase = s.outOff >> 2, idxBase = fs.idx >> 2;
        let t = top.threshold;
        for (let i = 0; i < got; i++) {
          const key = constant + f[outBase + i];
          if (key > t) continue;
          const slot = slots[start + idx[idxBase + i]];
          if (allow !== null && !allow(slot)) continue;
          top.push(key, slotIds[slot], slot);
          t = top.threshold;
        }
      }
    }
  }

  /** Exact re-ranking of the candidates in `top` with the float32 rows, into `out`. */
  private refine(q: Float32Array, top: TopK, out: TopK): void {
    const p = this.view.p, rows = this.view.rows!, s = this.rowScratch!, kr = rows.arena.kernels;
    const slots = new Int32Array(top.size), keys = new Float64Array(top.size);
    const count = top.drain(keys, null, slots);
    rows.arena.f32().set(q, s.queryOff >> 2);
    for (let off = 0; off < count; off += SCAN_CHUNK) {
      const part = Math.min(SCAN_CHUNK, count - off);
      rows.arena.i32().set(slots.subarray(off, off + part), s.slotsOff >> 2);
      if (p.ip) kr.gatherDotF32(s.queryOff, rows.rowsOff, s.slotsOff, part, p.dim, s.outOff);
      else kr.gatherL2sqF32(s.queryOff, rows.rowsOff, s.slotsOff, part, p.dim, s.outOff);
      const f = rows.arena.f32(), base = s.outOff >> 2;
      for (let i = 0; i < part; i++) {
        const x = f[base + i], slot = slots[off + i];
        out.push(p.cosine ? cosineKey(x) : p.ip ? -x : x, this.view.slotIds[slot], slot);
      }
    }
  }
}

/** What a worker needs to open an IvfIndex (changes whenever the index does). */
export interface IvfShape {
  p: IvfParams;
  handle: ArenaHandle;
  rows: ArenaHandle | null;
  rowsOff: number;
  /** f64 per list: byte offset; i32 per list: entries, first entry in `slots`; i32: every list's slots, in list order. */
  offsets: ArrayBufferLike;
  sizes: ArrayBufferLike;
  starts: ArrayBufferLike;
  slots: ArrayBufferLike;
  slotIds: ArrayBufferLike;
  sqMin: Float32Array | null;
  sqScale: Float32Array | null;
  /** Worker thread t ≥ 1 uses scratch at base + (t − 1)·stride in each arena. */
  scratchBase: number;
  scratchStride: number;
  rowScratchBase: number;
  rowScratchStride: number;
}

export interface IvfJob {
  kind: 'ivf';
  state?: string;
  shape: IvfShape;
  /** nq queries, f32 (unit vectors under cosine). */
  queries: ArrayBufferLike;
  nq: number;
  k: number;
  size: number;
  nprobe: number;
  refineFactor: number;
  /** u8 per slot: 1 when admitted; null admits all. */
  allow: ArrayBufferLike | null;
  /** HNSW coarse quantizer: nq·nprobe lists (i32) and coarse keys (f64), found by the caller. */
  probeLists: ArrayBufferLike | null;
  probeKeys: ArrayBufferLike | null;
  /** nq·k slots (i32, −1 past the last hit) and keys (f64). */
  outSlots: ArrayBufferLike;
  outKeys: ArrayBufferLike;
}

/** Runs the queries claimed from control[NEXT] (all of them when alone) with `scanner`. */
export function runIvfQueries(scanner: IvfScanner, job: IvfJob, control: Int32Array): void {
  const dim = scanner.view.p.dim, k = job.k, np = job.nprobe;
  const queries = new Float32Array(job.queries);
  const outSlots = new Int32Array(job.outSlots), outKeys = new Float64Array(job.outKeys);
  const bits = job.allow ? new Uint8Array(job.allow) : null;
  const allow: SlotAllow = bits ? (slot) => bits[slot] === 1 : null;
  const lists = job.probeLists ? new Int32Array(job.probeLists) : null, keys = job.probeKeys ? new Float64Array(job.probeKeys) : null;
  const top = new TopK(k), keysTmp = new Float64Array(k), slotsTmp = new Int32Array(k);
  for (;;) {
    const i = Atomics.add(control, NEXT, 1);
    if (i >= job.nq) return;
    scanner.search(queries.subarray(i * dim, (i + 1) * dim), k, job.size, np, allow, job.refineFactor,
      lists ? lists.subarray(i * np, (i + 1) * np) : null, keys ? keys.subarray(i * np, (i + 1) * np) : null, top);
    const got = top.drain(keysTmp, null, slotsTmp);
    for (let j = 0; j < k; j++) {
      outSlots[i * k + j] = j < got ? slotsTmp[j] : -1;
      outKeys[i * k + j] = j < got ? keysTmp[j] : Infinity;
    }
  }
}

/** Scanners a worker opened, by state and thread; the oldest goes first, and all go when idle. */
const opened = new Map<string, IvfScanner>();

/** Opens a scanner over a shape for worker thread `thread` (≥ 1). */
function openScanner(s: IvfShape, thread: number): IvfScanner {
  const starts = new Int32Array(s.starts), sizes = new Int32Array(s.sizes), slots = new Int32Array(s.slots);
  const rows = s.rows ? { arena: openArena(s.rows), rowsOff: s.rowsOff } : null;
  const view: IvfView = {
    p: s.p, arena: openArena(s.handle), offsets: new Float64Array(s.offsets), sizes,
    slotsOf: (l) => slots.subarray(starts[l], starts[l] + sizes[l]),
    slotIds: new Float64Array(s.slotIds), sqMin: s.sqMin, sqScale: s.sqScale, rows,
  };
  const t = thread - 1;
  return new IvfScanner(view, ivfScratchAt(s.scratchBase + t * s.scratchStride, s.p),
    rows ? rowScratchAt(s.rowScratchBase + t * s.rowScratchStride, s.p.dim) : null);
}

/** Worker handler for 'ivf' jobs. */
export function runIvfJob(job: IvfJob, control: Int32Array, thread: number): void {
  const key = job.state === undefined ? null : `${job.state}/${thread}`;
  let scanner = key === null ? undefined : opened.get(key);
  if (!scanner) {
    scanner = openScanner(job.shape, thread);
    if (key !== null) { if (opened.size >= 4) opened.delete(opened.keys().next().value!); opened.set(key, scanner); }
  }
  runIvfQueries(scanner, job, control);
}

/** Forgets opened scanners (the worker calls this once idle, so dropped indexes can be collected). */
export function forgetIvfScanners(): void { opened.clear(); }
