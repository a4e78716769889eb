// HNSW work shared by the calling thread and worker threads: per-query search with re-ranking and
// the exact fallback for selective filters, and the 'hnsw' worker job (parallel build and batch
// search over the shared graph and arenas).
import { openArena } from '../../distance/backend.js';
import type { Arena, ArenaHandle } from '../../distance/kernels.js';
import { TopK } from '../../distance/topk.js';
import { NEXT } from '../../parallel/pool.js';
import { ScalarQuantizer } from '../quant/sq8.js';
import { HnswCore, tombstoneFilter, type SlotFilter } from './core.js';
import { Graph, type GraphBuffers } from './graph.js';
import { scratchAt, Space, wasmScratchAt, type WasmGraph } from './space.js';

/**
 * One query (already set on core.space): graph search with beam `ef`, exact re-ranking of the
 * candidates when traversal ran on codes, and an exact scan of the admitted slots when `exact` is
 * set (a selective filter) or when the graph returned fewer than k admitted slots. Leaves the best
 * k in `top` (ties by smaller id).
 */
export function searchQuery(core: HnswCore, k: number, ef: number, allow: SlotFilter, exact: boolean, size: number, ids: Float64Array, top: TopK, keys: Float64Array): void {
  const space = core.space;
  top.reset();
  if (!exact) {
    const count = core.search(Math.max(ef, k), allow);
    const slots = core.sortedSlots;
    if (space.approximate) {
      for (let off = 0; off < count; off += space.maxList) {
        const part = Math.min(space.maxList, count - off);
        const sub = slots.subarray(off, off + part);
        space.exactKeys(sub, part, keys);
        for (let i = 0; i < part; i++) top.push(keys[i], ids[sub[i]], sub[i]);
      }
    } else {
      const sk = core.sortedKeys;
      for (let i = 0; i < count; i++) top.push(sk[i], ids[slots[i]], slots[i]);
    }
    if (top.size >= top.k || allow === null) return;
    top.reset();
  }
  const chunk = new Int32Array(space.maxList);
  let fill = 0;
  const flush = (): void => {
    space.exactKeys(chunk, fill, keys);
    for (let i = 0; i < fill; i++) top.push(keys[i], ids[chunk[i]], chunk[i]);
    fill = 0;
  };
  for (let slot = 0; slot < size; slot++) {
    if (allow !== null && !allow(slot)) continue;
    chunk[fill++] = slot;
    if (fill === chunk.length) flush();
  }
  if (fill > 0) flush();
}

/** Everything a worker needs to open an HNSW index. */
export interface HnswShape {
  dim: number;
  metric: number;
  rows: ArenaHandle;
  rowsOff: number;
  codes: ArenaHandle | null;
  codesOff: number;
  quant: { mid: Float32Array; metric: 'cosine' | 'euclidean' | 'dot' } | null;
  graph: GraphBuffers;
  invNorms: ArrayBufferLike;
  invNormsOff: number;
  /** Per-slot code constants (CODE_META float64 each), codeMetaLength values at codeMetaOff. */
  codeMeta: ArrayBufferLike;
  codeMetaOff: number;
  codeMetaLength: number;
  ids: ArrayBufferLike;
  /** Worker thread t ≥ 1 uses scratch at base + (t - 1) * stride in each arena. */
  rowScratchBase: number;
  codeScratchBase: number;
  rowStride: number;
  codeStride: number;
  maxList: number;
  /** Where the WebAssembly search finds the graph, */
  wasm: WasmGraph;
  /** and where its scratch starts in a thread's block (of the arena holding the graph). */
  wasmScratchOff: number;
}

export interface HnswJob {
  kind: 'hnsw';
  shape: HnswShape;
  /**
   * Names the index's state (index and generation: any change makes a new one), so a worker keeps
   * the kernels and views it opened for the last few search jobs instead of reopening them.
   */
  state?: string;
  op: 'build' | 'search';
  // build
  efConstruction?: number;
  slots?: ArrayBufferLike;
  count?: number;
  // search
  queries?: ArrayBufferLike;
  nq?: number;
  k?: number;
  ef?: number;
  size?: number;
  allow?: ArrayBufferLike | null;
  /** With no `allow`: refuse the slots marked deleted in the graph (else admit all). */
  tombstones?: boolean;
  exact?: boolean;
  outSlots?: ArrayBufferLike;
  outKeys?: ArrayBufferLike;
}

