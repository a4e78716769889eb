// IvfIndex: the inverted-file index (FAISS IndexIVF*). k-means partitions the space into `nlist`
// cells; a vector is stored, encoded, in the list of its nearest centroid; a query scans the
// `nprobe` nearest lists. Encodings: 'flat' (float32), 'sq8' (8-bit per dimension, per-dimension
// ranges, asymmetric distances) and product quantization of the residual to the centroid with
// lookup tables (FAISS's precomputed-table form for L2), optionally re-ranked with exact float32
// distances (`refine`, factory suffix ',RFlat').
import { IdMap } from '../../storage/id-map.js';
import { NearestError, invalidArgument } from '../../errors.js';
import { createArena, type BackendChoice } from '../../distance/backend.js';
import { alignUp, type Arena } from '../../distance/kernels.js';
import { keyToDistance, keyToScore, type Metric } from '../../distance/metric.js';
import { TopK } from '../../distance/topk.js';
import { availableThreads, runParallel, sharedBuffer } from '../../parallel/pool.js';
import { ListStore } from '../../storage/list-store.js';
import { RowStore } from '../../storage/row-store.js';
import { toIdPredicate, type IndexStats } from '../flat.js';
import { DEFAULT_M, HnswIndex } from '../hnsw/hnsw-index.js';
import { unitRows } from '../normalize.js';
import { ProductQuantizer } from '../quant/pq.js';
import { emptyBatch, fillBatch } from '../results.js';
import type { BatchResult, RemovableIndex, SearchHit, VectorIndex } from '../types.js';
import { checkBatchK, checkDim, checkK, checkMetric, checkOptions, checkThreads, describe, newIds as newIdsFor, toIdList, toRows, toVector, type VectorLike, type VectorsLike } from '../validate.js';
import { Assigner } from './assigner.js';
import { kmeansRows } from './kmeans.js';
import {
  ENC_FLAT, ENC_PQ, ENC_PQ4FS, ENC_SQ8, IvfScanner, SCAN_CHUNK, fsScratchBytes, ivfScratchBytes, rowScratchBytes, runIvfQueries, subDots,
  type IvfJob, type IvfParams, type IvfShape, type IvfView,
} from './scan.js';

/**
 * How vectors are stored in the lists. PQ with `fastScan` (FAISS's PQ<m>x4fs) keeps 4-bit codes
 * in blocks of 32 and scans them with SIMD lookups in registers; its results are those of the same
 * codes without fastScan.
 */
export type IvfEncoding = 'flat' | 'sq8' | { pq: { m: number; nbits?: number; fastScan?: boolean } };

/** Options of `new IvfIndex(...)`. */
export interface IvfIndexOptions {
  dim: number;
  /** Default 'cosine' (vectors are L2-normalised and compared by inner product). */
  metric?: Metric;
  /** Number of lists (k-means cells). */
  nlist: number;
  /** Lists scanned per query by default; default 1. */
  nprobe?: number;
  /** Default 'flat'. */
  encoding?: IvfEncoding;
  /** Keep the float32 vectors to re-rank candidates exactly (search option refineFactor). */
  refine?: boolean;
  /** Default refineFactor of searches (with refine); default 1, as FAISS IndexRefine's k_factor. */
  refineFactor?: number;
  /** Coarse quantizer over the centroids: 'flat' (default) or an HNSW graph (for large nlist; m defaults to HnswIndex's, 16). */
  quantizer?: 'flat' | { hnsw: { m?: number } };
  /** Seed of k-means sampling and initialisation; default 1234. */
  seed?: number;
  /** k-means iterations of the coarse quantizer; default 10 (FAISS IndexIVF's). PQ codebooks train 25. */
  niter?: number;
  /**
   * Start of the coarse k-means: 'kmeans++' (default; slightly better cells, which shows at small
   * nprobe) or 'random' (k distinct training vectors, as FAISS does). Training only.
   */
  kmeansInit?: 'kmeans++' | 'random';
  backend?: BackendChoice;
  /** Threads of training and encoding; default all cores. */
  threads?: number;
}

/** Per-call IVF search options. */
export interface IvfSearchOptions {
  /** Lists to scan (1..nlist). */
  nprobe?: number;
  filter?: ((id: number) => boolean) | ReadonlySet<number> | Uint8Array;
  /** With `refine`: re-rank refineFactor·k candidates exactly; default 1 (when refine), ≥ 1. */
  refineFactor?: number;
}

/** Options of IvfIndex.searchBatch: the search options and the threads to spread the queries over. */
export interface IvfBatchOptions extends IvfSearchOptions {
  threads?: number;
}

let nextUid = 0;

function intOption(v: unknown, name: string, min: number, max: number, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw invalidArgument(`${where}: ${name} must be an integer from ${min} to ${max}, got ${describe(v)}`, { option: name, received: v, min, max });
  }
  return v;
}

