// ann-benchmarks HDF5 files through h5wasm (loaded only when one is imported): the `train` dataset
// by default (`--dataset test` / `neighbors` / any 2-D numeric dataset), read in row slices of one
// batch; the file's `distance` attribute ("angular" → cosine, "euclidean", "dot"/"ip") gives the
// metric when --metric is not given.
import { NearestError, type Metric } from '../../index.js';
import { contiguousBlock, fileSize, malformed, type Block, type VectorSource } from './source.js';

const METRICS: Record<string, Metric> = { angular: 'cosine', cosine: 'cosine', euclidean: 'euclidean', l2: 'euclidean', dot: 'dot', ip: 'dot', inner_product: 'dot' };

/** Opens dataset `name` of an HDF5 file. */
export async function openHdf5(path: string, name: string): Promise<VectorSource> {
  const bytes = await fileSize(path);
  const h5 = await import('h5wasm/node');
  await h5.ready;
  let f: InstanceType<typeof h5.File>;
  try { f = new h5.File(path, 'r'); } catch (e) {
    throw malformed(path, 'offset 0', `not a readable HDF5 file (${(e as Error).message ?? String(e)})`);
  }
  if (!f.file_id) throw malformed(path, 'offset 0', 'not a readable HDF5 file');
  try {
    let names: string[], ds: unknown;
    try { names = f.keys(); ds = f.get(name); } catch (e) {
      throw malformed(path, 'offset 0', `the HDF5 structure cannot be read (${(e as Error).message ?? String(e)}; a truncated file?)`);
    }
    if (!(ds instanceof h5.Dataset)) {
      throw new NearestError('NOT_FOUND', `${path}: no dataset "${name}"; datasets: ${names.join(', ') || '(none)'} (--dataset picks one)`, { file: path, available: names });
    }
    const shape = ds.shape ?? [];
    if (shape.length !== 2 || shape[1] === 0) throw new NearestError('UNSUPPORTED', `${path}: dataset "${name}" has shape (${shape.join(', ')}); expected (n, dim)`, { file: path, shape });
    const [rows, dim] = shape;
    const distance = f.attrs.distance?.value;
    const metric = typeof distance === 'string' ? METRICS[distance.toLowerCase()] : undefined;
    let consumed = 0;
    return {
      format: 'hdf5', dim, rows, bytes, ...(metric ? { metric } : {}),
      bytesRead: () => consumed,
      close: async () => { f.close(); },
      async *blocks(batch: number): AsyncGenerator<Block> {
        for (let first = 0; first < rows; first += batch) {
          const n = Math.min(batch, rows - first);
          let data: unknown;
          try { data = ds.slice([[first, first + n], [0, dim]]); } catch (e) {
            throw malformed(path, `row ${first}`, `dataset "${name}" cannot be read (${(e as Error).message ?? String(e)})`);
          }
          if (!ArrayBuffer.isView(data) || (data as unknown as ArrayLike<number>).length !== n * dim || typeof (data as unknown as ArrayLike<unknown>)[0] !== 'number') {
            throw new NearestError('UNSUPPORTED', `${path}: dataset "${name}" is not numeric (dtype ${JSON.stringify(ds.dtype)})`, { file: path });
          }
          const out = data instanceof Float32Array ? data : Float32Array.from(data as unknown as ArrayLike<number>);
          consumed = Math.round((bytes * (first + n)) / rows);
          yield contiguousBlock(out, n, first);
        }
      },
    };
  } catch (e) { try { f.close(); } catch { /* already failing */ } throw e; }
}
