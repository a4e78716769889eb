// What is at a path, and whether its bytes are intact: `inspectPath` describes an index file
// (saveIndex), a store / collection directory, `DB/NAME` or a database; `verifyPath` checks every
// checksum there — each container section (index files, snapshots), every log frame and the records
// inside it, the catalog — read-only and without taking any lock, and names each damaged file with
// its byte offset and section or record. Both are what `nearest info` and `nearest verify` print.
import { NearestError } from '../errors.js';
import type { Metric } from '../distance/metric.js';
import { FORMAT_VERSION, FileKind, openContainer } from '../io/container.js';
import { nodeFileSystem, type FileSystem } from '../io/fs.js';
import { loadIndex } from '../io/index-io.js';
import { frameRecords, scanLogFile } from '../io/log.js';
import { describeIndex } from '../indexes/factory.js';
import { parseCatalog, type CatalogEntry } from './database.js';
import { DurableVectorStore, LOG_RE, SNAPSHOT, type DamageReport } from './durable-store.js';
import type { SearchDefaults } from './vector-store.js';

const KINDS: Record<number, string> = { [FileKind.Flat]: 'flat index', [FileKind.Hnsw]: 'hnsw index', [FileKind.Ivf]: 'ivf index', [FileKind.StoreSnapshot]: 'store snapshot' };

/** What a path names. */
export type PathKind = 'index-file' | 'collection' | 'database';

/** What `inspectPath` says of an index file or a collection. */
interface Described {
  path: string;
  /** The container format version (docs/format.md). */
  formatVersion: number;
  dim: number;
  metric: Metric;
  /** Vectors (records) held. */
  count: number;
  /** The index as a factory string ('HNSW16', 'IVF256,PQ16'). */
  index: string;
  /** Bytes held in memory once loaded. */
  memoryBytes: number;
}

/** `inspectPath` of an index file. */
export interface IndexFileInfo extends Described {
  kind: 'index-file';
  fileBytes: number;
}

/** `inspectPath` of a store (a collection directory or `DB/NAME`). */
export interface CollectionPathInfo extends Described {
  kind: 'collection';
  /** The collection's name when reached through a database. */
  name?: string;
  snapshotBytes: number;
  /** Bytes of every write-ahead log file (preallocated space included). */
  logBytes: number;
  logFiles: number;
  searchDefaults: SearchDefaults;
  /** Damage a read-only open found (it serves what precedes it), or null. */
  damage: DamageReport | null;
}

/** `inspectPath` of a database. */
export interface DatabasePathInfo {
  kind: 'database';
  path: string;
  /** Records in all collections. */
  count: number;
  collections: CollectionPathInfo[];
}

/** One damaged spot `verifyPath` found. */
export interface VerifyProblem {
  file: string;
  /** Byte offset of the damage in the file, when known. */
  offset?: number;
  /** Bytes damaged from offset, when known. */
  length?: number;
  /** The container section (index files, snapshots). */
  section?: string;
  /** The log record sequence number (logs): the damaged record, or the last intact one before the damage. */
  record?: number;
  message: string;
}

/** One file `verifyPath` checked. */
export interface VerifiedFile {
  file: string;
  type: 'index' | 'snapshot' | 'log' | 'catalog';
  bytes: number;
  /** Log files: intact frames and records. */
  frames?: number;
  records?: number;
  /** Log files: bytes of an interrupted last write (not damage: a writer cuts them on open). */
  tornBytes?: number;
  problems: VerifyProblem[];
}

/** What `verifyPath` found. */
export interface VerifyReport {
  path: string;
  kind: PathKind;
  ok: boolean;
  files: VerifiedFile[];
  problems: VerifyProblem[];
}

interface Target { kind: PathKind; path: string; name?: string }

async function resolveTarget(fs: FileSystem, path: string, where: string): Promise<Target> {
  const abs = fs.resolve(path);
  const kind = await fs.kind(abs);
  if (kind === 'file') return { kind: 'index-file', path: abs };
  if (kind === 'dir') {
    const names = await fs.readdir(abs);
    if (names.includes('catalog.json')) return { kind: 'database', path: abs };
    if (names.includes(SNAPSHOT) || names.some((n) => LOG_RE.test(n))) return { kind: 'collection', path: abs };
    throw new NearestError('NOT_FOUND', `${where}: ${abs} is neither a database, a collection nor an index file`, { path: abs });
  }
  // DB/NAME: a collection by name.
  const parent = fs.dirname(abs), name = abs.slice(parent.length + 1);
  if (await fs.kind(fs.join(parent, 'catalog.json')) === 'file') {
    const entry = (await catalogOf(fs, parent)).find((c) => c.name === name);
    if (entry) return { kind: 'collection', path: fs.join(parent, 'collections', entry.dir), name };
    throw new NearestError('NOT_FOUND', `${where}: the database at ${parent} has no collection named ${JSON.stringify(name)}`, { path: abs, name });
  }
  throw new NearestError('NOT_FOUND', `${where}: nothing at ${abs}`, { path: abs });
}