/** An IvfIndex as plain arrays (a trained index; slot order for the per-slot arrays). */
export interface IvfState {
  params: {
    dim: number; metric: Metric; nlist: number; nprobe: number; encoding: IvfEncoding; refine: boolean; refineFactor?: number;
    quantizer: 'flat' | { hnsw: { m: number } }; seed: number; niter: number;
  };
  centroids: Float32Array;
  sqMin: Float32Array | null;
  sqScale: Float32Array | null;
  pqCentroids: Float32Array | null;
  /** Entries per list, then per list its codes and slots, concatenated in list order. */
  listSizes: Int32Array;
  codes: Uint8Array;
  listSlots: Int32Array;
  /** Per slot (slotCount of them): id, and whether it is live. */
  slotIds: Float64Array;
  live: Uint8Array;
  rows: Float32Array | null;
  nextId: number;
}

/** Inverted-file index; call `train` before `add` and `search`. */
export class IvfIndex implements VectorIndex, RemovableIndex {
  readonly dim: number;
  readonly metric: Metric;
  readonly nlist: number;
  readonly nprobe: number;
  readonly encoding: 'flat' | 'sq8' | 'pq';
  readonly pqM: number;
  readonly pqBits: number;
  /** PQ with 4-bit codes scanned in blocks (fast-scan). */
  readonly fastScan: boolean;
  readonly refine: boolean;
  /** Default refineFactor of searches. */
  readonly refineFactor: number;
  readonly quantizerKind: 'flat' | 'hnsw';
  readonly threads: number;
  /** m of the HNSW coarse quantizer (0 for a flat one). */
  readonly hnswM: number;
  /**
   * The fewest training vectors `train` accepts: max(nlist, 2^nbits with PQ) — k-means needs a
   * vector per cell, and each PQ codebook one per centroid. (Quality wants more: ~39·nlist, and
   * FAISS warns below 39 per PQ centroid.) Known at construction, so callers can check up front.
   */
  readonly minTrainSize: number;
  private readonly seed: number;
  private readonly niter: number;
  private readonly kmeansInit: 'kmeans++' | 'random';
  private readonly backend: BackendChoice;
  /** Inner product internally (dot, and cosine on normalised vectors); else squared L2. */
  private readonly ip: boolean;
  private readonly codeBytes: number;
  private readonly arena: Arena;
  // Scratch offsets in the arena.
  private readonly qOff: number;
  private readonly q2Off: number;
  private readonly wOff: number;
  private readonly tableOff: number;
  private readonly outOff: number;
  private readonly pqCenOff: number;
  private readonly fsOff: number;
  private readonly baseOff: number;
  private readonly preOff: number;
  private readonly centOff: number;
  private lists: ListStore | null = null;
  /** The HNSW coarse quantizer; null for a flat one (the centroids in the arena are scanned). */
  private coarse: HnswIndex | null = null;
  /** The calling thread's searcher (made on first search after training). */
  private scanner: IvfScanner | null = null;
  /** Names the current state for worker threads' caches; every change makes a new one. */
  private readonly uid = `ivf${nextUid++}`;
  private generation = 0;
  private shapeCache: { generation: number; threads: number; shape: IvfShape | null } | null = null;
  private centroids: Float32Array | null = null;
  private pq: ProductQuantizer | null = null;
  /** L2 PQ: [nlist][m][ksub] = |r|² + 2⟨c_list, r⟩ per sub-centroid r. */
  private precomputed = false;
  private sqMin: Float32Array | null = null;
  private sqScale: Float32Array | null = null;
  private rows: RowStore | null;
  private slotIds = new Float64Array(16);
  private slotList = new Int32Array(16);
  private slotPos = new Int32Array(16);
  private readonly idSlots = new IdMap();
  private readonly freeSlots: number[] = [];
  private slotCount = 0;
  private nextId = 0;

