// What every format reader shares: the VectorSource interface the import command consumes, chunked
// file reading (a file is never read into one buffer or string), a line splitter across chunk
// boundaries, element decoders, and the errors a malformed row raises.
import { open, stat, type FileHandle } from 'node:fs/promises';
import { NearestError, MAX_SQUARED_NORM, type JsonValue, type Metric, type RecordId } from '../../index.js';

/** Consecutive rows of a file, in file order. */
export interface Block {
  /** Row-major vectors, rows × dim. */
  vectors: Float32Array;
  rows: number;
  /** The 0-based row index of each row in the file (their default ids); contiguous for bare files. */
  rowIndex: number[];
  /** Ids the file itself gives (JSONL, Parquet); undefined: row numbers or --ids. */
  ids?: RecordId[];
  /** Metadata the file itself gives. */
  metadata?: (JsonValue | undefined)[];
  /** How to name row i of this block in an error ("row 17", "line 18"). */
  where(i: number): string;
}

/** An opened input file. */
export interface VectorSource {
  /** The format's name (npy, fbin, jsonl, ...). */
  format: string;
  dim: number;
  /** Rows in the file when the header says so; otherwise an estimate that `estimate()` refines. */
  rows: number | undefined;
  /** Bytes of the file. */
  bytes: number;
  /** A metric the file declares (ann-benchmarks HDF5 'distance' attribute). */
  metric?: Metric;
  /** Blocks of at most `batch` rows. */
  blocks(batch: number): AsyncGenerator<Block>;
  /** Bytes consumed so far (for bytes/s and an estimate of the rows of a file without a header). */
  bytesRead(): number;
  close(): Promise<void>;
}

/** What a reader does with a malformed row: abort (throw) or count it and go on. */
export interface RowPolicy {
  skip: boolean;
  skipped: number;
  /** The first few skipped rows, for the report. */
  examples: string[];
}

/** A malformed input error (CORRUPT_FILE) naming the file and the row, line or offset. */
export function malformed(file: string, where: string, why: string, details: Record<string, unknown> = {}): NearestError {
  return new NearestError('CORRUPT_FILE', `${file}: ${where}: ${why}`, { file, where, ...details });
}

/** Records a malformed row: throws without --on-error skip, else counts it. */
export function badRow(policy: RowPolicy, file: string, where: string, why: string): void {
  if (!policy.skip) throw malformed(file, where, why);
  policy.skipped++;
  if (policy.examples.length < 5) policy.examples.push(`${where}: ${why}`);
}

/** Why a row of values is unacceptable (a non-finite value, a norm too large), or null. */
export function rowProblem(v: Float32Array, from: number, dim: number): string | null {
  let s = 0;
  for (let j = 0; j < dim; j++) {
    const x = v[from + j];
    if (!Number.isFinite(x)) return `value ${j} is ${x} (every value must be finite)`;
    s += x * x;
  }
  return s > MAX_SQUARED_NORM ? `its squared norm ${s} exceeds ${MAX_SQUARED_NORM}` : null;
}

/** Reads a file in chunks: positional reads into buffers of about `chunk` bytes. */
export class ChunkReader {
  private constructor(readonly path: string, readonly size: number, private readonly fh: FileHandle) {}

