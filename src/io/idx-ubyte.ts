// Reader for the IDX format of the MNIST family (LeCun's idx1/idx3-ubyte files), plain or gzipped.
//
// Layout (all integers big-endian):
//   offset 0  u8  0x00
//   offset 1  u8  0x00
//   offset 2  u8  element type: 0x08 ubyte (the only type read here), 0x09 sbyte, 0x0B i16,
//                 0x0C i32, 0x0D f32, 0x0E f64
//   offset 3  u8  ndims (>= 1)
//   offset 4  u32 × ndims   size of each dimension, slowest-varying first
//   then      prod(dims) elements, row-major, nothing after them
// A gzip stream (magic 1f 8b) is inflated first, with the output capped so a hostile file cannot
// make us allocate more than the caller allows.

import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { NearestError, invalidArgument } from '../errors.js';

/** A parsed IDX tensor of unsigned bytes. */
export interface IdxTensor {
  /** Size of each dimension, slowest-varying first (e.g. `[60000, 28, 28]` for MNIST images). */
  dims: number[];
  /** `prod(dims)` elements, row-major. A view of the (inflated) input, not a copy. */
  data: Uint8Array;
}

/** Options of {@link readIdx} and {@link readIdxFile}. */
export interface ReadIdxOptions {
  /**
   * Largest element count accepted (the product of the dims), default 2^30 (1 GiB of ubyte).
   * Also caps how much a gzip stream may inflate to. Larger inputs are CORRUPT_FILE.
   */
  maxElements?: number;
}

const DEFAULT_MAX_ELEMENTS = 2 ** 30;
const MAX_NDIMS = 255;
const TYPE_UBYTE = 0x08;
/** Element types the format defines but this reader does not decode. */
const OTHER_TYPES: Readonly<Record<number, string>> = {
  0x09: 'sbyte',
  0x0b: 'int16',
  0x0c: 'int32',
  0x0d: 'float32',
  0x0e: 'float64',
};

function corrupt(message: string, details: Record<string, unknown> = {}, cause?: unknown): NearestError {
  return new NearestError('CORRUPT_FILE', message, details, cause === undefined ? undefined : { cause });
}

function resolveMaxElements(options: ReadIdxOptions | undefined): number {
  if (options === undefined) return DEFAULT_MAX_ELEMENTS;
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('readIdx options must be an object', { received: typeof options });
  }
  for (const key of Object.keys(options)) {
    if (key !== 'maxElements') {
      throw invalidArgument(`unknown readIdx option "${key}"; allowed: maxElements`, { received: key, allowed: ['maxElements'] });
    }
  }
  const max = options.maxElements ?? DEFAULT_MAX_ELEMENTS;
  if (!Number.isSafeInteger(max) || max < 0) {
    throw invalidArgument('maxElements must be a non-negative safe integer', { received: max });
  }
  return max;
}

/** True when `bytes` starts with the gzip magic 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Parses an IDX ubyte tensor from memory; gzip input is detected by its magic and inflated.
 *
 * Time and extra memory are O(size of the inflated data) for gzip input and O(ndims) otherwise
 * (`data` is then a view of `bytes`).
 *
 * @throws NearestError `CORRUPT_FILE` for a wrong magic, a truncated header, a data length that
 *   differs from the product of the dims, more than `maxElements` elements, or a broken gzip
 *   stream; `UNSUPPORTED` for a well-formed IDX file of a non-ubyte element type;
 *   `INVALID_ARGUMENT` for bad arguments.
 */
