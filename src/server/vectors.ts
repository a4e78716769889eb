// Vectors on the wire: JSON numbers, or base64 of little-endian float32 (4 bytes a component), so a
// 1536-d vector is 8 KiB of text that is decoded, never parsed number by number.
import { NearestError } from '../index.js';

/** What a request may carry as a vector. */
export type WireVector = number[] | string;

/** How responses write vectors. */
export type VectorEncoding = 'float' | 'base64';

/** Strict standard base64 (RFC 4648 §4, padded): the JSON schemas use the same pattern. */
export const BASE64_PATTERN = '^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$';

const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Decodes a wire vector: numbers pass through (the store validates them), base64 becomes a Float32Array. */
export function decodeVector(v: WireVector, where: string): Float32Array | number[] {
  if (typeof v !== 'string') return v;
  const bytes = Buffer.from(v, 'base64');
  if (bytes.length % 4 !== 0) {
    throw new NearestError('INVALID_ARGUMENT', `${where}: a base64 vector must hold a whole number of float32 values (4 bytes each), got ${bytes.length} bytes`, { where, bytes: bytes.length });
  }
  return float32View(bytes, false); // a copy: a small decoded Buffer may be a slice of Node's shared pool
}

/**
 * Little-endian float32 bytes (a multiple of 4 long) as a Float32Array. With `view`, the same
 * memory (no copy) when the bytes sit at a 4-byte-aligned offset on a little-endian host; else,
 * and without `view`, a copy. A view must not outlive the request or be transferred to a worker.
 */
export function float32View(bytes: Uint8Array, view: boolean): Float32Array {
  const n = bytes.byteLength / 4;
  if (view && littleEndian && bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, n);
  const out = new Float32Array(n);
  if (littleEndian) new Uint8Array(out.buffer).set(bytes);
  else { const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength); for (let i = 0; i < n; i++) out[i] = dv.getFloat32(i * 4, true); }
  return out;
}

/** Encodes a stored vector for a response. */
export function encodeVector(v: Float32Array, encoding: VectorEncoding): number[] | string {
  if (encoding === 'float') return Array.from(v);
  if (littleEndian) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  const b = Buffer.alloc(v.length * 4);
  for (let i = 0; i < v.length; i++) b.writeFloatLE(v[i], i * 4);
  return b.toString('base64');
}