  constructor(options: IvfIndexOptions) {
    const where = 'IvfIndex';
    const o = checkOptions(options, ['dim', 'metric', 'nlist', 'nprobe', 'encoding', 'refine', 'refineFactor', 'quantizer', 'seed', 'niter', 'kmeansInit', 'backend', 'threads'], where);
    if (options === undefined) throw invalidArgument('IvfIndex: options { dim, nlist } are required', {});
    this.dim = checkDim(o.dim, where);
    this.metric = checkMetric(o.metric, 'cosine', where);
    this.nlist = intOption(o.nlist, 'nlist', 1, 1 << 20, where);
    this.nprobe = intOption(o.nprobe ?? 1, 'nprobe', 1, this.nlist, where);
    const enc = o.encoding ?? 'flat';
    let pqM = 0, pqBits = 8, fastScan = false;
    if (enc === 'flat' || enc === 'sq8') this.encoding = enc;
    else if (typeof enc === 'object' && enc !== null && 'pq' in enc) {
      const pqo = checkOptions((enc as { pq: unknown }).pq, ['m', 'nbits', 'fastScan'], `${where}.encoding.pq`);
      pqM = intOption(pqo.m, 'pq.m', 1, this.dim, where);
      if (pqo.fastScan !== undefined && typeof pqo.fastScan !== 'boolean') throw invalidArgument(`${where}: pq.fastScan must be a boolean, got ${describe(pqo.fastScan)}`, { option: 'pq.fastScan' });
      fastScan = pqo.fastScan === true;
      pqBits = intOption(pqo.nbits ?? (fastScan ? 4 : 8), 'pq.nbits', 1, 8, where);
      if (fastScan && pqBits !== 4) throw invalidArgument(`${where}: pq.fastScan needs nbits = 4, got ${pqBits}`, { option: 'pq.nbits', received: pqBits });
      if (this.dim % pqM !== 0) throw invalidArgument(`${where}: pq.m = ${pqM} must divide dim = ${this.dim}`, { dim: this.dim, m: pqM });
      this.encoding = 'pq';
    } else {
      throw invalidArgument(`${where}: encoding must be 'flat', 'sq8' or { pq: { m, nbits } }, got ${describe(enc)}`, { received: describe(enc) });
    }
    this.pqM = pqM; this.pqBits = pqBits; this.fastScan = fastScan;
    this.minTrainSize = Math.max(this.nlist, this.encoding === 'pq' ? 1 << pqBits : 1);
    if (o.refine !== undefined && typeof o.refine !== 'boolean') throw invalidArgument(`${where}: refine must be a boolean`, { received: o.refine });
    this.refine = o.refine === true;
    if (o.refineFactor !== undefined && !this.refine) throw invalidArgument(`${where}: refineFactor needs refine: true`, { option: 'refineFactor' });
    this.refineFactor = intOption(o.refineFactor ?? 1, 'refineFactor', 1, 1 << 16, where);
    const qz = o.quantizer ?? 'flat';
    if (qz === 'flat') { this.quantizerKind = 'flat'; this.hnswM = 0; }
    else if (typeof qz === 'object' && qz !== null && 'hnsw' in qz) {
      const h = checkOptions((qz as { hnsw: unknown }).hnsw ?? {}, ['m'], `${where}.quantizer.hnsw`);
      this.quantizerKind = 'hnsw';
      this.hnswM = intOption(h.m ?? DEFAULT_M, 'quantizer.hnsw.m', 2, 256, where);
    } else throw invalidArgument(`${where}: quantizer must be 'flat' or { hnsw: { m } }, got ${describe(qz)}`, {});
    this.seed = intOption(o.seed ?? 1234, 'seed', 0, 2 ** 32 - 1, where);
    this.niter = intOption(o.niter ?? 10, 'niter', 0, 1000, where);
    const init = o.kmeansInit ?? 'kmeans++';
    if (init !== 'kmeans++' && init !== 'random') throw invalidArgument(`${where}: kmeansInit must be 'kmeans++' or 'random', got ${describe(init)}`, { received: describe(init) });
    this.kmeansInit = init;
    const backend = o.backend ?? 'auto';
    if (backend !== 'auto' && backend !== 'wasm' && backend !== 'js') throw invalidArgument(`${where}: backend must be 'auto', 'wasm' or 'js'`, { received: backend });
    this.backend = backend as BackendChoice;
    this.threads = checkThreads(o.threads, availableThreads(), where);
    this.ip = this.metric !== 'euclidean';
    const ksub = 1 << pqBits;
    this.codeBytes = this.encoding === 'flat' ? this.dim * 4 : this.encoding === 'sq8' ? this.dim : pqM;
    // Scratch: query, transformed query, weights, one lookup table, scan output, PQ centroids.
    this.qOff = 64;
    this.q2Off = alignUp(this.qOff + this.dim * 4);
    this.wOff = alignUp(this.q2Off + this.dim * 4);
    this.tableOff = alignUp(this.wOff + this.dim * 4);
    this.outOff = alignUp(this.tableOff + (pqM ? pqM * ksub * 4 : 0));
    this.fsOff = fastScan ? alignUp(this.outOff + SCAN_CHUNK * 4) : 0;
    this.pqCenOff = alignUp(this.outOff + SCAN_CHUNK * 4 + (fastScan ? fsScratchBytes(pqM) : 0));
    // PQ under L2: the query's sub-dot table and the per-list precomputed tables, so the per-list
    // lookup table is one SIMD kernel call (table = pre[list] − 2·base).
    this.baseOff = alignUp(this.pqCenOff + (pqM ? this.dim * ksub * 4 : 0));
    this.preOff = alignUp(this.baseOff + (pqM ? pqM * ksub * 4 : 0));
    const preBytes = pqM && this.metric === 'euclidean' ? this.nlist * pqM * ksub * 4 : 0;
    // The centroids, scanned for the coarse probe by every searching thread.
    this.centOff = alignUp(this.preOff + preBytes);
    const listsBase = alignUp(this.centOff + this.nlist * this.dim * 4);
    this.arena = createArena(this.backend, listsBase);
    this.listsBase = listsBase;
    this.rows = this.refine ? new RowStore(this.dim, this.backend) : null;
  }
  private readonly listsBase: number;

  /** Whether `train` has run. */
  get isTrained(): boolean { return this.lists !== null; }

  /** Vectors held. */
  get size(): number { return this.idSlots.size; }

  get kernels(): string { return this.arena.kernels.name; }