async function catalogOf(fs: FileSystem, dir: string): Promise<CatalogEntry[]> {
  const file = fs.join(dir, 'catalog.json');
  return parseCatalog(await fs.readFile(file), file).collections;
}

async function sizeOf(fs: FileSystem, file: string): Promise<number> {
  const h = await fs.open(file, 'r');
  try { return await h.size(); } finally { await h.close(); }
}

async function collectionInfo(fs: FileSystem, dir: string, name?: string): Promise<CollectionPathInfo> {
  const store = await DurableVectorStore.open(dir, { readOnly: true, fileSystem: fs });
  try {
    const st = store.stats();
    const logs = (await fs.readdir(dir)).filter((n) => LOG_RE.test(n));
    let logBytes = 0;
    for (const l of logs) logBytes += await sizeOf(fs, fs.join(dir, l));
    return {
      kind: 'collection', path: dir, ...(name !== undefined ? { name } : {}), formatVersion: FORMAT_VERSION,
      dim: st.dim, metric: st.metric, count: st.size, index: st.index, memoryBytes: st.memoryBytes,
      snapshotBytes: await sizeOf(fs, fs.join(dir, SNAPSHOT)), logBytes, logFiles: logs.length,
      searchDefaults: st.searchDefaults, damage: st.damage,
    };
  } finally {
    await store.close();
  }
}

/**
 * Describes what is at `path`: an index file written by saveIndex, a store or collection
 * directory, `DB/NAME` (a collection of the database in DB) or a database directory. Opens
 * read-only (no lock): it can run beside the writer. NOT_FOUND when nothing is there; CORRUPT_FILE
 * when an index file or catalog is damaged (a damaged log is reported in `damage`).
 */
export async function inspectPath(path: string, options: { fileSystem?: FileSystem } = {}): Promise<IndexFileInfo | CollectionPathInfo | DatabasePathInfo> {
  const fs = options.fileSystem ?? await nodeFileSystem();
  const t = await resolveTarget(fs, path, 'inspectPath');
  if (t.kind === 'collection') return collectionInfo(fs, t.path, t.name);
  if (t.kind === 'database') {
    const collections: CollectionPathInfo[] = [];
    for (const c of await catalogOf(fs, t.path)) collections.push(await collectionInfo(fs, fs.join(t.path, 'collections', c.dir), c.name));
    return { kind: 'database', path: t.path, count: collections.reduce((n, c) => n + c.count, 0), collections };
  }
  const h = await fs.open(t.path, 'r');
  let header;
  try { header = (await openContainer(h, t.path)).header; } finally { await h.close(); }
  if (header.kind === FileKind.StoreSnapshot) return collectionInfo(fs, fs.dirname(t.path));
  const index = await loadIndex(t.path, { threads: 1 });
  return {
    kind: 'index-file', path: t.path, formatVersion: FORMAT_VERSION, dim: index.dim, metric: index.metric, count: index.size,
    index: describeIndex(index), memoryBytes: index.stats().memoryBytes, fileBytes: await sizeOf(fs, t.path),
  };
}

function problemOf(e: unknown, file: string): VerifyProblem {
  if (!(e instanceof NearestError)) throw e;
  const d = e.details as { section?: unknown; offset?: unknown; seq?: unknown };
  return {
    file, message: e.message,
    ...(typeof d.section === 'string' ? { section: d.section } : {}),
    ...(typeof d.offset === 'number' ? { offset: d.offset } : {}),
    ...(typeof d.seq === 'number' ? { record: d.seq } : {}),
  };
}

/** Every section's checksum of a container file (payloads streamed: memory stays at one chunk). */
async function verifyContainer(fs: FileSystem, file: string, type: 'index' | 'snapshot'): Promise<VerifiedFile> {
  const h = await fs.open(file, 'r');
  const out: VerifiedFile = { file, type, bytes: await h.size(), problems: [] };
  try {
    const c = await openContainer(h, file);
    if (type === 'snapshot' && c.header.kind !== FileKind.StoreSnapshot) out.problems.push({ file, offset: 0, message: `${file} is a ${KINDS[c.header.kind] ?? `kind ${c.header.kind} file`}, not a store snapshot` });
    for (const s of c.sections()) {
      try {
        for await (const _ of c.stream(s.tag, 4 * 2 ** 20)) { /* the CRC is checked as the last chunk is read */ }
      } catch (e) {
        out.problems.push({ ...problemOf(e, file), section: s.tag, offset: s.offset, length: s.length });
      }
    }
  } catch (e) {
    out.problems.push(problemOf(e, file));
  } finally {
    await h.close();
  }
  return out;
}

