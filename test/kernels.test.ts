// Kernel tests per backend against a float64 reference: odd dimensions, zero vectors, large values,
// int8 exactness, the packed batch kernel — and proof that the WebAssembly path really ran.
import { describe, expect, it } from 'vitest';
import { kernels } from 'nearest';
import { createArena } from '../dist/distance/backend.js';
import { randomRows, prng } from './helpers.js';

const DIMS = [1, 3, 4, 7, 15, 16, 17, 33, 64, 100, 1536];

describe('kernel backend selection', () => {
  it('auto resolves to WebAssembly SIMD on Node 20, and says so', () => {
    expect(kernels.name).toBe('wasm-simd128');
    expect(kernels.wasmUnavailableReason).toBeNull();
    expect(createArena('auto', 1024).kernels.name).toBe('wasm-simd128');
    expect(createArena('js', 1024).kernels.name).toBe('js-reference');
  });
});

for (const backend of ['wasm', 'js'] as const) {
  describe(`kernels: ${backend}`, () => {
    const arena = createArena(backend, 1 << 20);
    const k = arena.kernels;
    it('is the backend asked for, in the memory type it claims', () => {
      expect(k.name).toBe(backend === 'wasm' ? 'wasm-simd128' : 'js-reference');
      expect(arena.shared).toBe(true);
    });

    for (const dim of DIMS) {
      it(`f32 dot / l2sq / scans / gathers match float64 at dim ${dim}`, () => {
        const n = 9;
        const rows = randomRows(n, dim, dim).map((v, i) => (i % 5 === 0 ? v * 1000 : v));
        rows.fill(0, 2 * dim, 3 * dim); // zero row
        const q = randomRows(1, dim, dim + 99);
        const qOff = 64, rowsOff = 64 + ((dim * 4 + 63) & ~63), outOff = rowsOff + n * dim * 4 + 64, slotsOff = outOff + 256;
        arena.grow(slotsOff + 256);
        arena.f32().set(q, qOff >> 2);
        arena.f32().set(rows, rowsOff >> 2);
        const refDot = (i: number) => { let s = 0; for (let j = 0; j < dim; j++) s += q[j] * rows[i * dim + j]; return s; };
        const refL2 = (i: number) => { let s = 0; for (let j = 0; j < dim; j++) s += (q[j] - rows[i * dim + j]) ** 2; return s; };
        const scale = (i: number) => { let a = 0, b = 0; for (let j = 0; j < dim; j++) { a += q[j] ** 2; b += rows[i * dim + j] ** 2; } return a + b; };
        const tol = (i: number) => 1e-6 * Math.sqrt(dim) * scale(i) + 1e-7;
        for (let i = 0; i < n; i++) {
          expect(Math.abs(k.dotF32(qOff, rowsOff + i * dim * 4, dim) - refDot(i))).toBeLessThanOrEqual(tol(i));
          expect(Math.abs(k.l2sqF32(qOff, rowsOff + i * dim * 4, dim) - refL2(i))).toBeLessThanOrEqual(tol(i));
        }
        expect(k.dotF32(qOff, rowsOff + 2 * dim * 4, dim)).toBe(0);
        k.scanDotF32(qOff, rowsOff, n, dim, outOff);
        let out = arena.f32();
        for (let i = 0; i < n; i++) expect(Math.abs(out[(outOff >> 2) + i] - refDot(i))).toBeLessThanOrEqual(tol(i));
        k.scanL2sqF32(qOff, rowsOff, n, dim, outOff);
        out = arena.f32();
        for (let i = 0; i < n; i++) expect(Math.abs(out[(outOff >> 2) + i] - refL2(i))).toBeLessThanOrEqual(tol(i));
        const slots = [8, 0, 3, 3];
        arena.i32().set(slots, slotsOff >> 2);
        k.gatherL2sqF32(qOff, rowsOff, slotsOff, 4, dim, outOff);
        out = arena.f32();
        slots.forEach((s, i) => expect(Math.abs(out[(outOff >> 2) + i] - refL2(s))).toBeLessThanOrEqual(tol(s)));
        k.gatherDotF32(qOff, rowsOff, slotsOff, 4, dim, outOff);
        out = arena.f32();
        slots.forEach((s, i) => expect(Math.abs(out[(outOff >> 2) + i] - refDot(s))).toBeLessThanOrEqual(tol(s)));
      });

      it(`packed batch kernel matches float64 at dim ${dim}`, () => {
        const nq = 7, n = 11; // partial panel and a row tail
        const qs = randomRows(nq, dim, dim + 5), rows = randomRows(n, dim, dim + 6);
        const qsOff = 64, packOff = qsOff + nq * dim * 4 + 64, rowsOff = packOff + 8 * dim * 4 + 64, outOff = rowsOff + n * dim * 4 + 64;
        arena.grow(outOff + n * 8 * 4 + 64);
        arena.f32().set(qs, qsOff >> 2);
        arena.f32().set(rows, rowsOff >> 2);
        k.packQueriesF32(qsOff, nq, dim, packOff);
        k.blockDotF32(packOff, rowsOff, n, dim, outOff);
        const out = arena.f32();
        for (let i = 0; i < n; i++) {
          for (let lane = 0; lane < 8; lane++) {
            let ref = 0;
            if (lane < nq) for (let j = 0; j < dim; j++) ref += qs[lane * dim + j] * rows[i * dim + j];
            expect(Math.abs(out[(outOff >> 2) + i * 8 + lane] - ref)).toBeLessThanOrEqual(1e-5 * dim + 1e-6);
          }
        }
      });

      it(`int8 kernels are exact at dim ${dim}`, () => {
        const r = prng(dim * 3);
        const n = 5;
        // Quantizer codes span [-127, 127] (the dot kernel relies on it).
        const q = Int8Array.from({ length: dim }, (_, j) => (j === 0 ? -127 : Math.floor(r() * 255) - 127));
        const rows = Int8Array.from({ length: n * dim }, (_, i) => (i % 7 === 0 ? 127 : i % 11 === 0 ? -127 : Math.floor(r() * 255) - 127));
        const qOff = 64, rowsOff = 64 + ((dim + 63) & ~63), outOff = rowsOff + ((n * dim + 63) & ~63);
        arena.grow(outOff + n * 4);
        arena.i8().set(q, qOff);
        arena.i8().set(rows, rowsOff);
        const refDot = (i: number) => { let s = 0; for (let j = 0; j < dim; j++) s += q[j] * rows[i * dim + j]; return s; };
        const refL2 = (i: number) => { let s = 0; for (let j = 0; j < dim; j++) s += (q[j] - rows[i * dim + j]) ** 2; return s; };
        for (let i = 0; i < n; i++) {
          expect(k.dotI8(qOff, rowsOff + i * dim, dim)).toBe(refDot(i));
          expect(k.l2sqI8(qOff, rowsOff + i * dim, dim)).toBe(refL2(i));
        }
        k.scanDotI8(qOff, rowsOff, n, dim, outOff);
        for (let i = 0; i < n; i++) expect(arena.i32()[(outOff >> 2) + i]).toBe(refDot(i));
        k.scanL2sqI8(qOff, rowsOff, n, dim, outOff);
        for (let i = 0; i < n; i++) expect(arena.i32()[(outOff >> 2) + i]).toBe(refL2(i));
      });
    }

    it('views are re-derived after the memory grows', () => {
      const a = createArena(backend, 64);
      const before = a.f32();
      a.f32()[3] = 42;
      a.grow(1 << 20);
      expect(a.f32()).not.toBe(before);
      expect(a.f32().length * 4).toBe(a.byteLength);
      expect(a.f32()[3]).toBe(42);
    });
  });
}
