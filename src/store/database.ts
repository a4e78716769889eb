// Database: named collections in one directory, each a durable store with its own dim, metric and
// index — what the server stands on.
//
//   DIR/LOCK                 the one writer of the whole database
//   DIR/catalog.json         { format: 1, next, collections: [{ name, dir, createdAt }] }, replaced
//                            atomically (temp file, fsync, rename, directory fsync)
//   DIR/collections/c-N/     one durable store per collection (its own LOCK, snapshot, logs)
//
// Collection directories are named by a counter, never by the user's name, so a name can never
// reach the file system. A create makes the store first and then commits the catalog; a drop commits
// the catalog first and then removes the directory: a crash at any step leaves the old or the new
// catalog, and directories the catalog does not name are leftovers, removed on the next open.
import { NearestError, invalidArgument } from '../errors.js';
import { checkOptions, describe } from '../indexes/validate.js';
import { nodeFileSystem, writeFileAtomic, type FileLock, type FileSystem } from '../io/fs.js';
import { DurableVectorStore, type DurableOptions, type DurableStoreStats } from './durable-store.js';
import { VectorStore, type StoreIndexOptions, type VectorStoreOptions } from './vector-store.js';

/** Options of `Database.open`. */
export interface DatabaseOptions {
  /** Open without the writer lock: collections are read-only and the catalog cannot change. */
  readOnly?: boolean;
  /** The file system to use (default: the real one); tests pass a fault-injecting one. */
  fileSystem?: FileSystem;
}

/** Options of `createCollection`: a store's options plus its automatic compaction threshold. */
export interface CollectionOptions extends VectorStoreOptions {
  compactBytes?: number;
}

/** One entry of `listCollections()`. */
export interface CollectionInfo extends DurableStoreStats {
  name: string;
  createdAt: string;
}

export interface CatalogEntry { name: string; dir: string; createdAt: string }
export interface Catalog { format: 1; next: number; collections: CatalogEntry[] }

/** Longest collection name. */
export const MAX_COLLECTION_NAME = 255;
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]*$/;
const RESERVED = new Set(['.', '..', 'catalog', 'collections', 'lock']);

/** Checks a collection name: 1–255 of A–Z a–z 0–9 _ . -, not starting with '.' or '-', not reserved. */
export function checkCollectionName(name: unknown, where: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_COLLECTION_NAME || !NAME_RE.test(name) || RESERVED.has(name.toLowerCase())) {
    throw invalidArgument(
      `${where}: a collection name must be 1 to ${MAX_COLLECTION_NAME} characters of A–Z, a–z, 0–9, '_', '.', '-', not start with '.' or '-', and not be one of ${[...RESERVED].join(', ')}; got ${describe(name)}`,
      { where, received: describe(name) },
    );
  }
  return name;
}

const CATALOG = 'catalog.json';

/** Named durable collections in one directory (see the file comment). */
export class Database {
  /** The database directory (absolute). */
  readonly dir: string;
  readonly readOnly: boolean;
  private readonly fs: FileSystem;
  private readonly lock: FileLock | null;
  private catalog: Catalog;
  private readonly open = new Map<string, DurableVectorStore>();
  /** Catalog changes run one at a time. */
  private chain: Promise<unknown> = Promise.resolve();
  private closed = false;

  private constructor(dir: string, fs: FileSystem, lock: FileLock | null, catalog: Catalog, readOnly: boolean) {
    this.dir = dir; this.fs = fs; this.lock = lock; this.catalog = catalog; this.readOnly = readOnly;
  }

