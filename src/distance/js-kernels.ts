// The plain TypeScript reference backend: the same surface as the WebAssembly kernels, over an
// arena backed by a growable (Shared)ArrayBuffer. Always available; the oracle the SIMD kernels
// are tested against. Accumulates in float64.
import { Arena, arenaFull, ARENA_MAX_BYTES, type ArenaHandle, type Kernels } from './kernels.js';

const MAX_BYTES = ARENA_MAX_BYTES;

/** An arena over a growable SharedArrayBuffer (or a resizable ArrayBuffer where SAB is missing). */
export class JsArena extends Arena {
  readonly kernels: Kernels;
  readonly shared: boolean;
  private readonly buffer: SharedArrayBuffer | ArrayBuffer;

  constructor(initialBytes: number, existing?: SharedArrayBuffer) {
    super();
    if (existing) {
      this.buffer = existing;
      this.shared = true;
    } else if (typeof SharedArrayBuffer === 'function') {
      this.buffer = new SharedArrayBuffer(initialBytes, { maxByteLength: MAX_BYTES });
      this.shared = true;
    } else {
      this.buffer = new ArrayBuffer(initialBytes, { maxByteLength: MAX_BYTES });
      this.shared = false;
    }
    this.kernels = jsKernels(this);
  }
  protected currentBuffer(): ArrayBufferLike { return this.buffer; }
  grow(bytes: number): void {
    if (bytes <= this.buffer.byteLength) return;
    if (bytes > MAX_BYTES) throw arenaFull(bytes);
    try {
      if (this.buffer instanceof ArrayBuffer) this.buffer.resize(bytes);
      else this.buffer.grow(bytes);
    } catch (e) {
      throw arenaFull(bytes, e);
    }
  }
  handle(): ArenaHandle | null {
    return this.buffer instanceof SharedArrayBuffer ? { backend: 'js-reference', buffer: this.buffer } : null;
  }
}

