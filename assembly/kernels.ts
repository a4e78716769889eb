// WebAssembly SIMD128 distance kernels (AssemblyScript source, compiled at install by scripts/build-wasm.mjs).
//
// Every pointer is a byte offset into the one linear memory the caller owns; rows are row-major
// `rows + i * dim * 4` (f32) or `rows + i * dim` (i8). No allocation, no data segments, and the one
// global written (hnsw_search0's touch sink) is per instance and never read: the same module
// instantiates in several workers over one shared memory.
// Any `dim` works: the SIMD body runs over multiples of 16 (or 4) lanes and a scalar loop takes the
// tail. Squared L2 is computed directly as sum((a-b)^2), never through norms, so it stays exact to
// float32 rounding even for near-duplicate vectors.

// ---------------------------------------------------------------------------------------------
// float32 pairs

@inline function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) +
    (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

export function dot_f32(a: usize, b: usize, dim: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let j = 0;
  for (; j + 16 <= dim; j += 16) {
    const o = <usize>j << 2;
    a0 = f32x4.add(a0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    a1 = f32x4.add(a1, f32x4.mul(v128.load(a + o, 16), v128.load(b + o, 16)));
    a2 = f32x4.add(a2, f32x4.mul(v128.load(a + o, 32), v128.load(b + o, 32)));
    a3 = f32x4.add(a3, f32x4.mul(v128.load(a + o, 48), v128.load(b + o, 48)));
  }
  for (; j + 4 <= dim; j += 4) {
    const o = <usize>j << 2;
    a0 = f32x4.add(a0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; j < dim; j++) {
    const o = <usize>j << 2;
    s += load<f32>(a + o) * load<f32>(b + o);
  }
  return s;
}

export function l2sq_f32(a: usize, b: usize, dim: i32): f32 {
  let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
  let j = 0;
  for (; j + 16 <= dim; j += 16) {
    const o = <usize>j << 2;
    const d0 = f32x4.sub(v128.load(a + o), v128.load(b + o));
    const d1 = f32x4.sub(v128.load(a + o, 16), v128.load(b + o, 16));
    const d2 = f32x4.sub(v128.load(a + o, 32), v128.load(b + o, 32));
    const d3 = f32x4.sub(v128.load(a + o, 48), v128.load(b + o, 48));
    a0 = f32x4.add(a0, f32x4.mul(d0, d0));
    a1 = f32x4.add(a1, f32x4.mul(d1, d1));
    a2 = f32x4.add(a2, f32x4.mul(d2, d2));
    a3 = f32x4.add(a3, f32x4.mul(d3, d3));
  }
  for (; j + 4 <= dim; j += 4) {
    const o = <usize>j << 2;
    const d = f32x4.sub(v128.load(a + o), v128.load(b + o));
    a0 = f32x4.add(a0, f32x4.mul(d, d));
  }
  let s = hsum(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
  for (; j < dim; j++) {
    const o = <usize>j << 2;
    const d = load<f32>(a + o) - load<f32>(b + o);
    s += d * d;
  }
  return s;
}

// ---------------------------------------------------------------------------------------------
// float32: one query against many rows

/** out[i] = dot(q, row[i]) for i in [0, n). */
export function scan_dot_f32(q: usize, rows: usize, n: i32, dim: i32, out: usize): void {
  const stride = <usize>dim << 2;
  for (let i = 0; i < n; i++) {
    store<f32>(out + (<usize>i << 2), dot_f32(q, rows + <usize>i * stride, dim));
  }
}

/** out[i] = |q - row[i]|^2 for i in [0, n). */
export function scan_l2sq_f32(q: usize, rows: usize, n: i32, dim: i32, out: usize): void {
  const stride = <usize>dim << 2;
  for (let i = 0; i < n; i++) {
    store<f32>(out + (<usize>i << 2), l2sq_f32(q, rows + <usize>i * stride, dim));
  }
}

// The gather kernels sum every row in the same order (two 4-lane accumulators over 8 values, then
// one more 4-lane step into the first when 4 or more values remain, one horizontal sum, then the
// scalar tail), whether the row is walked in a group of four, of two or
// alone: a key then depends only on the pair of vectors, never on the row's position in the list,
// so identical rows get bit-identical keys and tie (HNSW keeps duplicates reachable through ties).

/** dot(q, r) in the gather kernels' summation order. */
@inline function gatherDot1(q: usize, r: usize, dim: i32): f32 {
  let a = f32x4.splat(0), b = f32x4.splat(0);
  let j = 0;
  for (; j + 8 <= dim; j += 8) {
    const o = <usize>j << 2;
    a = f32x4.add(a, f32x4.mul(v128.load(q + o), v128.load(r + o)));
    b = f32x4.add(b, f32x4.mul(v128.load(q + o, 16), v128.load(r + o, 16)));
  }
  if (j + 4 <= dim) {
    const o = <usize>j << 2;
    a = f32x4.add(a, f32x4.mul(v128.load(q + o), v128.load(r + o)));
    j += 4;
  }
  let s = hsum(f32x4.add(a, b));
  for (; j < dim; j++) {
    const o = <usize>j << 2;
    s += load<f32>(q + o) * load<f32>(r + o);
  }
  return s;
}

/** |q - r|^2 in the gather kernels' summation order. */
@inline function gatherL2sq1(q: usize, r: usize, dim: i32): f32 {
  let a = f32x4.splat(0), b = f32x4.splat(0);
  let j = 0;
  for (; j + 8 <= dim; j += 8) {
    const o = <usize>j << 2;
    const d = f32x4.sub(v128.load(q + o), v128.load(r + o)), e = f32x4.sub(v128.load(q + o, 16), v128.load(r + o, 16));
    a = f32x4.add(a, f32x4.mul(d, d));
    b = f32x4.add(b, f32x4.mul(e, e));
  }
  if (j + 4 <= dim) {
    const o = <usize>j << 2;
    const d = f32x4.sub(v128.load(q + o), v128.load(r + o));
    a = f32x4.add(a, f32x4.mul(d, d));
    j += 4;
  }
  let s = hsum(f32x4.add(a, b));
  for (; j < dim; j++) {
    const o = <usize>j << 2;
    const d = load<f32>(q + o) - load<f32>(r + o);
    s += d * d;
  }
  return s;
}

/**
 * out[i] = dot(q, row[slots[i]]) for i in [0, count); slots is an i32 array. Four rows (then two)
 * are walked together so that many independent loads are in flight: graph search reads rows at
 * random and is bound by memory latency more than by arithmetic.
 */
export function gather_dot_f32(q: usize, rows: usize, slots: usize, count: i32, dim: i32, out: usize): void {
  const stride = <usize>dim << 2;
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const r0 = rows + <usize>load<i32>(slots + (<usize>i << 2)) * stride;
    const r1 = rows + <usize>load<i32>(slots + (<usize>i << 2), 4) * stride;
    const r2 = rows + <usize>load<i32>(slots + (<usize>i << 2), 8) * stride;
    const r3 = rows + <usize>load<i32>(slots + (<usize>i << 2), 12) * stride;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
    let j = 0;
    for (; j + 8 <= dim; j += 8) {
      const o = <usize>j << 2;
      const x = v128.load(q + o), y = v128.load(q + o, 16);
      a0 = f32x4.add(a0, f32x4.mul(x, v128.load(r0 + o))); b0 = f32x4.add(b0, f32x4.mul(y, v128.load(r0 + o, 16)));
      a1 = f32x4.add(a1, f32x4.mul(x, v128.load(r1 + o))); b1 = f32x4.add(b1, f32x4.mul(y, v128.load(r1 + o, 16)));
      a2 = f32x4.add(a2, f32x4.mul(x, v128.load(r2 + o))); b2 = f32x4.add(b2, f32x4.mul(y, v128.load(r2 + o, 16)));
      a3 = f32x4.add(a3, f32x4.mul(x, v128.load(r3 + o))); b3 = f32x4.add(b3, f32x4.mul(y, v128.load(r3 + o, 16)));
    }
    if (j + 4 <= dim) {
      const o = <usize>j << 2, x = v128.load(q + o);
      a0 = f32x4.add(a0, f32x4.mul(x, v128.load(r0 + o))); a1 = f32x4.add(a1, f32x4.mul(x, v128.load(r1 + o)));
      a2 = f32x4.add(a2, f32x4.mul(x, v128.load(r2 + o))); a3 = f32x4.add(a3, f32x4.mul(x, v128.load(r3 + o)));
      j += 4;
    }
    a0 = f32x4.add(a0, b0); a1 = f32x4.add(a1, b1); a2 = f32x4.add(a2, b2); a3 = f32x4.add(a3, b3);
    let s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
    for (; j < dim; j++) {
      const o = <usize>j << 2, v = load<f32>(q + o);
      s0 += v * load<f32>(r0 + o); s1 += v * load<f32>(r1 + o);
      s2 += v * load<f32>(r2 + o); s3 += v * load<f32>(r3 + o);
    }
    store<f32>(out + (<usize>i << 2), s0);
    store<f32>(out + (<usize>i << 2), s1, 4);
    store<f32>(out + (<usize>i << 2), s2, 8);
    store<f32>(out + (<usize>i << 2), s3, 12);
  }
  for (; i + 2 <= count; i += 2) {
    const r0 = rows + <usize>load<i32>(slots + (<usize>i << 2)) * stride;
    const r1 = rows + <usize>load<i32>(slots + (<usize>i << 2), 4) * stride;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
    let j = 0;
    for (; j + 8 <= dim; j += 8) {
      const o = <usize>j << 2;
      const x = v128.load(q + o), y = v128.load(q + o, 16);
      a0 = f32x4.add(a0, f32x4.mul(x, v128.load(r0 + o))); a1 = f32x4.add(a1, f32x4.mul(y, v128.load(r0 + o, 16)));
      b0 = f32x4.add(b0, f32x4.mul(x, v128.load(r1 + o))); b1 = f32x4.add(b1, f32x4.mul(y, v128.load(r1 + o, 16)));
    }
    if (j + 4 <= dim) {
      const o = <usize>j << 2, x = v128.load(q + o);
      a0 = f32x4.add(a0, f32x4.mul(x, v128.load(r0 + o))); b0 = f32x4.add(b0, f32x4.mul(x, v128.load(r1 + o)));
      j += 4;
    }
    let sa = hsum(f32x4.add(a0, a1)), sb = hsum(f32x4.add(b0, b1));
    for (; j < dim; j++) {
      const o = <usize>j << 2, v = load<f32>(q + o);
      sa += v * load<f32>(r0 + o); sb += v * load<f32>(r1 + o);
    }
    store<f32>(out + (<usize>i << 2), sa);
    store<f32>(out + (<usize>i << 2), sb, 4);
  }
  for (; i < count; i++) {
    const slot = <usize>load<i32>(slots + (<usize>i << 2));
    store<f32>(out + (<usize>i << 2), gatherDot1(q, rows + slot * stride, dim));
  }
}

/** out[i] = |q - row[slots[i]]|^2 for i in [0, count); four (then two) rows walked together. */
export function gather_l2sq_f32(q: usize, rows: usize, slots: usize, count: i32, dim: i32, out: usize): void {
  const stride = <usize>dim << 2;
  let i = 0;
  for (; i + 4 <= count; i += 4) {
    const r0 = rows + <usize>load<i32>(slots + (<usize>i << 2)) * stride;
    const r1 = rows + <usize>load<i32>(slots + (<usize>i << 2), 4) * stride;
    const r2 = rows + <usize>load<i32>(slots + (<usize>i << 2), 8) * stride;
    const r3 = rows + <usize>load<i32>(slots + (<usize>i << 2), 12) * stride;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let b0 = f32x4.splat(0), b1 = f32x4.splat(0), b2 = f32x4.splat(0), b3 = f32x4.splat(0);
    let j = 0;
    for (; j + 8 <= dim; j += 8) {
      const o = <usize>j << 2;
      const x = v128.load(q + o), y = v128.load(q + o, 16);
      let d = f32x4.sub(x, v128.load(r0 + o)), e = f32x4.sub(y, v128.load(r0 + o, 16));
      a0 = f32x4.add(a0, f32x4.mul(d, d)); b0 = f32x4.add(b0, f32x4.mul(e, e));
      d = f32x4.sub(x, v128.load(r1 + o)); e = f32x4.sub(y, v128.load(r1 + o, 16));
      a1 = f32x4.add(a1, f32x4.mul(d, d)); b1 = f32x4.add(b1, f32x4.mul(e, e));
      d = f32x4.sub(x, v128.load(r2 + o)); e = f32x4.sub(y, v128.load(r2 + o, 16));
      a2 = f32x4.add(a2, f32x4.mul(d, d)); b2 = f32x4.add(b2, f32x4.mul(e, e));
      d = f32x4.sub(x, v128.load(r3 + o)); e = f32x4.sub(y, v128.load(r3 + o, 16));
      a3 = f32x4.add(a3, f32x4.mul(d, d)); b3 = f32x4.add(b3, f32x4.mul(e, e));
    }
    if (j + 4 <= dim) {
      const o = <usize>j << 2, x = v128.load(q + o);
      let d = f32x4.sub(x, v128.load(r0 + o)); a0 = f32x4.add(a0, f32x4.mul(d, d));
      d = f32x4.sub(x, v128.load(r1 + o)); a1 = f32x4.add(a1, f32x4.mul(d, d));
      d = f32x4.sub(x, v128.load(r2 + o)); a2 = f32x4.add(a2, f32x4.mul(d, d));
      d = f32x4.sub(x, v128.load(r3 + o)); a3 = f32x4.add(a3, f32x4.mul(d, d));
      j += 4;
    }
    let s0 = hsum(f32x4.add(a0, b0)), s1 = hsum(f32x4.add(a1, b1)), s2 = hsum(f32x4.add(a2, b2)), s3 = hsum(f32x4.add(a3, b3));
    for (; j < dim; j++) {
      const o = <usize>j << 2, v = load<f32>(q + o);
      const d0 = v - load<f32>(r0 + o), d1 = v - load<f32>(r1 + o), d2 = v - load<f32>(r2 + o), d3 = v - load<f32>(r3 + o);
      s0 += d0 * d0; s1 += d1 * d1; s2 += d2 * d2; s3 += d3 * d3;
    }
    store<f32>(out + (<usize>i << 2), s0);
    store<f32>(out + (<usize>i << 2), s1, 4);
    store<f32>(out + (<usize>i << 2), s2, 8);
    store<f32>(out + (<usize>i << 2), s3, 12);
  }
  if (i + 2 <= count) {
    const r0 = rows + <usize>load<i32>(slots + (<usize>i << 2)) * stride;
    const r1 = rows + <usize>load<i32>(slots + (<usize>i << 2), 4) * stride;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), b0 = f32x4.splat(0), b1 = f32x4.splat(0);
    let j = 0;
    for (; j + 8 <= dim; j += 8) {
      const o = <usize>j << 2;
      const x = v128.load(q + o), y = v128.load(q + o, 16);
      let d = f32x4.sub(x, v128.load(r0 + o)), e = f32x4.sub(y, v128.load(r0 + o, 16));
      a0 = f32x4.add(a0, f32x4.mul(d, d)); b0 = f32x4.add(b0, f32x4.mul(e, e));
      d = f32x4.sub(x, v128.load(r1 + o)); e = f32x4.sub(y, v128.load(r1 + o, 16));
      a1 = f32x4.add(a1, f32x4.mul(d, d)); b1 = f32x4.add(b1, f32x4.mul(e, e));
    }
    if (j + 4 <= dim) {
      const o = <usize>j << 2, x = v128.load(q + o);
      let d = f32x4.sub(x, v128.load(r0 + o)); a0 = f32x4.add(a0, f32x4.mul(d, d));
      d = f32x4.sub(x, v128.load(r1 + o)); a1 = f32x4.add(a1, f32x4.mul(d, d));
      j += 4;
    }
    let s0 = hsum(f32x4.add(a0, b0)), s1 = hsum(f32x4.add(a1, b1));
    for (; j < dim; j++) {
      const o = <usize>j << 2, v = load<f32>(q + o);
      const d0 = v - load<f32>(r0 + o), d1 = v - load<f32>(r1 + o);
      s0 += d0 * d0; s1 += d1 * d1;
    }
    store<f32>(out + (<usize>i << 2), s0);
    store<f32>(out + (<usize>i << 2), s1, 4);
    i += 2;
  }
  for (; i < count; i++) {
    const slot = <usize>load<i32>(slots + (<usize>i << 2));
    store<f32>(out + (<usize>i << 2), gatherL2sq1(q, rows + slot * stride, dim));
  }
}

// ---------------------------------------------------------------------------------------------
// float32: a block of queries against a block of rows (the batch path).
// Queries are first packed into panels of four, transposed ([dim][4] floats per panel), so one
// v128 holds the partial dot products of four queries with one row and no horizontal sums are
// needed. The micro-kernel takes two panels (8 queries) x 4 rows: 8 accumulators, every row value
// loaded once (as a splat) feeds 8 lanes x 2 multiply-adds. Measured here: ~2x the 4x2 row-major
// tile, ~550 queries/s per core on 60k x 784.

/** Packs queries [nq][dim] into ceil(nq/4) panels of [dim][4] (missing queries are zeros). */
export function pack_queries_f32(qs: usize, nq: i32, dim: i32, out: usize): void {
  const panels = (nq + 3) >> 2;
  for (let p = 0; p < panels; p++) {
    const po = out + ((<usize>p * <usize>dim) << 4);
    for (let l = 0; l < 4; l++) {
      const qi = p * 4 + l;
      const src = qs + ((<usize>qi * <usize>dim) << 2);
      for (let j = 0; j < dim; j++) {
        store<f32>(po + (<usize>j << 4) + (<usize>l << 2), qi < nq ? load<f32>(src + (<usize>j << 2)) : 0);
      }
    }
  }
}

/**
 * Dot products of 8 packed queries (two consecutive panels at `qp`) with rows [0, n):
 * out[i * 8 + lane] for lane in [0, 8).
 */
export function block_dot_f32(qp: usize, rows: usize, n: i32, dim: i32, out: usize): void {
  const stride = <usize>dim << 2;
  const pstride = <usize>dim << 4;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s02 = f32x4.splat(0), s03 = f32x4.splat(0);
    let s10 = f32x4.splat(0), s11 = f32x4.splat(0), s12 = f32x4.splat(0), s13 = f32x4.splat(0);
    let x = rows + <usize>i * stride, p = qp;
    const end = x + stride;
    while (x < end) {
      const a = v128.load(p), b = v128.load(p + pstride);
      let y = v128.load32_splat(x);
      s00 = f32x4.add(s00, f32x4.mul(a, y)); s10 = f32x4.add(s10, f32x4.mul(b, y));
      y = v128.load32_splat(x + stride);
      s01 = f32x4.add(s01, f32x4.mul(a, y)); s11 = f32x4.add(s11, f32x4.mul(b, y));
      y = v128.load32_splat(x + 2 * stride);
      s02 = f32x4.add(s02, f32x4.mul(a, y)); s12 = f32x4.add(s12, f32x4.mul(b, y));
      y = v128.load32_splat(x + 3 * stride);
      s03 = f32x4.add(s03, f32x4.mul(a, y)); s13 = f32x4.add(s13, f32x4.mul(b, y));
      x += 4; p += 16;
    }
    const o = out + (<usize>i << 5);
    v128.store(o, s00); v128.store(o, s10, 16); v128.store(o, s01, 32); v128.store(o, s11, 48);
    v128.store(o, s02, 64); v128.store(o, s12, 80); v128.store(o, s03, 96); v128.store(o, s13, 112);
  }
  for (; i < n; i++) {
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
    let x = rows + <usize>i * stride, p = qp;
    const end = x + stride;
    while (x < end) {
      const y = v128.load32_splat(x);
      s0 = f32x4.add(s0, f32x4.mul(v128.load(p), y)); s1 = f32x4.add(s1, f32x4.mul(v128.load(p + pstride), y));
      x += 4; p += 16;
    }
    const o = out + (<usize>i << 5);
    v128.store(o, s0); v128.store(o, s1, 16);
  }
}

// ---------------------------------------------------------------------------------------------
// int8 (for quantized indexes): exact integer arithmetic, i32 results.

export function dot_i8(a: usize, b: usize, dim: i32): i32 {
  // i8 x i8 products widen to i16 (extmul); two of them fit an i16 for codes in [-127, 127]
  // (2 * 127^2 < 2^15); then pairwise-add into i32 lanes. 7 operations per 16 bytes.
  let acc0 = i32x4.splat(0), acc1 = i32x4.splat(0);
  let j = 0;
  for (; j + 32 <= dim; j += 32) {
    const x = v128.load(a + <usize>j), y = v128.load(b + <usize>j);
    const x2 = v128.load(a + <usize>j, 16), y2 = v128.load(b + <usize>j, 16);
    acc0 = i32x4.add(acc0, i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.extmul_low_i8x16_s(x, y), i16x8.extmul_high_i8x16_s(x, y))));
    acc1 = i32x4.add(acc1, i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.extmul_low_i8x16_s(x2, y2), i16x8.extmul_high_i8x16_s(x2, y2))));
  }
  for (; j + 16 <= dim; j += 16) {
    const x = v128.load(a + <usize>j), y = v128.load(b + <usize>j);
    acc0 = i32x4.add(acc0, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(x), i16x8.extend_low_i8x16_s(y)));
    acc1 = i32x4.add(acc1, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(x), i16x8.extend_high_i8x16_s(y)));
  }
  const acc = i32x4.add(acc0, acc1);
  let s = i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3);
  for (; j < dim; j++) s += <i32>load<i8>(a + <usize>j) * <i32>load<i8>(b + <usize>j);
  return s;
}

