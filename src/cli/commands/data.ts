// nearest import / export: vector files in, collections out.
//
// import streams a file a batch at a time (formats in ../formats) into a durable collection, with
// at most two batches in flight, so reading and parsing the next batch overlaps the fsync of the
// last one and memory stays bounded by about two batches whatever the file size. A malformed row
// aborts before its batch is written (what earlier batches wrote stays; the error says how much),
// or with --on-error skip is counted and left out. Ids are the file's own, --ids, or row numbers,
// so a re-run upserts the same records: idempotent.
//
// export writes a temp file beside the output, fsyncs it, renames it into place and fsyncs the
// directory, so the output is the old file or the whole new one, never a part.
import { open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { Option } from 'commander';
import {
  Database, NearestError, indexFromFactory,
  type DurableVectorStore, type JsonValue, type Metric, type RecordId, type StoreIndexOptions, type StoreRecord,
} from '../../index.js';
import { action, positiveInt, printJson, progress, withCommonFlags, type CommonFlags } from '../common.js';
import { FORMATS, guessFormat, openSource, type Format } from '../formats/index.js';
import { openIds, openMetadata, type Sidecar } from '../formats/sidecar.js';
import { badRow, rowProblem, type Block, type RowPolicy, type VectorSource } from '../formats/source.js';

interface ImportFlags extends CommonFlags {
  db: string; collection: string; metric?: Metric; index?: string; format?: Format;
  ids?: string; metadata?: string; idField: string; vectorField?: string; dataset: string;
  onError: 'abort' | 'skip'; batch: number;
}

/** The --index value: an options object as JSON, or a factory string. */
function parseIndex(spec: string): StoreIndexOptions {
  if (spec.trim().startsWith('{')) {
    try { return JSON.parse(spec) as StoreIndexOptions; } catch (e) {
      throw new NearestError('INVALID_ARGUMENT', `--index: not valid JSON (${(e as Error).message})`, { received: spec });
    }
  }
  return indexFromFactory(spec);
}

/** Batches submitted and not yet durable: reading and parsing overlap the log write and fsync. */
const MAX_IN_FLIGHT = 3;

const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const fmtBytes = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${fmtInt(n)} bytes`);

/** The rows of a block that pass the value checks, columnar, with their ids and metadata; bad rows go to the policy. */
function rowsOf(block: Block, ids: RecordId[] | undefined, metadata: (JsonValue | undefined)[] | undefined, dim: number, policy: RowPolicy, file: string): { ids: RecordId[]; vectors: Float32Array; metadata: (JsonValue | undefined)[] | undefined } {
  // The last of repeated ids within a batch wins, as it would across batches.
  const rowOf = new Map<RecordId, number>();
  for (let i = 0; i < block.rows; i++) {
    const problem = rowProblem(block.vectors, i * dim, dim);
    if (problem) { badRow(policy, file, block.where(i), problem); continue; }
    const id = ids?.[i] ?? block.ids?.[i] ?? block.rowIndex[i];
    rowOf.delete(id);
    rowOf.set(id, i);
  }
  const out = [...rowOf.keys()], rows = [...rowOf.values()];
  const hasMeta = metadata !== undefined || block.metadata !== undefined;
  const meta = hasMeta ? rows.map((i) => metadata?.[i] ?? block.metadata?.[i]) : undefined;
  // Every row kept in order: the block's own rows, no copy here (the store copies once).
  const whole = rows.length === block.rows && rows.every((r, k) => r === k);
  let vectors = block.vectors.subarray(0, block.rows * dim);
  if (!whole) {
    vectors = new Float32Array(rows.length * dim);
    rows.forEach((r, k) => vectors.set(block.vectors.subarray(r * dim, (r + 1) * dim), k * dim));
  }
  return { ids: out, vectors, metadata: meta };
}

async function openCollection(db: Database, flags: ImportFlags, source: VectorSource): Promise<{ store: DurableVectorStore<JsonValue>; created: boolean }> {
  const metric = flags.metric ?? source.metric;
  if (db.hasCollection(flags.collection)) {
    const store = db.collection(flags.collection) as DurableVectorStore<JsonValue>;
    if (store.dim !== source.dim) {
      throw new NearestError('DIMENSION_MISMATCH', `collection ${flags.collection} has dim ${store.dim}, the file's vectors have dim ${source.dim}`, { expected: store.dim, received: source.dim });
    }
    if (flags.metric && flags.metric !== store.metric) {
      throw new NearestError('INVALID_ARGUMENT', `collection ${flags.collection} exists with metric ${store.metric}; --metric ${flags.metric} differs (import into a new collection, or drop --metric)`, { expected: store.metric, received: flags.metric });
    }
    if (flags.index && !flags.json) process.stderr.write(`nearest import: collection ${flags.collection} exists; --index applies only when it is created (nearest build changes it)\n`);
    return { store, created: false };
  }
  // A new collection is filled by this one import: no automatic compaction while it runs (each
  // would rewrite everything imported so far); the log is compacted by the store's next writer.
  const store = await db.createCollection(flags.collection, {
    dim: source.dim, ...(metric ? { metric } : {}), ...(flags.index ? { index: parseIndex(flags.index) } : {}),
    compactBytes: Number.MAX_SAFE_INTEGER,
  }) as DurableVectorStore<JsonValue>;
  return { store, created: true };
}

