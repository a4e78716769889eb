// Query vectors from a small .npy file (nearest query --file, nearest tune --queries): float32, C
// order, one row (shape (dim,)) or many (shape (n, dim)). The whole file is read at once — query
// files are small; bulk data goes through `nearest import`. For `nearest tune`, also the `test`
// queries of an ann-benchmarks HDF5 file with its `neighbors` (the exact answers, as train row
// numbers: the ids `nearest import` gives that file's `train` rows).
import { readFile } from 'node:fs/promises';
import { ExitError, EXIT } from './common.js';
import { openHdf5 } from './formats/hdf5.js';

/** Queries for `tune`: rows, and the exact neighbours (row numbers, best first) when the file has them. */
export interface TuneQueries { rows: Float32Array; n: number; dim: number; neighbors: { rows: Int32Array; width: number } | null }

async function readDataset(file: string, name: string): Promise<{ rows: Float32Array; n: number; dim: number }> {
  const source = await openHdf5(file, name);
  try {
    const n = source.rows!, dim = source.dim, rows = new Float32Array(n * dim);
    let at = 0;
    for await (const block of source.blocks(4096)) { rows.set(block.vectors, at); at += block.vectors.length; }
    return { rows, n, dim };
  } finally { await source.close(); }
}

/** Query rows from a float32 .npy, or `test` (+ `neighbors` when present) from an HDF5 file. */
export async function readTuneQueries(file: string): Promise<TuneQueries> {
  if (!/\.(hdf5|h5)$/i.test(file)) return { ...(await readQueryNpy(file)), neighbors: null };
  const test = await readDataset(file, 'test');
  let neighbors: TuneQueries['neighbors'] = null;
  try {
    const nb = await readDataset(file, 'neighbors');
    if (nb.n !== test.n) throw new ExitError(`${file}: "neighbors" has ${nb.n} rows, "test" has ${test.n}`, EXIT.error, 'INVALID_ARGUMENT');
    neighbors = { rows: Int32Array.from(nb.rows), width: nb.dim };
  } catch (e) {
    if ((e as { code?: string }).code !== 'NOT_FOUND') throw e;
  }
  return { ...test, neighbors };
}

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