export function l2sq_i8(a: usize, b: usize, dim: i32): i32 {
  let acc0 = i32x4.splat(0), acc1 = i32x4.splat(0);
  let j = 0;
  for (; j + 16 <= dim; j += 16) {
    const x = v128.load(a + <usize>j), y = v128.load(b + <usize>j);
    const dl = i16x8.sub(i16x8.extend_low_i8x16_s(x), i16x8.extend_low_i8x16_s(y));
    const dh = i16x8.sub(i16x8.extend_high_i8x16_s(x), i16x8.extend_high_i8x16_s(y));
    acc0 = i32x4.add(acc0, i32x4.dot_i16x8_s(dl, dl));
    acc1 = i32x4.add(acc1, i32x4.dot_i16x8_s(dh, dh));
  }
  const acc = i32x4.add(acc0, acc1);
  let s = i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3);
  for (; j < dim; j++) {
    const d = <i32>load<i8>(a + <usize>j) - <i32>load<i8>(b + <usize>j);
    s += d * d;
  }
  return s;
}

/** out[i] = dot(q, row[i]) over int8 rows, i32 results. */
export function scan_dot_i8(q: usize, rows: usize, n: i32, dim: i32, out: usize): void {
  for (let i = 0; i < n; i++) store<i32>(out + (<usize>i << 2), dot_i8(q, rows + <usize>i * <usize>dim, dim));
}