  static async open(path: string): Promise<ChunkReader> {
    let st;
    try { st = await stat(path); } catch (e) {
      throw new NearestError('NOT_FOUND', `${path}: cannot read the file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file: path });
    }
    if (!st.isFile()) throw new NearestError('INVALID_ARGUMENT', `${path} is not a file`, { file: path });
    return new ChunkReader(path, st.size, await open(path, 'r'));
  }

  /** Exactly `length` bytes at `position` into a fresh buffer (or CORRUPT_FILE naming the offset). */
  async readAt(position: number, length: number, what: string): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(out, done, length - done, position + done);
      if (bytesRead === 0) throw malformed(this.path, `offset ${position + done}`, `the file ends inside ${what} (${length - done} more bytes expected)`, { offset: position + done });
      done += bytesRead;
    }
    return out;
  }

  /** Up to `length` bytes at `position` (fewer only at the end of the file). */
  async readUpTo(position: number, length: number): Promise<Uint8Array> {
    const n = Math.max(0, Math.min(length, this.size - position));
    return n === 0 ? new Uint8Array(0) : this.readAt(position, n, 'a read');
  }

  close(): Promise<void> { return this.fh.close(); }
}

/** A line of a text file: its text (without the newline) and 1-based number. */
export interface Line { text: string; line: number }

/**
 * The lines of a text file, a chunk's worth at a time, read in chunks of `chunk` bytes: one await
 * per chunk instead of one per line (an async generator step per line cost more than a third of
 * JSON.parse's time on 128-d JSONL). UTF-8 decoded strictly, so a character or a line split across
 * chunks is whole. `consumed` counts the bytes read so far.
 */
export async function* lineChunks(reader: ChunkReader, counter: { consumed: number }, chunk = 1 << 20): AsyncGenerator<Line[]> {
  // Newlines are found in the bytes (a 0x0A byte is never inside a multi-byte UTF-8 character)
  // and each line is decoded on its own: no chunk-sized strings to concatenate, scan and slice.
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let carry: Uint8Array = new Uint8Array(0), number = 0;
  const decode = (bytes: Uint8Array, line: number): string => {
    try { return decoder.decode(bytes); } catch { throw malformed(reader.path, `line ${line}`, 'not valid UTF-8'); }
  };
  for (let at = 0; at < reader.size; at += chunk) {
    const read = await reader.readUpTo(at, chunk);
    counter.consumed = at + read.length;
    let bytes: Uint8Array = read;
    if (carry.length > 0) { bytes = new Uint8Array(carry.length + read.length); bytes.set(carry); bytes.set(read, carry.length); }
    const out: Line[] = [];
    let from = 0, nl: number;
    while ((nl = bytes.indexOf(10, from)) !== -1) {
      number++;
      const end = nl > from && bytes[nl - 1] === 13 ? nl - 1 : nl;
      out.push({ text: decode(bytes.subarray(from, end), number), line: number });
      from = nl + 1;
    }
    carry = bytes.slice(from);
    if (out.length > 0) yield out;
  }
  if (carry.length > 0) {
    const end = carry[carry.length - 1] === 13 ? carry.length - 1 : carry.length;
    yield [{ text: decode(carry.subarray(0, end), number + 1), line: number + 1 }];
  }
}

/** Element types of binary vector files. */
export type Element = 'f4' | 'f8' | 'f2' | 'i1' | 'u1' | 'i4';
export const ELEMENT_BYTES: Record<Element, number> = { f4: 4, f8: 8, f2: 2, i1: 1, u1: 1, i4: 4 };

let halfTable: Float32Array | null = null;
/** IEEE 754 binary16 → float32 for every bit pattern (built once, 256 KiB). */
function halves(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 31, frac = h & 1023;
    halfTable[h] = exp === 0 ? sign * frac * 2 ** -24 : exp === 31 ? (frac ? NaN : sign * Infinity) : sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return halfTable;
}

/**
 * Decodes `count` elements of type `el` from `bytes` at `from` into `out` at `to`
 * (little-endian unless `bigEndian`).
 */
export function decode(el: Element, bytes: Uint8Array, from: number, count: number, out: Float32Array, to: number, bigEndian = false): void {
  const size = ELEMENT_BYTES[el];
  const dv = new DataView(bytes.buffer, bytes.byteOffset + from, count * size);
  const le = !bigEndian;
  switch (el) {
    case 'f4':
      if (le && (bytes.byteOffset + from) % 4 === 0) { out.set(new Float32Array(bytes.buffer, bytes.byteOffset + from, count), to); return; }
      for (let i = 0; i < count; i++) out[to + i] = dv.getFloat32(i * 4, le);
      return;
    case 'f8': for (let i = 0; i < count; i++) out[to + i] = dv.getFloat64(i * 8, le); return;
    case 'f2': { const t = halves(); for (let i = 0; i < count; i++) out[to + i] = t[dv.getUint16(i * 2, le)]; return; }
    case 'i4': for (let i = 0; i < count; i++) out[to + i] = dv.getInt32(i * 4, le); return;
    case 'i1': for (let i = 0; i < count; i++) out[to + i] = dv.getInt8(i); return;
    case 'u1': out.set(bytes.subarray(from, from + count), to); return;
  }
}

/** A block of `rows` contiguous rows starting at file row `first`, named "row N". */
export function contiguousBlock(vectors: Float32Array, rows: number, first: number): Block {
  const rowIndex = new Array<number>(rows);
  for (let i = 0; i < rows; i++) rowIndex[i] = first + i;
  return { vectors, rows, rowIndex, where: (i) => `row ${first + i}` };
}

/** Size of a file (NOT_FOUND naming it when it cannot be read), for readers that open it themselves. */
export async function fileSize(path: string): Promise<number> {
  const r = await ChunkReader.open(path);
  await r.close();
  return r.size;
}
