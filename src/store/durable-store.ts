// DurableVectorStore: a VectorStore on disk that never loses an acknowledged write and never shows
// one that was not acknowledged.
//
// Directory layout:
//   snapshot.nrst      the last compaction: index image + record table + the log sequence number
//                      it covers (io/snapshot.ts)
//   wal-NNNNNN.log     write-ahead log generations (io/log.ts frames); records newer than the
//                      snapshot are replayed in generation order on open
//   LOCK               the one writer (io/fs.ts lock: pid and process start time)
//
// The write path has one shape: validate the call into an owned Mutation (vector-store.ts), encode
// it, queue it; one writer loop takes everything queued, writes it as one frame, fsyncs (group
// commit), then applies it to memory and resolves. So nothing is visible before it is durable, and
// a failed write or fsync makes the store refuse every later write (a failed fsync cannot be
// retried: the kernel may already have dropped the dirty pages) while nothing unacknowledged is seen.
//
// Compaction rotates the log (new writes go to the next generation at once), then streams a
// snapshot of the state frozen at that point into a temp file, fsyncs and renames it, and deletes
// the older generations. Reads go on meanwhile; writes are logged and fsynced meanwhile and become
// visible (and resolve) when the snapshot is in place. A crash at any step leaves the old snapshot
// with every log, or the new snapshot with the newer logs: nothing acknowledged is lost.
import { NearestError, invalidArgument } from '../errors.js';
import { checkOptions, describe } from '../indexes/validate.js';
import { errnoOf, nodeFileSystem, writeFileAtomic, type FileHandle, type FileLock, type FileSystem } from '../io/fs.js';
import { encodeRecord, frameParts, frameRecords, LogOp, recordBytes, scanLog, scanLogFile, type LogRecord } from '../io/log.js';
import { readSnapshot, writeSnapshot } from '../io/snapshot.js';
import { FlatIndex } from '../indexes/flat.js';
import { freezeJson, type JsonValue } from './json.js';
import {
  checkRecordId, checkRecordIds, StoreEngine, StoreReads,
  type Mutation, type RecordId, type ResolvedOptions, type SearchDefaults, type StoreRecord, type StoreStats, type VectorStoreOptions,
} from './vector-store.js';
import type { VectorLike, VectorsLike } from '../indexes/validate.js';

/** Options of `VectorStore.open`. */
export interface DurableOptions extends Partial<VectorStoreOptions> {
  /** Open without taking the writer lock (any number of readers, beside one writer); writes are refused. */
  readOnly?: boolean;
  /**
   * Compact automatically once the log holds this many bytes and at least as many as the last
   * snapshot (so the store is rewritten about once per its own size of writes); default 64 MiB.
   */
  compactBytes?: number;
  /**
   * When the options' index differs from the stored one: rebuild the index from the records and
   * swap it in atomically (without this, a conflict is INVALID_ARGUMENT).
   */
  reindex?: boolean;
  /** With `reindex`: called as the new index is filled, `(done, total)` records. */
  onReindexProgress?: (done: number, total: number) => void;
  /** The file system to use (default: the real one); tests pass a fault-injecting one. */
  fileSystem?: FileSystem;
}

/** Where a log is damaged (a read-only open serves what precedes it). */
export interface DamageReport {
  file: string;
  /** Byte offset of the first damaged frame. */
  offset: number;
  /** Intact frames found after the damage (not served). */
  framesAfter: number;
}

/** What `repair` did. */
export interface RepairReport {
  /** Intact log frames kept (also those after damage). */
  framesKept: number;
  /** Damaged byte ranges removed from the logs. */
  damagedRanges: number;
  /** Files the damaged bytes were saved to. */
  savedTo: string[];
}

/** What a durable store's `stats()` reports. */
export interface DurableStoreStats extends StoreStats {
  /** Bytes in the write-ahead log since the last compaction. */
  logBytes: number;
  /** When the last compaction finished (ISO 8601), or null. */
  lastCompaction: string | null;
  /**
   * Why the last compaction failed, or null. A failed compaction changes nothing (the old snapshot
   * and every log stay; writes go on); an automatic one is retried after another compactBytes.
   */
  lastCompactionError: string | null;
  /** The last log sequence number applied. */
  seq: number;
  readOnly: boolean;
  damage: DamageReport | null;
}

interface Pending { m: Mutation; bytes: Uint8Array[]; size: number; resolve(n: number): void; reject(e: unknown): void }
interface Waiter { resolve(): void; reject(e: unknown): void }

