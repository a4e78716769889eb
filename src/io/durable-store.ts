// DurableVectorStore: a VectorStore on disk that never loses an acknowledged write.
//
// Directory layout: `snapshot.nrst` (the last compaction: index image + record table, in the
// checksummed container of container.ts), `wal.log` (records appended since), `LOCK` (the pid of
// the one writer). A mutation is applied in memory (which validates it), appended to the log as
// one checksummed record, and its promise resolves after fsync; mutations issued together share
// one write and one fsync (group commit). Opening loads the snapshot and replays the log records
// newer than it; a torn or damaged tail record is discarded (and cut off) — earlier ones survive.
// `compact()` writes a new snapshot atomically (temp file, fsync, rename, directory fsync) and then
// empties the log; it also runs by itself once the log exceeds `compactBytes`.
import { NearestError, invalidArgument } from '../errors.js';
import { VectorStore, type RecordId, type StoreHit, type StoreRecord, type StoredRecord, type StoreSearchOptions, type VectorStoreOptions } from '../store/vector-store.js';
import { registerStoreOpener } from '../store/open-hook.js';
import type { VectorLike, VectorsLike } from '../indexes/validate.js';
import { toRows } from '../indexes/validate.js';
import { bytesOf, corrupt, crc32, FileKind, jsonBytes, readContainer, SectionReader, writeContainer } from './container.js';
import { indexFromBuffer, indexToBuffer } from './index-io.js';
import { syncDirectory, writeFileAtomic } from './atomic.js';

/** Options of `VectorStore.open`. */
export interface DurableOptions extends VectorStoreOptions {
  /** Open without taking the writer lock; mutations are refused. */
  readOnly?: boolean;
  /** Compact automatically once the log holds this many bytes; default 64 MiB. */
  compactBytes?: number;
}

const enum Op { Upsert = 1, Delete = 2 }
const RECORD_HEADER = 8; // u32 payload length, u32 CRC32 of the payload
const MAX_RECORD = 1 << 30;
const openDirs = new Set<string>();

type Fs = typeof import('node:fs/promises');
type FileHandle = import('node:fs/promises').FileHandle;

function encodeRecord(op: Op, seq: number, json: unknown, vectors: Float32Array | null): Uint8Array {
  const meta = jsonBytes(json);
  const vbytes = vectors ? bytesOf(vectors) : new Uint8Array(0);
  const payload = new Uint8Array(1 + 8 + 4 + meta.length + vbytes.length);
  const v = new DataView(payload.buffer);
  v.setUint8(0, op);
  v.setFloat64(1, seq, true);
  v.setUint32(9, meta.length, true);
  payload.set(meta, 13);
  payload.set(vbytes, 13 + meta.length);
  const out = new Uint8Array(RECORD_HEADER + payload.length);
  const h = new DataView(out.buffer);
  h.setUint32(0, payload.length, true);
  h.setUint32(4, crc32(payload), true);
  out.set(payload, RECORD_HEADER);
  return out;
}

/** Metadata as JSON with undefined kept distinct from null: 0 = none, [value] = value. */
function wrapMeta(m: unknown): unknown {
  if (m === undefined) return 0;
  const text = JSON.stringify(m);
  if (text === undefined) throw invalidArgument('metadata of a durable store must be JSON-serialisable', {});
  return [m];
}
function unwrapMeta(m: unknown): unknown { return Array.isArray(m) ? m[0] : undefined; }

function checkJsonSafe(metadatas: readonly unknown[]): void {
  try {
    for (const m of metadatas) wrapMeta(m);
  } catch (e) {
    if (e instanceof NearestError) throw e;
    throw invalidArgument(`metadata of a durable store must be JSON-serialisable: ${(e as Error).message}`, {});
  }
}

/** A durable VectorStore (see the file comment). Reads are synchronous; mutations resolve once durable. */
export class DurableVectorStore<M = unknown> {
  readonly dir: string;
  readonly readOnly: boolean;
  private store: VectorStore<M>;
  private readonly fs: Fs;
  private wal: FileHandle | null;
  private walBytes: number;
  private seq: number;
  private readonly compactBytes: number;
  private queue: { bytes: Uint8Array; resolve: () => void; reject: (e: unknown) => void }[] = [];
  private flushing: Promise<void> | null = null;
  private failed: unknown = null;
  private closed = false;
  /** An explicit compact() in progress: log writes wait for it (it empties the log). */
  private compacting: Promise<void> | null = null;

  private constructor(dir: string, fs: Fs, store: VectorStore<M>, wal: FileHandle | null, walBytes: number, seq: number, o: DurableOptions) {
    this.dir = dir; this.fs = fs; this.store = store; this.wal = wal; this.walBytes = walBytes; this.seq = seq;
    this.readOnly = o.readOnly === true;
    this.compactBytes = o.compactBytes ?? 64 * 2 ** 20;
  }