/** out[i] = |q - row[i]|^2 over int8 rows, i32 results. */
export function scan_l2sq_i8(q: usize, rows: usize, n: i32, dim: i32, out: usize): void {
  for (let i = 0; i < n; i++) store<i32>(out + (<usize>i << 2), l2sq_i8(q, rows + <usize>i * <usize>dim, dim));
}

/** out[i] = dot(q, row[slots[i]]) over int8 rows, i32 results; four (then two) rows walked together. */
export function gather_dot_i8(q: usize, rows: usize, slots: usize, count: i32, dim: i32, out: usize): void {
  const stride = <usize>dim;
  const d32 = dim & ~31, d16 = dim & ~15;
  let i = 0;
  // Four rows at a time: the query's 16 bytes are widened to i16 once for all four, and four rows'
  // loads are in flight together.
  for (; i + 4 <= count; i += 4) {
    const r0 = rows + <usize>load<i32>(slots + (<usize>i << 2)) * stride;
    const r1 = rows + <usize>load<i32>(slots + (<usize>i << 2), 4) * stride;
    const r2 = rows + <usize>load<i32>(slots + (<usize>i << 2), 8) * stride;
    const r3 = rows + <usize>load<i32>(slots + (<usize>i << 2), 12) * stride;
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), a2 = i32x4.splat(0), a3 = i32x4.splat(0);
    for (let j = 0; j < d16; j += 16) {
      const o = <usize>j;
      const x = v128.load(q + o);
      const xl = i16x8.extend_low_i8x16_s(x), xh = i16x8.extend_high_i8x16_s(x);
      let y = v128.load(r0 + o);
      a0 = i32x4.add(a0, i32x4.add(i32x4.dot_i16x8_s(xl, i16x8.extend_low_i8x16_s(y)), i32x4.dot_i16x8_s(xh, i16x8.extend_high_i8x16_s(y))));
      y = v128.load(r1 + o);
      a1 = i32x4.add(a1, i32x4.add(i32x4.dot_i16x8_s(xl, i16x8.extend_low_i8x16_s(y)), i32x4.dot_i16x8_s(xh, i16x8.extend_high_i8x16_s(y))));
      y = v128.load(r2 + o);
      a2 = i32x4.add(a2, i32x4.add(i32x4.dot_i16x8_s(xl, i16x8.extend_low_i8x16_s(y)), i32x4.dot_i16x8_s(xh, i16x8.extend_high_i8x16_s(y))));
      y = v128.load(r3 + o);
      a3 = i32x4.add(a3, i32x4.add(i32x4.dot_i16x8_s(xl, i16x8.extend_low_i8x16_s(y)), i32x4.dot_i16x8_s(xh, i16x8.extend_high_i8x16_s(y))));
    }
    let s0 = i32x4.extract_lane(a0, 0) + i32x4.extract_lane(a0, 1) + i32x4.extract_lane(a0, 2) + i32x4.extract_lane(a0, 3);
    let s1 = i32x4.extract_lane(a1, 0) + i32x4.extract_lane(a1, 1) + i32x4.extract_lane(a1, 2) + i32x4.extract_lane(a1, 3);
    let s2 = i32x4.extract_lane(a2, 0) + i32x4.extract_lane(a2, 1) + i32x4.extract_lane(a2, 2) + i32x4.extract_lane(a2, 3);
    let s3 = i32x4.extract_lane(a3, 0) + i32x4.extract_lane(a3, 1) + i32x4.extract_lane(a3, 2) + i32x4.extract_lane(a3, 3);
    for (let j = d16; j < dim; j++) {
      const v = <i32>load<i8>(q + <usize>j);
      s0 += v * <i32>load<i8>(r0 + <usize>j); s1 += v * <i32>load<i8>(r1 + <usize>j);
      s2 += v * <i32>load<i8>(r2 + <usize>j); s3 += v * <i32>load<i8>(r3 + <usize>j);
    }
    store<i32>(out + (<usize>i << 2), s0);
    store<i32>(out + (<usize>i << 2), s1, 4);
    store<i32>(out + (<usize>i << 2), s2, 8);
    store<i32>(out + (<usize>i << 2), s3, 12);
  }
  for (; i + 2 <= count; i += 2) {
    const r0 = rows + <usize>load<i32>(slots + (<usize>i << 2)) * stride;
    const r1 = rows + <usize>load<i32>(slots + (<usize>i << 2), 4) * stride;
    let a0 = i32x4.splat(0), a1 = i32x4.splat(0), b0 = i32x4.splat(0), b1 = i32x4.splat(0);
    for (let j = 0; j < d32; j += 32) {
      const o = <usize>j;
      const x = v128.load(q + o), x2 = v128.load(q + o, 16);
      let y = v128.load(r0 + o), y2 = v128.load(r0 + o, 16);
      a0 = i32x4.add(a0, i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.extmul_low_i8x16_s(x, y), i16x8.extmul_high_i8x16_s(x, y))));
      a1 = i32x4.add(a1, i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.extmul_low_i8x16_s(x2, y2), i16x8.extmul_high_i8x16_s(x2, y2))));
      y = v128.load(r1 + o); y2 = v128.load(r1 + o, 16);
      b0 = i32x4.add(b0, i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.extmul_low_i8x16_s(x, y), i16x8.extmul_high_i8x16_s(x, y))));
      b1 = i32x4.add(b1, i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.extmul_low_i8x16_s(x2, y2), i16x8.extmul_high_i8x16_s(x2, y2))));
    }
    if (d16 > d32) {
      const o = <usize>d32;
      const x = v128.load(q + o), y = v128.load(r0 + o), z = v128.load(r1 + o);
      a0 = i32x4.add(a0, i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.extmul_low_i8x16_s(x, y), i16x8.extmul_high_i8x16_s(x, y))));
      b0 = i32x4.add(b0, i32x4.extadd_pairwise_i16x8_s(i16x8.add(i16x8.extmul_low_i8x16_s(x, z), i16x8.extmul_high_i8x16_s(x, z))));
    }
    const a = i32x4.add(a0, a1), b = i32x4.add(b0, b1);
    let sa = i32x4.extract_lane(a, 0) + i32x4.extract_lane(a, 1) + i32x4.extract_lane(a, 2) + i32x4.extract_lane(a, 3);
    let sb = i32x4.extract_lane(b, 0) + i32x4.extract_lane(b, 1) + i32x4.extract_lane(b, 2) + i32x4.extract_lane(b, 3);
    for (let j = d16; j < dim; j++) {
      const v = <i32>load<i8>(q + <usize>j);
      sa += v * <i32>load<i8>(r0 + <usize>j);
      sb += v * <i32>load<i8>(r1 + <usize>j);
    }
    store<i32>(out + (<usize>i << 2), sa);
    store<i32>(out + (<usize>i << 2), sb, 4);
  }
  for (; i < count; i++) {
    const slot = <usize>load<i32>(slots + (<usize>i << 2));
    store<i32>(out + (<usize>i << 2), dot_i8(q, rows + slot * stride, dim));
  }
}