/** The snapshot's file name in a store directory. */
export const SNAPSHOT = 'snapshot.nrst';
const logName = (gen: number) => `wal-${String(gen).padStart(6, '0')}.log`;
/** Log generation file names (the number is the generation). */
export const LOG_RE = /^wal-(\d{6,})\.log$/;
/** A frame holds at most this many bytes of records (bigger batches are one frame of their own). */
const FRAME_BYTES = 32 * 2 ** 20;
/** Preallocation writes these (shared, never written to). */
const ZEROS = new Uint8Array(2 ** 20);
/** Thrown inside load() when a reader should start over. */
const RETRY = Symbol('retry');
const OPEN_KEYS = ['dim', 'metric', 'index', 'backend', 'readOnly', 'compactBytes', 'reindex', 'onReindexProgress', 'fileSystem'];

function encodeMutation(m: Mutation): Uint8Array[] {
  if (m.op === 'settings') return encodeRecord(LogOp.Settings, { search: m.search }, null);
  if (m.op === 'delete') return encodeRecord(LogOp.Delete, { ids: m.ids }, null);
  return encodeRecord(LogOp.Upsert, { ids: m.ids, m: m.metadata.map((x) => (x === undefined ? 0 : [x])) }, m.vectors);
}

function decodeMutation(r: LogRecord, engine: StoreEngine, file: string): Mutation {
  const dim = engine.dim;
  const bad = (why: string) => new NearestError('CORRUPT_FILE', `${file}: record ${r.seq} is intact but invalid (${why})`, { file, seq: r.seq });
  if (r.op === LogOp.Settings) {
    try { return engine.prepareSettings((r.json as { search?: unknown } | null)?.search, 'log'); } catch (e) { throw bad(`search defaults: ${(e as Error).message}`); }
  }
  const j = r.json as { ids?: unknown; m?: unknown };
  if (typeof j !== 'object' || j === null || !Array.isArray(j.ids)) throw bad('no ids');
  let ids: RecordId[];
  try { ids = checkRecordIds(j.ids, 'log'); } catch { throw bad('bad ids'); }
  if (r.op === LogOp.Delete) return { op: 'delete', ids };
  const vectors = r.vectors ?? new Float32Array(0); // an empty upsert has no vector bytes
  if (!Array.isArray(j.m) || j.m.length !== ids.length || vectors.length !== ids.length * dim) throw bad('lengths disagree');
  const metadata = j.m.map((x) => (Array.isArray(x) && x.length === 1 ? freezeJson(x[0] as JsonValue) : x === 0 ? undefined : (() => { throw bad('bad metadata'); })()));
  if (new Set(ids).size !== ids.length) throw bad('an id repeats');
  // Vector values are checked where they are applied (index.add validates before it changes anything).
  return { op: 'upsert', ids, vectors, metadata };
}

