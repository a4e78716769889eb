// The durable store's snapshot file (`snapshot.nrst`): the checksummed container of container.ts
// with kind StoreSnapshot and these sections —
//   PARM  JSON: { format: 2, options, nextHandle, nextAuto, ivfPending, seq, compactedAt, search? }
//         (search: the store's search defaults, absent when there are none)
//   FIDS  flat indexes: the handles, f64, in storage order
//   FROW  flat indexes: the rows, f32, row-major in the same order
//   INDX  other indexes (HNSW, IVF): the index image (an index file of index-io.ts, nested,
//         streamed from views of the index's memory)
//   RECS  the record table, one JSON line per record: [id, handle, metadata] (metadata 0 = none,
//         [value] = value, so that null and "no metadata" stay apart)
// Written as a stream (a chunk of rows or of record lines in memory at a time) into a temporary
// file that is fsynced and renamed over the old one, then the directory is fsynced. Read back with
// positional reads: flat rows go from the file into the index chunk by chunk, so opening a store
// never holds the file and the index in memory at once.
import { NearestError } from '../errors.js';
import type { Metric } from '../distance/metric.js';
import { containerParts, corrupt, FileKind, jsonBytes, openContainer, writeContainerStream } from './container.js';
import { FlatIndex } from '../indexes/flat.js';
import { indexFromBuffer, indexImage, type LoadOptions, type SavedIndex } from './index-io.js';
import { writeFileAtomic, type FileSystem } from './fs.js';

const METRIC_CODES: Metric[] = ['cosine', 'euclidean', 'dot'];
export const SNAPSHOT_FORMAT = 2;