  /** Opens (or creates) the database in `dir` and every collection in it. */
  static async open(dir: string, options: DatabaseOptions = {}): Promise<Database> {
    const o = checkOptions(options, ['readOnly', 'fileSystem'], 'Database.open') as DatabaseOptions;
    if (typeof dir !== 'string' || dir === '' || dir.includes('\0')) throw invalidArgument(`Database.open: dir must be a non-empty path, got ${describe(dir)}`, {});
    if (o.readOnly !== undefined && typeof o.readOnly !== 'boolean') throw invalidArgument('Database.open: readOnly must be a boolean', {});
    const fs = o.fileSystem ?? await nodeFileSystem();
    const abs = fs.resolve(dir);
    const readOnly = o.readOnly === true;
    const kind = await fs.kind(abs);
    if (kind === 'file') throw invalidArgument(`Database.open: ${abs} is a file, not a database directory`, { dir: abs });
    if (kind === null) {
      if (readOnly) throw new NearestError('NOT_FOUND', `Database.open: no database at ${abs}`, { dir: abs });
      await fs.mkdir(abs);
      await fs.syncDir(fs.dirname(abs));
    }
    const lock = readOnly ? null : await fs.lock(fs.join(abs, 'LOCK'));
    const db = new Database(abs, fs, lock, { format: 1, next: 1, collections: [] }, readOnly);
    try {
      const names = await fs.readdir(abs);
      if (!names.includes(CATALOG) && names.some((n) => n === 'snapshot.nrst' || /^wal-\d+\.log$/.test(n))) {
        throw invalidArgument(`Database.open: ${abs} holds a single store (VectorStore.open), not a database of collections`, { dir: abs });
      }
      if (names.includes(CATALOG)) db.catalog = parseCatalog(await fs.readFile(fs.join(abs, CATALOG)), fs.join(abs, CATALOG));
      else if (!readOnly) await db.writeCatalog(db.catalog);
      if (!readOnly) {
        await fs.mkdir(fs.join(abs, 'collections'));
        // Leftovers of a create or drop a crash interrupted.
        const known = new Set(db.catalog.collections.map((c) => c.dir));
        for (const d of await fs.readdir(fs.join(abs, 'collections'))) {
          if (/^c-\d+$/.test(d) && !known.has(d)) await fs.rmdir(fs.join(abs, 'collections', d));
        }
      }
      for (const c of db.catalog.collections) {
        db.open.set(c.name, await DurableVectorStore.open(fs.join(abs, 'collections', c.dir), { readOnly, fileSystem: fs }));
      }
    } catch (e) {
      await db.closeStores();
      await lock?.release();
      throw e;
    }
    return db;
  }

  private async writeCatalog(c: Catalog): Promise<void> {
    await writeFileAtomic(this.fs, this.fs.join(this.dir, CATALOG), new TextEncoder().encode(JSON.stringify(c, null, 1)));
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.catch(() => {});
    return run;
  }

  private writable(where: string): void {
    if (this.closed) throw new NearestError('CLOSED', `${where}: the database is closed`, { dir: this.dir });
    if (this.readOnly) throw new NearestError('UNSUPPORTED', `${where}: the database was opened read-only`, { dir: this.dir });
  }

  /** Creates a collection; ALREADY_EXISTS if the name is taken. Resolves once the catalog is durable. */
  createCollection(name: string, options: CollectionOptions): Promise<DurableVectorStore> {
    this.writable('createCollection');
    checkCollectionName(name, 'createCollection');
    const { compactBytes, ...storeOptions } = checkOptions(options, ['dim', 'metric', 'index', 'backend', 'compactBytes'], 'createCollection') as unknown as CollectionOptions;
    if (storeOptions.dim === undefined) throw invalidArgument('createCollection: options { dim } are required', {});
    return this.serial(async () => {
      this.writable('createCollection');
      if (this.open.has(name)) throw new NearestError('ALREADY_EXISTS', `createCollection: a collection named ${JSON.stringify(name)} already exists`, { name });
      const dir = `c-${this.catalog.next}`;
      const path = this.fs.join(this.dir, 'collections', dir);
      await this.fs.rmdir(path); // a leftover of an earlier attempt with this number
      const opts: DurableOptions = { ...storeOptions, fileSystem: this.fs, ...(compactBytes !== undefined ? { compactBytes } : {}) };
      const store = await DurableVectorStore.open(path, opts);
      const next: Catalog = { ...this.catalog, next: this.catalog.next + 1, collections: [...this.catalog.collections, { name, dir, createdAt: new Date().toISOString() }] };
      try {
        await this.writeCatalog(next);
      } catch (e) {
        await store.close().catch(() => {});
        throw e;
      }
      this.catalog = next;
      this.open.set(name, store);
      return store;
    });
  }

  /** The open store of a collection; NOT_FOUND if there is none. */
  collection(name: string): DurableVectorStore {
    if (this.closed) throw new NearestError('CLOSED', 'collection: the database is closed', { dir: this.dir });
    const s = this.open.get(name);
    if (!s) throw new NearestError('NOT_FOUND', `collection: no collection named ${JSON.stringify(name)}`, { name, available: [...this.open.keys()] });
    return s;
  }

