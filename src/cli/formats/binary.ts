// Bare binary vector files, all fixed-stride rows after a header:
//   .npy                 NumPy: magic, version, a Python-dict header (descr, fortran_order, shape),
//                        then C-order rows; float32/64/16, int8, uint8 (either byte order)
//   .fvecs .ivecs .bvecs  TEXMEX: each row is an int32 dim, then dim float32 / int32 / uint8
//   .fbin .u8bin .i8bin  big-ann-benchmarks: uint32 n, uint32 dim, then n·dim float32 / uint8 / int8
// Rows are read a batch at a time with positional reads; a size that disagrees with the header is
// CORRUPT_FILE naming the row cut short and its byte offset.
import { NearestError } from '../../index.js';
import { ChunkReader, ELEMENT_BYTES, contiguousBlock, decode, malformed, type Block, type Element, type VectorSource } from './source.js';

interface Layout {
  format: string;
  /** Byte offset of row 0. */
  start: number;
  rows: number;
  dim: number;
  el: Element;
  bigEndian: boolean;
  /** Bytes before each row's values (the TEXMEX per-row dim). */
  rowHeader: number;
}

function fixedSource(reader: ChunkReader, l: Layout): VectorSource {
  const stride = l.rowHeader + l.dim * ELEMENT_BYTES[l.el];
  let consumed = l.start;
  return {
    format: l.format, dim: l.dim, rows: l.rows, bytes: reader.size,
    bytesRead: () => consumed,
    close: () => reader.close(),
    async *blocks(batch: number): AsyncGenerator<Block> {
      for (let first = 0; first < l.rows; first += batch) {
        const rows = Math.min(batch, l.rows - first);
        const at = l.start + first * stride;
        const bytes = await reader.readAt(at, rows * stride, `rows ${first} to ${first + rows - 1}`);
        const out = new Float32Array(rows * l.dim);
        if (l.rowHeader === 0) decode(l.el, bytes, 0, rows * l.dim, out, 0, l.bigEndian);
        else {
          const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
          for (let i = 0; i < rows; i++) {
            const d = dv.getInt32(i * stride, true);
            if (d !== l.dim) {
              throw malformed(reader.path, `row ${first + i} (offset ${at + i * stride})`, `the row says dim ${d}, the first row said ${l.dim} (a ${l.format} file has one dim for every row)`, { offset: at + i * stride, expected: l.dim, received: d });
            }
            decode(l.el, bytes, i * stride + 4, l.dim, out, i * l.dim);
          }
        }
        consumed = at + rows * stride;
        yield contiguousBlock(out, rows, first);
      }
    },
  };
}

/** Checks that the file holds exactly `rows` rows of `stride` bytes after `start`. */
function checkSize(reader: ChunkReader, l: Layout, stride: number): void {
  const expected = l.start + l.rows * stride;
  if (reader.size < expected) {
    const whole = Math.floor((reader.size - l.start) / stride);
    throw malformed(reader.path, `row ${whole} (offset ${l.start + whole * stride})`,
      `the file is truncated: the header says ${l.rows} rows of dim ${l.dim} (${expected} bytes), the file has ${reader.size} bytes, so row ${whole} is cut short`,
      { offset: l.start + whole * stride, expected, received: reader.size });
  }
  if (reader.size > expected) {
    throw malformed(reader.path, `offset ${expected}`, `${reader.size - expected} bytes follow the last of the ${l.rows} rows the header announces (${expected} bytes expected)`, { offset: expected, expected, received: reader.size });
  }
}

const BIN: Record<string, Element> = { fbin: 'f4', u8bin: 'u1', i8bin: 'i1' };
const VECS: Record<string, Element> = { fvecs: 'f4', ivecs: 'i4', bvecs: 'u1' };

/** Opens a .fbin / .u8bin / .i8bin file (8-byte header: uint32 n, uint32 dim). */
export async function openBin(path: string, format: string): Promise<VectorSource> {
  const reader = await ChunkReader.open(path);
  try {
    const h = new DataView((await reader.readAt(0, 8, 'the 8-byte header (uint32 n, uint32 dim)')).buffer);
    const l: Layout = { format, start: 8, rows: h.getUint32(0, true), dim: h.getUint32(4, true), el: BIN[format], bigEndian: false, rowHeader: 0 };
    if (l.dim === 0) throw malformed(path, 'offset 4', 'the header says dim 0');
    checkSize(reader, l, l.dim * ELEMENT_BYTES[l.el]);
    return fixedSource(reader, l);
  } catch (e) { await reader.close(); throw e; }
}

/** Opens a .fvecs / .ivecs / .bvecs file (every row: int32 dim, then the values). */
export async function openVecs(path: string, format: string): Promise<VectorSource> {
  const reader = await ChunkReader.open(path);
  try {
    const el = VECS[format];
    const dim = new DataView((await reader.readAt(0, 4, 'the first row\'s int32 dim')).buffer).getInt32(0, true);
    if (dim <= 0) throw malformed(path, 'row 0 (offset 0)', `the row says dim ${dim}`);
    const stride = 4 + dim * ELEMENT_BYTES[el];
    const l: Layout = { format, start: 0, rows: Math.floor(reader.size / stride), dim, el, bigEndian: false, rowHeader: 4 };
    if (reader.size % stride !== 0) {
      throw malformed(path, `row ${l.rows} (offset ${l.rows * stride})`, `the file is truncated: ${reader.size} bytes is not a whole number of ${stride}-byte rows of dim ${dim}, so row ${l.rows} is cut short`, { offset: l.rows * stride });
    }
    return fixedSource(reader, l);
  } catch (e) { await reader.close(); throw e; }
}

