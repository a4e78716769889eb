// A query node of a nearest cluster. PostgreSQL holds every row (see catalog.ts); this node keeps
// the replicas placed on it as durable stores in its data directory and follows the table's changes
// through its own logical replication slot (pgoutput, read with pg-logical-replication), so a
// restart replays only what came after the position the slot confirms. Any node answers for the
// whole cluster: writes go to PostgreSQL and return their LSN; a search fans out to one live
// replica of every shard (this node's own first), retries another on failure or timeout, and
// merges the per-shard top k into the top k one index over all rows would give.
//
// Positions: `applied` is the WAL position this node has processed (a commit's end, or a keepalive's
// position when nothing is in flight); everything applied is on disk in the local stores, so the
// slot is acknowledged up to it — except past a collection's start_lsn that the stream does not yet
// carry (see `hold`): the stream is restarted there with that collection's publications added,
// since pgoutput refuses a publication at WAL positions older than the publication itself.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { LogicalReplicationService, PgoutputPlugin } from 'pg-logical-replication';
import {
  NearestError, VectorStore, compileFilter, indexFromFactory, type DurableVectorStore, type JsonValue, type Metric, type RecordId,
  type StoreAsyncSearchOptions, type StoreIndexOptions,
} from '../index.js';
import {
  NODE_ID_RE, NO_PUBLICATION, SCHEMA_LOCK, SCHEMA_SQL, idFromKey, idKey, place, publicationOf, quoteIdent, shardOf, slotOf, tableOf,
  type CollectionRow, type SourceTable,
} from './catalog.js';
import { compareIds } from '../server/service.js';

/** The first key of the documents' advisory locks (the second is the space's hash). */
const DOCUMENTS_LOCK = 0x6e656172;
import { covers, formatLsn, parseLsn } from './lsn.js';

export interface ClusterNodeOptions {
  /** postgres://USER@HOST:PORT/DB */
  url: string;
  /** Names this node and its replication slot: lowercase letters, digits, underscores (1–40). */
  nodeId: string;
  /** Local replicas (one durable store per shard replica). */
  dataDir: string;
  /** A node whose lease is this many seconds old counts as gone (its slot is dropped); default 20. */
  leaseSeconds?: number;
  /** Lease renewal and catalog refresh period; default 2000 ms. */
  heartbeatMs?: number;
  /** One try of a peer's shard search; default 2000 ms (then another replica). */
  peerTimeoutMs?: number;
  /** Sent to peers as api-key (the servers' own key). */
  apiKey?: string;
  log?: (message: string) => void;
}

export interface ClusterCollectionSpec {
  dim: number;
  metric?: Metric;
  /** StoreIndexOptions or a factory string, as `nearest serve` takes it. */
  index?: StoreIndexOptions | string;
  shards?: number;
  replicas?: number;
  /** Follow this table of the application's instead of nearest's own (written with plain SQL). */
  source?: { table: string; id: string; vector: string; payload?: string[] };
}

export interface ClusterRecord { id: RecordId; vector: Float32Array | readonly number[]; metadata?: JsonValue }
export interface ClusterHit { id: RecordId; score: number; distance: number; metadata?: JsonValue }

export interface ClusterSearchOptions {
  filter?: Record<string, unknown>;
  exact?: boolean;
  efSearch?: number;
  nprobe?: number;
  /** Read-your-writes: wait until the replicas read have applied this LSN ('X/Y'). */
  afterLsn?: string;
  /** How long a search may wait for afterLsn, in ms; default 5000. */
  timeoutMs?: number;
  /** Only these records are considered (Qdrant's has_id; ids that do not exist are ignored). */
  ids?: readonly RecordId[];
}

/** A peer's shard search request (the internal endpoint's body). */
export interface ShardSearchRequest {
  collection: string;
  shards: number[];
  vector: number[];
  k: number;
  filter?: Record<string, unknown>;
  exact?: boolean;
  efSearch?: number;
  nprobe?: number;
  afterLsn?: string;
  waitMs?: number;
  /** Only these records (id keys, of the shards asked). */
  ids?: string[];
}

export interface ScanOptions {
  filter?: Record<string, unknown>;
  /** Only these records (Qdrant's has_id). */
  ids?: readonly RecordId[];
  start?: RecordId;
  limit: number;
  withVector?: boolean;
  withPayload?: boolean;
}

/** One node's part of a scan: records by id key, and how many of its shards' records match. */
interface ScanPart { records: { key: string; metadata?: JsonValue; vector?: number[] }[]; count: number }

interface NodeRow { nodeId: string; url: string; leaseUntil: number; applied: string | null; slotDropped: boolean; startedAt: string }

/**
 * A pg Client that drops an 'error' nobody listens to. pg-logical-replication removes every
 * listener of its replication client when it stops, and a connection that PostgreSQL's death cuts
 * afterwards would then throw from an EventEmitter and end the process; the stream's own error
 * path (reconnect) has already been taken by then.
 */
class ReplicationClient extends pg.Client {
  override emit(event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'error' && this.listenerCount('error') === 0) return false;
    return super.emit(event, ...args);
  }
}

/** The library's service with its replication client made a ReplicationClient (the rest is its own code path). */
class Replication extends LogicalReplicationService {}
Object.defineProperty(Replication.prototype, 'client', {
  value: async function client(this: { stop(): Promise<unknown>; clientConfig: pg.ClientConfig; _client: pg.Client | null; _connection: unknown; emit(e: string, x: unknown): boolean }) {
    await this.stop();
    const c = new ReplicationClient({ ...this.clientConfig, replication: 'database' } as pg.ClientConfig);
    this._client = c;
    await c.connect();
    this._connection = (c as unknown as { connection: unknown }).connection;
    c.on('error', (e) => this.emit('error', e));
    return [c, this._connection];
  },
});

const bad = (message: string, details: Record<string, unknown> = {}) => new NearestError('INVALID_ARGUMENT', message, details);

/** Orders hits as one index would: distance, then id (numbers before strings). */
export function compareHits(a: ClusterHit, b: ClusterHit): number {
  return a.distance !== b.distance ? a.distance - b.distance : compareIds(a.id, b.id);
}

function checkRecordId(id: unknown, where: string): RecordId {
  if (typeof id === 'number' && Number.isSafeInteger(id) && id >= 0) return id;
  if (typeof id === 'string' && id.length > 0 && id.length <= 1024) return id;
  throw bad(`${where}: an id is a non-negative safe integer or a non-empty string of at most 1024 characters, got ${JSON.stringify(id)}`, { received: String(id) });
}

function checkVector(v: unknown, dim: number, where: string): Float32Array {
  if (!(v instanceof Float32Array) && !Array.isArray(v)) throw bad(`${where}: a vector is an array of ${dim} numbers`, {});
  if (v.length !== dim) throw new NearestError('DIMENSION_MISMATCH', `${where}: expected ${dim} values, got ${v.length}`, { expected: dim, received: v.length });
  const out = new Float32Array(dim);
  for (let i = 0; i < dim; i++) {
    const x = (v as ArrayLike<unknown>)[i];
    if (typeof x !== 'number' || !Number.isFinite(x) || !Number.isFinite(Math.fround(x))) {
      throw new NearestError('NON_FINITE_VALUE', `${where}: value ${i} is ${String(x)}, not a finite float32`, { index: i });
    }
    out[i] = x;
  }
  return out;
}