/** Every frame's checksums and every record's framing in a log; `last`: the newest generation (its torn tail is not damage). */
async function verifyLog(fs: FileSystem, file: string, last: boolean): Promise<VerifiedFile> {
  const h = await fs.open(file, 'r');
  const out: VerifiedFile = { file, type: 'log', bytes: await h.size(), frames: 0, records: 0, tornBytes: 0, problems: [] };
  try {
    // The last intact record before each offset, to name where damage lies in record terms.
    const ends: { offset: number; seq: number }[] = [];
    const scan = await scanLogFile(h, (f) => {
      try {
        out.records! += frameRecords(f, file).length;
      } catch (e) {
        out.problems.push({ ...problemOf(e, file), offset: f.offset, length: f.end - f.offset });
      }
      ends.push({ offset: f.end, seq: f.firstSeq + f.count - 1 });
    });
    out.frames = scan.frames;
    const before = (offset: number) => ends.filter((x) => x.offset <= offset).at(-1)?.seq;
    for (const d of scan.damaged) {
      const seq = before(d.offset);
      out.problems.push({
        file, offset: d.offset, length: d.length, ...(seq !== undefined ? { record: seq } : {}),
        message: `${file}: ${d.length} bytes at offset ${d.offset} fail their checksum${seq !== undefined ? ` (after record ${seq})` : ' (before any intact record)'}`,
      });
    }
    if (scan.tornBytes > 0) {
      const offset = out.bytes - scan.tornBytes, seq = before(offset);
      if (last) out.tornBytes = scan.tornBytes;
      else out.problems.push({ file, offset, length: scan.tornBytes, ...(seq !== undefined ? { record: seq } : {}), message: `${file}: ${scan.tornBytes} bytes at offset ${offset} are an incomplete frame in a log that is not the newest` });
    }
  } finally {
    await h.close();
  }
  out.problems.sort((a, b) => (a.offset ?? 0) - (b.offset ?? 0));
  return out;
}

async function verifyStoreDir(fs: FileSystem, dir: string): Promise<VerifiedFile[]> {
  const names = await fs.readdir(dir);
  const files: VerifiedFile[] = [];
  const snap = fs.join(dir, SNAPSHOT);
  if (names.includes(SNAPSHOT)) files.push(await verifyContainer(fs, snap, 'snapshot'));
  else files.push({ file: snap, type: 'snapshot', bytes: 0, problems: [{ file: snap, message: `${snap} is missing` }] });
  const logs = names.filter((n) => LOG_RE.test(n)).sort();
  for (let i = 0; i < logs.length; i++) files.push(await verifyLog(fs, fs.join(dir, logs[i]), i === logs.length - 1));
  return files;
}

/**
 * Checks every checksum at `path` (as inspectPath resolves it): an index file's header and
 * sections; a store's snapshot (every section) and every log (every frame, and the records inside
 * each intact frame); a database's catalog and each of its collections. Read-only, takes no lock,
 * never changes a byte. `ok` is false when anything is damaged; each problem names the file, the
 * byte offset and the section or log record.
 */
export async function verifyPath(path: string, options: { fileSystem?: FileSystem } = {}): Promise<VerifyReport> {
  const fs = options.fileSystem ?? await nodeFileSystem();
  const t = await resolveTarget(fs, path, 'verifyPath').catch((e) => {
    // A damaged catalog still gets a report.
    if (e instanceof NearestError && e.code === 'CORRUPT_FILE') return { kind: 'database' as const, path: fs.dirname(fs.resolve(path)) };
    throw e;
  });
  let files: VerifiedFile[];
  if (t.kind === 'index-file') files = [await verifyContainer(fs, t.path, 'index')];
  else if (t.kind === 'collection') files = await verifyStoreDir(fs, t.path);
  else {
    const file = fs.join(t.path, 'catalog.json');
    const catalog: VerifiedFile = { file, type: 'catalog', bytes: await sizeOf(fs, file), problems: [] };
    files = [catalog];
    let entries: CatalogEntry[] = [];
    try { entries = await catalogOf(fs, t.path); } catch (e) { catalog.problems.push(problemOf(e, file)); }
    for (const c of entries) files.push(...await verifyStoreDir(fs, fs.join(t.path, 'collections', c.dir)));
  }
  const problems = files.flatMap((f) => f.problems);
  return { path: t.path, kind: t.kind, ok: problems.length === 0, files, problems };
}