/** Opens a Space over the shape's arenas for worker thread `thread` (≥ 1). */
export function openSpace(shape: HnswShape, thread: number, rows: Arena, codes: Arena | null): Space {
  const t = thread - 1;
  let quantizer: ScalarQuantizer | null = null;
  if (shape.quant) {
    quantizer = new ScalarQuantizer(shape.dim, shape.quant.metric);
    quantizer.mid.set(shape.quant.mid);
    quantizer.centreChanged();
  }
  const block = shape.rowScratchBase + t * shape.rowStride, capacity = shape.graph.capacity;
  const codeBlock = shape.codeScratchBase + t * shape.codeStride;
  const space = new Space({
    dim: shape.dim, metric: shape.metric,
    rows, rowsOff: shape.rowsOff, rowScratch: scratchAt(block, shape.dim * 4, shape.maxList),
    codes, codesOff: shape.codesOff, codeScratch: codes ? scratchAt(codeBlock, shape.dim, shape.maxList) : null,
    quantizer, invNorms: new Float64Array(shape.invNorms, shape.invNormsOff, capacity),
    codeMeta: new Float64Array(shape.codeMeta, shape.codeMetaOff, shape.codeMetaLength), maxList: shape.maxList,
  });
  // The WebAssembly search's scratch in this thread's block of the arena holding the graph (the
  // codes' with int8 traversal).
  space.setWasmSearch(wasmScratchAt((codes ? codeBlock : block) + shape.wasmScratchOff, capacity, shape.graph.m0, shape.wasm), capacity);
  return space;
}

/** Search cores a worker opened, by state and thread; the oldest goes first, and all go when idle. */
const opened = new Map<string, { core: HnswCore; ids: Float64Array }>();
const OPENED_MAX = 4;

/** Forgets opened cores (the worker calls this once idle, so dropped indexes can be collected). */
export function forgetHnswCores(): void { opened.clear(); }

function openCore(shape: HnswShape, thread: number, concurrent: boolean): HnswCore {
  const rows = openArena(shape.rows);
  const codes = shape.codes ? openArena(shape.codes) : null;
  return new HnswCore(new Graph(shape.graph), openSpace(shape, thread, rows, codes), concurrent);
}

/** Worker handler for 'hnsw' jobs. */
export function runHnswJob(job: HnswJob, control: Int32Array, thread: number): void {
  const shape = job.shape;
  if (job.op === 'build') {
    runBuild(openCore(shape, thread, true), new Int32Array(job.slots!), job.count!, job.efConstruction!, control);
    return;
  }
  const key = job.state === undefined ? null : `${job.state}/${thread}`;
  let entry = key === null ? undefined : opened.get(key);
  if (!entry) {
    entry = { core: openCore(shape, thread, false), ids: new Float64Array(shape.ids) };
    if (key !== null) {
      if (opened.size >= OPENED_MAX) opened.delete(opened.keys().next().value!);
      opened.set(key, entry);
    }
  }
  runSearch(entry.core, job, control, entry.ids);
}

/** Inserts the slots claimed from control[NEXT] until none are left. */
export function runBuild(core: HnswCore, slots: Int32Array, count: number, efConstruction: number, control: Int32Array): void {
  for (;;) {
    const i = Atomics.add(control, NEXT, 1);
    if (i >= count) return;
    core.insert(slots[i], efConstruction);
  }
}

/** Per-core result scratch, reused by the jobs that core runs (one at a time). */
const scratchOf = new WeakMap<HnswCore, { top: TopK; keys: Float64Array; slots: Int32Array; keys2: Float64Array }>();

/** Batch search: queries claimed from control[NEXT]; results to the job's shared output. */
export function runSearch(core: HnswCore, job: HnswJob, control: Int32Array, ids: Float64Array): void {
  const dim = core.space.dim, k = job.k!;
  const queries = new Float32Array(job.queries!);
  const outSlots = new Int32Array(job.outSlots!);
  const outKeys = new Float64Array(job.outKeys!);
  const bits = job.allow ? new Uint8Array(job.allow) : null;
  const allow: SlotFilter = bits ? (slot) => bits[slot] === 1 : job.tombstones ? tombstoneFilter(core.graph.deleted) : null;
  let scratch = scratchOf.get(core);
  if (!scratch || scratch.top.k !== k) {
    scratch = { top: new TopK(k), keys: new Float64Array(Math.max(core.space.maxList, 16)), slots: new Int32Array(k), keys2: new Float64Array(k) };
    scratchOf.set(core, scratch);
  }
  const { top, keys, slots: slotsTmp, keys2: keysTmp } = scratch;
  for (;;) {
    const i = Atomics.add(control, NEXT, 1);
    if (i >= job.nq!) return;
    core.space.setQuery(queries.subarray(i * dim, (i + 1) * dim));
    searchQuery(core, k, job.ef!, allow, job.exact!, job.size!, ids, top, keys);
    const got = top.drain(keysTmp, null, slotsTmp);
    for (let j = 0; j < k; j++) {
      outSlots[i * k + j] = j < got ? slotsTmp[j] : -1;
      outKeys[i * k + j] = j < got ? keysTmp[j] : Infinity;
    }
  }
}