/** out[i] = |q - row[slots[i]]|^2 over int8 rows, i32 results. */
export function gather_l2sq_i8(q: usize, rows: usize, slots: usize, count: i32, dim: i32, out: usize): void {
  for (let i = 0; i < count; i++) {
    const slot = <usize>load<i32>(slots + (<usize>i << 2));
    store<i32>(out + (<usize>i << 2), l2sq_i8(q, rows + slot * <usize>dim, dim));
  }
}

// ---------------------------------------------------------------------------------------------
// Compressed codes (IVF lists): product-quantization lookups and 8-bit scalar codes, scanned
// against one query; `n` codes stored back to back.

/**
 * Asymmetric distance computation: out[i] = sum_j table[j * ksub + codes[i * m + j]], one byte
 * per sub-quantizer index (ksub ≤ 256), f32 tables laid out [m][ksub].
 */
export function adc_scan_u8(table: usize, codes: usize, n: i32, m: i32, ksub: i32, out: usize): void {
  const tstride = <usize>ksub << 2;
  for (let i = 0; i < n; i++) {
    const c = codes + <usize>i * <usize>m;
    let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
    let t = table;
    let j = 0;
    for (; j + 4 <= m; j += 4) {
      s0 += load<f32>(t + (<usize>load<u8>(c + <usize>j) << 2));
      s1 += load<f32>(t + tstride + (<usize>load<u8>(c + <usize>j + 1) << 2));
      s2 += load<f32>(t + 2 * tstride + (<usize>load<u8>(c + <usize>j + 2) << 2));
      s3 += load<f32>(t + 3 * tstride + (<usize>load<u8>(c + <usize>j + 3) << 2));
      t += 4 * tstride;
    }
    for (; j < m; j++) {
      s0 += load<f32>(t + (<usize>load<u8>(c + <usize>j) << 2));
      t += tstride;
    }
    store<f32>(out + (<usize>i << 2), (s0 + s1) + (s2 + s3));
  }
}