/** A stable JSON text (sorted keys) for comparing stored and given options. */
function stable(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (typeof v === 'object' && v !== null) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${stable((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

/** Writes `length` zero bytes at `at` (preallocation, or a torn tail turned back into free space). */
async function writeZeros(h: FileHandle, at: number, length: number): Promise<void> {
  for (let done = 0; done < length; done += ZEROS.length) await h.write(ZEROS.subarray(0, Math.min(ZEROS.length, length - done)), at + done);
}

function snapshotData(e: StoreEngine, seq: number, compactedAt: string | null): Parameters<typeof writeSnapshot>[2] {
  return {
    params: {
      options: e.resolved as unknown as Record<string, unknown>,
      nextHandle: e.nextHandle, nextAuto: e.nextAuto, ivfPending: e.ivfPending !== null, seq, compactedAt,
      ...(Object.keys(e.searchDefaults).length > 0 ? { search: { ...e.searchDefaults } } : {}),
    },
    index: e.index,
    records: e.records(),
    count: e.size,
  };
}

/** A durable VectorStore (see the file comment). Reads are synchronous; mutations resolve once durable. */
export class DurableVectorStore<M = unknown> extends StoreReads<M> {
  /** @internal */
  protected engine: StoreEngine;
  /** The store's directory (absolute). */
  readonly dir: string;
  readonly readOnly: boolean;
  /** Set when a read-only open found damage: it serves the records before it. */
  readonly damage: DamageReport | null;
  private readonly fs: FileSystem;
  private readonly lock: FileLock | null;
  private readonly compactBytes: number;
  private log: FileHandle | null;
  private logGen: number;
  private logBytes: number;
  /** Size of the last snapshot (automatic compaction waits for a log at least this big). */
  private snapshotBytes: number;
  /** The log file's size: [logBytes, logCap) is preallocated zeros. */
  private logCap: number;
  // Small steps: each one is flushed by the next frame's fdatasync, a latency spike of its size.
  private get preallocBytes(): number { return Math.max(4096, Math.min(2 ** 20, this.compactBytes)); }
  private seq: number;
  private lastCompaction: string | null;
  /** Why the last compaction failed (an automatic one has nobody to tell), or null. */
  private lastCompactionError: string | null = null;
  private queue: Pending[] = [];
  /** Durable writes waiting for a running compaction before they are applied. */
  private deferred: Pending[] = [];
  private compactWaiters: Waiter[] = [];
  private compactWanted = false;
  private compacting: Promise<void> | null = null;
  private writer: Promise<void> | null = null;
  private failed: NearestError | null = null;
  private closing = false;
  private closed = false;

  private constructor(a: {
    dir: string; fs: FileSystem; engine: StoreEngine; lock: FileLock | null; log: FileHandle | null; logGen: number; logBytes: number;
    logCap: number; snapshotBytes: number; seq: number; readOnly: boolean; compactBytes: number; damage: DamageReport | null; lastCompaction: string | null;
  }) {
    super();
    this.dir = a.dir; this.fs = a.fs; this.engine = a.engine; this.lock = a.lock; this.log = a.log; this.logGen = a.logGen;
    this.logBytes = a.logBytes; this.logCap = a.logCap; this.snapshotBytes = a.snapshotBytes; this.seq = a.seq; this.readOnly = a.readOnly; this.compactBytes = a.compactBytes;
    this.damage = a.damage; this.lastCompaction = a.lastCompaction;
  }

  /**
   * Opens (or creates) the store in `dir`. Creating needs `dim`; reopening takes the stored dim,
   * metric and index, and options that conflict with them are INVALID_ARGUMENT unless `reindex`.
   * One writer per directory (LOCKED otherwise); read-only handles take no lock. A damaged log is
   * CORRUPT_FILE for a writer (files untouched; see `repair`), a partial view for a reader.
   */
  static async open<M = unknown>(dir: string, options: DurableOptions = {}): Promise<DurableVectorStore<M>> {
    const o = checkOptions(options, OPEN_KEYS, 'VectorStore.open') as DurableOptions;
    if (typeof dir !== 'string' || dir === '' || dir.includes('\0')) throw invalidArgument(`VectorStore.open: dir must be a non-empty path, got ${describe(dir)}`, { received: describe(dir) });
    if (o.compactBytes !== undefined && (!Number.isSafeInteger(o.compactBytes) || o.compactBytes < 1)) throw invalidArgument(`VectorStore.open: compactBytes must be a positive integer, got ${describe(o.compactBytes)}`, {});
    for (const flag of ['readOnly', 'reindex'] as const) if (o[flag] !== undefined && typeof o[flag] !== 'boolean') throw invalidArgument(`VectorStore.open: ${flag} must be a boolean, got ${describe(o[flag])}`, {});
    if (o.readOnly && o.reindex) throw invalidArgument('VectorStore.open: reindex needs a writable open (readOnly is set)', {});
    const fs = o.fileSystem ?? await nodeFileSystem();
    const abs = fs.resolve(dir);
    // Validate the store options before touching the disk.
    if (o.onReindexProgress !== undefined && typeof o.onReindexProgress !== 'function') throw invalidArgument(`VectorStore.open: onReindexProgress must be a function, got ${describe(o.onReindexProgress)}`, {});
    const { readOnly = false, compactBytes = 64 * 2 ** 20, reindex = false, onReindexProgress, fileSystem: _fs, ...storeOptions } = o;
    if (storeOptions.dim !== undefined) new StoreEngine(storeOptions as VectorStoreOptions, 'VectorStore.open');

    let lock: FileLock | null = null;
    try {
      const kind = await fs.kind(abs);
      if (kind === 'file') throw invalidArgument(`VectorStore.open: ${abs} is a file, not a store directory`, { dir: abs });
      if (kind === null) {
        if (readOnly) throw new NearestError('NOT_FOUND', `VectorStore.open: no store at ${abs} (a read-only open does not create one)`, { dir: abs });
        if (storeOptions.dim === undefined) throw new NearestError('NOT_FOUND', `VectorStore.open: no store at ${abs}; pass { dim } to create one`, { dir: abs });
        await fs.mkdir(abs);
        await fs.syncDir(fs.dirname(abs));
      }
      lock = readOnly ? null : await fs.lock(fs.join(abs, 'LOCK'));
      // A reader races the writer's compactions (a log can vanish, or a snapshot be replaced,
      // between its reads): it retries on a missing file or a gap in the sequence numbers.
      for (let attempt = 1; ; attempt++) {
        try {
          return await DurableVectorStore.load<M>(fs, abs, storeOptions, { readOnly, compactBytes, reindex, onReindexProgress, lock, strict: readOnly && attempt < 5 });
        } catch (e) {
          if (!(readOnly && attempt < 5 && (e === RETRY || errnoOf(e) === 'ENOENT'))) throw e;
        }
      }
    } catch (e) {
      await lock?.release().catch(() => {});
      if (e instanceof NearestError) throw e;
      throw new NearestError('IO_ERROR', `VectorStore.open: opening ${abs} failed: ${(e as Error)?.message ?? String(e)}`, { dir: abs, errno: errnoOf(e) }, { cause: e });
    }
  }

  private static async load<M>(fs: FileSystem, dir: string, given: Partial<VectorStoreOptions>, how: { readOnly: boolean; compactBytes: number; reindex: boolean; onReindexProgress?: (done: number, total: number) => void; lock: FileLock | null; strict: boolean }): Promise<DurableVectorStore<M>> {
    const names = await fs.readdir(dir);
    if (names.includes('catalog.json') && !names.includes(SNAPSHOT)) {
      throw invalidArgument(`VectorStore.open: ${dir} holds a database of collections (Database.open), not a single store`, { dir });
    }
    if (names.includes('wal.log')) {
      const bytes = (await fs.readFile(fs.join(dir, 'wal.log'))).length;
      if (bytes > 0) throw new NearestError('UNSUPPORTED_VERSION', `${dir} holds a write-ahead log of an earlier nearest (wal.log, ${bytes} bytes); open it with that version and call compact(), then open it here`, { dir });
    }
    const gens = names.map((n) => LOG_RE.exec(n)).filter((x): x is RegExpExecArray => x !== null).map((x) => Number(x[1])).sort((a, b) => a - b);
    const load = given.backend ? { backend: given.backend } : {};
    let engine: StoreEngine;
    let snapSeq = 0;
    let lastCompaction: string | null = null;
    let snapshotBytes = 0;
    let stored: ResolvedOptions | null = null;
    if (!names.includes(SNAPSHOT)) {
      if (gens.length > 0) throw new NearestError('CORRUPT_FILE', `${dir}: ${SNAPSHOT} is missing but logs are present`, { dir, file: fs.join(dir, SNAPSHOT) });
      if (given.dim === undefined) throw new NearestError('NOT_FOUND', `VectorStore.open: no store at ${dir}; pass { dim } to create one`, { dir });
      if (how.readOnly) throw new NearestError('NOT_FOUND', `VectorStore.open: no store at ${dir}`, { dir });
      engine = new StoreEngine(given as VectorStoreOptions, 'VectorStore.open');
    } else {
      const file = fs.join(dir, SNAPSHOT);
      // The record table streams into the engine (no array of a million tuples in between).
      let target: StoreEngine | null = null;
      const snap = await readSnapshot(fs, file, load, (p) => {
        target = new StoreEngine({ ...(p.options as unknown as VectorStoreOptions), ...(given.backend ? { backend: given.backend } : {}) });
        target.restoreBegin(p.nextHandle);
      }, (id, h, meta) => target!.restorePut(id, h, meta === undefined ? undefined : freezeJson(meta as JsonValue)));
      const p = snap.params;
      engine = target!;
      stored = engine.resolved;
      snapshotBytes = snap.bytes;
      if (!p.ivfPending) engine.ivfPending = null;
      if (p.ivfPending && !(snap.index instanceof FlatIndex)) throw new NearestError('CORRUPT_FILE', `${file}: a store waiting to train holds a non-flat index`, { file });
      if (snap.index.dim !== engine.dim || snap.index.metric !== engine.metric) throw new NearestError('CORRUPT_FILE', `${file}: its index has dim ${snap.index.dim} / ${snap.index.metric}, its parameters ${engine.dim} / ${engine.metric}`, { file });
      engine.index = snap.index;
      engine.nextAuto = p.nextAuto;
      engine.restoreEnd();
      if (p.search !== undefined) {
        try { engine.searchDefaults = Object.freeze(engine.checkSearchDefaults(p.search, 'snapshot')); } catch (e) {
          throw new NearestError('CORRUPT_FILE', `${file}: its search defaults are invalid: ${(e as Error).message}`, { file });
        }
      }
      snapSeq = p.seq;
      lastCompaction = p.compactedAt;
    }

    // Conflicts between the options given and the store's own.
    let rebuild = false;
    if (stored) {
      const r = stored;
      if (given.dim !== undefined && given.dim !== r.dim) throw invalidArgument(`VectorStore.open: the store at ${dir} has dim ${r.dim}; the options say ${given.dim}`, { stored: r.dim, received: given.dim });
      if (given.metric !== undefined && given.metric !== r.metric) throw invalidArgument(`VectorStore.open: the store at ${dir} has metric '${r.metric}'; the options say '${given.metric}'`, { stored: r.metric, received: given.metric });
      if (given.index !== undefined) {
        const want = new StoreEngine({ dim: r.dim, metric: r.metric, index: given.index }, 'VectorStore.open').resolved.index;
        if (stable(want) !== stable(r.index)) {
          if (!how.reindex) throw invalidArgument(`VectorStore.open: the store at ${dir} has index ${stable(r.index)}; the options ask for ${stable(want)} (pass reindex: true to rebuild it)`, { stored: r.index, received: want });
          rebuild = true;
        }
      }
    }

    // Replay the logs.
    let seq = snapSeq;
    let damage: DamageReport | null = null;
    let lastPrefix = 0, tornBytes = 0;
    const obsolete: number[] = [];
    for (let gi = 0; gi < gens.length && !damage; gi++) {
      const file = fs.join(dir, logName(gens[gi]));
      const last = gi === gens.length - 1;
      // Frame by frame (a log can be as big as the store): records apply as they are read; a
      // writer that then finds damage throws, and the half-built engine is dropped.
      const h = await fs.open(file, 'r');
      let scan;
      try {
        scan = await scanLogFile(h, (f, afterDamage) => {
          if (afterDamage) return;
          for (const r of frameRecords(f, file)) {
            if (r.seq <= seq) continue; // covered by the snapshot (or a repeated frame)
            if (r.seq !== seq + 1 && how.strict) throw RETRY; // a log removed under us (a repaired log has gaps too)
            const m = decodeMutation(r, engine, file);
            try { engine.apply(m); } catch (e) { throw new NearestError('CORRUPT_FILE', `${file}: record ${r.seq} is intact but cannot be applied: ${(e as Error).message}`, { file, seq: r.seq }); }
            seq = r.seq;
          }
        });
      } finally {
        await h.close();
      }
      const bad = scan.damaged.length > 0 || (!last && scan.tornBytes > 0);
      if (bad) {
        const offset = scan.prefixEnd;
        const framesAfter = scan.framesAfterDamage + (await DurableVectorStore.framesIn(fs, dir, gens.slice(gi + 1)));
        damage = { file, offset, framesAfter };
        if (!how.readOnly) {
          throw new NearestError('CORRUPT_FILE', `${file} is damaged at byte ${offset} with ${framesAfter} intact frame(s) after it: refusing to open for writing (nothing was changed). Open it with { readOnly: true } to read what precedes the damage, or run VectorStore.repair(dir) to keep every intact record and save the damaged bytes aside`, damage as unknown as Record<string, unknown>);
        }
      }
      if (last) { lastPrefix = scan.prefixEnd; tornBytes = scan.tornBytes; }
      else if (scan.lastSeq <= snapSeq) obsolete.push(gens[gi]);
    }

    if (how.readOnly) {
      return new DurableVectorStore<M>({ dir, fs, engine, lock: null, log: null, logGen: gens.at(-1) ?? 0, logBytes: 0, logCap: 0, snapshotBytes, seq, readOnly: true, compactBytes: how.compactBytes, damage, lastCompaction });
    }

    // A writer: a new store records its shape at once (snapshot first, then its first log); a torn
    // tail is cut; logs a snapshot fully covers (left by a crash during compaction) go.
    if (stored === null) snapshotBytes = await writeSnapshot(fs, fs.join(dir, SNAPSHOT), snapshotData(engine, 0, null));
    if (rebuild) {
      const next = new StoreEngine({ dim: engine.dim, metric: engine.metric, index: given.index, ...(given.backend ? { backend: given.backend } : {}) }, 'VectorStore.open');
      next.adoptIndexFrom(engine, how.onReindexProgress);
      engine = next;
    }
    let gen = gens.at(-1) ?? 0;
    let log: FileHandle;
    let logBytes = 0;
    let logCap = 0;
    if (gen > 0) {
      log = await fs.open(fs.join(dir, logName(gen)), 'rw', { blocking: true });
      logCap = await log.size();
      if (tornBytes > 0) await writeZeros(log, lastPrefix, logCap - lastPrefix); // a torn tail becomes free space
      // What was just read may sit in the page cache only (a process whose fsync failed wrote it):
      // make it durable before serving it, or refuse to open (PostgreSQL fsyncs its WAL at
      // recovery for the same reason).
      await log.sync();
      for (const g of obsolete) await fs.unlink(fs.join(dir, logName(g)));
      await fs.syncDir(dir);
      logBytes = lastPrefix;
    } else {
      gen = 1;
      log = await fs.open(fs.join(dir, logName(gen)), 'rw', { blocking: true });
      await fs.syncDir(dir);
    }
    const store = new DurableVectorStore<M>({ dir, fs, engine, lock: how.lock, log, logGen: gen, logBytes, logCap, snapshotBytes, seq, readOnly: false, compactBytes: how.compactBytes, damage: null, lastCompaction });
    if (rebuild) {
      // The new index becomes the store's only by the snapshot's atomic rename.
      try { await store.compact(); } catch (e) { await store.close().catch(() => {}); throw e; }
    }
    return store;
  }

  private static async framesIn(fs: FileSystem, dir: string, gens: number[]): Promise<number> {
    let n = 0;
    for (const g of gens) {
      const h = await fs.open(fs.join(dir, logName(g)), 'r');
      try { n += (await scanLogFile(h, () => {})).frames; } finally { await h.close(); }
    }
    return n;
  }

  /**
   * Rewrites a damaged store's logs keeping every intact frame — also those after the damage — and
   * saves each damaged byte range to `damaged-<log>-<offset>.bin` beside them; then the store opens
   * for writing again. Records in the damaged ranges are lost (they were unreadable); the report
   * says how many ranges there were. Takes the writer lock while it runs.
   */
  static async repair(dir: string, options: { fileSystem?: FileSystem } = {}): Promise<RepairReport> {
    checkOptions(options, ['fileSystem'], 'VectorStore.repair');
    const fs = options.fileSystem ?? await nodeFileSystem();
    const abs = fs.resolve(dir);
    if (await fs.kind(abs) !== 'dir') throw new NearestError('NOT_FOUND', `VectorStore.repair: no store at ${abs}`, { dir: abs });
    const lock = await fs.lock(fs.join(abs, 'LOCK'));
    try {
      const report: RepairReport = { framesKept: 0, damagedRanges: 0, savedTo: [] };
      for (const name of (await fs.readdir(abs)).filter((n) => LOG_RE.test(n)).sort()) {
        const file = fs.join(abs, name);
        const bytes = await fs.readFile(file);
        const scan = await scanLog(bytes);
        report.framesKept += scan.frames.length;
        const ranges = [...scan.damaged, ...(scan.tornBytes > 0 ? [{ offset: bytes.length - scan.tornBytes, length: scan.tornBytes }] : [])];
        if (ranges.length === 0) continue;
        for (const r of ranges) {
          const aside = fs.join(abs, `damaged-${name}-${r.offset}.bin`);
          const h = await fs.open(aside, 'w');
          try { await h.write(bytes.subarray(r.offset, r.offset + r.length), 0); await h.sync(); } finally { await h.close(); }
          report.savedTo.push(aside);
        }
        report.damagedRanges += scan.damaged.length;
        await fs.syncDir(abs);
        await writeFileAtomic(fs, file, (h) => h.writev(scan.frames.map((f) => bytes.subarray(f.offset, f.end)), 0));
      }
      return report;
    } finally {
      await lock.release();
    }
  }

  // ---- mutations (resolve once durable)

  /** Reads of a closed store are CLOSED (its memory is no longer kept in step with the disk). */
  protected override readable(where: string): void {
    if (this.closed) throw new NearestError('CLOSED', `${where}: the store at ${this.dir} is closed`, { dir: this.dir });
  }

  private writable(where: string): void {
    if (this.closed || this.closing) throw new NearestError('CLOSED', `${where}: the store is closed`, { dir: this.dir });
    if (this.readOnly) throw new NearestError('UNSUPPORTED', `${where}: the store was opened read-only`, { dir: this.dir });
    if (this.failed) throw this.failedError(where);
  }

  /** A system error as IO_ERROR (NearestErrors pass through). */
  private ioError(e: unknown, where: string): NearestError {
    if (e instanceof NearestError) return e;
    return new NearestError('IO_ERROR', `${where}: ${this.dir}: ${(e as Error)?.message ?? String(e)} (nothing was changed; the store stays writable)`, { dir: this.dir, errno: errnoOf(e) }, { cause: e });
  }

  private failedError(where: string): NearestError {
    return new NearestError('IO_ERROR', `${where}: an earlier write to ${this.dir} failed (${this.failed!.message}); no later write is accepted — close and reopen the store`, { dir: this.dir }, { cause: this.failed });
  }

  private submit(m: Mutation): Promise<number> {
    const bytes = encodeMutation(m); // the metadata encoded now; the vectors are already our own copy
    this.engine.hold(m);
    return new Promise<number>((resolve, reject) => {
      this.queue.push({ m, bytes, size: recordBytes(bytes), resolve, reject });
      this.kick();
    });
  }

  /** Adds one vector; resolves with its auto id once durable. */
  async add(vector: VectorLike, metadata?: M): Promise<number> {
    this.writable('add');
    const m = this.engine.prepareAdd(vector, metadata, 'add');
    await this.submit(m);
    return m.ids[0] as number;
  }

  /** Adds vectors; resolves with their auto ids once durable (one log record: all or nothing). */
  async addBatch(vectors: VectorsLike, metadatas?: readonly (M | undefined)[]): Promise<number[]> {
    this.writable('addBatch');
    const m = this.engine.prepareAddBatch(vectors, metadatas, 'addBatch');
    await this.submit(m);
    return m.ids as number[];
  }

  /** Inserts or replaces records; resolves once durable (one log record: all or nothing). */
  async upsert(records: StoreRecord<M> | readonly StoreRecord<M>[]): Promise<void> {
    this.writable('upsert');
    await this.submit(this.engine.prepareUpsert(records, 'upsert'));
  }

  /** Columnar upsert for bulk loads (see VectorStore.upsertRows); resolves once durable (one log record). */
  async upsertRows(ids: readonly RecordId[], vectors: VectorsLike, metadata?: readonly (M | undefined)[]): Promise<void> {
    this.writable('upsertRows');
    await this.submit(this.engine.prepareUpsertRows(ids, vectors, metadata, 'upsertRows'));
  }

  /** Deletes a record; resolves with whether it existed, once durable. */
  async delete(id: RecordId): Promise<boolean> {
    this.writable('delete');
    return (await this.submit(this.engine.prepareDelete([checkRecordId(id, 'delete')]))) === 1;
  }

  /** Deletes records (an array of ids, one log record); resolves with how many existed, once durable. */
  async deleteMany(ids: readonly RecordId[]): Promise<number> {
    this.writable('deleteMany');
    return this.submit(this.engine.prepareDelete(checkRecordIds(ids, 'deleteMany')));
  }

  /**
   * Sets the search parameters used by searches that pass none of their own (`{ efSearch }` for an
   * hnsw store, `{ nprobe, refineFactor }` for an ivf one; `{}` restores the index's own), replacing
   * the previous ones whole. Logged like any write: resolves once durable, and only then do searches
   * use them; kept by compactions. A reindex to another index starts without defaults.
   */
  async setSearchDefaults(defaults: SearchDefaults): Promise<void> {
    this.writable('setSearchDefaults');
    await this.submit(this.engine.prepareSettings(defaults, 'setSearchDefaults'));
  }

  /** Writes a snapshot and starts a new log; writes issued meanwhile are queued, never lost. */
  compact(): Promise<void> {
    this.writable('compact');
    return new Promise<void>((resolve, reject) => {
      this.compactWaiters.push({ resolve, reject });
      this.compactWanted = true;
      this.kick();
    });
  }

  private kick(): void {
    if (this.writer) return;
    this.writer = this.runWriter().finally(() => {
      this.writer = null;
      if (!this.failed && (this.queue.length > 0 || (this.compactWanted && !this.compacting))) this.kick();
    });
  }

  /** The one writer: group commit of everything queued, and the start of compactions. */
  private async runWriter(): Promise<void> {
    await new Promise((r) => setImmediate(r)); // let calls issued in the same tick join the group
    while (!this.failed) {
      if (this.compactWanted && !this.compacting) {
        this.compactWanted = false;
        const waiters = this.compactWaiters;
        this.compactWaiters = [];
        try { await this.startCompaction(waiters); } catch (e) {
          this.lastCompactionError = (e as Error)?.message ?? String(e);
          for (const w of waiters) w.reject(this.ioError(e, 'compact'));
        }
        continue;
      }
      if (this.queue.length === 0) return;
      let take = 0, bytes = 0;
      while (take < this.queue.length && (take === 0 || bytes + this.queue[take].size <= FRAME_BYTES)) bytes += this.queue[take++].size;
      const batch = this.queue.splice(0, take);
      const frame = frameParts(this.seq + 1, batch.map((b) => b.bytes)); // the records' own bytes, not copied
      try {
        if (this.logBytes + frame.bytes > this.logCap) {
          // Preallocate zeros past the end (the frame's fdatasync makes the new size durable too).
          const grow = Math.max(this.preallocBytes, this.logBytes + frame.bytes - this.logCap);
          await writeZeros(this.log!, this.logCap, grow);
          this.logCap += grow;
        }
        await this.log!.writev(frame.parts, this.logBytes);
        await this.log!.sync();
      } catch (e) {
        this.fail(e, batch);
        return;
      }
      this.seq += batch.length;
      this.logBytes += frame.bytes;
      if (this.compacting) this.deferred.push(...batch);
      else this.applyAll(batch);
      // Automatic compaction once the log is as big as the snapshot (and at least compactBytes):
      // each rewrites the whole store, so a fixed threshold would rewrite a large store again and
      // again; this bounds the bytes written per byte logged at about 2 (Redis's AOF rewrite rule).
      if (this.logBytes >= Math.max(this.compactBytes, this.snapshotBytes) && !this.compacting) this.compactWanted = true;
    }
  }

  private applyAll(batch: Pending[]): void {
    for (const p of batch) {
      this.engine.unhold(p.m);
      let n: number;
      try { n = this.engine.apply(p.m); } catch (e) {
        // Validation guarantees this cannot happen; if it does, memory and log disagree: stop writing.
        this.fail(e, []);
        p.reject(e);
        continue;
      }
      p.resolve(n);
    }
  }

  private fail(e: unknown, batch: Pending[]): void {
    this.failed = e instanceof NearestError ? e : new NearestError('IO_ERROR', `write to ${this.dir} failed: ${(e as Error)?.message ?? String(e)}`, { dir: this.dir, errno: errnoOf(e) }, { cause: e });
    const err = this.failedError('write');
    for (const p of [...batch, ...this.queue]) { this.engine.unhold(p.m); p.reject(err); }
    this.queue = [];
    for (const w of this.compactWaiters) w.reject(err);
    this.compactWaiters = [];
  }

  /** Rotates the log, then writes the snapshot in the background (see the file comment). */
  private async startCompaction(waiters: Waiter[]): Promise<void> {
    const gen = this.logGen + 1;
    const next = await this.fs.open(this.fs.join(this.dir, logName(gen)), 'rw', { blocking: true });
    try { await this.fs.syncDir(this.dir); } catch (e) { await next.close().catch(() => {}); throw e; }
    const old = this.log!;
    this.log = next; this.logGen = gen; this.logBytes = 0; this.logCap = 0;
    await old.close().catch(() => {});
    const seq = this.seq;
    const compactedAt = new Date().toISOString();
    const e = this.engine;
    this.compacting = (async () => {
      let renamed = false;
      try {
        this.snapshotBytes = await writeSnapshot(this.fs, this.fs.join(this.dir, SNAPSHOT), snapshotData(e, seq, compactedAt));
        renamed = true;
        for (const name of await this.fs.readdir(this.dir)) {
          const g = LOG_RE.exec(name);
          if (g && Number(g[1]) < gen) await this.fs.unlink(this.fs.join(this.dir, name));
        }
        await this.fs.syncDir(this.dir);
        this.lastCompaction = compactedAt;
        this.lastCompactionError = null;
        for (const w of waiters) w.resolve();
      } catch (err) {
        // Before the rename nothing changed (the old snapshot and every log are intact); after it,
        // the directory's state is uncertain, so stop writing.
        if (renamed) this.fail(err, []);
        this.lastCompactionError = (err as Error)?.message ?? String(err);
        for (const w of waiters) w.reject(renamed ? this.failedError('compact') : this.ioError(err, 'compact'));
      } finally {
        this.compacting = null;
        const done = this.deferred;
        this.deferred = [];
        if (this.failed) for (const p of done) { this.engine.unhold(p.m); p.reject(this.failedError('write')); }
        else this.applyAll(done);
        if (!this.failed && (this.queue.length > 0 || this.compactWanted)) this.kick();
      }
    })();
  }

  /** Waits for queued writes and any compaction, then releases the writer lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closing = true;
    while (this.writer || this.compacting) await (this.writer ?? this.compacting)!.catch(() => {});
    this.closed = true;
    if (this.log) await this.log.close().catch(() => {});
    await this.lock?.release();
  }

  /** Size, dim, metric, index, memory, log bytes, last compaction, and any damage a reader found. */
  override stats(): DurableStoreStats {
    return { ...this.engine.stats(), logBytes: this.logBytes, lastCompaction: this.lastCompaction, lastCompactionError: this.lastCompactionError, seq: this.seq, readOnly: this.readOnly, damage: this.damage };
  }
}

