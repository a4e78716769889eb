// Chooses the kernel backend once per process ('auto' prefers WebAssembly SIMD) and creates arenas.
import { NearestError } from '../errors.js';
import { JsArena } from './js-kernels.js';
import type { Arena, ArenaHandle, KernelName } from './kernels.js';
import { WasmArena, wasmUnavailableReason } from './wasm-kernels.js';

/** Which kernels to use: 'auto' (WebAssembly SIMD when it loads, else JS), 'wasm' or 'js'. */
export type BackendChoice = 'auto' | 'wasm' | 'js';

/** The backend 'auto' resolves to in this process. */
export function defaultKernelName(): KernelName {
  return wasmUnavailableReason() === null ? 'wasm-simd128' : 'js-reference';
}

/**
 * A new arena of at least `initialBytes` for the chosen backend. Throws UNSUPPORTED when 'wasm' was
 * asked for and WebAssembly SIMD cannot load here (never a silent fallback).
 */
export function createArena(choice: BackendChoice, initialBytes: number): Arena {
  const name = choice === 'js' ? 'js-reference' : choice === 'wasm' ? 'wasm-simd128' : defaultKernelName();
  if (name === 'wasm-simd128') {
    const reason = wasmUnavailableReason();
    if (reason !== null) {
      throw new NearestError('UNSUPPORTED', `backend 'wasm' was requested but WebAssembly SIMD is unavailable: ${reason}`, { backend: choice, reason });
    }
    return new WasmArena(initialBytes);
  }
  return new JsArena(initialBytes);
}

/** Re-opens an arena in a worker thread from its handle (same memory, fresh kernel instance). */
export function openArena(handle: ArenaHandle): Arena {
  return handle.backend === 'wasm-simd128' ? new WasmArena(0, handle.memory) : new JsArena(0, handle.buffer);
}
