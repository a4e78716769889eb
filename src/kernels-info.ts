// `kernels`: which distance kernels this process uses by default, and why WebAssembly is missing
// when it is.
import { defaultKernelName } from './distance/backend.js';
import { loadAsync, wasmUnavailableReason } from './distance/wasm-kernels.js';

/** The default kernel backend of this process ('wasm-simd128' or 'js-reference'). */
export const kernels: {
  readonly name: string;
  readonly wasmUnavailableReason: string | null;
  /**
   * Loads the WebAssembly kernels asynchronously and resolves to the default backend's name. In
   * Node.js they load on first use anyway; on a browser's main thread, where synchronous
   * compilation of the module is refused, `await kernels.ready()` before creating indexes.
   */
  ready(): Promise<string>;
} = {
  get name() { return defaultKernelName(); },
  get wasmUnavailableReason() { return wasmUnavailableReason(); },
  async ready() { await loadAsync(); return defaultKernelName(); },
};
