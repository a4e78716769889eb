// `kernels`: which distance kernels this process uses by default, and why WebAssembly is missing
// when it is.
import { defaultKernelName } from './distance/backend.js';
import { wasmUnavailableReason } from './distance/wasm-kernels.js';

/** The default kernel backend of this process ('wasm-simd128' or 'js-reference'). */
export const kernels: { readonly name: string; readonly wasmUnavailableReason: string | null } = {
  get name() { return defaultKernelName(); },
  get wasmUnavailableReason() { return wasmUnavailableReason(); },
};
