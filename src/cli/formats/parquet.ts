// Parquet through hyparquet (loaded only when a Parquet file is imported): the vector column is a
// list of floats (--vector-field, default "vector", else "embedding", else the only list column);
// the id column is --id-field (default "id") when the file has one, else row numbers; every other
// scalar column is metadata. Read one row group at a time, so memory is bounded by a row group.
import { NearestError, type JsonValue, type RecordId } from '../../index.js';
import { ChunkReader, badRow, malformed, type Block, type RowPolicy, type VectorSource } from './source.js';

/** Options of the Parquet reader. */
export interface ParquetOptions { idField: string; vectorField?: string; policy: RowPolicy }

/** A Parquet scalar as JSON (INT64 as a number when it is safe, else its decimal string). */
function scalar(v: unknown): JsonValue | undefined {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : v.toString();
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (v instanceof Date) return v.toISOString();
  return undefined; // nested or binary columns are not metadata
}

const isNumbers = (v: unknown): v is ArrayLike<number> => (Array.isArray(v) || ArrayBuffer.isView(v)) && (v as ArrayLike<unknown>).length > 0 && typeof (v as ArrayLike<unknown>)[0] === 'number';

/** Opens a Parquet file: reads its footer and the first row to find the columns and the dim. */
export async function openParquet(path: string, o: ParquetOptions): Promise<VectorSource> {
  const hp = await import('hyparquet');
  const reader = await ChunkReader.open(path);
  let consumed = 0;
  const file = {
    byteLength: reader.size,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const b = await reader.readUpTo(start, (end ?? reader.size) - start);
      consumed = Math.max(consumed, end ?? reader.size);
      return b.buffer as ArrayBuffer;
    },
  };
  try {
    let metadata;
    try { metadata = await hp.parquetMetadataAsync(file); } catch (e) {
      throw malformed(path, `offset ${Math.max(0, reader.size - 8)}`, `not a readable Parquet file (${(e as Error).message})`);
    }
    const rows = Number(metadata.num_rows);
    if (rows === 0) throw malformed(path, 'row 0', 'the file has no rows');
    const first = (await hp.parquetReadObjects({ file, metadata, rowStart: 0, rowEnd: 1 }))[0] as Record<string, unknown>;
    const names = Object.keys(first);
    const vf = o.vectorField ?? ['vector', 'embedding'].find((n) => n in first) ?? (names.filter((n) => isNumbers(first[n])).length === 1 ? names.find((n) => isNumbers(first[n])) : undefined);
    if (vf === undefined || !(vf in first)) {
      throw new NearestError('INVALID_ARGUMENT', `${path}: no vector column${o.vectorField ? ` named "${o.vectorField}"` : ' ("vector", "embedding" or a single list column)'}; columns: ${names.join(', ')} (--vector-field names one)`, { file: path, columns: names });
    }
    if (!isNumbers(first[vf])) throw malformed(path, 'row 0', `column "${vf}" is not a list of numbers`);
    const dim = (first[vf] as ArrayLike<number>).length;
    const hasId = names.includes(o.idField);
    const groups = metadata.row_groups.map((g) => Number(g.num_rows));
    return {
      format: 'parquet', dim, rows, bytes: reader.size,
      bytesRead: () => consumed,
      close: () => reader.close(),
      async *blocks(batch: number): AsyncGenerator<Block> {
        let groupStart = 0;
        for (let g = 0; g < groups.length; g++) {
          let objects: Record<string, unknown>[];
          try {
            objects = await hp.parquetReadObjects({ file, metadata, rowStart: groupStart, rowEnd: groupStart + groups[g] }) as Record<string, unknown>[];
          } catch (e) {
            throw malformed(path, `row group ${g} (rows ${groupStart} to ${groupStart + groups[g] - 1})`, `cannot be decoded (${(e as Error).message})`);
          }
          for (let from = 0; from < objects.length; from += batch) {
            const n = Math.min(batch, objects.length - from);
            const vectors = new Float32Array(n * dim);
            const ids: RecordId[] = [], meta: (JsonValue | undefined)[] = [], rowIndex: number[] = [];
            for (let i = 0; i < n; i++) {
              const row = groupStart + from + i, obj = objects[from + i];
              const v = obj[vf];
              if (!isNumbers(v) || v.length !== dim) { badRow(o.policy, path, `row ${row}`, `column "${vf}" is not a list of ${dim} numbers`); continue; }
              const at = ids.length * dim;
              for (let j = 0; j < dim; j++) vectors[at + j] = v[j];
              let id: RecordId = row;
              if (hasId) {
                const raw = scalar(obj[o.idField]);
                if (typeof raw === 'string' || (typeof raw === 'number' && Number.isSafeInteger(raw) && raw >= 0)) id = raw;
                else { badRow(o.policy, path, `row ${row}`, `column "${o.idField}" is ${JSON.stringify(raw)}, not a string or a non-negative integer`); continue; }
              }
              const m: Record<string, JsonValue> = {};
              let any = false;
              for (const k of names) {
                if (k === vf || k === o.idField) continue;
                const s = scalar(obj[k]);
                if (s !== undefined) { m[k] = s; any = true; }
              }
              ids.push(id); meta.push(any ? m : undefined); rowIndex.push(row);
            }
            const k = ids.length;
            yield { vectors: vectors.subarray(0, k * dim), rows: k, rowIndex, ids, metadata: meta, where: (i) => `row ${rowIndex[i]}` };
          }
          groupStart += groups[g];
        }
      },
    };
  } catch (e) { await reader.close(); throw e; }
}