/**
 * Fast-scan PQ, step 1 (4-bit codes, ksub = 16): the f32 table [m][16] at `table`, times `sign`
 * (1, or -1 so that smaller is better under inner product), is written at `signed` and quantized
 * into u8 lookup tables [m][16] at `lut`: lut = round((t − min_j)·a) with one scale `a` for every
 * sub-quantizer, chosen so that a row's entries fit a byte and any sum of m entries fits 16 bits
 * with room for the rounding. Writes a (f32) at `params` and Σ_j min_j (f32) at params + 4.
 */
export function pq4_lut(table: usize, m: i32, sign: f32, signed: usize, lut: usize, params: usize): void {
  let maxSpan: f32 = 0, sumSpan: f32 = 0, sumMin: f32 = 0;
  for (let j = 0; j < m; j++) {
    const row = <usize>j << 6;
    let lo: f32 = Infinity, hi: f32 = -Infinity;
    for (let c = 0; c < 16; c++) {
      const t = sign * load<f32>(table + row + (<usize>c << 2));
      store<f32>(signed + row + (<usize>c << 2), t);
      if (t < lo) lo = t;
      if (t > hi) hi = t;
    }
    const span = hi - lo;
    if (span > maxSpan) maxSpan = span;
    sumSpan += span; sumMin += lo;
  }
  let a: f32 = maxSpan > 0 ? <f32>255 / maxSpan : 1;
  const room = <f32>(<i32>65535 - (m << 1));
  if (sumSpan * a > room) a = room / sumSpan;
  for (let j = 0; j < m; j++) {
    const row = <usize>j << 6;
    let lo: f32 = Infinity;
    for (let c = 0; c < 16; c++) { const t = load<f32>(signed + row + (<usize>c << 2)); if (t < lo) lo = t; }
    for (let c = 0; c < 16; c++) {
      let v = nearest((load<f32>(signed + row + (<usize>c << 2)) - lo) * a);
      if (v > 255) v = 255;
      if (v < 0) v = 0;
      store<u8>(lut + (<usize>j << 4) + <usize>c, <u8><i32>v);
    }
  }
  store<f32>(params, a);
  store<f32>(params, sumMin, 4);
}

/**
 * Fast-scan PQ, step 2: scans `n` entries stored in blocks of 32 ([m][16] bytes per block; entry p
 * of a block has its code for sub-quantizer j in byte j·16 + (p & 15), the low nibble for p < 16 and
 * the high one for p ≥ 16). Per block, the u8 tables at `lut` are looked up 16 entries at a time
 * with i8x16.swizzle and summed in 16-bit lanes; the entries whose sum is ≤ qthr get their exact
 * f32 sum from the table at `signed` (added as adc_scan_u8 adds, so the two agree bit for bit), and
 * those ≤ fthr are written: index (i32) at outIdx, exact sum (f32) at outDist. Returns their count.
 */