  private requireTrained(where: string): void {
    if (!this.lists) throw new NearestError('NOT_TRAINED', `${where}: the index is not trained; call train(vectors) first`, { where });
  }

  /**
   * Learns the centroids (k-means on at most nlist·256 of the vectors) and the encoding (SQ
   * ranges or PQ codebooks on residuals). Refused once the index holds vectors.
   */
  train(vectors: VectorsLike): void {
    const where = 'IvfIndex.train';
    const { data: raw, n } = toRows(vectors, this.dim, where);
    if (this.size > 0) throw invalidArgument(`${where}: the index already holds vectors; create a new index to retrain`, {});
    if (n < this.minTrainSize) {
      const why = this.encoding === 'pq' ? `max(nlist = ${this.nlist}, 2^nbits = ${1 << this.pqBits})` : `nlist = ${this.nlist}`;
      throw invalidArgument(`${where}: need at least minTrainSize = ${why} = ${this.minTrainSize} training vectors, got ${n}`, { required: this.minTrainSize, received: n });
    }
    const data = this.metric === 'cosine' ? unitRows(raw, n, this.dim) : raw;
    const dim = this.dim;
    const km = kmeansRows(data, n, dim, this.nlist, { niter: this.niter, seed: this.seed, maxPer: 256, init: this.kmeansInit, threads: this.threads, backend: this.backend });
    this.centroids = km.centroids;
    // Coarse quantizer first (PQ training assigns through it), then the encoding.
    this.installTrained(km.centroids, null, null, null, true);
    if (this.encoding === 'sq8') this.trainSq(data, n);
    if (this.encoding === 'pq') this.trainPq(data, n);
    this.lists = new ListStore(this.arena, this.listsBase, this.nlist, this.codeBytes, this.fastScan);
  }

