// Which reader opens a file: by --format, else by the file's extension.
import { NearestError } from '../../index.js';
import { openBin, openNpy, openVecs } from './binary.js';
import type { RowPolicy, VectorSource } from './source.js';

/** Every --format value. */
export const FORMATS = ['npy', 'fvecs', 'ivecs', 'bvecs', 'fbin', 'u8bin', 'i8bin', 'jsonl', 'parquet', 'hdf5'] as const;
export type Format = (typeof FORMATS)[number];

const EXTENSIONS: Record<string, Format> = {
  npy: 'npy', fvecs: 'fvecs', ivecs: 'ivecs', bvecs: 'bvecs', fbin: 'fbin', u8bin: 'u8bin', i8bin: 'i8bin',
  jsonl: 'jsonl', ndjson: 'jsonl', parquet: 'parquet', pq: 'parquet', hdf5: 'hdf5', h5: 'hdf5',
};

/** The format of a file from its extension, or UNSUPPORTED naming the known ones. */
export function guessFormat(path: string): Format {
  const ext = /\.([A-Za-z0-9]+)$/.exec(path)?.[1]?.toLowerCase();
  const f = ext === undefined ? undefined : EXTENSIONS[ext];
  if (!f) throw new NearestError('UNSUPPORTED', `${path}: cannot tell the format from the extension${ext ? ` .${ext}` : ''}; known: ${Object.keys(EXTENSIONS).map((e) => `.${e}`).join(' ')} (or give --format ${FORMATS.join('|')})`, { file: path });
  return f;
}

/** Options of openSource. */
export interface SourceOptions { idField: string; vectorField?: string; dataset: string; policy: RowPolicy }

/** Opens a file of vectors in the given format. */
export async function openSource(path: string, format: Format, o: SourceOptions): Promise<VectorSource> {
  switch (format) {
    case 'npy': return openNpy(path);
    case 'fvecs': case 'ivecs': case 'bvecs': return openVecs(path, format);
    case 'fbin': case 'u8bin': case 'i8bin': return openBin(path, format);
    case 'jsonl': return (await import('./jsonl.js')).openJsonl(path, o);
    case 'parquet': return (await import('./parquet.js')).openParquet(path, o);
    case 'hdf5': return (await import('./hdf5.js')).openHdf5(path, o.dataset);
  }
}