/** bytea in pgoutput text form ('\x…' hex) or a Buffer → float32 values. */
function vectorOf(raw: unknown): Float32Array {
  const buf = Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw).replace(/^\\x/, ''), 'hex');
  const out = new Float32Array(buf.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

/** PostgreSQL's integer types (an id column of one gives numeric ids). */
const INTEGER_OIDS = new Set([20, 21, 23]);

/** An id from a followed table's key column; null when it is not one nearest takes. */
function sourceId(v: unknown, typeOid: number): RecordId | null {
  if (v === null || v === undefined) return null;
  if (INTEGER_OIDS.has(typeOid) || typeof v === 'number') {
    const n = Number(v);
    return Number.isSafeInteger(n) && n >= 0 ? n : null;
  }
  const s = String(v);
  return s.length > 0 && s.length <= 1024 ? s : null;
}

/** An embedding from a followed table (real[], bytea, pgvector text '[1,2]'); null unless dim finite float32 values. */
function sourceVector(v: unknown, dim: number): Float32Array | null {
  let values: ArrayLike<unknown>;
  if (Buffer.isBuffer(v)) values = vectorOf(v);
  else if (Array.isArray(v)) values = v;
  else if (typeof v === 'string' && v.startsWith('[')) { try { values = JSON.parse(v) as unknown[]; } catch { return null; } }
  else if (typeof v === 'string' && v.startsWith('{')) values = v.slice(1, -1).split(',').map(Number);
  else if (typeof v === 'string' && v.startsWith('\\x')) values = vectorOf(v);
  else return null;
  if (values.length !== dim) return null;
  const out = new Float32Array(dim);
  for (let i = 0; i < dim; i++) {
    const x = Number(values[i]);
    if (!Number.isFinite(x) || !Number.isFinite(Math.fround(x))) return null;
    out[i] = x;
  }
  return out;
}

/** An LSN in PostgreSQL's text form, or INVALID_ARGUMENT. */
function lsnOf(text: string): bigint {
  const v = parseLsn(text);
  if (v === null) throw bad(`afterLsn must be an LSN such as "0/1A2B3C", got ${JSON.stringify(text)}`, {});
  return v;
}

function bytesOf(v: Float32Array): Buffer {
  return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
}

export class ClusterNode {
  readonly nodeId: string;
  readonly slot: string;
  readonly counters = { replayedChanges: 0, fullRebuilds: 0, resyncs: 0, fanoutRetries: 0, peerFailures: 0, skippedSourceRows: 0 };
  private readonly o: Required<Omit<ClusterNodeOptions, 'apiKey' | 'log'>> & Pick<ClusterNodeOptions, 'apiKey' | 'log'>;
  private readonly pool: pg.Pool;
  private advertised = '';
  private collections = new Map<string, CollectionRow>();
  private byNum = new Map<number, CollectionRow>();
  private readonly local = new Map<string, DurableVectorStore>();
  private nodes = new Map<string, NodeRow>();
  private applied = 0n;
  private acked = 0n;
  private startLsn = 0n;
  /** The WAL position read just before the catalog was last loaded. */
  private catalogAt = 0n;
  private ready = false;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private repl: LogicalReplicationService | null = null;
  /** The collections the current stream carries. */
  private streaming = new Set<number>();
  /** Work queue of the stream (messages in arrival order) and the open transaction's changes. */
  private queue: Promise<void> = Promise.resolve();
  /** Per replica (num:shard), per id key: the new row (vector undefined: unchanged; fields: a followed table's columns), or null for a delete. */
  private txn: Map<string, Map<string, { vector: Float32Array | undefined; payload: JsonValue | undefined; fields?: Record<string, unknown> } | null>> | null = null;
  /** Followed tables by 'schema.table', with the collections that follow them. */
  private sources = new Map<string, CollectionRow[]>();
  /** Replicas opened without a local copy (a followed table's must be copied when the stream takes them). */
  private fresh = new Set<string>();
  private waiters: { lsn: bigint; resolve: () => void }[] = [];
  private restarting: Promise<void> | null = null;
  private heartbeatBusy = false;
  /** Set once the local replicas are synced (the heartbeat leaves the catalog alone before). */
  private initialized = false;
  /** Replicas being copied in here (rebalance), by num:shard. */
  private copies = new Set<string>();

  private constructor(o: ClusterNodeOptions) {
    if (typeof o.nodeId !== 'string' || !NODE_ID_RE.test(o.nodeId)) throw bad(`node id must be 1–40 lowercase letters, digits or underscores, got ${JSON.stringify(o.nodeId)}`, { received: o.nodeId });
    this.o = { leaseSeconds: 20, heartbeatMs: 2000, peerTimeoutMs: 2000, ...o };
    this.nodeId = o.nodeId;
    this.slot = slotOf(o.nodeId);
    this.pool = new pg.Pool({ connectionString: o.url, max: 8 });
    this.pool.on('error', (e) => this.log(`postgres pool: ${e.message}`));
    // A connection cut while a client is checked out (between two statements) errors on the client
    // itself: listen on every client, so PostgreSQL's death is an error of the call, not of the process.
    this.pool.on('connect', (c) => { c.on('error', (e) => this.log(`postgres connection: ${e.message}`)); });
  }

  private log(m: string): void { this.o.log?.(`[${this.nodeId}] ${m}`); }

  /** Connects, makes the schema if needed, registers, opens the local replicas, catches up and follows. */
  static async start(o: ClusterNodeOptions): Promise<ClusterNode> {
    const node = new ClusterNode(o);
    try {
      await node.init();
    } catch (e) {
      await node.stop({ deregister: false }).catch(() => {});
      throw e;
    }
    return node;
  }

  private async init(): Promise<void> {
    mkdirSync(this.o.dataDir, { recursive: true });
    const c = await this.pool.connect();
    try {
      await c.query('BEGIN');
      await c.query('SELECT pg_advisory_xact_lock($1)', [SCHEMA_LOCK]);
      await c.query(SCHEMA_SQL);
      await c.query('COMMIT');
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {});
      throw e;
    } finally { c.release(); }
    this.startLsn = await this.currentLsn();
    await this.heartbeat();
    const slot = await this.pool.query('SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = $1', [this.slot]);
    let from: bigint;
    if (slot.rowCount === 0) {
      // No slot (first start, a clean stop, or dropped while gone): make one, then bring every
      // replica to the table's state. Changes after the slot's start replay idempotently on top.
      const r = await this.pool.query("SELECT lsn::text FROM pg_create_logical_replication_slot($1, 'pgoutput')", [this.slot]);
      from = parseLsn(r.rows[0].lsn as string)!;
      await this.syncReplicas(from, true);
    } else {
      from = parseLsn(slot.rows[0].lsn as string) ?? 0n;
      await this.syncReplicas(from, false);
    }
    this.applied = from; this.acked = from;
    this.initialized = true;
    await this.restartStream(from);
    this.timer = setInterval(() => { void this.heartbeat().catch((e: Error) => this.log(`heartbeat: ${e.message}`)); }, this.o.heartbeatMs);
    this.timer.unref();
    this.checkReady();
    this.startCopies();
  }

  /** The URL peers reach this node at (written with the lease). */
  setUrl(url: string): void { this.advertised = url; void this.heartbeat().catch(() => {}); }

  get isReady(): boolean { return this.ready; }
  get appliedLsn(): string { return formatLsn(this.applied); }
  /** The same as a WAL byte position. */
  get appliedPosition(): bigint { return this.applied; }

  private async currentLsn(): Promise<bigint> {
    const r = await this.pool.query('SELECT pg_current_wal_insert_lsn()::text AS lsn');
    return parseLsn(r.rows[0].lsn as string)!;
  }

  // --- catalog and leases ---

  private async loadCatalog(): Promise<void> {
    // Read before the catalog: a collection this read misses became ready after it, so none of its
    // rows lies at or before this position (acknowledgements stop here, see ackLimit).
    const at = await this.currentLsn();
    const cols = await this.pool.query("SELECT num, name, dim, metric, index, shards, replicas, source, start_lsn::text AS start_lsn, created_at FROM nearest.collections WHERE state = 'ready' ORDER BY num");
    const pls = await this.pool.query('SELECT collection, shard, node_id, state FROM nearest.placements ORDER BY collection, shard, node_id');
    const next = new Map<string, CollectionRow>();
    for (const r of cols.rows) {
      next.set(r.name, {
        num: r.num, name: r.name, dim: r.dim, metric: r.metric, index: r.index, shards: r.shards, replicas: r.replicas,
        createdAt: new Date(r.created_at).toISOString(), startLsn: parseLsn(r.start_lsn) ?? 0n, source: (r.source ?? null) as SourceTable | null,
        placements: Array.from({ length: r.shards }, () => [] as string[]),
        copying: Array.from({ length: r.shards }, () => [] as string[]),
        leaving: Array.from({ length: r.shards }, () => [] as string[]),
      });
    }
    for (const p of pls.rows) {
      const c = next.get(p.collection);
      if (!c || p.shard >= c.shards) continue;
      (p.state === 'copying' ? c.copying : c.placements)[p.shard].push(p.node_id);
      if (p.state === 'leaving') c.leaving[p.shard].push(p.node_id);
    }
    this.collections = next;
    this.byNum = new Map([...next.values()].map((c) => [c.num, c]));
    const sources = new Map<string, CollectionRow[]>();
    for (const c of next.values()) {
      if (c.source) sources.set(c.source.table, [...(sources.get(c.source.table) ?? []), c]); // schema-qualified by checkSource
    }
    this.sources = sources;
    if (at > this.catalogAt) this.catalogAt = at;
  }

  private async heartbeat(): Promise<void> {
    if (this.stopped || this.heartbeatBusy) return;
    this.heartbeatBusy = true;
    try {
      await this.pool.query(
        `INSERT INTO nearest.nodes (node_id, url, slot, lease_until, applied_lsn) VALUES ($1, $2, $3, now() + make_interval(secs => $4), $5::pg_lsn)
         ON CONFLICT (node_id) DO UPDATE SET url = EXCLUDED.url, slot = EXCLUDED.slot, lease_until = EXCLUDED.lease_until, applied_lsn = EXCLUDED.applied_lsn, slot_dropped = false`,
        [this.nodeId, this.advertised, this.slot, this.o.leaseSeconds, formatLsn(this.applied)]);
      const r = await this.pool.query('SELECT node_id, url, extract(epoch FROM lease_until) * 1000 AS lease, applied_lsn::text AS applied, slot, slot_dropped, started_at FROM nearest.nodes');
      const nodes = new Map<string, NodeRow>();
      for (const n of r.rows) nodes.set(n.node_id, { nodeId: n.node_id, url: n.url, leaseUntil: Number(n.lease), applied: n.applied, slotDropped: n.slot_dropped, startedAt: new Date(n.started_at).toISOString() });
      this.nodes = nodes;
      // Abandoned slots hold WAL: a node past its lease loses its slot (it rebuilds from the table when back).
      for (const n of r.rows) {
        if (n.node_id === this.nodeId || n.slot_dropped || Number(n.lease) > Date.now()) continue;
        const dropped = await this.pool.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [n.slot]);
        await this.pool.query('UPDATE nearest.nodes SET slot_dropped = true WHERE node_id = $1 AND lease_until < now()', [n.node_id]);
        if ((dropped.rowCount ?? 0) > 0) this.log(`dropped the slot of ${n.node_id}, whose lease expired`);
      }
      await this.refresh();
    } finally { this.heartbeatBusy = false; }
  }

  /** Re-reads the catalog; replicas newly placed here are opened and the stream taken there. */
  async refresh(): Promise<void> {
    if (!this.initialized || this.stopped) return;
    const before = new Set(this.localCollections());
    await this.loadCatalog();
    // Replicas of dropped collections: closed and removed, in the stream's queue (no apply is then touching them).
    // And replicas moved away (a rebalance retired them once their replacements were ready).
    const gone = [...this.local.keys()].filter((key) => {
      const [num, shard] = key.split(':').map(Number), c = this.byNum.get(num);
      return !c || !this.holdsHere(c, shard);
    });
    if (gone.length > 0) {
      this.enqueue(async () => {
        for (const key of gone) {
          const store = this.local.get(key);
          if (!store) continue;
          this.local.delete(key);
          if (!this.byNum.has(Number(key.split(':')[0]))) this.streaming.delete(Number(key.split(':')[0]));
          await store.close().catch(() => {});
          const [num, shard] = key.split(':').map(Number);
          rmSync(this.shardDir(num, shard), { recursive: true, force: true });
        }
      });
    }
    // Also when another refresh (the heartbeat's) saw the new collection first and is still opening
    // its replicas: this one returns only once they are open and the acknowledgements held for them.
    const open = new Set(this.openCollections());
    const newShards = [...this.collections.values()].some((c) => c.placements.some((_, sh) => this.holdsHere(c, sh) && !this.local.has(`${c.num}:${sh}`)));
    if ((newShards || this.localCollections().some((num) => !before.has(num) || !open.has(num))) && !this.stopped) {
      await this.openLocalStores();
      this.maybeRestart();
      void this.ack(this.acked, true); // a keepalive soon, so the stream reaches the new collection's start
    }
    this.startCopies();
  }

  // --- rebalancing: replicas copied in, then the ones they replace retired ---

  /** Starts copying in each replica placed here as 'copying' (once per replica). */
  private startCopies(): void {
    if (!this.initialized || this.stopped) return;
    for (const c of this.collections.values()) {
      for (let s = 0; s < c.shards; s++) {
        const key = `${c.num}:${s}`;
        if (!c.copying[s].includes(this.nodeId) || this.copies.has(key) || !this.local.has(key)) continue;
        this.copies.add(key);
        void this.copyIn(c, s).catch((e: Error) => this.log(`copying in shard ${s} of ${c.name}: ${e.message}`)).finally(() => this.copies.delete(key));
      }
    }
  }

  /**
   * A replica a rebalance placed here: the shard's rows are copied from the table and the stream is
   * restarted at the confirmed position with the shard's publication (replaying from before the
   * copy is idempotent: each change sets a row to its state then); once this node has applied the
   * WAL current after that, the replica turns ready — and the one it replaces is retired — in one
   * transaction. A node restarted meanwhile copies again.
   */
  private async copyIn(c: CollectionRow, s: number): Promise<void> {
    const key = `${c.num}:${s}`;
    await new Promise<void>((resolve, reject) => this.enqueue(async () => {
      try {
        const store = this.local.get(key);
        if (!store) throw new Error('the replica was closed');
        this.counters.fullRebuilds++;
        await this.copyShard(c, s, store);
        this.fresh.delete(key);
        // A followed table's one publication already carries every shard; nearest's own need this shard's.
        if (!c.source && this.streaming.has(c.num)) await this.restartStream(this.acked);
        resolve();
      } catch (e) { reject(e as Error); }
    }));
    for (;;) {
      if (this.stopped) return;
      try {
        await this.caughtUp(c, formatLsn(await this.currentLsn()), 10_000);
        break;
      } catch (e) {
        if (this.collections.get(c.name)?.num !== c.num) return; // dropped meanwhile
        this.log(`copying in shard ${s} of ${c.name}: not caught up yet (${(e as Error).message})`);
      }
    }
    const done = await this.inTransaction(async (client) => {
      const r = await client.query(
        `SELECT p.replaces AS old FROM nearest.placements p JOIN nearest.collections c ON c.name = p.collection
         WHERE p.collection = $1 AND p.shard = $2 AND p.node_id = $3 AND p.state = 'copying' AND c.num = $4 FOR UPDATE OF p`,
        [c.name, s, this.nodeId, c.num]);
      if (r.rowCount === 0) return false; // dropped, or moved elsewhere meanwhile
      await client.query("UPDATE nearest.placements SET state = 'ready', replaces = NULL WHERE collection = $1 AND shard = $2 AND node_id = $3", [c.name, s, this.nodeId]);
      const old = r.rows[0].old as string | null;
      if (old) await client.query('DELETE FROM nearest.placements WHERE collection = $1 AND shard = $2 AND node_id = $3', [c.name, s, old]);
      this.log(`replica of shard ${s} of ${c.name} is ready${old ? `; ${old}'s retires` : ''}`);
      return true;
    });
    if (!done) return;
    await this.refresh();
    await this.tellPeers();
  }

  /**
   * Re-places replicas over the live nodes (explicitly, as Qdrant moves shards on request): a shard
   * with fewer live replicas than it should have gets new ones (replacing those on nodes that are
   * gone), and replicas move from the nodes holding most of a collection to those holding fewest
   * until they differ by at most one. New replicas are copied in (see copyIn) while the old ones
   * keep serving; nothing is read from a replica before it has caught up. Collections with a move
   * in progress are left alone. Resolves with the moves; with dryRun nothing is changed.
   */
  async rebalance(o: { dryRun?: boolean } = {}): Promise<{ moves: { collection: string; shard: number; from: string | null; to: string }[] }> {
    const moves: { collection: string; shard: number; from: string | null; to: string }[] = [];
    await this.inTransaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1, 1)', [DOCUMENTS_LOCK]);
      const live = (await client.query("SELECT node_id FROM nearest.nodes WHERE lease_until > now() AND url <> '' ORDER BY node_id")).rows.map((r) => r.node_id as string);
      const cols = (await client.query("SELECT name, shards, replicas FROM nearest.collections WHERE state = 'ready' ORDER BY num")).rows as { name: string; shards: number; replicas: number }[];
      const pls = (await client.query('SELECT collection, shard, node_id, state FROM nearest.placements')).rows as { collection: string; shard: number; node_id: string; state: string }[];
      const isLive = new Set(live);
      // Replicas per live node over every collection (ties go to the node holding least overall).
      const load = new Map(live.map((n) => [n, 0]));
      for (const p of pls) if (isLive.has(p.node_id) && p.state !== 'leaving') load.set(p.node_id, load.get(p.node_id)! + 1);
      const byLoad = (a: string, b: string) => load.get(a)! - load.get(b)! || (a < b ? -1 : 1);
      for (const c of cols) {
        const mine = pls.filter((p) => p.collection === c.name);
        if (mine.some((p) => p.state === 'copying') || live.length === 0) continue;
        const holders = Array.from({ length: c.shards }, (_, s) => new Set(mine.filter((p) => p.shard === s).map((p) => p.node_id)));
        const serving = Array.from({ length: c.shards }, (_, s) => new Set(mine.filter((p) => p.shard === s && p.state !== 'leaving' && isLive.has(p.node_id)).map((p) => p.node_id)));
        const want = Math.min(c.replicas, live.length);
        const add = (s: number, to: string, from: string | null) => {
          moves.push({ collection: c.name, shard: s, from, to });
          holders[s].add(to); serving[s].add(to);
          load.set(to, load.get(to)! + 1);
          if (from !== null && isLive.has(from)) { serving[s].delete(from); load.set(from, load.get(from)! - 1); }
        };
        // Repair: shards short of live replicas.
        for (let s = 0; s < c.shards; s++) {
          const dead = [...holders[s]].filter((n) => !isLive.has(n));
          while (serving[s].size < want) {
            const to = live.filter((n) => !holders[s].has(n)).sort(byLoad)[0];
            if (to === undefined) break;
            add(s, to, dead.shift() ?? null);
          }
        }
        // Spread: from the live node holding most of this collection to the one holding fewest.
        for (let guard = 0; guard < c.shards * c.replicas; guard++) {
          const count = new Map(live.map((n) => [n, serving.filter((set) => set.has(n)).length]));
          const order = [...live].sort((a, b) => count.get(a)! - count.get(b)! || byLoad(a, b));
          const least = order[0], most = order[order.length - 1];
          if (count.get(most)! - count.get(least)! <= 1) break;
          const s = serving.findIndex((set, i) => set.has(most) && !holders[i].has(least));
          if (s < 0) break;
          add(s, least, most);
        }
      }
      for (const m of moves) {
        await client.query("INSERT INTO nearest.placements (collection, shard, node_id, state, replaces) VALUES ($1, $2, $3, 'copying', $4)", [m.collection, m.shard, m.to, m.from]);
        if (m.from !== null) await client.query("UPDATE nearest.placements SET state = 'leaving' WHERE collection = $1 AND shard = $2 AND node_id = $3", [m.collection, m.shard, m.from]);
      }
    }, { rollback: o.dryRun === true });
    if (!o.dryRun && moves.length > 0) { await this.refresh(); await this.tellPeers(); }
    return { moves };
  }

  /** Resolves once the stream carries collection `num` (its replicas here follow it), or UNAVAILABLE after `ms`. */
  private async following(num: number, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.streaming.has(num)) {
      if (Date.now() >= deadline || this.stopped) throw new NearestError('UNAVAILABLE', `node ${this.nodeId} does not follow this collection yet`, { node: this.nodeId });
      void this.ack(this.acked, true);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Whether a replica of shard s of c is placed here (serving or being copied). */
  private holdsHere(c: CollectionRow, s: number): boolean {
    return c.placements[s].includes(this.nodeId) || c.copying[s].includes(this.nodeId);
  }

  /** Numbers of the collections with a replica on this node. */
  private localCollections(): number[] {
    return [...this.collections.values()].filter((c) => c.placements.some((_, s) => this.holdsHere(c, s))).map((c) => c.num);
  }

  /**
   * The local collections whose replicas here are all open: only these may enter the stream (a
   * change for a replica that is still opening would have nowhere to go).
   */
  private openCollections(): number[] {
    return this.localCollections().filter((num) => {
      const c = this.byNum.get(num)!;
      return c.placements.every((_, s) => !this.holdsHere(c, s) || this.local.has(`${num}:${s}`));
    });
  }

  private shardDir(num: number, shard: number): string { return join(this.o.dataDir, `c${num}-s${shard}`); }

  private opening: Promise<unknown> = Promise.resolve();

  /** Opens the replicas placed here that are not open yet (one caller at a time). */
  private openLocalStores(): Promise<string[]> {
    const run = this.opening.then(() => this.openLocalStoresNow());
    this.opening = run.catch(() => {});
    return run;
  }

  private async openLocalStoresNow(): Promise<string[]> {
    const opened: string[] = [];
    for (const c of this.collections.values()) {
      for (let s = 0; s < c.shards; s++) {
        const key = `${c.num}:${s}`;
        if (!this.holdsHere(c, s) || this.local.has(key)) continue;
        const index = typeof c.index === 'string' || c.index === null ? undefined : c.index as StoreIndexOptions;
        if (!existsSync(this.shardDir(c.num, s))) this.fresh.add(key);
        const store = await VectorStore.open(this.shardDir(c.num, s), { dim: c.dim, metric: c.metric, ...(index ? { index } : {}) });
        this.local.set(key, store);
        opened.push(key);
      }
    }
    return opened;
  }

  /**
   * Brings every local replica of a collection already in the stream at `from` to the table's
   * state: a missing replica is copied (a full rebuild); after a slot was lost, present ones are
   * reconciled row by row (only what differs is written, so their indexes are not rebuilt).
   */
  private async syncReplicas(from: bigint, slotIsNew: boolean): Promise<void> {
    await this.loadCatalog();
    await this.openLocalStores(); // marks the replicas it had to create as fresh
    for (const [key, store] of this.local) {
      const [num, shard] = key.split(':').map(Number);
      const c = this.byNum.get(num)!;
      const existed = !this.fresh.has(key);
      if (c.copying[shard].includes(this.nodeId)) continue; // copied in by copyIn, whole, after the start
      if (c.startLsn > from) continue; // made after the slot's position: the stream brings all of it
      if (existed && !slotIsNew) continue; // the slot replays what it missed
      if (existed) this.counters.resyncs++; else this.counters.fullRebuilds++;
      await this.copyShard(c, shard, store);
      this.fresh.delete(key);
    }
  }

  /** The rows of a shard as the table holds them now (a followed table: every row whose id hashes there). */
  private async shardRows(c: CollectionRow, shard: number): Promise<{ id: RecordId; vector: Float32Array; metadata: JsonValue | undefined }[]> {
    if (!c.source) {
      const r = await this.pool.query(`SELECT id, vector, payload FROM ${tableOf(c.num)} WHERE shard = $1`, [shard]);
      return r.rows.map((row) => ({ id: idFromKey(row.id as string), vector: vectorOf(row.vector), metadata: (row.payload ?? undefined) as JsonValue | undefined }));
    }
    const src = c.source;
    const cols = [src.id, src.vector, ...src.payload].map((x) => quoteIdent(x)!).join(', ');
    const r = await this.pool.query(`SELECT ${cols} FROM ${quoteIdent(src.table)!}`);
    const idType = r.fields[0].dataTypeID;
    const out: { id: RecordId; vector: Float32Array; metadata: JsonValue | undefined }[] = [];
    for (const row of r.rows) {
      const id = sourceId(row[src.id], idType), vector = sourceVector(row[src.vector], c.dim);
      if (id === null || vector === null) { this.counters.skippedSourceRows++; continue; }
      if (c.shards > 1 && shardOf(idKey(id), c.shards) !== shard) continue;
      out.push({ id, vector, metadata: this.fieldsOf(src, row) });
    }
    return out;
  }

  private fieldsOf(src: SourceTable, row: Record<string, unknown>, old?: unknown): JsonValue | undefined {
    if (src.payload.length === 0) return undefined;
    const prev = (typeof old === 'object' && old !== null ? old : {}) as Record<string, JsonValue>;
    const m: Record<string, JsonValue> = {};
    for (const col of src.payload) {
      const v = row[col];
      m[col] = v === undefined ? prev[col] ?? null : (Buffer.isBuffer(v) ? v.toString('base64') : v instanceof Date ? v.toISOString() : v) as JsonValue;
    }
    return m;
  }

  private async copyShard(c: CollectionRow, shard: number, store: DurableVectorStore): Promise<void> {
    const rows = await this.shardRows(c, shard);
    const seen = new Set<RecordId>();
    const upserts: { id: RecordId; vector: Float32Array; metadata: JsonValue | undefined }[] = [];
    for (const { id, vector, metadata } of rows) {
      seen.add(id);
      const have = store.get(id);
      // Unchanged rows are skipped (cosine stores keep unit vectors, so there every row is written).
      if (have && c.metric !== 'cosine' && bytesOf(have.vector).equals(bytesOf(vector)) && JSON.stringify(have.metadata) === JSON.stringify(metadata)) continue;
      upserts.push({ id, vector, metadata });
    }
    const gone = store.keys().filter((id) => !seen.has(id));
    for (let i = 0; i < upserts.length; i += 5000) await store.upsert(upserts.slice(i, i + 5000));
    if (gone.length > 0) await store.deleteMany(gone);
    this.log(`replica c${c.num}-s${shard}: ${upserts.length} rows written, ${gone.length} removed, from the table's ${rows.length}`);
  }

  // --- the stream ---

  /** The collections (with local replicas) a stream starting at `at` may carry. */
  private streamable(at: bigint): number[] {
    return this.openCollections().filter((num) => this.byNum.get(num)!.startLsn <= at);
  }

  /** The lowest start_lsn of a local collection the stream does not carry yet (acks stop there). */
  private hold(): bigint | null {
    let h: bigint | null = null;
    for (const num of this.openCollections()) {
      if (this.streaming.has(num)) continue;
      const s = this.byNum.get(num)!.startLsn;
      if (h === null || s < h) h = s;
    }
    return h;
  }

  /** Restarts the stream at the hold once the stream has reached it (so the new publications exist there). */
  private maybeRestart(): void {
    const h = this.hold();
    if (h === null || this.restarting || !covers(this.applied, h) || this.stopped) return;
    this.restarting = this.queue.then(() => this.restartStream(h)).catch((e: Error) => this.log(`restart: ${e.message}`)).finally(() => { this.restarting = null; this.maybeRestart(); });
  }

  private async restartStream(from: bigint): Promise<void> {
    if (this.repl) { const r = this.repl; this.repl = null; await r.destroy().catch(() => {}); }
    if (this.stopped) return;
    const nums = this.streamable(from);
    const pubs = [NO_PUBLICATION];
    for (const num of nums) {
      const c = this.byNum.get(num)!;
      for (let s = 0; s < c.shards; s++) if (this.holdsHere(c, s) && !pubs.includes(publicationOf(c, s))) pubs.push(publicationOf(c, s));
      // A followed table's rows predate the collection: copy them now, before the stream replays what came after `from`.
      for (let s = 0; s < c.shards; s++) {
        const key = `${num}:${s}`, store = this.local.get(key);
        if (c.source && store && this.fresh.has(key) && !this.streaming.has(num)) {
          this.counters.fullRebuilds++;
          await this.copyShard(c, s, store);
          this.fresh.delete(key);
        }
      }
    }
    this.streaming = new Set(nums);
    this.txn = null; // a transaction the old stream had begun comes again, whole, on the new one
    // The new stream replays from `from`: positions past it count again only once it has passed them.
    if (from < this.applied) this.applied = from;
    // The hold: nothing of the new collections lies before it (nor of any still opening, ackLimit).
    const limit = this.ackLimit(), upTo = limit !== null && limit < from ? limit : from;
    if (upTo > this.acked) await this.ack(upTo);
    const repl = new Replication({ connectionString: this.o.url }, { acknowledge: { auto: false, timeoutSeconds: 0 } });
    this.repl = repl;
    // What an older stream still delivers is dropped: its positions are not this stream's (a
    // keepalive of the old one would move `applied` past rows the new one has yet to replay).
    repl.on('data', (lsn: string, msg: Record<string, unknown>) => this.enqueue(async () => { if (this.repl === repl) await this.onMessage(lsn, msg); }));
    repl.on('start', () => { void this.ack(this.acked, true); }); // a keepalive at once tells where the WAL ends
    repl.on('heartbeat', (lsn: string, _ts: number, respond: boolean) => {
      const at = parseLsn(lsn);
      // A keepalive's position covers what arrived before it: count it once the queue has done that.
      this.enqueue(async () => {
        if (this.repl !== repl) return;
        if (at !== null && this.txn === null && at > this.applied) { this.applied = at; await this.afterApply(); }
        else if (respond) await this.ack(this.acked, true);
      });
    });
    repl.on('error', (e: Error) => {
      if (this.stopped || this.repl !== repl) return;
      this.log(`replication: ${e.message}; reconnecting`);
      setTimeout(() => { if (!this.stopped && this.repl === repl) void this.restartStream(this.acked).catch(() => {}); }, 500).unref();
    });
    void repl.subscribe(new PgoutputPlugin({ protoVersion: 1, publicationNames: pubs }), this.slot, formatLsn(from)).catch((e: Error) => {
      if (this.stopped || this.repl !== repl) return;
      this.log(`replication stream ended: ${e.message}; reconnecting`);
      setTimeout(() => { if (!this.stopped && this.repl === repl) void this.restartStream(this.acked).catch(() => {}); }, 500).unref();
    });
  }

  private enqueue(fn: () => Promise<void>): void {
    this.queue = this.queue.then(fn).catch((e: Error) => this.log(`apply: ${e.message}`));
  }

  private async onMessage(_lsn: string, msg: Record<string, unknown>): Promise<void> {
    const tag = msg.tag as string;
    if (tag === 'begin') { this.txn = new Map(); return; }
    if (tag === 'insert' || tag === 'update' || tag === 'delete') {
      const rel = msg.relation as { name: string; schema: string; columns: { name: string; typeOid: number }[] };
      const row = (tag === 'delete' ? (msg.key ?? msg.old) : msg.new) as Record<string, unknown>;
      const followers = this.sources.get(`${rel.schema}.${rel.name}`);
      if (followers) { this.sourceChange(followers, rel, tag, row); return; }
      const m = /^p(\d+)$/.exec(rel.name);
      if (rel.schema !== 'nearest' || !m) return;
      const key = `${m[1]}:${row.shard}`;
      let ops = this.txn!.get(key);
      if (!ops) { ops = new Map(); this.txn!.set(key, ops); }
      if (tag === 'delete') ops.set(row.id as string, null);
      else ops.set(row.id as string, { vector: row.vector === undefined ? undefined : vectorOf(row.vector), payload: (row.payload ?? undefined) as JsonValue | undefined });
      return;
    }
    if (tag === 'commit') {
      const txn = this.txn ?? new Map();
      this.txn = null;
      for (const [key, ops] of txn) {
        const store = this.local.get(key);
        if (!store) continue;
        const source = this.byNum.get(Number(key.split(':')[0]))?.source ?? null;
        const upserts: { id: RecordId; vector: Float32Array; metadata: JsonValue | undefined }[] = [];
        const deletes: RecordId[] = [];
        for (const [k, op] of ops) {
          const id = idFromKey(k);
          if (op === null) { deletes.push(id); continue; }
          const vector = op.vector ?? store.get(id)?.vector; // an unchanged TOASTed vector is not sent
          const metadata = op.fields && source ? this.fieldsOf(source, op.fields, store.metadataOf(id)) : op.payload;
          if (vector) upserts.push({ id, vector, metadata });
        }
        if (upserts.length > 0) await store.upsert(upserts);
        if (deletes.length > 0) await store.deleteMany(deletes);
        this.counters.replayedChanges += ops.size;
      }
      const end = parseLsn(String(msg.commitEndLsn ?? ''));
      if (end !== null && end > this.applied) this.applied = end;
      await this.afterApply();
    }
  }

  /** A row change of a followed table, into the open transaction's changes of the replicas here. */
  private sourceChange(followers: CollectionRow[], rel: { columns: { name: string; typeOid: number }[] }, tag: string, row: Record<string, unknown>): void {
    for (const c of followers) {
      const src = c.source!;
      const idType = rel.columns.find((x) => x.name === src.id)?.typeOid ?? 25;
      const id = sourceId(row[src.id], idType);
      if (id === null) { this.counters.skippedSourceRows++; continue; }
      const k = idKey(id), key = `${c.num}:${shardOf(k, c.shards)}`;
      if (!this.local.has(key)) continue;
      let ops = this.txn!.get(key);
      if (!ops) { ops = new Map(); this.txn!.set(key, ops); }
      if (tag === 'delete') { ops.set(k, null); continue; }
      let vector: Float32Array | undefined;
      if (row[src.vector] !== undefined) {
        const v = sourceVector(row[src.vector], c.dim);
        // A row nearest cannot index (no vector, wrong length, not finite): it is not in the collection.
        if (v === null) { this.counters.skippedSourceRows++; ops.set(k, null); continue; }
        vector = v;
      }
      const fields: Record<string, unknown> = {};
      for (const col of src.payload) fields[col] = row[col];
      ops.set(k, { vector, payload: undefined, fields });
    }
  }

  /**
   * How far the slot may be acknowledged: not past the start of a collection with replicas here that
   * the stream does not carry yet — opened or still opening (PostgreSQL starts a restarted stream at
   * the slot's confirmed position, so rows acknowledged past would never reach those replicas).
   * A peer's notice of a new collection (tellPeers) is only a hurry-up; this is what makes it safe.
   */
  private ackLimit(): bigint | null {
    // Nor past what the catalog is known to cover: a collection made since may have rows after it,
    // and this node would learn of it (at the next refresh) only after they had been acknowledged.
    let h: bigint | null = this.catalogAt;
    for (const num of this.localCollections()) {
      if (this.streaming.has(num)) continue;
      const s = this.byNum.get(num)!.startLsn;
      if (h === null || s < h) h = s;
    }
    return h;
  }

  /** After a step of the stream: acknowledge (up to the hold), wake waiters, maybe restart, maybe ready. */
  private async afterApply(): Promise<void> {
    const h = this.ackLimit();
    const upTo = h !== null && h < this.applied ? h : this.applied;
    if (upTo > this.acked) await this.ack(upTo);
    this.waiters = this.waiters.filter((w) => { if (covers(this.applied, w.lsn)) { w.resolve(); return false; } return true; });
    this.checkReady();
    this.maybeRestart();
  }

  private async ack(lsn: bigint, ping = false): Promise<void> {
    if (this.repl) await this.repl.acknowledge(formatLsn(lsn), ping).catch(() => false);
    if (lsn > this.acked) this.acked = lsn;
  }

  private checkReady(): void {
    if (!this.ready && covers(this.applied, this.startLsn) && this.hold() === null) { this.ready = true; this.log(`ready at ${formatLsn(this.applied)}`); }
  }

  /** Resolves once this node has applied `lsn`, or rejects with TIMEOUT after `ms`. */
  waitFor(lsn: bigint, ms: number): Promise<void> {
    if (covers(this.applied, lsn)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const w = { lsn, resolve: () => { clearTimeout(t); clearInterval(p); resolve(); } };
      const t = setTimeout(() => {
        clearInterval(p);
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new NearestError('TIMEOUT', `this node had applied ${formatLsn(this.applied)}, not ${formatLsn(lsn)}, when the wait of ${ms} ms ran out`, { applied: formatLsn(this.applied), afterLsn: formatLsn(lsn) }));
      }, ms);
      // Ask for keepalives meanwhile, so a position past the last change is learnt at once.
      const p = setInterval(() => { void this.ack(this.acked, true); }, 50);
      this.waiters.push(w);
      void this.ack(this.acked, true);
    });
  }

  // --- collections ---

  private collection(name: string): CollectionRow {
    const c = this.collections.get(name);
    if (!c) throw new NearestError('NOT_FOUND', `no collection ${JSON.stringify(name)}`, { name });
    return c;
  }

  async findCollection(name: string): Promise<CollectionRow | undefined> {
    if (!this.collections.has(name)) await this.refresh();
    return this.collections.get(name);
  }

  listCollections(): CollectionRow[] { return [...this.collections.values()]; }

  /** The nodes whose lease is current (this one included), by id. */
  liveNodes(): string[] {
    const live = [...this.nodes.values()].filter((n) => n.leaseUntil > Date.now()).map((n) => n.nodeId);
    if (!live.includes(this.nodeId)) live.push(this.nodeId);
    return live.sort();
  }

  /**
   * Creates a collection: its table and one publication per shard, then (in a second transaction,
   * once their WAL position is known) its placement over the live nodes and the 'ready' state.
   */
  async createCollection(name: string, spec: ClusterCollectionSpec): Promise<CollectionRow> {
    if (typeof name !== 'string' || name.length === 0 || name.length > 255) throw bad('a collection name is 1–255 characters', { received: name });
    const dim = spec.dim;
    if (!Number.isInteger(dim) || dim < 1 || dim > 65536) throw bad(`dim must be an integer from 1 to 65536, got ${String(dim)}`, { received: dim });
    const metric = spec.metric ?? 'cosine';
    if (metric !== 'cosine' && metric !== 'euclidean' && metric !== 'dot') throw bad(`metric must be cosine, euclidean or dot, got ${String(metric)}`, {});
    const shards = spec.shards ?? 1, replicas = spec.replicas ?? 1;
    if (!Number.isInteger(shards) || shards < 1 || shards > 256) throw bad(`shards must be an integer from 1 to 256, got ${String(shards)}`, { received: shards });
    const live = this.liveNodes();
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > live.length) {
      throw bad(`replicas must be an integer from 1 to the ${live.length} live node(s), got ${String(replicas)}`, { received: replicas, liveNodes: live.length });
    }
    // The index options are checked by making one (empty) store's worth of them here.
    const index = typeof spec.index === 'string' ? indexFromFactory(spec.index) : spec.index;
    new VectorStore({ dim, metric, ...(index ? { index } : {}) });
    const source = spec.source === undefined ? null : await this.checkSource(spec.source);
    const c = await this.pool.connect();
    let num: number;
    try {
      await c.query('BEGIN');
      const r = await c.query('INSERT INTO nearest.collections (name, dim, metric, index, shards, replicas, source) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING RETURNING num',
        [name, dim, metric, index === undefined ? null : JSON.stringify(index), shards, replicas, source === null ? null : JSON.stringify(source)]);
      if (r.rowCount === 0) throw new NearestError('ALREADY_EXISTS', `collection ${JSON.stringify(name)} exists`, { name });
      num = r.rows[0].num as number;
      if (source) {
        await c.query(`CREATE PUBLICATION ${publicationOf({ num, source }, 0)} FOR TABLE ${quoteIdent(source.table)!}`);
      } else {
        await c.query(`CREATE TABLE ${tableOf(num)} (shard int NOT NULL, id text NOT NULL, vector bytea NOT NULL, payload jsonb, PRIMARY KEY (shard, id))`);
        for (let s = 0; s < shards; s++) await c.query(`CREATE PUBLICATION ${publicationOf({ num, source }, s)} FOR TABLE ${tableOf(num)} WHERE (shard = ${s})`);
      }
      await c.query('COMMIT');
      // Read after the commit, before the collection is visible to writers: no row lies before it.
      const at = (await c.query('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0].lsn as string;
      await c.query('BEGIN');
      const placement = place(live, shards, replicas);
      for (let s = 0; s < shards; s++) for (const n of placement[s]) await c.query('INSERT INTO nearest.placements (collection, shard, node_id) VALUES ($1, $2, $3)', [name, s, n]);
      await c.query("UPDATE nearest.collections SET state = 'ready', start_lsn = $2::pg_lsn WHERE name = $1", [name, at]);
      await c.query('COMMIT');
    } catch (e) {
      await c.query('ROLLBACK').catch(() => {});
      throw e;
    } finally { c.release(); }
    await this.refresh();
    await this.tellPeers();
    return this.collection(name);
  }

  /**
   * Checks a table to follow: it exists, its primary key is exactly the id column, the vector column
   * is real[], bytea or pgvector's vector, and the payload columns exist. Returns it schema-qualified.
   */
  private async checkSource(v: unknown): Promise<SourceTable> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad('source: expected { table, id, vector, payload }');
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!['table', 'id', 'vector', 'payload'].includes(k)) throw bad(`source: unknown field "${k}" (accepted: table, id, vector, payload)`, { field: k });
    const payload = o.payload === undefined ? [] : o.payload;
    if (!Array.isArray(payload)) throw bad('source.payload: expected an array of column names');
    for (const [k, x] of [['table', o.table], ['id', o.id], ['vector', o.vector], ...payload.map((p, i) => [`payload[${i}]`, p])] as [string, unknown][]) {
      if (typeof x !== 'string' || quoteIdent(x) === null || (k !== 'table' && x.includes('.'))) throw bad(`source.${k}: expected a plain SQL identifier, got ${JSON.stringify(x)}`, { field: k });
    }
    const rel = await this.pool.query('SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)', [quoteIdent(o.table as string)]);
    if (rel.rowCount === 0) throw new NearestError('NOT_FOUND', `source.table: no table ${JSON.stringify(o.table)}`, { table: o.table });
    const oid = rel.rows[0].oid as number;
    const cols = new Map((await this.pool.query('SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = $1 AND attnum > 0 AND NOT attisdropped', [oid])).rows.map((r) => [r.attname as string, r.type as string]));
    const pk = (await this.pool.query('SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) WHERE i.indrelid = $1 AND i.indisprimary', [oid])).rows.map((r) => r.attname as string);
    if (pk.length !== 1 || pk[0] !== o.id) throw bad(`source.id: the primary key of ${o.table} must be exactly the column ${JSON.stringify(o.id)} (it is ${pk.length ? pk.join(', ') : 'missing'})`, { primaryKey: pk });
    const vt = cols.get(o.vector as string);
    if (vt === undefined) throw bad(`source.vector: ${o.table} has no column ${JSON.stringify(o.vector)}`);
    if (vt !== 'real[]' && vt !== 'bytea' && !/^vector(\(\d+\))?$/.test(vt)) throw bad(`source.vector: the column is ${vt}; expected real[], bytea (little-endian float32) or vector (pgvector)`, { type: vt });
    for (const p of payload as string[]) if (!cols.has(p)) throw bad(`source.payload: ${o.table} has no column ${JSON.stringify(p)}`);
    return { table: `${rel.rows[0].nspname}.${rel.rows[0].relname}`, id: o.id as string, vector: o.vector as string, payload: payload as string[] };
  }

  private writable(c: CollectionRow): void {
    if (c.source) throw new NearestError('UNSUPPORTED', `collection ${JSON.stringify(c.name)} follows the table ${c.source.table}: write to it with SQL`, { table: c.source.table });
  }

  /**
   * Drops a collection: its catalog row and placements, and nearest's own table (a followed table
   * is the application's and stays). Its publications stay, empty: a node's stream may still name
   * them, and pgoutput refuses a name that no longer exists; streams restarted later leave them out.
   * Resolves with whether it existed.
   */
  async dropCollection(name: string): Promise<boolean> {
    const c = await this.findCollection(name);
    if (!c) return false;
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const r = await client.query('DELETE FROM nearest.collections WHERE name = $1 AND num = $2', [name, c.num]);
      if (!c.source) await client.query(`DROP TABLE IF EXISTS ${tableOf(c.num)}`);
      await client.query('COMMIT');
      if (r.rowCount === 0) return false;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw this.unavailable(e);
    } finally { client.release(); }
    await this.refresh();
    await this.tellPeers();
    return true;
  }

  /** Asks the live peers to re-read the catalog now rather than at their next heartbeat (best effort). */
  private async tellPeers(): Promise<void> {
    await Promise.all([...this.nodes.values()].filter((x) => x.nodeId !== this.nodeId && x.url !== '' && x.leaseUntil > Date.now()).map((x) =>
      fetch(`${x.url}/cluster/v1/refresh`, { method: 'POST', signal: AbortSignal.timeout(1000), headers: this.o.apiKey ? { 'api-key': this.o.apiKey } : {} }).catch(() => null)));
  }

  // --- writes (to PostgreSQL; acknowledged once committed with synchronous_commit = on) ---

  /** Records checked and laid out as the columns of an upsert (unnest of $1–$4). */
  private columnsOf(c: CollectionRow, records: readonly ClusterRecord[]): [number[], string[], Buffer[], (string | null)[]] {
    if (!Array.isArray(records)) throw bad('records must be an array', {});
    const shards: number[] = [], ids: string[] = [], vectors: Buffer[] = [], payloads: (string | null)[] = [];
    const seen = new Set<string>();
    records.forEach((r, i) => {
      const where = `records[${i}]`;
      const key = idKey(checkRecordId(r?.id, where));
      if (seen.has(key)) throw new NearestError('DUPLICATE_ID', `${where}: id ${key} appears twice in one request`, { id: r.id });
      seen.add(key);
      const v = checkVector(r.vector, c.dim, `${where}.vector`);
      let payload: string | null = null;
      if (r.metadata !== undefined) {
        try { payload = JSON.stringify(r.metadata); } catch { throw bad(`${where}.metadata is not JSON`, {}); }
      }
      shards.push(shardOf(key, c.shards)); ids.push(key); vectors.push(bytesOf(v)); payloads.push(payload);
    });
    return [shards, ids, vectors, payloads];
  }

  private upsertSql(c: CollectionRow): string {
    return `INSERT INTO ${tableOf(c.num)} (shard, id, vector, payload) SELECT * FROM unnest($1::int[], $2::text[], $3::bytea[], $4::jsonb[])
       ON CONFLICT (shard, id) DO UPDATE SET vector = EXCLUDED.vector, payload = EXCLUDED.payload`;
  }

  /** Inserts or replaces records in one transaction; resolves with the LSN after its commit. */
  async upsert(name: string, records: readonly ClusterRecord[]): Promise<{ count: number; lsn: string }> {
    const c = this.collection(name);
    this.writable(c);
    const columns = this.columnsOf(c, records);
    if (records.length === 0) return { count: 0, lsn: formatLsn(await this.currentLsn()) };
    const lsn = await this.commit(this.upsertSql(c), columns);
    return { count: records.length, lsn };
  }

  /**
   * Read-modify-write in one transaction, one at a time per collection across the cluster (the
   * collection's catalog row is locked): `build` gets the rows of `ids` as PostgreSQL has them now
   * (with vectors when asked) and the collection's counter (each call the next number), and returns
   * the records to upsert. Resolves with how many were written and the LSN after the commit.
   */
  async transact(name: string, ids: readonly RecordId[], withVector: boolean,
    build: (stored: Map<RecordId, { id: RecordId; metadata: JsonValue | undefined; vector?: Float32Array }>, next: () => number) => ClusterRecord[]): Promise<{ count: number; lsn: string }> {
    const c = this.collection(name);
    this.writable(c);
    const keys = ids.map((id, i) => idKey(checkRecordId(id, `ids[${i}]`)));
    const count = await this.inTransaction(async (client) => {
      const lock = await client.query('SELECT counter FROM nearest.collections WHERE num = $1 FOR UPDATE', [c.num]);
      if (lock.rowCount === 0) throw new NearestError('NOT_FOUND', `no collection ${JSON.stringify(name)}`, { name });
      let counter = Number(lock.rows[0].counter);
      const got = await client.query(`SELECT t.id, t.payload${withVector ? ', t.vector' : ''} FROM ${tableOf(c.num)} t JOIN unnest($1::int[], $2::text[]) AS d(shard, id) ON t.shard = d.shard AND t.id = d.id`,
        [keys.map((k) => shardOf(k, c.shards)), keys]);
      const stored = new Map(got.rows.map((r) => {
        const id = idFromKey(r.id as string);
        return [id, { id, metadata: (r.payload ?? undefined) as JsonValue | undefined, ...(withVector ? { vector: vectorOf(r.vector) } : {}) }];
      }));
      const records = build(stored, () => ++counter);
      if (records.length > 0) {
        await client.query(this.upsertSql(c), this.columnsOf(c, records));
        await client.query('UPDATE nearest.collections SET counter = $2 WHERE num = $1', [c.num, counter]);
      }
      return records.length;
    });
    // Read after the commit, so it covers it.
    return { count, lsn: formatLsn(await this.currentLsn().catch((e: unknown) => { throw this.unavailable(e); })) };
  }

  /**
   * Waits until every live node holding a replica of `name` has applied `lsn` (read-your-writes
   * for clients that cannot pass afterLsn), at most `ms`; resolves with whether all did. The write
   * is durable either way.
   */
  async waitReplicas(name: string, lsn: string, ms = 5000): Promise<boolean> {
    const c = this.collection(name);
    lsnOf(lsn);
    const now = Date.now();
    const holders = [...new Set(c.placements.flat())].filter((n) => n === this.nodeId || ((this.nodes.get(n)?.leaseUntil ?? 0) > now && (this.nodes.get(n)?.url ?? '') !== ''));
    const done = await Promise.all(holders.map((n) => (n === this.nodeId
      ? this.waitApplied(name, lsn, ms).then(() => true)
      : this.askPeer<{ applied: string }>(n, '/cluster/v1/wait', { collection: name, lsn, waitMs: ms }, ms + 1000).then(() => true)).catch(() => false)));
    return done.every(Boolean);
  }

  /**
   * The peers' endpoint of waitReplicas: resolves once this node's replicas of the collection have
   * applied `lsn` — its stream carries the collection, and has gone past lsn since (TIMEOUT after `ms`).
   */
  async waitApplied(name: string, lsn: string, ms: number): Promise<{ applied: string }> {
    await this.caughtUp(this.collection(name), lsn, Math.min(Math.max(0, ms), 60_000));
    return { applied: formatLsn(this.applied) };
  }

  // --- documents: the API layers' small catalogs (nearest.documents) ---

  /** The entries of a space. */
  async loadDocuments(space: string): Promise<{ key: string; value: JsonValue }[]> {
    try {
      return (await this.pool.query('SELECT key, value FROM nearest.documents WHERE space = $1 ORDER BY key', [space])).rows.map((r) => ({ key: r.key as string, value: r.value as JsonValue }));
    } catch (e) { throw this.unavailable(e); }
  }

  /** Writes and removes entries of a space in one transaction. */
  async saveDocuments(space: string, put: readonly { key: string; value: JsonValue }[], remove: readonly string[]): Promise<void> {
    await this.inTransaction(async (client) => {
      if (put.length > 0) {
        await client.query('INSERT INTO nearest.documents (space, key, value) SELECT $1, * FROM unnest($2::text[], $3::jsonb[]) ON CONFLICT (space, key) DO UPDATE SET value = EXCLUDED.value',
          [space, put.map((p) => p.key), put.map((p) => JSON.stringify(p.value))]);
      }
      if (remove.length > 0) await client.query('DELETE FROM nearest.documents WHERE space = $1 AND key = ANY($2::text[])', [space, [...remove]]);
    });
  }

  /** Runs `fn` holding the space's advisory lock: one change of a space at a time across the cluster. */
  async serialDocuments<T>(space: string, fn: () => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try { client = await this.pool.connect(); } catch (e) { throw this.unavailable(e); }
    let broken = false;
    try {
      try { await client.query('SELECT pg_advisory_lock($1, hashtext($2))', [DOCUMENTS_LOCK, space]); } catch (e) { broken = true; throw this.unavailable(e); }
      try { return await fn(); } finally {
        await client.query('SELECT pg_advisory_unlock($1, hashtext($2))', [DOCUMENTS_LOCK, space]).catch(() => { broken = true; });
      }
    } finally { client.release(broken); }
  }

  /** Deletes records by id in one transaction; resolves with how many existed and the LSN. */
  async delete(name: string, idList: readonly RecordId[]): Promise<{ count: number; lsn: string }> {
    const c = this.collection(name);
    this.writable(c);
    const keys = idList.map((id, i) => idKey(checkRecordId(id, `ids[${i}]`)));
    if (keys.length === 0) return { count: 0, lsn: formatLsn(await this.currentLsn()) };
    const shards = keys.map((k) => shardOf(k, c.shards));
    let count = 0;
    const lsn = await this.commit(`DELETE FROM ${tableOf(c.num)} t USING unnest($1::int[], $2::text[]) AS d(shard, id) WHERE t.shard = d.shard AND t.id = d.id`, [shards, keys], (n) => { count = n; });
    return { count, lsn };
  }

  /**
   * Changes the payload of records (by ids, or by a filter resolved shard by shard) in one SQL
   * statement: 'merge' (Qdrant set_payload), 'overwrite', 'deleteKeys' or 'clear'. Vectors are
   * kept; missing ids are skipped. Resolves with how many rows changed and the LSN.
   */
  async updatePayload(name: string, select: { ids?: readonly RecordId[]; filter?: Record<string, unknown> }, op: 'merge' | 'overwrite' | 'deleteKeys' | 'clear', value?: unknown): Promise<{ count: number; lsn: string }> {
    const c = this.collection(name);
    this.writable(c);
    const ids = select.filter === undefined ? (select.ids ?? []).map((id, i) => checkRecordId(id, `points[${i}]`)) : await this.matchingIds(name, select.filter, select.ids);
    let param: string | string[] | null = null;
    if (op === 'merge' || op === 'overwrite') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('payload: expected a JSON object');
      param = JSON.stringify(value);
    } else if (op === 'deleteKeys') {
      if (!Array.isArray(value) || !value.every((k) => typeof k === 'string')) throw bad('keys: expected an array of strings');
      param = value as string[];
    }
    const keys = ids.map(idKey), shards = keys.map((k) => shardOf(k, c.shards));
    if (keys.length === 0) return { count: 0, lsn: formatLsn(await this.currentLsn()) };
    const set = op === 'merge' ? "coalesce(t.payload, '{}'::jsonb) || $3::jsonb" : op === 'overwrite' ? '$3::jsonb' : op === 'deleteKeys' ? "coalesce(t.payload, '{}'::jsonb) - $3::text[]" : "'{}'::jsonb";
    let count = 0;
    const lsn = await this.commit(`UPDATE ${tableOf(c.num)} t SET payload = ${set} FROM unnest($1::int[], $2::text[]) AS d(shard, id) WHERE t.shard = d.shard AND t.id = d.id`,
      op === 'clear' ? [shards, keys] : [shards, keys, param], (nrows) => { count = nrows; });
    return { count, lsn };
  }

  private async commit(sql: string, params: unknown[], rows?: (n: number) => void): Promise<string> {
    let client: pg.PoolClient;
    try { client = await this.pool.connect(); } catch (e) { throw this.unavailable(e); }
    try {
      const r = await client.query(sql, params); // one statement: its own transaction, committed and flushed on return
      rows?.(r.rowCount ?? 0);
      return (await client.query('SELECT pg_current_wal_insert_lsn()::text AS lsn')).rows[0].lsn as string;
    } catch (e) {
      // Lost connection: the write may or may not have committed; it was not acknowledged.
      throw this.unavailable(e);
    } finally { client.release(); }
  }

  /**
   * Runs `fn` in one transaction on a pooled connection: committed when it returns (rolled back
   * instead with `rollback`), rolled back when it throws; a lost connection is UNAVAILABLE.
   */
  private async inTransaction<T>(fn: (client: pg.PoolClient) => Promise<T>, o: { rollback?: boolean } = {}): Promise<T> {
    let client: pg.PoolClient;
    try { client = await this.pool.connect(); } catch (e) { throw this.unavailable(e); }
    try {
      await client.query('BEGIN');
      const out = await fn(client);
      await client.query(o.rollback ? 'ROLLBACK' : 'COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw this.unavailable(e);
    } finally { client.release(); }
  }

  private unavailable(e: unknown): NearestError {
    if (e instanceof NearestError) return e;
    return new NearestError('UNAVAILABLE', `PostgreSQL: ${(e as Error).message}`, {});
  }

  // --- searches ---

  /**
   * Waits until this node's replicas of `c` can answer: the stream carries the collection, and
   * (with afterLsn) has applied that LSN, within `waitMs` (UNAVAILABLE or TIMEOUT after).
   */
  private async caughtUp(c: CollectionRow, afterLsn: string | undefined, waitMs: number): Promise<void> {
    const lsn = afterLsn === undefined ? null : lsnOf(afterLsn);
    await this.following(c.num, Math.min(waitMs, 2000));
    if (lsn !== null) await this.waitFor(lsn, waitMs);
  }

  /** Searches this node's replicas of `shards` (the peers' endpoint), merged. */
  searchShards(req: ShardSearchRequest): Promise<{ hits: ClusterHit[]; applied: string }> {
    const c = this.collection(req.collection);
    return this.searchLocal(c, checkVector(req.vector, c.dim, 'vector'), req);
  }

  /** searchShards with the query already checked (this node's own part of a search). */
  private async searchLocal(c: CollectionRow, q: Float32Array, req: ShardSearchRequest): Promise<{ hits: ClusterHit[]; applied: string }> {
    await this.caughtUp(c, req.afterLsn, req.waitMs ?? 5000);
    const options: StoreAsyncSearchOptions = {};
    if (req.filter !== undefined) options.filter = req.filter;
    if (req.exact) options.exact = true;
    if (req.efSearch !== undefined) options.efSearch = req.efSearch;
    if (req.nprobe !== undefined) options.nprobe = req.nprobe;
    if (req.ids !== undefined) {
      if (!Array.isArray(req.ids) || !req.ids.every((k) => typeof k === 'string')) throw bad('ids: expected an array of id keys');
      options.ids = req.ids.map(idFromKey);
    }
    // Graph and IVF searches, and short flat scans, answer here: a worker thread costs more than they do.
    const graph = c.index !== null && typeof c.index === 'object' && (c.index as { type?: string }).type !== 'flat';
    const all: ClusterHit[] = [];
    for (const s of req.shards) {
      const store = this.local.get(`${c.num}:${s}`);
      if (!store) throw new NearestError('NOT_FOUND', `this node holds no replica of shard ${s} of ${JSON.stringify(req.collection)}`, { shard: s });
      if (store.size === 0) continue;
      const found = graph || store.size * c.dim <= 1 << 20 ? store.search(q, req.k, options) : await store.searchAsync(q, req.k, options);
      for (const h of found) all.push({ id: h.id, score: h.score, distance: h.distance, ...(h.metadata !== undefined ? { metadata: h.metadata as JsonValue } : {}) });
    }
    return { hits: all.sort(compareHits).slice(0, req.k), applied: formatLsn(this.applied) };
  }

  /** Ids (checked) as keys grouped by shard, in shard order. */
  private keysByShard(c: CollectionRow, ids: readonly RecordId[], where: string): Map<number, string[]> {
    const m = new Map<number, string[]>();
    ids.forEach((id, i) => {
      const key = idKey(checkRecordId(id, `${where}[${i}]`)), s = shardOf(key, c.shards);
      const list = m.get(s);
      if (list) list.push(key); else m.set(s, [key]);
    });
    return new Map([...m].sort((a, b) => a[0] - b[0]));
  }

  private liveReplicas(c: CollectionRow, shard: number): string[] {
    const now = Date.now();
    const nodes = c.placements[shard].filter((n) => n === this.nodeId ? this.local.has(`${c.num}:${shard}`) : (this.nodes.get(n)?.leaseUntil ?? 0) > now && (this.nodes.get(n)?.url ?? '') !== '');
    // This node first; the others in an order that turns with each search (spreads the load).
    const others = nodes.filter((n) => n !== this.nodeId);
    const r = this.turn++ % Math.max(1, others.length);
    const turned = [...others.slice(r), ...others.slice(0, r)];
    return nodes.includes(this.nodeId) ? [this.nodeId, ...turned] : turned;
  }
  private turn = 0;

  /** The k nearest records over every shard: one live replica each, retried elsewhere on failure. */
  async search(name: string, query: Float32Array | readonly number[], k: number, o: ClusterSearchOptions = {}): Promise<ClusterHit[]> {
    const c = this.collection(name);
    const q = checkVector(query, c.dim, 'vector'), vector = Array.from(q);
    if (!Number.isInteger(k) || k < 1) throw bad(`k must be a positive integer, got ${String(k)}`, { received: k });
    if (o.afterLsn !== undefined) lsnOf(o.afterLsn);
    const deadline = Date.now() + (o.timeoutMs ?? 5000);
    // With ids, only their shards are asked, each for its own ids.
    const idsOf = this.keysByShard(c, o.ids ?? [], 'ids');
    const shardList = o.ids !== undefined ? [...idsOf.keys()] : Array.from({ length: c.shards }, (_, s) => s);
    if (shardList.length === 0) return [];
    const hits = await this.perShard(c, shardList, o.afterLsn, async (node, shards) => {
      const req: ShardSearchRequest = {
        collection: name, shards, vector, k, ...(o.filter !== undefined ? { filter: o.filter } : {}), ...(o.exact ? { exact: true } : {}),
        ...(o.ids !== undefined ? { ids: shards.flatMap((s) => idsOf.get(s)!) } : {}),
        ...(o.efSearch !== undefined ? { efSearch: o.efSearch } : {}), ...(o.nprobe !== undefined ? { nprobe: o.nprobe } : {}),
        ...(o.afterLsn !== undefined ? { afterLsn: o.afterLsn, waitMs: Math.max(0, deadline - Date.now()) } : {}),
      };
      const ms = o.afterLsn !== undefined ? Math.max(100, deadline - Date.now()) + this.o.peerTimeoutMs : this.o.peerTimeoutMs;
      return (node === this.nodeId ? await this.searchLocal(c, q, req) : await this.askPeer<{ hits: ClusterHit[] }>(node, '/cluster/v1/search', req, ms)).hits;
    });
    return hits.sort(compareHits).slice(0, k);
  }

  /** The records of these ids that exist (in the order given), each read from a live replica of its shard. */
  async get(name: string, ids: readonly RecordId[], withVector: boolean, afterLsn?: string): Promise<{ id: RecordId; metadata?: JsonValue; vector?: number[] }[]> {
    const c = this.collection(name);
    const keys = ids.map((id, i) => idKey(checkRecordId(id, `ids[${i}]`)));
    const byShard = this.keysByShard(c, ids, 'ids');
    const found = await this.perShard(c, [...byShard.keys()], afterLsn, async (node, shards) => {
      const req = { collection: name, keys: shards.flatMap((s) => byShard.get(s)!), withVector, ...(afterLsn !== undefined ? { afterLsn } : {}) };
      return (node === this.nodeId ? await this.getLocal(req) : await this.askPeer<{ records: { key: string; metadata?: JsonValue; vector?: number[] }[] }>(node, '/cluster/v1/get', req, this.o.peerTimeoutMs + 5000)).records;
    });
    const map = new Map(found.map((r) => [r.key, r]));
    const out: { id: RecordId; metadata?: JsonValue; vector?: number[] }[] = [];
    for (const k of keys) {
      const r = map.get(k);
      if (r) out.push({ id: idFromKey(k), ...(r.metadata !== undefined ? { metadata: r.metadata } : {}), ...(r.vector ? { vector: r.vector } : {}) });
    }
    return out;
  }

  /** The peers' endpoint of get: records (by id key) from this node's replicas. */
  async getLocal(req: { collection: string; keys: string[]; withVector?: boolean; afterLsn?: string }): Promise<{ records: { key: string; metadata?: JsonValue; vector?: number[] }[] }> {
    const c = this.collection(req.collection);
    await this.caughtUp(c, req.afterLsn, 5000);
    const records: { key: string; metadata?: JsonValue; vector?: number[] }[] = [];
    for (const key of req.keys) {
      const store = this.local.get(`${c.num}:${shardOf(key, c.shards)}`);
      if (!store) throw new NearestError('NOT_FOUND', `this node holds no replica of shard ${shardOf(key, c.shards)}`, {});
      const r = store.get(idFromKey(key));
      if (r) records.push({ key, ...(r.metadata !== undefined ? { metadata: r.metadata as JsonValue } : {}), ...(req.withVector ? { vector: Array.from(r.vector) } : {}) });
    }
    return { records };
  }

  /**
   * Records in id order (numbers ascending, then strings) from `start` on, matching `filter`: a page
   * of `limit` and the id that starts the next one (null at the end); with limit 0, only the count.
   */
  async scan(name: string, o: ScanOptions): Promise<{ records: { id: RecordId; metadata?: JsonValue; vector?: number[] }[]; next: RecordId | null; count: number }> {
    const c = this.collection(name);
    if (o.filter !== undefined) compileFilter(o.filter); // a bad filter is INVALID_ARGUMENT here, before any peer
    if (o.start !== undefined) checkRecordId(o.start, 'start');
    const idsOf = this.keysByShard(c, o.ids ?? [], 'ids');
    const shardList = o.ids !== undefined ? [...idsOf.keys()] : Array.from({ length: c.shards }, (_, s) => s);
    const req = { collection: name, filter: o.filter, start: o.start === undefined ? undefined : idKey(o.start), limit: o.limit === 0 ? 0 : o.limit + 1, withVector: o.withVector === true, withPayload: o.withPayload !== false };
    const parts = shardList.length === 0 ? [] : await this.perShard(c, shardList, undefined, async (node, shards) => {
      const part = { ...req, shards, ...(o.ids !== undefined ? { keys: shards.flatMap((s) => idsOf.get(s)!) } : {}) };
      return [node === this.nodeId ? await this.scanLocal(part) : await this.askPeer<ScanPart>(node, '/cluster/v1/scan', part, this.o.peerTimeoutMs + 5000)];
    });
    const count = parts.reduce((a, p) => a + p.count, 0);
    const all = parts.flatMap((p) => p.records.map((r) => ({ ...r, id: idFromKey(r.key) }))).sort((a, b) => compareIds(a.id, b.id));
    const page = all.slice(0, o.limit).map(({ key: _k, ...r }) => r);
    return { records: page, next: all.length > o.limit ? all[o.limit].id : null, count };
  }

  /** The peers' endpoint of scan: this node's replicas of `shards`. */
  async scanLocal(req: { collection: string; shards: number[]; filter?: Record<string, unknown>; start?: string; limit: number; withVector?: boolean; withPayload?: boolean; keys?: string[] }): Promise<ScanPart> {
    const c = this.collection(req.collection);
    await this.following(c.num, 2000);
    const predicate = req.filter === undefined ? null : compileFilter(req.filter);
    const start = req.start === undefined ? undefined : idFromKey(req.start);
    if (req.keys !== undefined && (!Array.isArray(req.keys) || !req.keys.every((k) => typeof k === 'string'))) throw bad('keys: expected an array of id keys');
    // With keys: each shard's own, grouped once (not every key hashed again per shard).
    const only = req.keys === undefined ? null : this.keysByShard(c, [...new Set(req.keys)].map(idFromKey), 'keys');
    let count = 0;
    const ids: { id: RecordId; store: DurableVectorStore }[] = [];
    for (const s of req.shards) {
      const store = this.local.get(`${c.num}:${s}`);
      if (!store) throw new NearestError('NOT_FOUND', `this node holds no replica of shard ${s}`, {});
      for (const id of only ? (only.get(s) ?? []).map(idFromKey).filter((x) => store.has(x)) : store.keys()) {
        if (predicate && !predicate(store.metadataOf(id))) continue;
        count++;
        if (req.limit > 0 && (start === undefined || compareIds(id, start) >= 0)) ids.push({ id, store });
      }
    }
    ids.sort((a, b) => compareIds(a.id, b.id));
    const records = ids.slice(0, req.limit).map(({ id, store }) => {
      const meta = store.metadataOf(id) as JsonValue | undefined;
      return { key: idKey(id), ...(req.withPayload !== false && meta !== undefined ? { metadata: meta } : {}), ...(req.withVector ? { vector: Array.from(store.get(id)!.vector) } : {}) };
    });
    return { records, count };
  }

  /** The ids of every record matching `filter` (all of them without one; among `only` when given), in id order, page by page. */
  private async matchingIds(name: string, filter: Record<string, unknown> | undefined, only?: readonly RecordId[]): Promise<RecordId[]> {
    const ids: RecordId[] = [];
    let start: RecordId | undefined;
    for (;;) {
      const page = await this.scan(name, { limit: 5000, withPayload: false, ...(filter !== undefined ? { filter } : {}), ...(start !== undefined ? { start } : {}), ...(only !== undefined ? { ids: only } : {}) });
      ids.push(...page.records.map((r) => r.id));
      if (page.next === null) return ids;
      start = page.next;
    }
  }

  /** Deletes every record matching `filter` (found shard by shard, then deleted by id in PostgreSQL; not one snapshot). */
  async deleteWhere(name: string, filter: Record<string, unknown>, only?: readonly RecordId[]): Promise<{ count: number; lsn: string }> {
    this.writable(this.collection(name));
    const ids = await this.matchingIds(name, filter, only);
    let count = 0, lsn = formatLsn(await this.currentLsn());
    for (let i = 0; i < ids.length; i += 5000) { const r = await this.delete(name, ids.slice(i, i + 5000)); count += r.count; lsn = r.lsn; }
    return { count, lsn };
  }

  /**
   * Runs `run` once per node for the shards it is asked for: one live replica of every shard (this
   * node's own first; with afterLsn, those known to have applied it first), and on a failure or
   * timeout the failed shards again on their next replica. UNAVAILABLE when some shard runs out of
   * replicas (TIMEOUT if a replica timed out on afterLsn); a bad request fails at once.
   */
  private async perShard<T>(c: CollectionRow, shardList: number[], afterLsn: string | undefined, run: (node: string, shards: number[]) => Promise<T[]>): Promise<T[]> {
    const candidates = new Map(shardList.map((s) => [s, this.liveReplicas(c, s)]));
    if (afterLsn !== undefined) {
      // This node's position is exact, the others' as of their last lease.
      const target = parseLsn(afterLsn)!;
      const has = (n: string) => covers(n === this.nodeId ? this.applied : parseLsn(this.nodes.get(n)?.applied ?? '') ?? 0n, target);
      for (const list of candidates.values()) list.sort((a, b) => Number(has(b)) - Number(has(a)));
    }
    const results: T[] = [];
    let pending = shardList;
    let lastError: unknown = null, timedOut: NearestError | null = null;
    while (pending.length > 0) {
      const byNode = new Map<string, number[]>();
      const unplaced: number[] = [];
      for (const s of pending) {
        const n = candidates.get(s)!.shift();
        if (n === undefined) unplaced.push(s); else byNode.set(n, [...(byNode.get(n) ?? []), s]);
      }
      if (unplaced.length > 0) {
        if (timedOut) throw timedOut; // afterLsn not reached by the deadline: the documented TIMEOUT, not UNAVAILABLE
        // Replicas that no longer know the collection: it may have been dropped since this node last looked.
        await this.refresh().catch(() => {});
        if (this.collections.get(c.name)?.num !== c.num) throw new NearestError('NOT_FOUND', `no collection ${JSON.stringify(c.name)}`, { name: c.name });
        throw new NearestError('UNAVAILABLE', `no live replica answered for shard(s) ${unplaced.join(', ')} of ${JSON.stringify(c.name)}${lastError ? `: ${(lastError as Error).message}` : ''}`, { shards: unplaced });
      }
      const failed: number[] = [];
      await Promise.all([...byNode].map(async ([node, shards]) => {
        try {
          results.push(...await run(node, shards));
        } catch (e) {
          if (e instanceof NearestError && e.code !== 'TIMEOUT' && e.code !== 'UNAVAILABLE' && e.code !== 'NOT_FOUND') throw e; // a bad request fails everywhere
          lastError = e;
          if (e instanceof NearestError && e.code === 'TIMEOUT') timedOut = e;
          if (node !== this.nodeId) this.counters.peerFailures++;
          this.counters.fanoutRetries += shards.length;
          failed.push(...shards);
        }
      }));
      pending = failed;
    }
    return results;
  }

  private async askPeer<T>(node: string, path: string, req: unknown, ms: number): Promise<T> {
    const url = this.nodes.get(node)?.url;
    if (!url) throw new NearestError('UNAVAILABLE', `node ${node} has no address`, { node });
    let res: Response;
    try {
      res = await fetch(`${url}${path}`, {
        method: 'POST', body: JSON.stringify(req), signal: AbortSignal.timeout(ms),
        headers: { 'content-type': 'application/json', ...(this.o.apiKey ? { 'api-key': this.o.apiKey } : {}) },
      });
    } catch (e) {
      throw new NearestError('UNAVAILABLE', `node ${node}: ${(e as Error).message}`, { node });
    }
    const body = await res.json().catch(() => null) as (T & { error?: { code: string; message: string; details?: Record<string, unknown> } }) | null;
    if (res.ok && body && !body.error) return body;
    const err = body?.error;
    if (err && (err.code === 'INVALID_ARGUMENT' || err.code === 'DIMENSION_MISMATCH' || err.code === 'NON_FINITE_VALUE')) throw new NearestError(err.code, err.message, err.details ?? {});
    throw new NearestError(err?.code === 'TIMEOUT' ? 'TIMEOUT' : 'UNAVAILABLE', `node ${node}: ${err?.message ?? `HTTP ${res.status}`}`, { node });
  }

  // --- status ---

  async status(): Promise<Record<string, unknown>> {
    await this.refresh();
    const current = await this.currentLsn();
    const nodes = [...this.nodes.values()].map((n) => {
      const applied = n.applied ? parseLsn(n.applied) : null;
      return {
        id: n.nodeId, url: n.url, startedAt: n.startedAt, leaseUntil: new Date(n.leaseUntil).toISOString(), live: n.leaseUntil > Date.now(),
        slotDropped: n.slotDropped, appliedLsn: n.applied, lagBytes: applied === null ? null : Number(current > applied ? current - applied : 0n),
      };
    });
    const slots = await this.pool.query('SELECT slot_name, active, confirmed_flush_lsn::text AS confirmed FROM pg_replication_slots WHERE slot_name LIKE $1', ['nearest_node_%']);
    return {
      node: this.nodeId, currentLsn: formatLsn(current), appliedLsn: formatLsn(this.applied), ready: this.ready,
      nodes,
      collections: [...this.collections.values()].map((c) => ({
        name: c.name, dim: c.dim, metric: c.metric, shards: c.shards, replicas: c.replicas,
        placement: c.placements.map((p, shard) => ({
          shard,
          replicas: [...p, ...c.copying[shard]].map((n) => ({
            node: n, state: c.copying[shard].includes(n) ? 'copying' : c.leaving[shard].includes(n) ? 'leaving' : 'ready',
            appliedLsn: n === this.nodeId ? formatLsn(this.applied) : this.nodes.get(n)?.applied ?? null, live: n === this.nodeId || (this.nodes.get(n)?.leaseUntil ?? 0) > Date.now(),
          })),
        })),
      })),
      slots: slots.rows.map((r) => ({ slot: r.slot_name, active: r.active, confirmedFlushLsn: r.confirmed })),
      counters: { ...this.counters },
    };
  }

  /** Local replicas' sizes, by collection (this node's share). */
  localSizes(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, store] of this.local) {
      const c = this.byNum.get(Number(key.split(':')[0]));
      if (c) out[c.name] = (out[c.name] ?? 0) + store.size;
    }
    return out;
  }

  /**
   * Stops following and closes the replicas. With `deregister` (a clean stop, SIGTERM): drops this
   * node's slot (an abandoned slot would keep WAL) and its row, so the others stop routing to it.
   */
  async stop(o: { deregister: boolean } = { deregister: true }): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.repl) { const r = this.repl; this.repl = null; await r.destroy().catch(() => {}); }
    await this.queue.catch(() => {});
    for (const w of this.waiters) w.resolve();
    for (const s of this.local.values()) {
      // A clean stop leaves each replica as one snapshot (its index image), so the next start loads it instead of replaying a log.
      if (o.deregister && s.stats().logBytes > 0) await s.compact().catch((e: Error) => this.log(`snapshot on stop: ${e.message}`));
      await s.close().catch(() => {});
    }
    this.local.clear();
    if (o.deregister) {
      for (let i = 0; i < 20; i++) {
        const r = await this.pool.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [this.slot]).catch(() => null);
        const left = await this.pool.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [this.slot]).catch(() => null);
        if (r && left && left.rowCount === 0) break;
        await new Promise((res) => setTimeout(res, 100)); // the walsender lets go of it shortly after the stream closes
      }
      await this.pool.query('DELETE FROM nearest.nodes WHERE node_id = $1', [this.nodeId]).catch(() => {});
    }
    await this.pool.end().catch(() => {});
  }

  /** Removes this node's local data directory (tests). */
  static wipe(dir: string): void { rmSync(dir, { recursive: true, force: true }); }
}