export function pq4fs_scan(lut: usize, signed: usize, codes: usize, n: i32, m: i32, qthr: i32, fthr: f32, outIdx: usize, outDist: usize): i32 {
  const low = i8x16.splat(0x0f), limit = i16x8.splat(<i16>qthr);
  const blockBytes = <usize>m << 4;
  let count = 0;
  for (let b = 0; b * 32 < n; b++) {
    const blk = codes + <usize>b * blockBytes;
    let a0 = i16x8.splat(0), a1 = i16x8.splat(0), a2 = i16x8.splat(0), a3 = i16x8.splat(0);
    for (let j = 0; j < m; j++) {
      const c = v128.load(blk + (<usize>j << 4));
      const l = v128.load(lut + (<usize>j << 4));
      const dlo = i8x16.swizzle(l, v128.and(c, low));
      const dhi = i8x16.swizzle(l, i8x16.shr_u(c, 4));
      a0 = i16x8.add(a0, i16x8.extend_low_i8x16_u(dlo));
      a1 = i16x8.add(a1, i16x8.extend_high_i8x16_u(dlo));
      a2 = i16x8.add(a2, i16x8.extend_low_i8x16_u(dhi));
      a3 = i16x8.add(a3, i16x8.extend_high_i8x16_u(dhi));
    }
    let mask: u32 = <u32>i16x8.bitmask(i16x8.le_u(a0, limit)) | (<u32>i16x8.bitmask(i16x8.le_u(a1, limit)) << 8)
      | (<u32>i16x8.bitmask(i16x8.le_u(a2, limit)) << 16) | (<u32>i16x8.bitmask(i16x8.le_u(a3, limit)) << 24);
    const valid = n - b * 32;
    if (valid < 32) mask &= (<u32>1 << <u32>valid) - 1;
    while (mask !== 0) {
      const p = <i32>ctz<u32>(mask);
      mask &= mask - 1;
      const at = blk + <usize>(p & 15), shift = <u32>(p >> 4) << 2;
      let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0;
      let j = 0;
      for (; j + 4 <= m; j += 4) {
        const o = <usize>j << 4;
        s0 += load<f32>(signed + (o << 2) + (<usize>((<u32>load<u8>(at + o) >> shift) & 15) << 2));
        s1 += load<f32>(signed + ((o + 16) << 2) + (<usize>((<u32>load<u8>(at + o + 16) >> shift) & 15) << 2));
        s2 += load<f32>(signed + ((o + 32) << 2) + (<usize>((<u32>load<u8>(at + o + 32) >> shift) & 15) << 2));
        s3 += load<f32>(signed + ((o + 48) << 2) + (<usize>((<u32>load<u8>(at + o + 48) >> shift) & 15) << 2));
      }
      for (; j < m; j++) {
        const o = <usize>j << 4;
        s0 += load<f32>(signed + (o << 2) + (<usize>((<u32>load<u8>(at + o) >> shift) & 15) << 2));
      }
      const exact = (s0 + s1) + (s2 + s3);
      if (exact <= fthr) {
        store<i32>(outIdx + (<usize>count << 2), b * 32 + p);
        store<f32>(outDist + (<usize>count << 2), exact);
        count++;
      }
    }
  }
  return count;
}

/**
 * Weighted squared L2 between a float query (already in code units) and u8 codes:
 * out[i] = sum_j w[j] * (q[j] - codes[i * dim + j])^2.
 */
export function scan_wl2_u8(q: usize, w: usize, codes: usize, n: i32, dim: i32, out: usize): void {
  for (let i = 0; i < n; i++) {
    const c = codes + <usize>i * <usize>dim;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    let j = 0;
    for (; j + 8 <= dim; j += 8) {
      const bytes = v128.load64_zero(c + <usize>j);
      const h = i16x8.extend_low_i8x16_u(bytes);
      const lo = f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(h));
      const hi = f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(h));
      const o = <usize>j << 2;
      const d0 = f32x4.sub(v128.load(q + o), lo), d1 = f32x4.sub(v128.load(q + o, 16), hi);
      a0 = f32x4.add(a0, f32x4.mul(v128.load(w + o), f32x4.mul(d0, d0)));
      a1 = f32x4.add(a1, f32x4.mul(v128.load(w + o, 16), f32x4.mul(d1, d1)));
    }
    const a = f32x4.add(a0, a1);
    let s = f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1) + (f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3));
    for (; j < dim; j++) {
      const d = load<f32>(q + (<usize>j << 2)) - <f32>load<u8>(c + <usize>j);
      s += load<f32>(w + (<usize>j << 2)) * d * d;
    }
    store<f32>(out + (<usize>i << 2), s);
  }
}

/** out[i] = sum_j q[j] * codes[i * dim + j] (u8 codes as numbers). */
export function scan_dot_u8(q: usize, codes: usize, n: i32, dim: i32, out: usize): void {
  for (let i = 0; i < n; i++) {
    const c = codes + <usize>i * <usize>dim;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0);
    let j = 0;
    for (; j + 8 <= dim; j += 8) {
      const h = i16x8.extend_low_i8x16_u(v128.load64_zero(c + <usize>j));
      const lo = f32x4.convert_i32x4_u(i32x4.extend_low_i16x8_u(h));
      const hi = f32x4.convert_i32x4_u(i32x4.extend_high_i16x8_u(h));
      const o = <usize>j << 2;
      a0 = f32x4.add(a0, f32x4.mul(v128.load(q + o), lo));
      a1 = f32x4.add(a1, f32x4.mul(v128.load(q + o, 16), hi));
    }
    const a = f32x4.add(a0, a1);
    let s = f32x4.extract_lane(a, 0) + f32x4.extract_lane(a, 1) + (f32x4.extract_lane(a, 2) + f32x4.extract_lane(a, 3));
    for (; j < dim; j++) s += load<f32>(q + (<usize>j << 2)) * <f32>load<u8>(c + <usize>j);
    store<f32>(out + (<usize>i << 2), s);
  }
}

// ---------------------------------------------------------------------------------------------
// Nearest row for 8 packed queries (k-means assignment, IVF coarse assignment, PQ encoding):
// key = rowNorm[i] - 2 q.row[i] (|q - x|^2 minus the constant |q|^2; pass zero norms to get the
// largest dot product). Running minimum and its row index per lane, all in SIMD registers.

/**
 * outIdx[lane] (i32), outKey[lane] and outKey2[lane] (f32: best and second-best key), lane in
 * [0, 8), for the two panels at qp. The second-best key gives k-means its lower bounds.
 */