  static async open<M = unknown>(dir: string, options: DurableOptions): Promise<DurableVectorStore<M>> {
    const fs = await import('node:fs/promises');
    const { join, resolve } = await import('node:path');
    if (typeof dir !== 'string' || dir === '') throw invalidArgument('VectorStore.open: dir must be a non-empty path', {});
    const { readOnly, compactBytes, ...storeOptions } = options ?? ({} as DurableOptions);
    if (compactBytes !== undefined && (!Number.isInteger(compactBytes) || compactBytes < 1)) throw invalidArgument('VectorStore.open: compactBytes must be a positive integer', {});
    const abs = resolve(dir);
    new VectorStore(storeOptions); // validates the options before touching the disk
    if (!readOnly) await fs.mkdir(abs, { recursive: true });
    if (!readOnly) await acquireLock(fs, abs, join(abs, 'LOCK'));
    try {
      // Snapshot, if any.
      let store: VectorStore<M>;
      let snapSeq = 0;
      let snapshot: Uint8Array | null = null;
      try { snapshot = new Uint8Array(await fs.readFile(join(abs, 'snapshot.nrst'))); } catch (e) { if ((e as { code?: string }).code !== 'ENOENT') throw e; }
      if (snapshot) {
        const loaded = readSnapshot<M>(snapshot, storeOptions);
        store = loaded.store; snapSeq = loaded.seq;
      } else {
        store = new VectorStore<M>(storeOptions);
        // A new store records its shape at once, so a later open with other options is refused
        // instead of misreading the log.
        if (!readOnly) await writeFileAtomic(join(abs, 'snapshot.nrst'), writeSnapshot(store, 0));
      }
      // Replay the log.
      let log: Uint8Array = new Uint8Array(0);
      try { log = new Uint8Array(await fs.readFile(join(abs, 'wal.log'))); } catch (e) { if ((e as { code?: string }).code !== 'ENOENT') throw e; }
      const { good, seq } = replay(store, log, snapSeq);
      let wal: FileHandle | null = null;
      if (!readOnly) {
        wal = await fs.open(join(abs, 'wal.log'), 'a+');
        if (good < log.length) { await wal.truncate(good); await wal.sync(); }
        await syncDirectory(abs);
      }
      openDirs.add(abs);
      return new DurableVectorStore<M>(abs, fs, store, wal, good, Math.max(seq, snapSeq), options ?? {});
    } catch (e) {
      if (!readOnly) await fs.rm(join(abs, 'LOCK'), { force: true });
      throw e;
    }
  }

  // ---- reads (synchronous, on the in-memory state)
  get size(): number { return this.store.size; }
  get dim(): number { return this.store.dim; }
  get metric(): string { return this.store.metric; }
  get(id: RecordId): StoredRecord<M> | undefined { return this.store.get(id); }
  has(id: RecordId): boolean { return this.store.has(id); }
  search(query: VectorLike, k: number, options?: StoreSearchOptions): StoreHit<M>[] { return this.store.search(query, k, options); }

  // ---- mutations (resolve once durable)
  private writable(where: string): void {
    if (this.closed) throw invalidArgument(`${where}: the store is closed`, {});
    if (this.readOnly) throw new NearestError('UNSUPPORTED', `${where}: the store was opened read-only`, {});
    if (this.failed) throw new NearestError('UNSUPPORTED', `${where}: an earlier write failed to reach the disk; reopen the store`, { cause: String(this.failed) });
  }

  /** Adds one vector; resolves with its auto id once durable. */
  async add(vector: VectorLike, metadata?: M): Promise<number> {
    this.writable('add');
    checkJsonSafe([metadata]);
    const id = this.store.add(vector, metadata);
    await this.log(Op.Upsert, { ids: [id], m: [wrapMeta(metadata)] }, this.store.get(id)!.vector);
    return id;
  }

  /** Adds vectors; resolves with their auto ids once durable (one log record: all or nothing). */
  async addBatch(vectors: VectorsLike, metadatas?: readonly (M | undefined)[]): Promise<number[]> {
    this.writable('addBatch');
    if (metadatas) checkJsonSafe(metadatas);
    const { data } = toRows(vectors, this.store.dim, 'addBatch');
    const ids = this.store.addBatch(data, metadatas);
    await this.log(Op.Upsert, { ids, m: ids.map((_, i) => wrapMeta(metadatas?.[i])) }, data);
    return ids;
  }

