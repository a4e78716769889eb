// Query vectors from a small .npy file (nearest query --file, nearest tune --queries): float32, C
// order, one row (shape (dim,)) or many (shape (n, dim)). The whole file is read at once — query
// files are small; bulk data goes through `nearest import`.
import { readFile } from 'node:fs/promises';
import { ExitError, EXIT } from './common.js';

/** Rows of a float32 .npy file: `n` queries of `dim` values, row-major. */
export async function readQueryNpy(file: string): Promise<{ rows: Float32Array; n: number; dim: number }> {
  let bytes: Buffer;
  try { bytes = await readFile(file); } catch (e) { throw new ExitError(`cannot read ${file}: ${(e as Error).message}`, EXIT.error, 'IO_ERROR'); }
  const bad = (why: string): never => { throw new ExitError(`${file}: ${why}`, EXIT.error, 'INVALID_ARGUMENT'); };
  if (bytes.length < 10 || bytes.toString('latin1', 0, 6) !== '\x93NUMPY') bad('not a .npy file (no \\x93NUMPY magic)');
  const major = bytes[6];
  const headerLen = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + headerLen;
  if (start > bytes.length) bad('its header runs past the end of the file');
  const header = bytes.toString('latin1', major === 1 ? 10 : 12, start);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr !== '<f4') bad(`element type ${descr ?? '?'}: query files must be float32 ('<f4'; numpy: a.astype('float32'))`);
  if (fortran !== 'False') bad('Fortran order is not supported (numpy: np.ascontiguousarray(a))');
  const shape = (shapeText ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (shape.length < 1 || shape.length > 2 || shape.some((d) => !Number.isSafeInteger(d) || d < 0)) bad(`shape (${shapeText}) is not (dim,) or (n, dim)`);
  const [n, dim] = shape.length === 1 ? [1, shape[0]] : shape;
  if (bytes.length - start !== n * dim * 4) bad(`holds ${bytes.length - start} data bytes; shape (${shape.join(', ')}) needs ${n * dim * 4}`);
  const rows = new Float32Array(n * dim);
  new Uint8Array(rows.buffer).set(bytes.subarray(start));
  return { rows, n, dim };
}
