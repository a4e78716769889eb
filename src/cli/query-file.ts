// Query vectors from a small .npy file (nearest query --file, nearest tune --queries): shape (dim,)
// for one row or (n, dim) for many, read by the importer's .npy reader (the same dtypes, the same
// errors) into one block — query files are small; bulk data goes through `nearest import`. For
// `nearest tune`, also the `test` queries of an ann-benchmarks HDF5 file with its `neighbors` (the
// exact answers, as train row numbers: the ids `nearest import` gives that file's `train` rows).
import { ExitError, EXIT } from './common.js';
import { openNpy } from './formats/binary.js';
import { openHdf5 } from './formats/hdf5.js';
import type { VectorSource } from './formats/source.js';

/** Queries for `tune`: rows, and the exact neighbours (row numbers, best first) when the file has them. */
export interface TuneQueries { rows: Float32Array; n: number; dim: number; neighbors: { rows: Int32Array; width: number } | null }

/** Every row of an opened source, in one block (then closes it). */
async function readAll(source: VectorSource): Promise<{ rows: Float32Array; n: number; dim: number }> {
  try {
    const n = source.rows!, dim = source.dim, rows = new Float32Array(n * dim);
    let at = 0;
    for await (const block of source.blocks(4096)) { rows.set(block.vectors, at); at += block.vectors.length; }
    return { rows, n, dim };
  } finally { await source.close(); }
}

const readDataset = async (file: string, name: string) => readAll(await openHdf5(file, name));

/** Query rows from a .npy, or `test` (+ `neighbors` when present) from an HDF5 file. */
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

/** Rows of a .npy file: `n` queries of `dim` values, row-major. */
export async function readQueryNpy(file: string): Promise<{ rows: Float32Array; n: number; dim: number }> {
  return readAll(await openNpy(file));
}