  /** Inserts or replaces records; resolves once durable (one log record: all or nothing). */
  async upsert(records: StoreRecord<M> | readonly StoreRecord<M>[]): Promise<void> {
    this.writable('upsert');
    const list = Array.isArray(records) ? records as readonly StoreRecord<M>[] : [records as StoreRecord<M>];
    checkJsonSafe(list.map((r) => r?.metadata));
    this.store.upsert(list);
    const data = new Float32Array(list.length * this.store.dim);
    list.forEach((r, i) => data.set(this.store.get(r.id)!.vector, i * this.store.dim));
    await this.log(Op.Upsert, { ids: list.map((r) => r.id), m: list.map((r) => wrapMeta(r.metadata)) }, data);
  }

  /** Deletes a record; resolves with whether it existed, once durable. */
  async delete(id: RecordId): Promise<boolean> {
    return (await this.deleteMany([id])) === 1;
  }

  /** Deletes records (one log record); resolves with how many existed, once durable. */
  async deleteMany(ids: readonly RecordId[]): Promise<number> {
    this.writable('delete');
    let n = 0;
    const gone: RecordId[] = [];
    for (const id of ids) if (this.store.delete(id)) { n++; gone.push(id); }
    if (gone.length > 0) await this.log(Op.Delete, { ids: gone }, null);
    return n;
  }

  private log(op: Op, json: unknown, vectors: Float32Array | null): Promise<void> {
    const bytes = encodeRecord(op, ++this.seq, json, vectors);
    return new Promise((resolve, reject) => {
      this.queue.push({ bytes, resolve, reject });
      if (!this.flushing) this.flushing = this.flushLoop();
    });
  }

  /** Group commit: everything queued meanwhile goes out in one write and one fsync. */
  private async flushLoop(): Promise<void> {
    try {
      await new Promise((r) => setImmediate(r));
      while (this.compacting) await this.compacting;
      while (this.queue.length > 0) {
        const batch = this.queue;
        this.queue = [];
        try {
          const total = batch.reduce((s, b) => s + b.bytes.length, 0);
          const all = new Uint8Array(total);
          let at = 0;
          for (const b of batch) { all.set(b.bytes, at); at += b.bytes.length; }
          await this.wal!.write(all, 0, all.length, null);
          await this.wal!.sync();
          this.walBytes += total;
          for (const b of batch) b.resolve();
        } catch (e) {
          this.failed = e;
          for (const b of [...batch, ...this.queue]) b.reject(e);
          this.queue = [];
          return;
        }
        if (this.walBytes >= this.compactBytes) await this.compactNow();
      }
    } finally {
      this.flushing = null;
    }
  }

  /** Writes a snapshot atomically and empties the log. */
  async compact(): Promise<void> {
    this.writable('compact');
    while (this.compacting) await this.compacting;
    const run = (async () => {
      while (this.flushing) await this.flushing;
      await this.compactNow();
    })();
    this.compacting = run;
    try { await run; } finally { if (this.compacting === run) this.compacting = null; }
  }

  private async compactNow(): Promise<void> {
    const { join } = await import('node:path');
    await writeFileAtomic(join(this.dir, 'snapshot.nrst'), writeSnapshot(this.store, this.seq));
    await this.wal!.truncate(0);
    await this.wal!.sync();
    this.walBytes = 0;
  }

