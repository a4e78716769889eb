// The Chroma layer's catalog: tenants, databases and collections (with their uuid, name, metadata
// and HNSW configuration), kept in memory and persisted through the backend (backend.ts) as JSON
// entries by key (`tenant:NAME`, `database:UUID`, `collection:UUID`): on a single server, records of
// one hidden collection of the Database, `_chroma`; in a cluster, rows in PostgreSQL. Every change
// is one durable write there. A shared backend's catalog is reloaded before each request.
//
// A Chroma collection's records live in our collection `chroma-UUID`, created at the first add
// (Chroma fixes a collection's dimension then, not at creation), so a rename only rewrites the
// catalog entry. Order of writes, so a crash never leaves a store no entry names: create writes
// the entry (the store comes later); delete drops the store first, then removes the entry (a crash
// in between leaves an existing, empty collection — the delete was never acknowledged).
//
// default_tenant and default_database always exist and are not stored.
import { NearestError, type JsonValue } from '../../index.js';
import type { ChromaBackend } from './backend.js';
import type { ChromaMetadata } from './records.js';

/** Chroma's distance spaces. */
export type Space = 'l2' | 'cosine' | 'ip';

/** The HNSW configuration of a collection, as Chroma reports it. */
export interface HnswConfig {
  space: Space;
  ef_construction: number;
  ef_search: number;
  max_neighbors: number;
  resize_factor: number;
  sync_threshold: number;
}

/** A Chroma collection. */
export interface CollectionEntry {
  id: string;
  name: string;
  tenant: string;
  database: string;
  metadata: ChromaMetadata | null;
  hnsw: HnswConfig;
  /** The client's embedding function configuration, kept and returned as given (null: none). */
  embeddingFunction: JsonValue | null;
}

/** A Chroma database. */
export interface DatabaseEntry { id: string; name: string; tenant: string }

export const DEFAULT_TENANT = 'default_tenant';
export const DEFAULT_DATABASE = 'default_database';
const DEFAULT_DATABASE_ID = '00000000-0000-0000-0000-000000000000';

type Entry = { kind: 'tenant'; name: string } | ({ kind: 'database' } & DatabaseEntry) | ({ kind: 'collection' } & CollectionEntry);

function recordId(e: Entry): string {
  return e.kind === 'tenant' ? `tenant:${e.name}` : `${e.kind}:${e.id}`;
}

/** The name of the store holding a collection's records. */
export function storeOf(c: CollectionEntry): string {
  return `chroma-${c.id}`;
}

const dbKey = (tenant: string, name: string) => `${tenant}\u0000${name}`;

/** Tenants, databases and collections of the Chroma API (see the file comment). */
export class ChromaCatalog {
  private tenants = new Set<string>();
  private databases = new Map<string, DatabaseEntry>();
  private collections = new Map<string, CollectionEntry>();

  private constructor(private readonly backend: ChromaBackend) { this.clear(); }

  private clear(): void {
    this.tenants = new Set([DEFAULT_TENANT]);
    this.databases = new Map([[dbKey(DEFAULT_TENANT, DEFAULT_DATABASE), { id: DEFAULT_DATABASE_ID, name: DEFAULT_DATABASE, tenant: DEFAULT_TENANT }]]);
    this.collections = new Map();
  }

  /** Loads the catalog (nothing stored is an empty catalog; it is stored at the first change). */
  static async open(backend: ChromaBackend): Promise<ChromaCatalog> {
    const c = new ChromaCatalog(backend);
    await c.reload();
    return c;
  }

  /** Reads the stored catalog again (a shared backend's, before each request). */
  async reload(): Promise<void> {
    const entries = await this.backend.loadCatalog();
    this.clear();
    for (const e of entries) this.apply(e.entry as unknown as Entry);
  }

  private apply(e: Entry): void {
    if (e.kind === 'tenant') this.tenants.add(e.name);
    else if (e.kind === 'database') this.databases.set(dbKey(e.tenant, e.name), { id: e.id, name: e.name, tenant: e.tenant });
    else if (e.kind === 'collection') { const { kind: _k, ...c } = e; this.collections.set(c.id, c); }
  }

  /** Runs catalog changes one at a time (each reads the state the previous one left, reloaded if shared). */
  serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.backend.serialCatalog(async () => {
      if (this.backend.shared) await this.reload();
      return fn();
    });
  }

  private persist(put: Entry[], remove: string[] = []): Promise<void> {
    return this.backend.saveCatalog(put.map((e) => ({ key: recordId(e), entry: e as unknown as JsonValue })), remove);
  }

  hasTenant(name: string): boolean { return this.tenants.has(name); }

  /** Creates a tenant; ALREADY_EXISTS if there is one. */
  createTenant(name: string): Promise<void> {
    return this.serial(async () => {
      if (this.tenants.has(name)) throw new NearestError('ALREADY_EXISTS', `Tenant [${name}] already exists`, { name });
      await this.persist([{ kind: 'tenant', name }]);
      this.tenants.add(name);
    });
  }

  database(tenant: string, name: string): DatabaseEntry | undefined { return this.databases.get(dbKey(tenant, name)); }

  listDatabases(tenant: string): DatabaseEntry[] {
    return [...this.databases.values()].filter((d) => d.tenant === tenant);
  }

  /** Creates a database (Chroma does not require the tenant to exist); ALREADY_EXISTS if there is one. */
  createDatabase(tenant: string, name: string): Promise<void> {
    return this.serial(async () => {
      if (this.databases.has(dbKey(tenant, name))) throw new NearestError('ALREADY_EXISTS', `Database [${name}] already exists`, { name });
      const d: DatabaseEntry = { id: crypto.randomUUID(), name, tenant };
      await this.persist([{ kind: 'database', ...d }]);
      this.databases.set(dbKey(tenant, name), d);
    });
  }

  /** Deletes a database and its collections; NOT_FOUND if there is none. */
  deleteDatabase(tenant: string, name: string): Promise<void> {
    return this.serial(async () => {
      const d = this.databases.get(dbKey(tenant, name));
      if (!d) throw new NearestError('NOT_FOUND', `Database [${name}] not found`, { name });
      const cols = this.list(tenant, name);
      for (const c of cols) await this.backend.dropStore(storeOf(c));
      await this.persist([], [...cols.map((c) => `collection:${c.id}`), ...(d.id === DEFAULT_DATABASE_ID ? [] : [`database:${d.id}`])]);
      for (const c of cols) this.collections.delete(c.id);
      if (d.id !== DEFAULT_DATABASE_ID) this.databases.delete(dbKey(tenant, name));
    });
  }

  /** The collections of a database, ordered by id (as Chroma lists them). */
  list(tenant: string, database: string): CollectionEntry[] {
    return [...this.collections.values()].filter((c) => c.tenant === tenant && c.database === database).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  byName(tenant: string, database: string, name: string): CollectionEntry | undefined {
    for (const c of this.collections.values()) if (c.name === name && c.tenant === tenant && c.database === database) return c;
    return undefined;
  }

  byId(id: string): CollectionEntry | undefined { return this.collections.get(id); }

  /** Writes a new or changed collection entry (callers run it inside serial()). */
  async putCollection(c: CollectionEntry): Promise<void> {
    await this.persist([{ kind: 'collection', ...c }]);
    this.collections.set(c.id, c);
  }

  /** Deletes a collection: its store, then its entry (callers run it inside serial()). */
  async deleteCollection(c: CollectionEntry): Promise<void> {
    await this.backend.dropStore(storeOf(c));
    await this.persist([], [`collection:${c.id}`]);
    this.collections.delete(c.id);
  }
}