/** The parsed header of a .npy file. */
export interface NpyHeader { start: number; shape: number[]; kind: string; size: number; bigEndian: boolean }

/** Reads and checks a .npy header (any dtype; the caller checks which it accepts). */
export async function readNpyHeader(reader: ChunkReader): Promise<NpyHeader> {
  const path = reader.path;
  const pre = await reader.readAt(0, 10, 'the .npy preamble');
  if (pre[0] !== 0x93 || String.fromCharCode(...pre.subarray(1, 6)) !== 'NUMPY') throw malformed(path, 'offset 0', 'not a .npy file (the magic \\x93NUMPY is missing)');
  const major = pre[6];
  if (major < 1 || major > 3) throw new NearestError('UNSUPPORTED_VERSION', `${path}: .npy format version ${major}.${pre[7]} is not supported (1.0 to 3.0 are)`, { file: path, received: major });
  const dv = new DataView(pre.buffer);
  const lenBytes = major === 1 ? 2 : 4;
  const headerLen = major === 1 ? dv.getUint16(8, true) : (await reader.readAt(8, 4, 'the .npy header length').then((b) => new DataView(b.buffer).getUint32(0, true)));
  const start = 8 + lenBytes + headerLen;
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(await reader.readAt(8 + lenBytes, headerLen, 'the .npy header'));
  const descr = /'descr'\s*:\s*'([<>|=]?)([a-zA-Z])(\d+)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) throw malformed(path, 'offset 10', `the .npy header is not a dict with 'descr', 'fortran_order' and 'shape': ${header.trim().slice(0, 120)}`);
  if (fortran[1] === 'True') {
    throw new NearestError('UNSUPPORTED', `${path}: the array is in Fortran (column-major) order; only C order is read — save it with np.save(path, np.ascontiguousarray(a))`, { file: path });
  }
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (dims.some((d) => !Number.isSafeInteger(d) || d < 0)) throw malformed(path, 'offset 10', `bad shape (${shape[1]})`);
  return { start, shape: dims, kind: descr[2], size: Number(descr[3]), bigEndian: descr[1] === '>' };
}

const NPY_ELEMENTS: Record<string, Element> = { f4: 'f4', f8: 'f8', f2: 'f2', i1: 'i1', u1: 'u1' };

/**
 * Opens a .npy file of vectors: shape (n, dim) is n rows; shape (dim,) is one row. float32,
 * float64, float16, int8 and uint8 in C order; anything else is refused naming what is accepted.
 */
export async function openNpy(path: string): Promise<VectorSource> {
  const reader = await ChunkReader.open(path);
  try {
    const h = await readNpyHeader(reader);
    const el = NPY_ELEMENTS[`${h.kind}${h.size}`];
    if (!el) throw new NearestError('UNSUPPORTED', `${path}: dtype ${h.kind}${h.size} is not a vector type this reads; accepted: float32, float64, float16, int8, uint8`, { file: path, received: `${h.kind}${h.size}` });
    if (h.shape.length !== 1 && h.shape.length !== 2) {
      throw new NearestError('UNSUPPORTED', `${path}: shape (${h.shape.join(', ')}) — expected (n, dim) for n vectors or (dim,) for one vector`, { file: path, shape: h.shape });
    }
    const [rows, dim] = h.shape.length === 2 ? h.shape : [1, h.shape[0]];
    if (dim === 0) throw malformed(path, 'offset 10', `shape (${h.shape.join(', ')}) has dim 0`);
    const l: Layout = { format: 'npy', start: h.start, rows, dim, el, bigEndian: h.bigEndian, rowHeader: 0 };
    checkSize(reader, l, dim * h.size);
    return fixedSource(reader, l);
  } catch (e) { await reader.close(); throw e; }
}

/** Reads a 1-D integer .npy of ids a batch at a time (for --ids FILE.npy). */
export async function openNpyIds(path: string): Promise<{ total: number; take(n: number): Promise<number[]>; close(): Promise<void> }> {
  const reader = await ChunkReader.open(path);
  const h = await readNpyHeader(reader).catch(async (e) => { await reader.close(); throw e; });
  if ((h.kind !== 'i' && h.kind !== 'u') || ![1, 2, 4, 8].includes(h.size) || h.shape.length !== 1) {
    await reader.close();
    throw new NearestError('UNSUPPORTED', `${path}: ids must be a 1-D integer array, got dtype ${h.kind}${h.size} shape (${h.shape.join(', ')})`, { file: path });
  }
  const total = h.shape[0];
  let next = 0;
  return {
    total,
    close: () => reader.close(),
    async take(n: number): Promise<number[]> {
      const count = Math.min(n, total - next);
      const bytes = await reader.readAt(h.start + next * h.size, count * h.size, `id ${next}`);
      const dv = new DataView(bytes.buffer);
      const out = new Array<number>(count);
      for (let i = 0; i < count; i++) {
        const o = i * h.size, le = !h.bigEndian;
        const v = h.size === 8 ? Number(h.kind === 'i' ? dv.getBigInt64(o, le) : dv.getBigUint64(o, le))
          : h.size === 4 ? (h.kind === 'i' ? dv.getInt32(o, le) : dv.getUint32(o, le))
            : h.size === 2 ? (h.kind === 'i' ? dv.getInt16(o, le) : dv.getUint16(o, le)) : (h.kind === 'i' ? dv.getInt8(o) : dv.getUint8(o));
        if (!Number.isSafeInteger(v) || v < 0) throw malformed(path, `id ${next + i}`, `${v} is not a non-negative safe integer`);
        out[i] = v;
      }
      next += count;
      return out;
    },
  };
}
