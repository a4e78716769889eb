// The durable store's snapshot file (`snapshot.nrst`): the checksummed container of container.ts
// with kind StoreSnapshot and three sections —
//   PARM  JSON: { format: 2, options, resolved, nextHandle, nextAuto, ivfPending, seq, compactedAt }
//   INDX  the index image (an index file of index-io.ts, nested)
//   RECS  the record table, one JSON line per record: [id, handle, metadata] (metadata 0 = none,
//         [value] = value, so that null and "no metadata" stay apart)
// The file is written as a stream (one record line or index part in memory at a time) into a
// temporary file that is fsynced and renamed over the old one, then the directory is fsynced.
import type { Metric } from '../distance/metric.js';
import { corrupt, FileKind, jsonBytes, readContainer, SectionReader, writeContainerStream } from './container.js';
import { indexFromBuffer, indexToBuffer, type LoadOptions, type SavedIndex } from './index-io.js';
import { writeFileAtomic, type FileSystem } from './fs.js';

const METRIC_CODES: Metric[] = ['cosine', 'euclidean', 'dot'];
export const SNAPSHOT_FORMAT = 2;

/** What a snapshot holds, as plain data. */
export interface SnapshotData {
  params: {
    options: Record<string, unknown>;
    resolved: Record<string, unknown>;
    nextHandle: number;
    nextAuto: number;
    ivfPending: boolean;
    /** The last log sequence number the snapshot covers. */
    seq: number;
    compactedAt: string | null;
  };
  index: SavedIndex;
  /** [id, handle, metadata or undefined] per record. */
  records: Iterable<[string | number, number, unknown]>;
  count: number;
}

const LINES_PER_PART = 4096;

function* recordLines(records: Iterable<[string | number, number, unknown]>): Generator<Uint8Array> {
  const enc = new TextEncoder();
  let chunk = '';
  let n = 0;
  for (const [id, handle, meta] of records) {
    chunk += JSON.stringify([id, handle, meta === undefined ? 0 : [meta]]) + '\n';
    if (++n === LINES_PER_PART) { yield enc.encode(chunk); chunk = ''; n = 0; }
  }
  if (chunk.length > 0) yield enc.encode(chunk);
}

/** Writes a snapshot atomically (temp file, fsync, rename, directory fsync). */
export async function writeSnapshot(fs: FileSystem, path: string, s: SnapshotData): Promise<void> {
  const dim = s.params.options.dim as number;
  const metric = METRIC_CODES.indexOf(s.params.options.metric as Metric);
  await writeFileAtomic(fs, path, async (h) => {
    await writeContainerStream(h, { kind: FileKind.StoreSnapshot, metric: metric < 0 ? 0 : metric, elementType: 1, flags: 0, dim, count: s.count }, [
      { tag: 'PARM', parts: [jsonBytes({ format: SNAPSHOT_FORMAT, ...s.params })] },
      { tag: 'INDX', parts: [indexToBuffer(s.index)] },
      { tag: 'RECS', parts: recordLines(s.records) },
    ]);
  });
}

/** Parses a snapshot; anything malformed is CORRUPT_FILE naming the file. */
export function readSnapshot(buf: Uint8Array, file: string, load: LoadOptions): SnapshotData & { records: [string | number, number, unknown][] } {
  const { header, sections } = readContainer(buf);
  if (header.kind !== FileKind.StoreSnapshot) throw corrupt(`${file} is not a store snapshot`, { file, kind: header.kind });
  const r = new SectionReader(sections);
  const p = r.json('PARM') as SnapshotData['params'] & { format?: number };
  const o = p.options as { dim?: unknown; metric?: unknown } | undefined;
  if (typeof o !== 'object' || o === null || o.dim !== header.dim || !Number.isSafeInteger(p.nextHandle) || !Number.isSafeInteger(p.nextAuto) || !Number.isSafeInteger(p.seq) || typeof p.resolved !== 'object') {
    throw corrupt(`${file}: its parameter section is inconsistent`, { file });
  }
  if (METRIC_CODES[header.metric] !== o.metric) throw corrupt(`${file}: its header says metric ${METRIC_CODES[header.metric]}, its parameters ${String(o.metric)}`, { file });
  const index = indexFromBuffer(sections.get('INDX') ?? (() => { throw corrupt(`${file}: missing section 'INDX'`, { file }); })(), load);
  const recsBytes = sections.get('RECS');
  if (!recsBytes) throw corrupt(`${file}: missing section 'RECS'`, { file });
  const records: [string | number, number, unknown][] = [];
  const dec = new TextDecoder('utf-8', { fatal: true });
  let start = 0;
  for (let i = 0; i < recsBytes.length; i++) {
    if (recsBytes[i] !== 10) continue;
    try {
      const [id, handle, meta] = JSON.parse(dec.decode(recsBytes.subarray(start, i)));
      if (!(typeof id === 'string' || (Number.isSafeInteger(id) && id >= 0)) || !Number.isSafeInteger(handle) || !index.has(handle) || !(meta === 0 || (Array.isArray(meta) && meta.length === 1))) throw new Error('bad record');
      records.push([id, handle, meta === 0 ? undefined : meta[0]]);
    } catch {
      throw corrupt(`${file}: record ${records.length} of the record table is damaged`, { file, record: records.length });
    }
    start = i + 1;
  }
  if (start !== recsBytes.length) throw corrupt(`${file}: the record table does not end with a newline`, { file });
  if (records.length !== header.count || records.length !== index.size) throw corrupt(`${file}: ${records.length} records but ${index.size} vectors in its index`, { file });
  return { params: p, index, records, count: records.length };
}