async function runImport(file: string, flags: ImportFlags): Promise<void> {
  if (flags.index) parseIndex(flags.index); // a bad spec is refused before anything is read
  const format = flags.format ?? guessFormat(file);
  const policy: RowPolicy = { skip: flags.onError === 'skip', skipped: 0, examples: [] };
  const started = performance.now();
  const source = await openSource(file, format, { idField: flags.idField, vectorField: flags.vectorField, dataset: flags.dataset, policy });
  const sides: { ids?: Sidecar<RecordId>; meta?: Sidecar<JsonValue | undefined> } = {};
  let db: Database | undefined;
  let written = 0;
  const inFlight: Promise<number>[] = [];
  try {
    if (flags.ids) sides.ids = await openIds(flags.ids);
    if (flags.metadata) sides.meta = await openMetadata(flags.metadata);
    for (const [flag, side] of [['--ids', sides.ids], ['--metadata', sides.meta]] as const) {
      if (side && source.rows !== undefined && side.total !== source.rows) {
        throw new NearestError('INVALID_ARGUMENT', `${flag} ${flag === '--ids' ? flags.ids : flags.metadata} holds ${side.total} lines, ${file} holds ${source.rows} rows`, { expected: source.rows, received: side.total });
      }
    }
    db = await Database.open(flags.db);
    const { store, created } = await openCollection(db, flags, source);
    const bar = await progress(`import ${flags.collection}`, source.rows, 'rows', flags);
    let rowsRead = 0;
    for await (const block of source.blocks(flags.batch)) {
      const ids = sides.ids ? await sides.ids.take(block.rows) : undefined;
      const meta = sides.meta ? await sides.meta.take(block.rows) : undefined;
      for (const [flag, got] of [['--ids', ids], ['--metadata', meta]] as const) {
        if (got && got.length < block.rows) throw new NearestError('INVALID_ARGUMENT', `${flag} ends at line ${rowsRead + got.length}, before the rows of ${file} do`, { received: rowsRead + got.length });
      }
      const rows = rowsOf(block, ids, meta, source.dim, policy, file);
      rowsRead += block.rows;
      const count = rows.ids.length;
      if (count > 0) inFlight.push(store.upsertRows(rows.ids, rows.vectors, rows.metadata).then(() => (written += count)));
      if (inFlight.length >= MAX_IN_FLIGHT) await inFlight.shift();
      const estimate = source.rows ?? (source.bytesRead() > 0 ? Math.round((rowsRead * source.bytes) / source.bytesRead()) : undefined);
      bar.update(written, estimate);
    }
    while (inFlight.length) await inFlight.shift();
    bar.update(written, written);
    bar.stop();
    const seconds = (performance.now() - started) / 1000;
    const report = {
      file, format, collection: flags.collection, created, dim: source.dim, metric: store.metric,
      rows: written, skipped: policy.skipped, skippedExamples: policy.examples, size: store.size,
      bytes: source.bytes, seconds: +seconds.toFixed(3),
      rowsPerSecond: Math.round(written / seconds), bytesPerSecond: Math.round(source.bytes / seconds),
    };
    if (flags.json) printJson(report);
    else {
      process.stdout.write(`imported ${fmtInt(written)} rows into ${flags.collection} (${created ? 'created, ' : ''}dim ${source.dim}, ${store.metric}, now ${fmtInt(store.size)} records) in ${seconds.toFixed(2)} s: ${fmtInt(report.rowsPerSecond)} rows/s, ${fmtBytes(report.bytesPerSecond)}/s\n`);
      if (policy.skipped) process.stdout.write(`skipped ${fmtInt(policy.skipped)} malformed rows; first: ${policy.examples.join('; ')}\n`);
    }
  } catch (e) {
    // Earlier batches are durable (or failed on their own); the failing one was never submitted.
    const settled = await Promise.allSettled(inFlight);
    const err = e instanceof NearestError ? e : new NearestError('IO_ERROR', (e as Error)?.message ?? String(e), {}, { cause: e });
    const failedWrite = settled.find((s) => s.status === 'rejected');
    if (db) err.message += ` (imported ${fmtInt(written)} rows before it${failedWrite ? '' : '; nothing of the failing batch was written'})`;
    throw err;
  } finally {
    await sides.ids?.close().catch(() => {});
    await sides.meta?.close().catch(() => {});
    await source.close().catch(() => {});
    await db?.close();
  }
}