export function block_argmin_f32(qp: usize, rows: usize, n: i32, dim: i32, norms: usize, outIdx: usize, outKey: usize, outKey2: usize): void {
  const stride = <usize>dim << 2;
  const pstride = <usize>dim << 4;
  let best0 = f32x4.splat(Infinity), best1 = f32x4.splat(Infinity);
  let sec0 = f32x4.splat(Infinity), sec1 = f32x4.splat(Infinity);
  let idx0 = i32x4.splat(0), idx1 = i32x4.splat(0);
  const two = f32x4.splat(2);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    // 8 queries x 4 rows: the block_dot_f32 micro-kernel, then four min updates.
    let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s02 = f32x4.splat(0), s03 = f32x4.splat(0);
    let s10 = f32x4.splat(0), s11 = f32x4.splat(0), s12 = f32x4.splat(0), s13 = f32x4.splat(0);
    let x = rows + <usize>i * stride, p = qp;
    const end = x + stride;
    while (x < end) {
      const a = v128.load(p), b = v128.load(p + pstride);
      let y = v128.load32_splat(x);
      s00 = f32x4.add(s00, f32x4.mul(a, y)); s10 = f32x4.add(s10, f32x4.mul(b, y));
      y = v128.load32_splat(x + stride);
      s01 = f32x4.add(s01, f32x4.mul(a, y)); s11 = f32x4.add(s11, f32x4.mul(b, y));
      y = v128.load32_splat(x + 2 * stride);
      s02 = f32x4.add(s02, f32x4.mul(a, y)); s12 = f32x4.add(s12, f32x4.mul(b, y));
      y = v128.load32_splat(x + 3 * stride);
      s03 = f32x4.add(s03, f32x4.mul(a, y)); s13 = f32x4.add(s13, f32x4.mul(b, y));
      x += 4; p += 16;
    }
    const nb = norms + (<usize>i << 2);
    let nr = f32x4.splat(load<f32>(nb));
    let k0 = f32x4.sub(nr, f32x4.mul(two, s00)), k1 = f32x4.sub(nr, f32x4.mul(two, s10));
    let m0 = f32x4.lt(k0, best0), m1 = f32x4.lt(k1, best1), iv = i32x4.splat(i);
    sec0 = v128.bitselect(best0, f32x4.min(sec0, k0), m0); best0 = v128.bitselect(k0, best0, m0); idx0 = v128.bitselect(iv, idx0, m0);
    sec1 = v128.bitselect(best1, f32x4.min(sec1, k1), m1); best1 = v128.bitselect(k1, best1, m1); idx1 = v128.bitselect(iv, idx1, m1);
    nr = f32x4.splat(load<f32>(nb, 4));
    k0 = f32x4.sub(nr, f32x4.mul(two, s01)); k1 = f32x4.sub(nr, f32x4.mul(two, s11));
    m0 = f32x4.lt(k0, best0); m1 = f32x4.lt(k1, best1); iv = i32x4.splat(i + 1);
    sec0 = v128.bitselect(best0, f32x4.min(sec0, k0), m0); best0 = v128.bitselect(k0, best0, m0); idx0 = v128.bitselect(iv, idx0, m0);
    sec1 = v128.bitselect(best1, f32x4.min(sec1, k1), m1); best1 = v128.bitselect(k1, best1, m1); idx1 = v128.bitselect(iv, idx1, m1);
    nr = f32x4.splat(load<f32>(nb, 8));
    k0 = f32x4.sub(nr, f32x4.mul(two, s02)); k1 = f32x4.sub(nr, f32x4.mul(two, s12));
    m0 = f32x4.lt(k0, best0); m1 = f32x4.lt(k1, best1); iv = i32x4.splat(i + 2);
    sec0 = v128.bitselect(best0, f32x4.min(sec0, k0), m0); best0 = v128.bitselect(k0, best0, m0); idx0 = v128.bitselect(iv, idx0, m0);
    sec1 = v128.bitselect(best1, f32x4.min(sec1, k1), m1); best1 = v128.bitselect(k1, best1, m1); idx1 = v128.bitselect(iv, idx1, m1);
    nr = f32x4.splat(load<f32>(nb, 12));
    k0 = f32x4.sub(nr, f32x4.mul(two, s03)); k1 = f32x4.sub(nr, f32x4.mul(two, s13));
    m0 = f32x4.lt(k0, best0); m1 = f32x4.lt(k1, best1); iv = i32x4.splat(i + 3);
    sec0 = v128.bitselect(best0, f32x4.min(sec0, k0), m0); best0 = v128.bitselect(k0, best0, m0); idx0 = v128.bitselect(iv, idx0, m0);
    sec1 = v128.bitselect(best1, f32x4.min(sec1, k1), m1); best1 = v128.bitselect(k1, best1, m1); idx1 = v128.bitselect(iv, idx1, m1);
  }
  for (; i < n; i++) {
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
    let x = rows + <usize>i * stride, p = qp;
    const end = x + stride;
    while (x < end) {
      const y = v128.load32_splat(x);
      s0 = f32x4.add(s0, f32x4.mul(v128.load(p), y)); s1 = f32x4.add(s1, f32x4.mul(v128.load(p + pstride), y));
      x += 4; p += 16;
    }
    const nr = f32x4.splat(load<f32>(norms + (<usize>i << 2)));
    const k0 = f32x4.sub(nr, f32x4.mul(two, s0)), k1 = f32x4.sub(nr, f32x4.mul(two, s1));
    const m0 = f32x4.lt(k0, best0), m1 = f32x4.lt(k1, best1), iv = i32x4.splat(i);
    sec0 = v128.bitselect(best0, f32x4.min(sec0, k0), m0); best0 = v128.bitselect(k0, best0, m0); idx0 = v128.bitselect(iv, idx0, m0);
    sec1 = v128.bitselect(best1, f32x4.min(sec1, k1), m1); best1 = v128.bitselect(k1, best1, m1); idx1 = v128.bitselect(iv, idx1, m1);
  }
  v128.store(outIdx, idx0); v128.store(outIdx, idx1, 16);
  v128.store(outKey, best0); v128.store(outKey, best1, 16);
  v128.store(outKey2, sec0); v128.store(outKey2, sec1, 16);
}

/** out[i] = a[i] + scale * b[i] for i in [0, n) (IVF-PQ: per-list lookup tables). */
export function axpy_f32(out: usize, a: usize, b: usize, scale: f32, n: i32): void {
  const s = f32x4.splat(scale);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, f32x4.add(v128.load(a + o), f32x4.mul(s, v128.load(b + o))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(a + o) + scale * load<f32>(b + o));
  }
}

// ---------------------------------------------------------------------------------------------
// HNSW beam search on level 0, entirely in the module: the visited set, both heaps, the list reads
// and the distance kernel calls, so a query crosses into WebAssembly once instead of once per
// expanded node. It mirrors HnswCore.searchLayer (src/indexes/hnsw/core.ts) step for step — the
// same binary-heap rules (SlotHeap), the same keys in the same float64 arithmetic — so the two
// give identical results; the tests hold them to that.

// A heap is keys (f64) at `k` and slots (i32) at `s`: a min-heap, a max-heap over negated keys.
@inline function heapPush(k: usize, s: usize, size: i32, key: f64, slot: i32): void {
  let i = size;
  while (i > 0) {
    const p = (i - 1) >> 1;
    const pk = load<f64>(k + (<usize>p << 3));
    if (pk <= key) break;
    store<f64>(k + (<usize>i << 3), pk);
    store<i32>(s + (<usize>i << 2), load<i32>(s + (<usize>p << 2)));
    i = p;
  }
  store<f64>(k + (<usize>i << 3), key);
  store<i32>(s + (<usize>i << 2), slot);
}