  private trainSq(data: Float32Array, n: number): void {
    const dim = this.dim;
    const lo = new Float32Array(dim).fill(Infinity), hi = new Float32Array(dim).fill(-Infinity);
    for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) {
      const v = data[i * dim + j];
      if (v < lo[j]) lo[j] = v;
      if (v > hi[j]) hi[j] = v;
    }
    const scale = new Float32Array(dim);
    for (let j = 0; j < dim; j++) scale[j] = hi[j] > lo[j] ? (hi[j] - lo[j]) / 255 : 1;
    this.sqMin = lo; this.sqScale = scale;
    const f = this.arena.f32();
    for (let j = 0; j < dim; j++) f[(this.wOff >> 2) + j] = scale[j] * scale[j];
  }

  private trainPq(data: Float32Array, n: number): void {
    const dim = this.dim, pq = new ProductQuantizer(dim, this.pqM, this.pqBits);
    const limit = Math.min(n, pq.ksub * 256);
    const assign = this.assign(data.subarray(0, limit * dim), limit);
    const residuals = this.residuals(data, limit, assign);
    pq.train(residuals, limit, { seed: this.seed + 1, threads: this.threads, backend: this.backend, niter: 25 });
    this.installPq(pq);
  }

  /** Puts a trained PQ in place: codebooks into kernel memory, L2 precomputed tables. */
  private installPq(pq: ProductQuantizer): void {
    const dim = this.dim;
    this.pq = pq;
    this.arena.f32().set(pq.centroids, this.pqCenOff >> 2);
    if (!this.ip) {
      // |r|² + 2⟨c_list, r⟩ for every list, sub-space and sub-centroid.
      const { m, ksub, dsub } = pq;
      const table = new Float32Array(this.nlist * m * ksub);
      const cen = pq.centroids, c = this.centroids!;
      const norms = new Float32Array(m * ksub);
      for (let t = 0; t < m * ksub; t++) { let s = 0; for (let d = 0; d < dsub; d++) s += cen[t * dsub + d] ** 2; norms[t] = s; }
      const f = this.arena.f32();
      for (let l = 0; l < this.nlist; l++) {
        f.set(c.subarray(l * dim, (l + 1) * dim), this.qOff >> 2);
        subDots(this.arena.kernels, { pqM: m, pqKsub: ksub, pqDsub: dsub, pqCenOff: this.pqCenOff }, this.qOff, this.tableOff);
        const out = this.arena.f32();
        for (let t = 0; t < m * ksub; t++) table[l * m * ksub + t] = norms[t] + 2 * out[(this.tableOff >> 2) + t];
      }
      this.arena.f32().set(table, this.preOff >> 2);
      this.precomputed = true;
    }
  }

  /** Nearest list of each vector (the SIMD argmin kernel for a flat quantizer, the graph for HNSW). */
  private assign(data: Float32Array, n: number): ArrayLike<number> {
    if (this.coarse instanceof HnswIndex) return this.coarse.searchBatch(data, 1, { threads: this.threads }).ids;
    return new Assigner(data, n, this.dim, this.nlist, { threads: this.threads, backend: this.backend, ip: this.ip }).assign(this.centroids!);
  }

  private residuals(data: Float32Array, n: number, assign: ArrayLike<number>): Float32Array {
    const dim = this.dim, c = this.centroids!, out = new Float32Array(n * dim);
    for (let i = 0; i < n; i++) {
      const l = assign[i];
      for (let j = 0; j < dim; j++) out[i * dim + j] = data[i * dim + j] - c[l * dim + j];
    }
    return out;
  }

  private encode(data: Float32Array, n: number, assign: ArrayLike<number>): Uint8Array {
    const dim = this.dim;
    if (this.encoding === 'flat') return new Uint8Array(data.buffer, data.byteOffset, n * dim * 4);
    if (this.encoding === 'sq8') {
      const out = new Uint8Array(n * dim), lo = this.sqMin!, sc = this.sqScale!;
      for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) {
        const c = Math.round((data[i * dim + j] - lo[j]) / sc[j]);
        out[i * dim + j] = c < 0 ? 0 : c > 255 ? 255 : c;
      }
      return out;
    }
    return this.pq!.encode(this.residuals(data, n, assign), n, this.backend, this.threads);
  }

  private growSlots(need: number): void {
    if (need <= this.slotIds.length) return;
    const cap = Math.max(need, Math.ceil(this.slotIds.length * 1.5));
    const grow = <T extends Float64Array | Int32Array>(a: T): T => { const b = new (a.constructor as new (n: number) => T)(cap); b.set(a); return b; };
    this.slotIds = grow(this.slotIds); this.slotList = grow(this.slotList); this.slotPos = grow(this.slotPos);
  }

  /**
   * Adds vectors (ids default to consecutive integers). Requires a trained index. All-or-nothing:
   * input is validated and memory reserved before anything changes.
   */
  add(vectors: VectorsLike, ids?: ArrayLike<number>): void {
    const where = 'IvfIndex.add';
    this.requireTrained(where);
    const { data: raw, n } = toRows(vectors, this.dim, where);
    if (n === 0) return;
    this.generation++;
    const newIds = newIdsFor(ids, n, this.idSlots, this.nextId, where);
    const dim = this.dim;
    const data = this.metric === 'cosine' ? unitRows(raw, n, dim) : raw;
    const assign = this.assign(data, n);
    const codes = this.encode(data, n, assign);
    const lists = this.lists!;
    const perList = new Int32Array(this.nlist);
    for (let i = 0; i < n; i++) perList[assign[i]]++;
    for (let l = 0; l < this.nlist; l++) if (perList[l] > 0) lists.reserve(l, perList[l], lists.sizes[l] === 0);
    this.growSlots(this.slotCount + n);
    if (this.rows) this.rows.reserveBytes(this.rows.rowOffset(this.slotCount + Math.max(0, n - this.freeSlots.length)));
    for (let i = 0; i < n; i++) {
      const slot = this.freeSlots.length > 0 ? this.freeSlots.pop()! : this.slotCount++;
      const l = assign[i];
      const pos = lists.append(l, codes, i * this.codeBytes, slot);
      this.slotIds[slot] = newIds[i];
      this.slotList[slot] = l;
      this.slotPos[slot] = pos;
      this.idSlots.set(newIds[i], slot);
      if (newIds[i] >= this.nextId) this.nextId = newIds[i] + 1;
      if (this.rows) {
        const row = data.subarray(i * dim, (i + 1) * dim);
        if (slot < this.rows.size) this.rows.write(slot, row, 1); else this.rows.append(row, 1);
      }
    }
  }

  /** Removes one id or an array / typed array of ids (absent ones ignored); returns how many were removed. */
  remove(ids: number | ArrayLike<number>): number {
    const list = toIdList(ids, 'IvfIndex.remove');
    if (!this.lists) return 0;
    this.generation++;
    let removed = 0;
    for (const id of list) {
      const slot = this.idSlots.get(id);
      if (slot === undefined) continue;
      const moved = this.lists.removeAt(this.slotList[slot], this.slotPos[slot]);
      if (moved >= 0) this.slotPos[moved] = this.slotPos[slot];
      this.idSlots.delete(id);
      this.freeSlots.push(slot);
      removed++;
    }
    this.lists.maybeCompact();
    return removed;
  }

  has(id: number): boolean { return this.idSlots.has(id); }

  /**
   * The stored vector of an id (L2-normalised under cosine): exact with `refine` or the 'flat'
   * encoding, otherwise the decoded approximation (SQ8 / PQ reconstruction). Undefined if absent.
   */
  get(id: number): Float32Array | undefined {
    const slot = this.idSlots.get(id);
    if (slot === undefined) return undefined;
    if (this.rows) return this.rows.read(slot);
    const l = this.slotList[slot], dim = this.dim;
    const bytes = this.lists!.entry(l, this.slotPos[slot]);
    if (this.encoding === 'flat') return new Float32Array(bytes.buffer);
    const out = new Float32Array(dim);
    if (this.encoding === 'sq8') {
      for (let j = 0; j < dim; j++) out[j] = this.sqMin![j] + bytes[j] * this.sqScale![j];
      return out;
    }
    const r = this.pq!.decode(bytes, 1), c = this.centroids!;
    for (let j = 0; j < dim; j++) out[j] = r[j] + c[l * dim + j];
    return out;
  }

  private parseSearch(options: unknown, where: string, batch: boolean): { nprobe: number; allow: ((id: number) => boolean) | null; refineFactor: number; threads: number } {
    const o = checkOptions(options, batch ? ['nprobe', 'filter', 'refineFactor', 'threads'] : ['nprobe', 'filter', 'refineFactor'], where);
    const nprobe = o.nprobe === undefined ? this.nprobe : intOption(o.nprobe, 'nprobe', 1, this.nlist, where);
    let refineFactor = this.refineFactor;
    if (o.refineFactor !== undefined) {
      if (!this.refine) throw invalidArgument(`${where}: refineFactor needs an index built with refine: true`, { option: 'refineFactor' });
      refineFactor = intOption(o.refineFactor, 'refineFactor', 1, 1 << 16, where);
    }
    const threads = batch ? checkThreads(o.threads, this.threads, where) : 1;
    return { nprobe, allow: toIdPredicate(o.filter, where), refineFactor, threads };
  }

  /** The approximately k best vectors, best first. `nprobe` lists are scanned. */
  search(query: VectorLike, k: number, options?: IvfSearchOptions): SearchHit[] {
    const where = 'IvfIndex.search';
    this.requireTrained(where);
    const p = this.parseSearch(options, where, false);
    const q = toVector(query, this.dim, where);
    checkK(k, where);
    if (this.size === 0) return [];
    const kk = Math.min(k, this.size), unit = this.metric === 'cosine' ? unitRows(q, 1, this.dim) : q;
    const pred = p.allow, slotIds = this.slotIds;
    const probes = this.coarse ? this.hnswProbes(unit, 1, p.nprobe, 1) : null;
    const top = new TopK(kk);
    this.mainScanner().search(unit, kk, this.size, p.nprobe, pred ? (slot) => pred(slotIds[slot]) : null, p.refineFactor,
      probes ? probes.lists : null, probes ? probes.keys : null, top);
    const keys = new Float64Array(top.size), ids = new Float64Array(top.size);
    const count = top.drain(keys, ids, null);
    const out: SearchHit[] = new Array(count);
    for (let i = 0; i < count; i++) out[i] = { id: ids[i], score: this.score(keys[i]), distance: this.distance(keys[i]) };
    return out;
  }

  // Keys are those of the metric (cosine: −similarity of the unit vectors), so the shared conversions apply, with their clamps.
  private score(key: number): number { return keyToScore(this.metric, key); }
  private distance(key: number): number { return keyToDistance(this.metric, key); }

  /**
   * Many queries at once, spread over `threads` threads (default: the index's; each thread takes
   * the next query), each answered exactly as `search` answers it. nq·k ids/scores/distances
   * row-major, id −1 where fewer than k; nq·k at most MAX_BATCH_RESULTS.
   */
  searchBatch(queries: VectorsLike, k: number, options?: IvfBatchOptions): BatchResult {
    const where = 'IvfIndex.searchBatch';
    this.requireTrained(where);
    const p = this.parseSearch(options, where, true);
    const { data, n: nq } = toRows(queries, this.dim, where);
    checkBatchK(k, nq, where);
    const result = emptyBatch(nq, k);
    if (this.size === 0 || nq === 0) return result;
    const kk = Math.min(k, this.size), dim = this.dim;
    const qs = new Float32Array(sharedBuffer(nq * dim * 4));
    qs.set(this.metric === 'cosine' ? unitRows(data, nq, dim) : data);
    let bits: Uint8Array | null = null;
    if (p.allow) {
      bits = new Uint8Array(sharedBuffer(this.slotCount));
      for (let slot = 0; slot < this.slotCount; slot++) bits[slot] = p.allow(this.slotIds[slot]) ? 1 : 0;
    }
    const threads = Math.min(p.threads, availableThreads(), nq);
    const probes = this.coarse ? this.hnswProbes(qs, nq, p.nprobe, threads) : null;
    const shape = threads > 1 ? this.shape(threads) : null;
    const job: IvfJob = {
      kind: 'ivf', shape: shape!, nq, k: kk, size: this.size, nprobe: p.nprobe, refineFactor: p.refineFactor,
      queries: qs.buffer, allow: bits ? bits.buffer : null,
      probeLists: probes ? probes.lists.buffer : null, probeKeys: probes ? probes.keys.buffer : null,
      outSlots: sharedBuffer(nq * kk * 4), outKeys: sharedBuffer(nq * kk * 8),
    };
    if (shape) job.state = `${this.uid}.${this.generation}`;
    runParallel(shape ? job : null, threads, (control) => runIvfQueries(this.mainScanner(), job, control));
    return fillBatch(result, kk, new Int32Array(job.outSlots), new Float64Array(job.outKeys), this.slotIds, this.metric);
  }

  /**
   * The nprobe lists of each of nq queries by the HNSW coarse quantizer (its searchBatch, for one
   * query too, so that search and searchBatch probe alike), with their coarse keys: |q − c|² or ⟨q, c⟩.
   */
  private hnswProbes(qs: Float32Array, nq: number, nprobe: number, threads: number): { lists: Int32Array; keys: Float64Array } {
    const r = this.coarse!.searchBatch(qs.subarray(0, nq * this.dim), nprobe, { efSearch: Math.max(64, 2 * nprobe), threads });
    const lists = new Int32Array(sharedBuffer(nq * nprobe * 4)), keys = new Float64Array(sharedBuffer(nq * nprobe * 8));
    for (let i = 0; i < nq * nprobe; i++) {
      lists[i] = r.ids[i];
      keys[i] = this.ip ? r.scores[i] : r.distances[i] * r.distances[i];
    }
    return { lists, keys };
  }

  /** The view of this index the calling thread searches through. */
  private view(): IvfView {
    const lists = this.lists!, rows = this.rows;
    return {
      p: this.params(), arena: this.arena, offsets: lists.offsets, sizes: lists.sizes, slotsOf: (l) => lists.slots[l],
      slotIds: this.slotIds, sqMin: this.sqMin, sqScale: this.sqScale,
      rows: rows ? { arena: rows.arena, rowsOff: rows.rowsOff } : null,
    };
  }

  private params(): IvfParams {
    return {
      dim: this.dim, nlist: this.nlist, encoding: this.encoding === 'flat' ? ENC_FLAT : this.encoding === 'sq8' ? ENC_SQ8 : this.fastScan ? ENC_PQ4FS : ENC_PQ,
      ip: this.ip, cosine: this.metric === 'cosine', codeBytes: this.codeBytes,
      pqM: this.pq ? this.pq.m : 0, pqKsub: this.pq ? this.pq.ksub : 0, pqDsub: this.pq ? this.pq.dsub : 0,
      centOff: this.centOff, wOff: this.wOff, pqCenOff: this.pqCenOff, preOff: this.preOff,
    };
  }

  private mainScanner(): IvfScanner {
    if (this.scanner === null) {
      const rows = this.rows;
      this.scanner = new IvfScanner(this.view(), { qOff: this.qOff, q2Off: this.q2Off, tableOff: this.tableOff, baseOff: this.baseOff, outOff: this.outOff, fsOff: this.fsOff },
        rows ? { queryOff: rows.queryOff, slotsOff: rows.slotsOff, outOff: rows.outOff } : null);
    }
    this.scanner.view.slotIds = this.slotIds;
    return this.scanner;
  }

  /**
   * The shared description of this index for worker threads (null when its memory is not shared),
   * made once per state: the lists' slots packed into one shared array, and scratch for threads
   * 1..threads−1 reserved above the lists and the rows.
   */
  private shape(threads: number): IvfShape | null {
    const c = this.shapeCache;
    if (c && c.generation === this.generation && c.threads >= threads) return c.shape;
    const handle = this.arena.handle(), rowsHandle = this.rows ? this.rows.arena.handle() : null;
    let shape: IvfShape | null = null;
    if (handle && (!this.rows || rowsHandle)) {
      const lists = this.lists!, nlist = this.nlist, p = this.params();
      const offsets = new Float64Array(sharedBuffer(nlist * 8)), sizes = new Int32Array(sharedBuffer(nlist * 4)), starts = new Int32Array(sharedBuffer(nlist * 4));
      let total = 0;
      for (let l = 0; l < nlist; l++) { offsets[l] = lists.offsets[l]; sizes[l] = lists.sizes[l]; starts[l] = total; total += lists.sizes[l]; }
      const slots = new Int32Array(sharedBuffer(Math.max(1, total) * 4));
      for (let l = 0; l < nlist; l++) slots.set(lists.slots[l].subarray(0, sizes[l]), starts[l]);
      const slotIds = new Float64Array(sharedBuffer(Math.max(1, this.slotCount) * 8));
      slotIds.set(this.slotIds.subarray(0, this.slotCount));
      const stride = ivfScratchBytes(p), base = alignUp(lists.end);
      this.arena.grow(base + (threads - 1) * stride);
      let rowBase = 0;
      const rowStride = rowScratchBytes(this.dim);
      if (this.rows) {
        rowBase = alignUp(this.rows.end);
        this.rows.reserveBytes(rowBase + (threads - 1) * rowStride);
      }
      shape = {
        p, handle, rows: rowsHandle, rowsOff: this.rows ? this.rows.rowsOff : 0,
        offsets: offsets.buffer, sizes: sizes.buffer, starts: starts.buffer, slots: slots.buffer, slotIds: slotIds.buffer,
        sqMin: this.sqMin, sqScale: this.sqScale,
        scratchBase: base, scratchStride: stride, rowScratchBase: rowBase, rowScratchStride: rowStride,
      };
    }
    this.shapeCache = { generation: this.generation, threads, shape };
    return shape;
  }

  /** The index as plain arrays (for io/); null parts where the encoding has none. */
  exportState(): IvfState {
    this.requireTrained('IvfIndex.exportState');
    const lists = this.lists!;
    let total = 0;
    for (let l = 0; l < this.nlist; l++) total += lists.sizes[l];
    const codes = new Uint8Array(total * this.codeBytes), listSlots = new Int32Array(total);
    let at = 0;
    for (let l = 0; l < this.nlist; l++) {
      const sz = lists.sizes[l];
      lists.readList(l, codes, at * this.codeBytes);
      listSlots.set(lists.slots[l].subarray(0, sz), at);
      at += sz;
    }
    const live = new Uint8Array(this.slotCount);
    for (const slot of this.idSlots.values()) live[slot] = 1;
    const enc: IvfEncoding = this.encoding === 'pq' ? { pq: { m: this.pqM, nbits: this.pqBits, ...(this.fastScan ? { fastScan: true } : {}) } } : this.encoding;
    return {
      params: {
        dim: this.dim, metric: this.metric, nlist: this.nlist, nprobe: this.nprobe, encoding: enc, refine: this.refine, ...(this.refine ? { refineFactor: this.refineFactor } : {}),
        quantizer: this.quantizerKind === 'hnsw' ? { hnsw: { m: this.hnswM } } : 'flat', seed: this.seed, niter: this.niter,
      },
      centroids: this.centroids!.slice(), sqMin: this.sqMin?.slice() ?? null, sqScale: this.sqScale?.slice() ?? null,
      pqCentroids: this.pq ? this.pq.centroids.slice() : null,
      listSizes: lists.sizes.slice(), codes, listSlots,
      slotIds: this.slotIds.slice(0, this.slotCount), live,
      rows: this.rows ? this.rows.arena.f32().subarray(this.rows.rowsOff >> 2, (this.rows.rowsOff >> 2) + this.slotCount * this.dim) : null,
      nextId: this.nextId,
    };
  }

  /** Rebuilds an index from exportState() output; the caller (io/) has validated sizes and ranges. */
  static fromState(s: IvfState, options: { backend?: BackendChoice; threads?: number } = {}): IvfIndex {
    const index = new IvfIndex({ ...s.params, ...options });
    index.installTrained(s.centroids.slice(), s.sqMin?.slice() ?? null, s.sqScale?.slice() ?? null, s.pqCentroids);
    const lists = index.lists!;
    const n = s.slotIds.length;
    index.growSlots(n);
    index.slotCount = n;
    let at = 0;
    for (let l = 0; l < index.nlist; l++) {
      const sz = s.listSizes[l];
      if (sz === 0) continue;
      lists.fill(l, s.codes, at * index.codeBytes, sz, s.listSlots.subarray(at, at + sz));
      for (let p = 0; p < sz; p++) { const slot = s.listSlots[at + p]; index.slotList[slot] = l; index.slotPos[slot] = p; }
      at += sz;
    }
    for (let slot = 0; slot < n; slot++) {
      index.slotIds[slot] = s.slotIds[slot];
      if (s.live[slot]) index.idSlots.set(s.slotIds[slot], slot); else index.freeSlots.push(slot);
    }
    if (index.rows && s.rows && n > 0) index.rows.append(s.rows, n);
    index.nextId = s.nextId;
    return index;
  }

  /** Installs trained centroids and encoding parameters (train() and fromState share this). */
  private installTrained(centroids: Float32Array, sqMin: Float32Array | null, sqScale: Float32Array | null, pqCentroids: Float32Array | null, coarseOnly = false): void {
    const dim = this.dim;
    this.centroids = centroids;
    this.scanner = null;
    this.generation++;
    this.arena.f32().set(centroids, this.centOff >> 2);
    this.coarse = null;
    if (this.quantizerKind === 'hnsw') {
      this.coarse = new HnswIndex({ dim, metric: this.ip ? 'dot' : 'euclidean', m: this.hnswM, efConstruction: 200, backend: this.backend, threads: this.threads, seed: this.seed });
      this.coarse.add(centroids);
    }
    if (coarseOnly) return;
    if (this.encoding === 'sq8') {
      this.sqMin = sqMin; this.sqScale = sqScale;
      const f = this.arena.f32();
      for (let j = 0; j < dim; j++) f[(this.wOff >> 2) + j] = sqScale![j] * sqScale![j];
    }
    if (this.encoding === 'pq') {
      const pq = new ProductQuantizer(dim, this.pqM, this.pqBits);
      pq.centroids.set(pqCentroids!);
      pq.trained = true;
      this.installPq(pq);
    }
    this.lists = new ListStore(this.arena, this.listsBase, this.nlist, this.codeBytes, this.fastScan);
  }

  /** Size, kernels and memory in use. */
  stats(): IndexStats & { nlist: number; nprobe: number; encoding: string; trained: boolean } {
    const mem = this.arena.byteLength + (this.rows ? this.rows.arena.byteLength : 0) + this.slotIds.byteLength * 2 + this.slotPos.byteLength
      + this.size * 44;
    return {
      kernels: this.kernels, size: this.size, dim: this.dim, metric: this.metric, memoryBytes: mem,
      nlist: this.nlist, nprobe: this.nprobe, encoding: this.encoding === 'pq' ? `pq${this.pqM}x${this.pqBits}${this.fastScan ? 'fs' : ''}` : this.encoding, trained: this.isTrained,
    };
  }
}