interface ExportFlags extends CommonFlags { db: string; collection: string; format: 'jsonl' | 'npy' | 'fbin'; out: string }

/** A file written through a temp file: commit() fsyncs, renames into place and fsyncs the directory. */
async function atomicFile(path: string) {
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await open(tmp, 'w');
  let at = 0;
  return {
    async write(bytes: Uint8Array): Promise<void> { await fh.write(bytes, 0, bytes.length, at); at += bytes.length; },
    async commit(): Promise<void> {
      await fh.sync(); await fh.close();
      await rename(tmp, path);
      const d = await open(dirname(path), 'r');
      try { await d.sync(); } finally { await d.close(); }
    },
    async abort(): Promise<void> { await fh.close().catch(() => {}); await rm(tmp, { force: true }); },
  };
}

/** A .npy header for an (n, dim) float32 C-order array, padded so the data starts at a multiple of 64. */
function npyHeader(n: number, dim: number): Uint8Array {
  let dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${n}, ${dim}), }`;
  dict += ' '.repeat(64 - ((10 + dict.length + 1) % 64 || 64)) + '\n';
  const out = new Uint8Array(10 + dict.length);
  out.set([0x93, ...Buffer.from('NUMPY'), 1, 0]);
  new DataView(out.buffer).setUint16(8, dict.length, true);
  out.set(Buffer.from(dict, 'latin1'), 10);
  return out;
}

/** An id as a line of an ids file (strings JSON-quoted, so "42" stays a string on re-import). */
const idLine = (id: RecordId) => (typeof id === 'number' ? String(id) : JSON.stringify(id));

const EXPORT_CHUNK = 4096;

async function runExport(flags: ExportFlags): Promise<void> {
  const started = performance.now();
  const db = await Database.open(flags.db, { readOnly: true });
  const files: Awaited<ReturnType<typeof atomicFile>>[] = [];
  try {
    const store = db.collection(flags.collection) as DurableVectorStore<JsonValue>;
    const n = store.size, dim = store.dim;
    const out = await atomicFile(flags.out);
    files.push(out);
    const idsOut = flags.format === 'jsonl' ? null : await atomicFile(`${flags.out}.ids`);
    if (idsOut) files.push(idsOut);
    if (flags.format === 'npy') await out.write(npyHeader(n, dim));
    if (flags.format === 'fbin') { const h = new Uint8Array(8); const v = new DataView(h.buffer); v.setUint32(0, n, true); v.setUint32(4, dim, true); await out.write(h); }
    const bar = await progress(`export ${flags.collection}`, n, 'rows', flags);
    let done = 0;
    let chunk: [RecordId, JsonValue | undefined][] = [];
    const flush = async (): Promise<void> => {
      if (flags.format === 'jsonl') {
        let text = '';
        for (const [id, m] of chunk) {
          const v = store.get(id)!.vector;
          text += `{"id":${JSON.stringify(id)},"vector":${JSON.stringify(Array.from(v))}${m === undefined ? '' : `,"metadata":${JSON.stringify(m)}`}}\n`;
        }
        await out.write(Buffer.from(text));
      } else {
        const vectors = new Float32Array(chunk.length * dim);
        chunk.forEach(([id], i) => vectors.set(store.get(id)!.vector, i * dim));
        await out.write(new Uint8Array(vectors.buffer));
        await idsOut!.write(Buffer.from(chunk.map(([id]) => `${idLine(id)}\n`).join('')));
      }
      done += chunk.length;
      chunk = [];
      bar.update(done);
    };
    for (const entry of store.entries()) {
      chunk.push(entry);
      if (chunk.length === EXPORT_CHUNK) await flush();
    }
    if (chunk.length) await flush();
    bar.stop();
    for (const f of files) await f.commit();
    files.length = 0;
    const seconds = (performance.now() - started) / 1000;
    const report = { collection: flags.collection, format: flags.format, out: flags.out, ids: idsOut ? `${flags.out}.ids` : null, rows: done, dim, seconds: +seconds.toFixed(3) };
    if (flags.json) printJson(report);
    else process.stdout.write(`exported ${fmtInt(done)} rows of ${flags.collection} (dim ${dim}) to ${flags.out}${idsOut ? ` (ids, one a line, in ${flags.out}.ids)` : ''} in ${seconds.toFixed(2)} s\n`);
  } finally {
    for (const f of files) await f.abort();
    await db.close();
  }
}

/** Registers `import` and `export`. */
export function registerDataCommands(program: Command): void {
  withCommonFlags(program.command('import')
    .description('Import vectors from a file into a collection (created if missing); re-running it upserts the same ids.')
    .argument('<file>', 'vector file: .npy .fvecs .ivecs .bvecs .fbin .u8bin .i8bin .jsonl/.ndjson .parquet .hdf5/.h5')
    .requiredOption('--db <dir>', 'database directory (created if missing)')
    .requiredOption('--collection <name>', 'collection name')
    .addOption(new Option('--metric <metric>', 'metric of a new collection (default cosine, or the HDF5 file\'s distance)').choices(['cosine', 'euclidean', 'dot']))
    .option('--index <spec>', 'index of a new collection: a factory string ("Flat", "HNSW32", "IVF1024,PQ32,RFlat") or options JSON')
    .addOption(new Option('--format <format>', 'file format (default: from the extension)').choices([...FORMATS]))
    .option('--ids <file>', 'ids of a bare vector file: one a line, or a 1-D integer .npy (default: row numbers from 0)')
    .option('--metadata <file>', 'metadata of a bare vector file: one JSON value a line')
    .option('--id-field <name>', 'JSONL / Parquet id field', 'id')
    .option('--vector-field <name>', 'JSONL / Parquet vector field (default "vector", else "embedding")')
    .option('--dataset <name>', 'HDF5 dataset (ann-benchmarks: train, test, neighbors)', 'train')
    .addOption(new Option('--on-error <mode>', 'on a malformed row: abort, or skip it and count it').choices(['abort', 'skip']).default('abort'))
    .option('--batch <n>', 'rows per write (one fsync each)', positiveInt('--batch'), 8192)
    .addHelpText('after', `
