// The cluster's schema in PostgreSQL and the names derived from it. PostgreSQL is the system of
// record: every collection's rows live in one table of the `nearest` schema (shard, id, vector,
// payload), a publication per shard (a row filter on the shard column, which is part of the primary
// key, as PostgreSQL 15 requires of row filters that UPDATE and DELETE go through) feeds the query
// nodes, and three small tables say which nodes there are (with their leases), which collections,
// and where each shard's replicas are placed. Nothing else coordinates. A fourth keeps the small
// catalogs of the API layers (the Chroma API's tenants, databases and collections).
import type { Metric, RecordId } from '../index.js';

/** DDL, run under an advisory lock so that nodes starting together do not race. */
export const SCHEMA_SQL = `
CREATE SCHEMA IF NOT EXISTS nearest;
CREATE TABLE IF NOT EXISTS nearest.nodes (
  node_id text PRIMARY KEY,
  url text NOT NULL,
  slot text NOT NULL,
  lease_until timestamptz NOT NULL,
  started_at timestamptz NOT NULL DEFAULT now(),
  applied_lsn pg_lsn,
  slot_dropped boolean NOT NULL DEFAULT false
);
CREATE TABLE IF NOT EXISTS nearest.collections (
  num serial UNIQUE,
  name text PRIMARY KEY,
  dim int NOT NULL,
  metric text NOT NULL,
  index jsonb,
  shards int NOT NULL,
  replicas int NOT NULL,
  -- 'creating' while its table and publications exist but no write may go to it; 'ready' with
  -- start_lsn, a WAL position after they were made and before any row was written.
  state text NOT NULL DEFAULT 'creating',
  -- A table of the application's that the collection follows: { table, id, vector, payload }.
  source jsonb,
  start_lsn pg_lsn,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS nearest.placements (
  collection text NOT NULL REFERENCES nearest.collections(name) ON DELETE CASCADE,
  shard int NOT NULL,
  node_id text NOT NULL,
  PRIMARY KEY (collection, shard, node_id)
);
-- A replica being added (rebalance) is 'copying' until it has the shard's rows and has caught up;
-- it then turns 'ready' and the one it replaces ('leaving', serving until then) goes.
ALTER TABLE nearest.placements ADD COLUMN IF NOT EXISTS state text NOT NULL DEFAULT 'ready';
ALTER TABLE nearest.placements ADD COLUMN IF NOT EXISTS replaces text;
-- Numbers a collection's writes may take in order (the Chroma API's insertion numbers); the row is
-- also the lock that runs read-modify-writes of one collection one at a time.
ALTER TABLE nearest.collections ADD COLUMN IF NOT EXISTS counter bigint NOT NULL DEFAULT 0;
-- Small JSON catalogs of the API layers, by space and key (the Chroma API's tenants, databases, collections).
CREATE TABLE IF NOT EXISTS nearest.documents (
  space text NOT NULL,
  key text NOT NULL,
  value jsonb NOT NULL,
  PRIMARY KEY (space, key)
);
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'nearest_none') THEN CREATE PUBLICATION nearest_none; END IF;
END $$;`;

/**
 * A publication with no tables, always in a node's list: pgoutput wants at least one name, and a
 * publication named in the list must exist at every WAL position decoded (this one is made with
 * the schema, before any slot).
 */
export const NO_PUBLICATION = 'nearest_none';

/** The advisory lock key of schema changes (an arbitrary constant: 'nearest' in ASCII). */
export const SCHEMA_LOCK = 0x6e656172657374;

export interface CollectionRow {
  num: number;
  name: string;
  dim: number;
  metric: Metric;
  index: unknown;
  shards: number;
  replicas: number;
  createdAt: string;
  /** After its table and publications were made, before any row was written. */
  startLsn: bigint;
  /** The application's table followed (written with plain SQL), or null for nearest's own table. */
  source: SourceTable | null;
  /** shard → node ids whose replica serves (ready or leaving; sorted). */
  placements: string[][];
  /** shard → node ids whose replica is being added (copying; not read from yet). */
  copying: string[][];
  /** shard → node ids whose replica goes once its replacement is ready. */
  leaving: string[][];
}

/**
 * A followed table: its (optionally schema-qualified) name, the primary-key column that gives the
 * ids, the embedding column (real[], bytea of little-endian float32, or pgvector's vector) and
 * the columns kept as metadata.
 */
export interface SourceTable { table: string; id: string; vector: string; payload: string[] }

export const tableOf = (num: number): string => `nearest.p${num}`;
/**
 * The publication a shard's replicas follow: one per shard with a row filter on nearest's own
 * tables; one for the whole table of a followed one (row filters may only name replica-identity
 * columns, so there every replica receives every row and keeps those whose id hashes to its shard).
 */
export const publicationOf = (c: { num: number; source: SourceTable | null }, shard: number): string =>
  c.source ? `nearest_p${c.num}` : `nearest_p${c.num}_s${shard}`;

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** A column or table name as SQL ("quoted"); INVALID_ARGUMENT-shaped error text when not a plain identifier. */
export function quoteIdent(name: string): string | null {
  const parts = name.split('.');
  if (parts.length > 2 || !parts.every((p) => IDENT.test(p))) return null;
  return parts.map((p) => `"${p}"`).join('.');
}
export const slotOf = (nodeId: string): string => `nearest_node_${nodeId}`;

/** Node ids name replication slots: lowercase letters, digits and underscores, 1–40 of them. */
export const NODE_ID_RE = /^[a-z0-9_]{1,40}$/;

/** The text form of an id in the table (JSON: 12 or "abc"), one-to-one with RecordId. */
export const idKey = (id: RecordId): string => JSON.stringify(id);
export const idFromKey = (key: string): RecordId => JSON.parse(key) as RecordId;

/** The shard of an id: FNV-1a (32-bit) of its key's UTF-8 bytes, modulo the shard count. */
export function shardOf(key: string, shards: number): number {
  let h = 0x811c9dc5;
  const bytes = Buffer.from(key, 'utf8');
  for (const b of bytes) { h ^= b; h = Math.imul(h, 0x01000193) >>> 0; }
  return h % shards;
}

/**
 * Replica placement over the live nodes (sorted by id): replica r of shard s goes to node
 * (s·replicas + r) mod N, so the replicas of a shard land on distinct nodes and, with
 * shards·replicas ≥ N, every node holds some.
 */
export function place(nodes: readonly string[], shards: number, replicas: number): string[][] {
  const sorted = [...nodes].sort();
  const out: string[][] = [];
  for (let s = 0; s < shards; s++) {
    const set = new Set<string>();
    for (let r = 0; r < replicas; r++) set.add(sorted[(s * replicas + r) % sorted.length]);
    out.push([...set].sort());
  }
  return out;
}