/** Removes the top of a heap of `size` entries; returns its slot. */
@inline function heapPop(k: usize, s: usize, size: i32): i32 {
  const top = load<i32>(s);
  const n = size - 1;
  if (n > 0) {
    const key = load<f64>(k + (<usize>n << 3)), slot = load<i32>(s + (<usize>n << 2));
    let i = 0;
    while (true) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && load<f64>(k + (<usize>(c + 1) << 3)) < load<f64>(k + (<usize>c << 3))) c++;
      const ck = load<f64>(k + (<usize>c << 3));
      if (ck >= key) break;
      store<f64>(k + (<usize>i << 3), ck);
      store<i32>(s + (<usize>i << 2), load<i32>(s + (<usize>c << 2)));
      i = c;
    }
    store<f64>(k + (<usize>i << 3), key);
    store<i32>(s + (<usize>i << 2), slot);
  }
  return top;
}

/**
 * The lock of a slot's lists, as Graph.lock takes it from JavaScript on the same words: a futex
 * mutex, 0 free / 1 held / 2 contended (shared memory only).
 */
@inline function lockSlot(p: usize): void {
  let c = atomic.cmpxchg<i32>(p, 0, 1);
  if (c == 0) return;
  for (let spin = 0; spin < 64 && c != 0; spin++) c = atomic.cmpxchg<i32>(p, 0, 1);
  if (c == 0) return;
  if (c != 2) c = atomic.xchg<i32>(p, 2);
  while (c != 0) {
    memory.atomic.wait32(p, 2, -1);
    c = atomic.xchg<i32>(p, 2);
  }
}

@inline function unlockSlot(p: usize): void {
  if (atomic.sub<i32>(p, 1) != 1) {
    atomic.store<i32>(p, 0);
    atomic.notify(p, 1);
  }
}

/** Where hnsw_search0 leaves the sum of its touch loads (read by no one). */
let touchSink: u32 = 0;

@inline function cosineKey(similarity: f64): f64 {
  return similarity >= 1 ? -1 : similarity <= -1 ? 1 : 0 - similarity;
}

/**
 * Beam search of width `ef` on level 0 from (ep, epKey). `metric`: 0 squared L2, 1 cosine (the
 * query at q a unit vector when invQ = 1; keys cosineKey(q·x · invQ · norms[x])), 2 dot; over int8
 * codes (rows are codes, q the query's code, `meta` four f64 constants a slot: step, A, P, origin,
 * as Space.codeKeys in src/indexes/hnsw/space.ts computes them) 3 dot, 4 squared L2. Lists:
 * `stride0` i32 words per slot at level0, [count, neighbours...]. `deleted` (u8 per slot, or 0):
 * slots marked 1 are traversed but not returned. `visited` holds a u32 per slot (equal to `epoch`
 * once seen). Scratch: the candidate heap (keys at ck, slots at cs, room for candCap), the result
 * heap (rk, rs, room for ef + 1), a neighbour list (nb) and its kernel output (kout), m0 entries
 * each. Writes the results ascending by key to outK (f64) / outS (i32) and returns their count, or
 * −1 when the candidate heap would overflow (the caller then searches in JavaScript). `locks`
 * (i32 per slot, or 0): take a slot's lock while reading its list, when other threads insert.
 */
export function hnsw_search0(
  rows: usize, dim: i32, metric: i32, level0: usize, stride0: i32, norms: usize, deleted: usize,
  q: usize, invQ: f64, ep: i32, epKey: f64, ef: i32, visited: usize, epoch: u32,
  ck: usize, cs: usize, candCap: i32, rk: usize, rs: usize, nb: usize, kout: usize, outK: usize, outS: usize,
  locks: usize, meta: usize, qs: f64, qA: f64, qP: f64, qf: f64, mid: f64,
): i32 {
  let cand = 0, res = 0, touched: u32 = 0;
  store<u32>(visited + (<usize>ep << 2), epoch);
  heapPush(ck, cs, cand++, epKey, ep);
  if (deleted == 0 || load<u8>(deleted + <usize>ep) == 0) heapPush(rk, rs, res++, -epKey, ep);
  const recordBytes = <usize>stride0 << 2;
  while (cand > 0) {
    const top = load<f64>(ck);
    if (res >= ef && top > -load<f64>(rk)) break;
    const c = heapPop(ck, cs, cand);
    cand--;
    const at = level0 + <usize>c * recordBytes;
    if (locks != 0) lockSlot(locks + (<usize>c << 2));
    const n = load<i32>(at);
    let u = 0;
    for (let i = 0; i < n; i++) {
      const s = load<i32>(at + 4 + (<usize>i << 2));
      const v = visited + (<usize>s << 2);
      if (load<u32>(v) != epoch) {
        store<u32>(v, epoch);
        store<i32>(nb + (<usize>u << 2), s);
        u++;
      }
    }
    if (locks != 0) unlockSlot(locks + (<usize>c << 2));
    if (u == 0) continue;
    // Touch the first line of every row about to be read, so their cache misses overlap (there is
    // no prefetch instruction in WebAssembly; the loads' sum is kept so they are not dropped).
    const rowBytes = metric >= 3 ? <usize>dim : <usize>dim << 2;
    for (let i = 0; i < u; i++) touched += load<u32>(rows + <usize>load<i32>(nb + (<usize>i << 2)) * rowBytes);
    if (metric == 0) gather_l2sq_f32(q, rows, nb, u, dim, kout);
    else if (metric <= 2) gather_dot_f32(q, rows, nb, u, dim, kout);
    else gather_dot_i8(q, rows, nb, u, dim, kout);
    for (let i = 0; i < u; i++) {
      const s = load<i32>(nb + (<usize>i << 2));
      let key: f64;
      if (metric <= 2) {
        const f = <f64>load<f32>(kout + (<usize>i << 2));
        key = metric == 0 ? f : metric == 2 ? -f : cosineKey(f * invQ * load<f64>(norms + (<usize>s << 3)));
      } else {
        const dot = <f64>load<i32>(kout + (<usize>i << 2)), m = meta + (<usize>s << 5);
        if (metric == 3) key = -(qs * load<f64>(m) * dot);
        else {
          key = qA + load<f64>(m, 8) - 2 * qs * load<f64>(m) * dot;
          const d = qf - load<f64>(m, 24);
          if (d != 0) key += mid + 2 * d * (qP - load<f64>(m, 16));
        }
      }
      if (res < ef || key < -load<f64>(rk)) {
        if (cand >= candCap) return -1;
        heapPush(ck, cs, cand++, key, s);
        if (deleted == 0 || load<u8>(deleted + <usize>s) == 0) {
          heapPush(rk, rs, res++, -key, s);
          if (res > ef) { heapPop(rk, rs, res); res--; }
        }
      }
    }
  }
  touchSink = touched;
  const count = res;
  for (let i = count - 1; i >= 0; i--) {
    store<f64>(outK + (<usize>i << 3), -load<f64>(rk));
    store<i32>(outS + (<usize>i << 2), heapPop(rk, rs, res));
    res--;
  }
  return count;
}
