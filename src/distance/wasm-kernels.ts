// The WebAssembly SIMD128 backend: kernels compiled from assembly/kernels.ts, embedded as base64
// (src/distance/wasm-binary.ts, generated at build) so it loads the same way in Node, browsers and
// bundlers. One instance per arena; the module is compiled once per process.
import { Arena, arenaFull, type ArenaHandle, type Kernels } from './kernels.js';
import { WASM_SHARED, WASM_UNSHARED } from './wasm-binary.js';

const PAGE = 65536;
const MAX_PAGES = 65536;

interface WasmExports {
  dot_f32(a: number, b: number, dim: number): number;
  l2sq_f32(a: number, b: number, dim: number): number;
  scan_dot_f32(q: number, rows: number, n: number, dim: number, out: number): void;
  scan_l2sq_f32(q: number, rows: number, n: number, dim: number, out: number): void;
  gather_dot_f32(q: number, rows: number, slots: number, count: number, dim: number, out: number): void;
  gather_l2sq_f32(q: number, rows: number, slots: number, count: number, dim: number, out: number): void;
  pack_queries_f32(qs: number, nq: number, dim: number, out: number): void;
  block_dot_f32(qp: number, rows: number, n: number, dim: number, out: number): void;
  dot_i8(a: number, b: number, dim: number): number;
  l2sq_i8(a: number, b: number, dim: number): number;
  scan_dot_i8(q: number, rows: number, n: number, dim: number, out: number): void;
  scan_l2sq_i8(q: number, rows: number, n: number, dim: number, out: number): void;
  gather_dot_i8(q: number, rows: number, slots: number, count: number, dim: number, out: number): void;
  gather_l2sq_i8(q: number, rows: number, slots: number, count: number, dim: number, out: number): void;
  adc_scan_u8(table: number, codes: number, n: number, m: number, ksub: number, out: number): void;
  pq4_lut(table: number, m: number, sign: number, signed: number, lut: number, params: number): void;
  pq4fs_scan(lut: number, signed: number, codes: number, n: number, m: number, qthr: number, fthr: number, outIdx: number, outDist: number): number;
  scan_wl2_u8(q: number, w: number, codes: number, n: number, dim: number, out: number): void;
  scan_dot_u8(q: number, codes: number, n: number, dim: number, out: number): void;
  block_argmin_f32(qp: number, rows: number, n: number, dim: number, norms: number, outIdx: number, outKey: number, outKey2: number): void;
  axpy_f32(out: number, a: number, b: number, scale: number, n: number): void;
  hnsw_search0: NonNullable<Kernels['hnswSearch0']>;
}

function decodeBase64(text: string): Uint8Array {
  if (typeof Buffer === 'function') return new Uint8Array(Buffer.from(text, 'base64'));
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function canShareMemory(): boolean {
  if (typeof SharedArrayBuffer !== 'function') return false;
  const g = globalThis as { crossOriginIsolated?: boolean; process?: { versions?: { node?: string } } };
  return g.process?.versions?.node !== undefined || g.crossOriginIsolated === true;
}

let modules: { shared: WebAssembly.Module | null; unshared: WebAssembly.Module | null } | null = null;
let loadError: unknown = null;

function load(): typeof modules {
  if (modules || loadError) return modules;
  try {
    if (typeof WebAssembly !== 'object') throw new Error('WebAssembly is not available');
    const unshared = new WebAssembly.Module(decodeBase64(WASM_UNSHARED) as Uint8Array<ArrayBuffer>);
    const shared = canShareMemory() ? new WebAssembly.Module(decodeBase64(WASM_SHARED) as Uint8Array<ArrayBuffer>) : null;
    modules = { shared, unshared };
  } catch (error) {
    loadError = error;
  }
  return modules;
}

/**
 * Compiles the modules asynchronously. Browsers refuse synchronous compilation of modules over
 * 4 KB on the main thread, so there the first synchronous attempt fails; once this resolves,
 * arenas created afterwards use WebAssembly. Resolves to null, or the reason it is unavailable.
 */
export async function loadAsync(): Promise<string | null> {
  if (modules) return null;
  try {
    if (typeof WebAssembly !== 'object') throw new Error('WebAssembly is not available');
    const unshared = await WebAssembly.compile(decodeBase64(WASM_UNSHARED) as Uint8Array<ArrayBuffer>);
    const shared = canShareMemory() ? await WebAssembly.compile(decodeBase64(WASM_SHARED) as Uint8Array<ArrayBuffer>) : null;
    modules = { shared, unshared };
    loadError = null;
  } catch (error) {
    loadError = error;
  }
  return wasmUnavailableReason();
}

/** Why the WebAssembly backend is unavailable, or null when it loads. */
export function wasmUnavailableReason(): string | null {
  load();
  return loadError ? String((loadError as Error).message ?? loadError) : null;
}

/** An arena in WebAssembly linear memory with the SIMD kernels bound to it. */
export class WasmArena extends Arena {
  readonly kernels: Kernels;
  readonly shared: boolean;
  readonly memory: WebAssembly.Memory;

  constructor(initialBytes: number, existing?: WebAssembly.Memory) {
    super();
    const m = load();
    if (!m) throw new Error(`WebAssembly SIMD kernels unavailable: ${wasmUnavailableReason()}`);
    const pages = Math.max(1, Math.ceil(initialBytes / PAGE));
    const shared = existing ? true : m.shared !== null;
    this.memory = existing ?? new WebAssembly.Memory({ initial: pages, maximum: MAX_PAGES, shared } as WebAssembly.MemoryDescriptor);
    this.shared = shared;
    const module = shared ? m.shared! : m.unshared!;
    const instance = new WebAssembly.Instance(module, { env: { memory: this.memory } });
    this.kernels = wrap(instance.exports as unknown as WasmExports);
  }
  protected currentBuffer(): ArrayBufferLike { return this.memory.buffer; }
  grow(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return;
    const pages = Math.ceil((bytes - have) / PAGE);
    if (have / PAGE + pages > MAX_PAGES) throw arenaFull(bytes);
    try {
      this.memory.grow(pages);
    } catch (e) {
      throw arenaFull(bytes, e);
    }
  }
  handle(): ArenaHandle | null {
    return this.shared ? { backend: 'wasm-simd128', memory: this.memory } : null;
  }
}

function wrap(e: WasmExports): Kernels {
  return {
    name: 'wasm-simd128',
    dotF32: e.dot_f32,
    l2sqF32: e.l2sq_f32,
    scanDotF32: e.scan_dot_f32,
    scanL2sqF32: e.scan_l2sq_f32,
    gatherDotF32: e.gather_dot_f32,
    gatherL2sqF32: e.gather_l2sq_f32,
    packQueriesF32: e.pack_queries_f32,
    blockDotF32: e.block_dot_f32,
    dotI8: e.dot_i8,
    l2sqI8: e.l2sq_i8,
    scanDotI8: e.scan_dot_i8,
    scanL2sqI8: e.scan_l2sq_i8,
    gatherDotI8: e.gather_dot_i8,
    gatherL2sqI8: e.gather_l2sq_i8,
    adcScanU8: e.adc_scan_u8,
    pq4Lut: e.pq4_lut,
    pq4fsScan: e.pq4fs_scan,
    scanWl2U8: e.scan_wl2_u8,
    scanDotU8: e.scan_dot_u8,
    blockArgminF32: e.block_argmin_f32,
    axpyF32: e.axpy_f32,
    hnswSearch0: e.hnsw_search0,
  };
}