  /** Whether a collection exists. */
  hasCollection(name: string): boolean { return this.open.has(name); }

  /** Every collection with its stats, in creation order. */
  listCollections(): CollectionInfo[] {
    return this.catalog.collections.map((c) => ({ name: c.name, createdAt: c.createdAt, ...this.open.get(c.name)!.stats() }));
  }

  /**
   * Rebuilds a collection's index as `index` (a store's index options) from its records and swaps it
   * in atomically (the new snapshot's rename): a crash before that leaves the old index. The
   * collection is closed for the rebuild (its pending writes finish first) and reopened; if the
   * rebuild fails, it is reopened as it was. Its search defaults are reset (they were tuned for the
   * old index). `onProgress(done, total)` reports the records added to the new index.
   */
  reindexCollection(name: string, index: StoreIndexOptions, options: { onProgress?: (done: number, total: number) => void } = {}): Promise<DurableVectorStore> {
    this.writable('reindexCollection');
    checkCollectionName(name, 'reindexCollection');
    const o = checkOptions(options, ['onProgress'], 'reindexCollection') as { onProgress?: (done: number, total: number) => void };
    return this.serial(async () => {
      this.writable('reindexCollection');
      const entry = this.catalog.collections.find((c) => c.name === name);
      if (!entry) throw new NearestError('NOT_FOUND', `reindexCollection: no collection named ${JSON.stringify(name)}`, { name, available: [...this.open.keys()] });
      const path = this.fs.join(this.dir, 'collections', entry.dir);
      const old = this.open.get(name)!;
      // Validate the index options against the collection before closing anything.
      new VectorStore({ dim: old.dim, metric: old.metric, index });
      await old.close();
      let store: DurableVectorStore;
      try {
        store = await DurableVectorStore.open(path, { index, reindex: true, fileSystem: this.fs, ...(o.onProgress ? { onReindexProgress: o.onProgress } : {}) });
      } catch (e) {
        this.open.set(name, await DurableVectorStore.open(path, { fileSystem: this.fs }));
        throw e;
      }
      this.open.set(name, store);
      return store;
    });
  }

  /** Drops a collection and its files; resolves with whether it existed, once the catalog is durable. */
  dropCollection(name: string): Promise<boolean> {
    this.writable('dropCollection');
    checkCollectionName(name, 'dropCollection');
    return this.serial(async () => {
      this.writable('dropCollection');
      const entry = this.catalog.collections.find((c) => c.name === name);
      if (!entry) return false;
      const next: Catalog = { ...this.catalog, collections: this.catalog.collections.filter((c) => c !== entry) };
      await this.writeCatalog(next);
      this.catalog = next;
      const store = this.open.get(name)!;
      this.open.delete(name);
      await store.close().catch(() => {});
      await this.fs.rmdir(this.fs.join(this.dir, 'collections', entry.dir)).catch(() => {}); // else removed on the next open
      return true;
    });
  }

  private async closeStores(): Promise<void> {
    for (const s of this.open.values()) await s.close().catch(() => {});
    this.open.clear();
  }

  /** Closes every collection (waiting for their writes) and releases the database lock. */
  async close(): Promise<void> {
    if (this.closed) return;
    await this.chain;
    this.closed = true;
    await this.closeStores();
    await this.lock?.release();
  }
}

/** Parses and checks catalog.json (CORRUPT_FILE naming the file when it is not one). */
export function parseCatalog(bytes: Uint8Array, file: string): Catalog {
  let c: Catalog;
  try { c = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)); } catch {
    throw new NearestError('CORRUPT_FILE', `${file} is not valid JSON`, { file });
  }
  const ok = typeof c === 'object' && c !== null && c.format === 1 && Number.isSafeInteger(c.next) && Array.isArray(c.collections)
    && c.collections.every((e) => typeof e?.name === 'string' && NAME_RE.test(e.name) && typeof e.dir === 'string' && /^c-\d+$/.test(e.dir) && typeof e.createdAt === 'string')
    && new Set(c.collections.map((e) => e.name)).size === c.collections.length && new Set(c.collections.map((e) => e.dir)).size === c.collections.length;
  if (!ok) throw new NearestError('CORRUPT_FILE', `${file} is not a valid catalog`, { file });
  return c;
}