  /** Waits for pending writes, releases the writer lock and closes the log. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.compacting || this.flushing) await (this.compacting ?? this.flushing);
    this.closed = true;
    openDirs.delete(this.dir);
    if (this.wal) {
      await this.wal.close();
      const { join } = await import('node:path');
      await this.fs.rm(join(this.dir, 'LOCK'), { force: true });
    }
  }
}

async function acquireLock(fs: Fs, dir: string, path: string): Promise<void> {
  if (openDirs.has(dir)) throw new NearestError('LOCKED', `VectorStore.open: ${dir} is already open for writing in this process`, { dir });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const h = await fs.open(path, 'wx');
      await h.writeFile(String(process.pid));
      await h.sync();
      await h.close();
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
      const pid = Number((await fs.readFile(path, 'utf8').catch(() => '')).trim());
      let alive = false;
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid) {
        try { process.kill(pid, 0); alive = true; } catch (err) { alive = (err as { code?: string }).code === 'EPERM'; }
      }
      if (alive) throw new NearestError('LOCKED', `VectorStore.open: ${dir} is open for writing by process ${pid}; open it with { readOnly: true } or close the other writer`, { dir, pid });
      await fs.rm(path, { force: true }); // stale lock of a dead process
    }
  }
  throw new NearestError('LOCKED', `VectorStore.open: could not take the lock of ${dir}`, { dir });
}

/** Applies the log's records newer than `after`; returns the length of the intact prefix. */
function replay<M>(store: VectorStore<M>, log: Uint8Array, after: number): { good: number; seq: number } {
  const v = new DataView(log.buffer, log.byteOffset, log.byteLength);
  let at = 0, seq = after;
  const dim = store.dim;
  while (at + RECORD_HEADER <= log.length) {
    const len = v.getUint32(at, true);
    if (len < 13 || len > MAX_RECORD || at + RECORD_HEADER + len > log.length) break;
    const payload = log.subarray(at + RECORD_HEADER, at + RECORD_HEADER + len);
    if (crc32(payload) !== v.getUint32(at + 4, true)) break;
    const pv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    const op = pv.getUint8(0), rseq = pv.getFloat64(1, true), mlen = pv.getUint32(9, true);
    if (13 + mlen > len) break;
    let json: { ids?: RecordId[]; m?: unknown[] };
    try { json = JSON.parse(new TextDecoder().decode(payload.subarray(13, 13 + mlen))); } catch { break; }
    if (rseq > after) {
      const vbytes = payload.slice(13 + mlen);
      try {
        if (op === Op.Upsert) {
          const ids = json.ids ?? [];
          if (vbytes.length !== ids.length * dim * 4) break;
          const vectors = new Float32Array(vbytes.buffer);
          store.upsert(ids.map((id, i) => ({ id, vector: vectors.subarray(i * dim, (i + 1) * dim), metadata: unwrapMeta(json.m?.[i]) as M })));
        } else if (op === Op.Delete) {
          for (const id of json.ids ?? []) store.delete(id);
        } else break;
      } catch (e) {
        // An intact record that cannot apply is not a torn write: refuse to open rather than cut.
        throw corrupt(`log record ${rseq} is intact but cannot be applied: ${(e as Error).message}`, { seq: rseq });
      }
      seq = rseq;
    }
    at += RECORD_HEADER + len;
  }
  return { good: at, seq };
}

function writeSnapshot<M>(store: VectorStore<M>, seq: number): Uint8Array {
  const s = store.exportState();
  const lines: Uint8Array[] = [];
  let total = 0;
  for (const [id, handle, meta] of s.records) {
    const line = jsonBytes([id, handle, wrapMeta(meta)]);
    lines.push(line); total += line.length + 1;
  }
  const recs = new Uint8Array(total);
  let at = 0;
  for (const l of lines) { recs.set(l, at); at += l.length; recs[at++] = 10; }
  return writeContainer({ kind: FileKind.StoreSnapshot, metric: 0, elementType: 1, flags: 0, dim: s.options.dim, count: s.records.length }, [
    { tag: 'PARM', bytes: jsonBytes({ options: s.options, nextHandle: s.nextHandle, nextAuto: s.nextAuto, ivfPending: s.ivfPending, seq }) },
    { tag: 'INDX', bytes: indexToBuffer(s.index) },
    { tag: 'RECS', bytes: recs },
  ]);
}

function readSnapshot<M>(buf: Uint8Array, options: VectorStoreOptions): { store: VectorStore<M>; seq: number } {
  const { header, sections } = readContainer(buf);
  if (header.kind !== FileKind.StoreSnapshot) throw corrupt('snapshot.nrst is not a store snapshot', { kind: header.kind });
  const r = new SectionReader(sections);
  const p = r.json('PARM') as { options: { dim: number; metric: string }; nextHandle: number; nextAuto: number; ivfPending: boolean; seq: number };
  if (p.options?.dim !== options.dim || (options.metric ?? 'cosine') !== p.options?.metric) {
    throw invalidArgument(`VectorStore.open: the store on disk has dim ${p.options?.dim} and metric ${p.options?.metric}; the options say dim ${options.dim} and metric ${options.metric ?? 'cosine'}`, {});
  }
  const index = indexFromBuffer(sections.get('INDX')!, options.backend ? { backend: options.backend } : {});
  const recsBytes = sections.get('RECS');
  if (!recsBytes) throw corrupt("missing section 'RECS'", {});
  const records: [RecordId, number, unknown][] = [];
  const dec = new TextDecoder();
  let start = 0;
  for (let i = 0; i < recsBytes.length; i++) {
    if (recsBytes[i] !== 10) continue;
    try {
      const [id, handle, meta] = JSON.parse(dec.decode(recsBytes.subarray(start, i)));
      if (!(typeof id === 'string' || Number.isSafeInteger(id)) || !Number.isSafeInteger(handle) || !index.has(handle)) throw new Error('bad record');
      records.push([id, handle, unwrapMeta(meta)]);
    } catch {
      throw corrupt(`snapshot record ${records.length} is damaged`, {});
    }
    start = i + 1;
  }
  if (records.length !== header.count || records.length !== index.size) throw corrupt('snapshot record count disagrees with its index', {});
  const store = VectorStore.fromState<M>({ options: p.options as never, index, records, nextHandle: p.nextHandle, nextAuto: p.nextAuto, ivfPending: p.ivfPending }, options.backend);
  return { store, seq: typeof p.seq === 'number' ? p.seq : 0 };
}

registerStoreOpener((dir, options) => DurableVectorStore.open(dir, options as DurableOptions));