Examples:
  nearest import embeddings.npy --db ./data --collection docs --metric cosine
  nearest import sift_base.fvecs --db ./data --collection sift --metric euclidean --index HNSW32
  nearest import base.fbin --db ./data --collection deep --ids base.ids --metadata base.meta.jsonl
  nearest import docs.jsonl --db ./data --collection docs --vector-field embedding --on-error skip
  nearest import train.parquet --db ./data --collection wiki --vector-field emb
  nearest import glove-100-angular.hdf5 --db ./data --collection glove --dataset train`))
    .action(action('import', runImport));

  withCommonFlags(program.command('export')
    .description('Export a collection to a file (written to a temp file, fsynced and renamed into place).')
    .requiredOption('--db <dir>', 'database directory')
    .requiredOption('--collection <name>', 'collection name')
    .addOption(new Option('--format <format>', 'jsonl: {"id","vector","metadata"} a line; npy / fbin: float32 vectors, ids one a line in OUT.ids').choices(['jsonl', 'npy', 'fbin']).makeOptionMandatory())
    .requiredOption('--out <file>', 'output file')
    .addHelpText('after', `
Examples:
  nearest export --db ./data --collection docs --format jsonl --out docs.jsonl
  nearest export --db ./data --collection sift --format fbin --out sift.fbin   # and sift.fbin.ids`))
    .action(action('export', (flags: ExportFlags) => runExport(flags)));
}