/** What a snapshot holds, as plain data. */
export interface SnapshotData {
  params: {
    /** { dim, metric, index } with every index parameter explicit (compared on reopen). */
    options: Record<string, unknown>;
    nextHandle: number;
    nextAuto: number;
    ivfPending: boolean;
    /** The last log sequence number the snapshot covers. */
    seq: number;
    compactedAt: string | null;
    /** The store's search defaults (absent: none); validated by the store. */
    search?: Record<string, unknown>;
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

const ROW_CHUNK_BYTES = 4 * 2 ** 20;

function* flatRows(index: FlatIndex): Generator<Uint8Array> {
  const per = Math.max(1, Math.floor(ROW_CHUNK_BYTES / (4 * index.dim)));
  for (let from = 0; from < index.size; from += per) {
    const v = index.rowView(from, Math.min(index.size, from + per)); // a fresh view per chunk
    yield new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  }
}

/** Writes a snapshot atomically (temp file, fsync, rename, directory fsync); returns its size in bytes. */
export async function writeSnapshot(fs: FileSystem, path: string, s: SnapshotData): Promise<number> {
  const dim = s.params.options.dim as number;
  const metric = METRIC_CODES.indexOf(s.params.options.metric as Metric);
  const indexSections = s.index instanceof FlatIndex
    ? [{ tag: 'FIDS', parts: [(() => { const ids = s.index.ids(); return new Uint8Array(ids.buffer, ids.byteOffset, ids.byteLength); })()] }, { tag: 'FROW', parts: flatRows(s.index) }]
    : [{ tag: 'INDX', parts: (() => { const { header, sections } = indexImage(s.index); return containerParts(header, sections); })() }];
  let bytes = 0;
  await writeFileAtomic(fs, path, async (h) => {
    bytes = await writeContainerStream(h, { kind: FileKind.StoreSnapshot, metric: metric < 0 ? 0 : metric, elementType: 1, flags: 0, dim, count: s.count }, [
      { tag: 'PARM', parts: [jsonBytes({ format: SNAPSHOT_FORMAT, ...s.params })] },
      ...indexSections,
      { tag: 'RECS', parts: recordLines(s.records) },
    ]);
  });
  return bytes;
}

/** Reads a snapshot; anything malformed is CORRUPT_FILE naming the file. */
export async function readSnapshot(
  fs: FileSystem, file: string, load: LoadOptions,
  onParams: (p: SnapshotData['params']) => void,
  onRecord: (id: string | number, handle: number, metadata: unknown) => boolean,
): Promise<Omit<SnapshotData, 'records'> & { bytes: number }> {
  const h = await fs.open(file, 'r');
  try {
    const c = await openContainer(h, file);
    const { header } = c;
    if (header.kind !== FileKind.StoreSnapshot) throw corrupt(`${file} is not a store snapshot`, { file, kind: header.kind });
    let p: SnapshotData['params'] & { format?: number };
    const parm = await c.read('PARM');
    try { p = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(parm)); } catch {
      throw corrupt(`${file}: its parameter section is not valid JSON`, { file });
    }
    const o = p?.options as { dim?: unknown; metric?: unknown } | undefined;
    if (typeof o !== 'object' || o === null || o.dim !== header.dim || !Number.isSafeInteger(p.nextHandle) || !Number.isSafeInteger(p.nextAuto) || !Number.isSafeInteger(p.seq) || p.format !== SNAPSHOT_FORMAT) {
      throw corrupt(`${file}: its parameter section is inconsistent`, { file });
    }
    if (METRIC_CODES[header.metric] !== o.metric) throw corrupt(`${file}: its header says metric ${METRIC_CODES[header.metric]}, its parameters ${String(o.metric)}`, { file });
    onParams(p);
    let index: SavedIndex;
    if (c.has('FROW')) {
      const dim = header.dim;
      const idBytes = await c.read('FIDS');
      if (idBytes.length % 8 !== 0 || c.length('FROW') !== (idBytes.length / 8) * dim * 4) throw corrupt(`${file}: its row and id sections disagree in length`, { file });
      const ids = new Float64Array(idBytes.slice().buffer);
      const flat = new FlatIndex({ dim, metric: o.metric as Metric, ...(load.backend ? { backend: load.backend } : {}) });
      const per = Math.max(1, Math.floor(ROW_CHUNK_BYTES / (4 * dim)));
      let at = 0;
      try {
        for await (const part of c.stream('FROW', per * dim * 4)) {
          const n = part.length / (4 * dim);
          flat.add(new Float32Array(part.buffer, part.byteOffset, part.length / 4), ids.subarray(at, at + n));
          at += n;
        }
      } catch (e) {
        // The index refusing what the file holds (bad ids, non-finite values) is damage; an I/O
        // error is not (it stays what it is, and the caller reports it as IO_ERROR).
        if (!(e instanceof NearestError) || e.code === 'CORRUPT_FILE') throw e;
        throw corrupt(`${file}: its rows or ids are invalid: ${e.message}`, { file });
      }
      index = flat;
    } else {
      index = indexFromBuffer(await c.read('INDX'), load);
    }
    let records = 0;
    const dec = new TextDecoder('utf-8', { fatal: true });
    let carry = new Uint8Array(0);
    const line = (bytes: Uint8Array) => {
      try {
        const [id, handle, meta] = JSON.parse(dec.decode(bytes));
        if (!(typeof id === 'string' || (Number.isSafeInteger(id) && id >= 0)) || !Number.isSafeInteger(handle) || !index.has(handle) || !(meta === 0 || (Array.isArray(meta) && meta.length === 1))) throw new Error('bad record');
        if (!onRecord(id, handle, meta === 0 ? undefined : meta[0])) throw new Error('repeated');
        records++;
      } catch {
        throw corrupt(`${file}: record ${records} of the record table is damaged (or repeats an id or handle)`, { file, record: records });
      }
    };
    for await (const part of c.stream('RECS', 4 * 2 ** 20)) {
      const buf = carry.length > 0 ? concat(carry, part) : part;
      let start = 0;
      for (let i = 0; i < buf.length; i++) if (buf[i] === 10) { line(buf.subarray(start, i)); start = i + 1; }
      carry = buf.slice(start);
    }
    if (carry.length > 0) throw corrupt(`${file}: the record table does not end with a newline`, { file });
    if (records !== header.count || records !== index.size) throw corrupt(`${file}: ${records} records but ${index.size} vectors in its index`, { file });
    return { params: p, index, count: records, bytes: await h.size() };
  } finally {
    await h.close();
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a); out.set(b, a.length);
  return out;
}