function jsKernels(arena: Arena): Kernels {
  const dotF32 = (a: number, b: number, dim: number): number => {
    const f = arena.f32();
    let s = 0;
    for (let j = 0, x = a >> 2, y = b >> 2; j < dim; j++) s += f[x + j] * f[y + j];
    return Math.fround(s);
  };
  const l2sqF32 = (a: number, b: number, dim: number): number => {
    const f = arena.f32();
    let s = 0;
    for (let j = 0, x = a >> 2, y = b >> 2; j < dim; j++) { const d = f[x + j] - f[y + j]; s += d * d; }
    return Math.fround(s);
  };
  const dotI8 = (a: number, b: number, dim: number): number => {
    const v = arena.i8();
    let s = 0;
    for (let j = 0; j < dim; j++) s += v[a + j] * v[b + j];
    return s;
  };
  const l2sqI8 = (a: number, b: number, dim: number): number => {
    const v = arena.i8();
    let s = 0;
    for (let j = 0; j < dim; j++) { const d = v[a + j] - v[b + j]; s += d * d; }
    return s;
  };
  return {
    name: 'js-reference',
    dotF32,
    l2sqF32,
    scanDotF32(q, rows, n, dim, out) {
      const f = arena.f32();
      for (let i = 0; i < n; i++) f[(out >> 2) + i] = dotF32(q, rows + i * dim * 4, dim);
    },
    scanL2sqF32(q, rows, n, dim, out) {
      const f = arena.f32();
      for (let i = 0; i < n; i++) f[(out >> 2) + i] = l2sqF32(q, rows + i * dim * 4, dim);
    },
    gatherDotF32(q, rows, slots, count, dim, out) {
      const f = arena.f32(), s = arena.i32();
      for (let i = 0; i < count; i++) f[(out >> 2) + i] = dotF32(q, rows + s[(slots >> 2) + i] * dim * 4, dim);
    },
    gatherL2sqF32(q, rows, slots, count, dim, out) {
      const f = arena.f32(), s = arena.i32();
      for (let i = 0; i < count; i++) f[(out >> 2) + i] = l2sqF32(q, rows + s[(slots >> 2) + i] * dim * 4, dim);
    },
    packQueriesF32(qs, nq, dim, out) {
      const f = arena.f32();
      const panels = (nq + 3) >> 2;
      for (let p = 0; p < panels; p++) {
        for (let l = 0; l < 4; l++) {
          const qi = p * 4 + l;
          for (let j = 0; j < dim; j++) {
            f[(out >> 2) + p * dim * 4 + j * 4 + l] = qi < nq ? f[(qs >> 2) + qi * dim + j] : 0;
          }
        }
      }
    },
    blockDotF32(qp, rows, n, dim, out) {
      const f = arena.f32();
      const panel = dim * 4;
      for (let i = 0; i < n; i++) {
        const r = (rows >> 2) + i * dim;
        for (let lane = 0; lane < 8; lane++) {
          const base = (qp >> 2) + (lane >> 2) * panel + (lane & 3);
          let s = 0;
          for (let j = 0; j < dim; j++) s += f[base + j * 4] * f[r + j];
          f[(out >> 2) + i * 8 + lane] = s;
        }
      }
    },
    dotI8,
    l2sqI8,
    scanDotI8(q, rows, n, dim, out) {
      const o = arena.i32();
      for (let i = 0; i < n; i++) o[(out >> 2) + i] = dotI8(q, rows + i * dim, dim);
    },
    scanL2sqI8(q, rows, n, dim, out) {
      const o = arena.i32();
      for (let i = 0; i < n; i++) o[(out >> 2) + i] = l2sqI8(q, rows + i * dim, dim);
    },
    gatherDotI8(q, rows, slots, count, dim, out) {
      const o = arena.i32();
      for (let i = 0; i < count; i++) o[(out >> 2) + i] = dotI8(q, rows + o[(slots >> 2) + i] * dim, dim);
    },
    adcScanU8(table, codes, n, m, ksub, out) {
      const f = arena.f32(), u8 = arena.u8();
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < m; j++) s += f[(table >> 2) + j * ksub + u8[codes + i * m + j]];
        f[(out >> 2) + i] = s;
      }
    },
    pq4Lut(table, m, sign, signed, lut, params) {
      const f = arena.f32(), u8 = arena.u8();
      let maxSpan = 0, sumSpan = 0, sumMin = 0;
      const lows = new Float64Array(m);
      for (let j = 0; j < m; j++) {
        let lo = Infinity, hi = -Infinity;
        for (let c = 0; c < 16; c++) {
          const t = Math.fround(sign * f[(table >> 2) + j * 16 + c]);
          f[(signed >> 2) + j * 16 + c] = t;
          if (t < lo) lo = t;
          if (t > hi) hi = t;
        }
        lows[j] = lo;
        maxSpan = Math.max(maxSpan, hi - lo); sumSpan += hi - lo; sumMin += lo;
      }
      let a = maxSpan > 0 ? 255 / maxSpan : 1;
      if (sumSpan * a > 65535 - 2 * m) a = (65535 - 2 * m) / sumSpan;
      for (let j = 0; j < m; j++) {
        for (let c = 0; c < 16; c++) u8[lut + j * 16 + c] = Math.min(255, Math.max(0, Math.round((f[(signed >> 2) + j * 16 + c] - lows[j]) * a)));
      }
      f[params >> 2] = a;
      f[(params >> 2) + 1] = sumMin;
    },
    pq4fsScan(lut, signed, codes, n, m, qthr, fthr, outIdx, outDist) {
      const f = arena.f32(), u8 = arena.u8(), o = arena.i32();
      let count = 0;
      for (let i = 0; i < n; i++) {
        const at = codes + Math.floor(i / 32) * m * 16 + (i & 15), shift = (i & 16) !== 0 ? 4 : 0;
        let q = 0, s = 0;
        for (let j = 0; j < m; j++) {
          const c = (u8[at + j * 16] >> shift) & 15;
          q += u8[lut + j * 16 + c];
          s += f[(signed >> 2) + j * 16 + c];
        }
        const exact = Math.fround(s);
        if (q > qthr || exact > Math.fround(fthr)) continue;
        o[(outIdx >> 2) + count] = i;
        f[(outDist >> 2) + count] = exact;
        count++;
      }
      return count;
    },
    scanWl2U8(q, w, codes, n, dim, out) {
      const f = arena.f32(), u8 = arena.u8();
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < dim; j++) { const d = f[(q >> 2) + j] - u8[codes + i * dim + j]; s += f[(w >> 2) + j] * d * d; }
        f[(out >> 2) + i] = s;
      }
    },
    scanDotU8(q, codes, n, dim, out) {
      const f = arena.f32(), u8 = arena.u8();
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let j = 0; j < dim; j++) s += f[(q >> 2) + j] * u8[codes + i * dim + j];
        f[(out >> 2) + i] = s;
      }
    },
    blockArgminF32(qp, rows, n, dim, norms, outIdx, outKey, outKey2) {
      const f = arena.f32(), i32 = arena.i32();
      for (let lane = 0; lane < 8; lane++) {
        const base = (qp >> 2) + (lane >> 2) * dim * 4 + (lane & 3);
        let best = Infinity, second = Infinity, bi = 0;
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let j = 0; j < dim; j++) s += f[base + j * 4] * f[(rows >> 2) + i * dim + j];
          const key = Math.fround(f[(norms >> 2) + i] - 2 * s);
          if (key < best) { second = best; best = key; bi = i; } else if (key < second) second = key;
        }
        i32[(outIdx >> 2) + lane] = bi;
        f[(outKey >> 2) + lane] = best;
        f[(outKey2 >> 2) + lane] = second;
      }
    },
    axpyF32(out, a, b, scale, n) {
      const f = arena.f32();
      for (let i = 0; i < n; i++) f[(out >> 2) + i] = Math.fround(f[(a >> 2) + i] + scale * f[(b >> 2) + i]);
    },
    gatherL2sqI8(q, rows, slots, count, dim, out) {
      const o = arena.i32();
      for (let i = 0; i < count; i++) o[(out >> 2) + i] = l2sqI8(q, rows + o[(slots >> 2) + i] * dim, dim);
    },
  };
}