export function readIdx(bytes: Uint8Array, options?: ReadIdxOptions): IdxTensor {
  if (!(bytes instanceof Uint8Array)) {
    throw invalidArgument('readIdx expects a Uint8Array', { received: Object.prototype.toString.call(bytes) });
  }
  const maxElements = resolveMaxElements(options);

  let raw = bytes;
  if (isGzip(bytes)) {
    const maxOutputLength = 4 + 4 * MAX_NDIMS + maxElements;
    try {
      raw = gunzipSync(bytes, { maxOutputLength });
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      if (code === 'ERR_BUFFER_TOO_LARGE') {
        throw corrupt(`gzip stream inflates to more than ${maxOutputLength} bytes (maxElements ${maxElements})`, {
          limit: maxOutputLength,
          maxElements,
        }, error);
      }
      throw corrupt(`invalid gzip stream: ${(error as Error)?.message ?? String(error)}`, { zlibCode: code }, error);
    }
  }

  if (raw.length < 4) {
    throw corrupt(`IDX header truncated: ${raw.length} bytes, expected at least 4`, { expected: 4, received: raw.length });
  }
  if (raw[0] !== 0 || raw[1] !== 0) {
    throw corrupt(
      `not an IDX file: magic starts ${hex(raw[0])} ${hex(raw[1])}, expected 0x00 0x00 (or gzip 0x1f 0x8b)`,
      { expected: [0, 0], received: [raw[0], raw[1]] },
    );
  }
  const type = raw[2];
  const ndims = raw[3];
  if (type !== TYPE_UBYTE) {
    const name = OTHER_TYPES[type];
    if (name !== undefined) {
      throw new NearestError('UNSUPPORTED', `IDX element type ${hex(type)} (${name}) is not supported; only 0x08 (ubyte) is`, {
        expected: TYPE_UBYTE,
        received: type,
      });
    }
    throw corrupt(`unknown IDX element type ${hex(type)}; expected 0x08 (ubyte)`, { expected: TYPE_UBYTE, received: type });
  }
  if (ndims === 0) {
    throw corrupt('IDX header declares 0 dimensions; expected at least 1', { expected: '>= 1', received: 0 });
  }
  const headerBytes = 4 + 4 * ndims;
  if (raw.length < headerBytes) {
    throw corrupt(`IDX header truncated: ${raw.length} bytes, expected ${headerBytes} for ${ndims} dims`, {
      expected: headerBytes,
      received: raw.length,
      ndims,
    });
  }

  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const dims: number[] = new Array<number>(ndims);
  let count = 1;
  for (let i = 0; i < ndims; i++) {
    const size = view.getUint32(4 + 4 * i, false);
    dims[i] = size;
    count *= size;
    // Checked per step: every factor is < 2^32, so the running product stays exact while <= max.
    if (count > maxElements) {
      throw corrupt(`IDX dims ${describeDims(view, ndims)} exceed the limit of ${maxElements} elements`, {
        dims: readAllDims(view, ndims),
        maxElements,
      });
    }
  }

  const dataBytes = raw.length - headerBytes;
  if (dataBytes !== count) {
    throw corrupt(
      dataBytes < count
        ? `IDX data truncated: ${dataBytes} bytes after the header, expected ${count} for dims [${dims.join(', ')}]`
        : `IDX data has ${dataBytes - count} trailing bytes: ${dataBytes} after the header, expected ${count} for dims [${dims.join(', ')}]`,
      { expected: count, received: dataBytes, dims },
    );
  }
  return { dims, data: new Uint8Array(raw.buffer, raw.byteOffset + headerBytes, count) };
}

/**
 * Reads and parses an IDX ubyte file (plain or `.gz`). See {@link readIdx}.
 *
 * @throws NearestError `NOT_FOUND` when the file does not exist, plus everything {@link readIdx} throws;
 *   other file-system errors are rethrown as they are.
 */
export function readIdxFile(path: string, options?: ReadIdxOptions): IdxTensor {
  if (typeof path !== 'string' || path.length === 0) {
    throw invalidArgument('readIdxFile expects a non-empty path string', { received: path });
  }
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code === 'ENOENT') {
      throw new NearestError('NOT_FOUND', `IDX file not found: ${path}`, { path }, { cause: error });
    }
    throw error;
  }
  try {
    return readIdx(bytes, options);
  } catch (error) {
    if (error instanceof NearestError && error.code === 'CORRUPT_FILE') {
      throw new NearestError(error.code, `${path}: ${error.message}`, { ...error.details, path }, { cause: error.cause });
    }
    throw error;
  }
}

function hex(byte: number | undefined): string {
  return byte === undefined ? 'EOF' : `0x${byte.toString(16).padStart(2, '0')}`;
}

function readAllDims(view: DataView, ndims: number): number[] {
  const dims: number[] = [];
  for (let i = 0; i < ndims; i++) dims.push(view.getUint32(4 + 4 * i, false));
  return dims;
}

function describeDims(view: DataView, ndims: number): string {
  return `[${readAllDims(view, ndims).join(', ')}]`;
}
