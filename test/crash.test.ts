// SIGKILL crash tests: child processes write to real files and are killed with kill -9 at random
// moments — during writes, compactions, catalog changes and their own recovery at open. After every
// kill the parent reopens the directory (read-only and writable in turn), checks that no
// acknowledged change was lost and no half-done one is visible, and restarts the child from the
// state it found.
//   store:     VectorStore (flat and HNSW) with explicit and automatic compactions
//              (children: fixtures/crash-writer.mjs, operations in fixtures/crash-ops.mjs)
//   database:  Database creating, filling and dropping collections (fixtures/crash-db-writer.mjs)
// Kills per test: NEAREST_CRASH_KILLS (default 30, so that `npm test` stays fast). The long run:
//   NEAREST_CRASH_KILLS=100 npx vitest run test/crash.test.ts
// Each test prints its figures; a violation keeps the directory aside and names it in the failure.
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { Database, VectorStore, type DurableVectorStore } from 'nearest';
import { applyOp, BATCHES, batchRecords, collectionOptions } from './fixtures/crash-ops.mjs';

const KILLS = Number(process.env.NEAREST_CRASH_KILLS ?? 30);
if (!Number.isSafeInteger(KILLS) || KILLS < 1) throw new Error(`NEAREST_CRASH_KILLS must be a positive integer, got ${process.env.NEAREST_CRASH_KILLS}`);
const TIMEOUT = 30_000 + KILLS * 2_000;

const work = mkdtempSync(join(tmpdir(), 'nearest-crash-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).pathname;

/** Fails the test, keeping a copy of the directory for reproduction. */
function violation(dir: string, what: string): never {
  const kept = mkdtempSync(join(tmpdir(), 'nearest-crash-failure-'));
  if (existsSync(dir)) cpSync(dir, kept, { recursive: true });
  throw new Error(`${what} (the directory after the kill is kept at ${kept})`);
}

/** Figures both tests count. */
interface KillFigures { kills: number; beforeOpen: number; emptyLocks: number }

/**
 * Runs a child until a SIGKILL at a random moment: one kill in four lands within 15 ms after START
 * (the child's open and recovery), the others 5–105 ms after OPEN (while it writes). `onLine` sees
 * each stdout line split into words; `atKill` runs just before the kill. The child must not end by
 * itself (an error in it fails the test).
 */
async function runUntilKilled(dir: string, args: string[], f: KillFigures, onLine: (words: string[]) => void, atKill: () => void): Promise<void> {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const inOpen = Math.random() < 0.25;
  const delay = inOpen ? Math.random() * 15 : 5 + Math.random() * 100;
  let opened = false, killed = false, hung = false, beforeOpen = false, buffer = '', stderr = '';
  const kill = () => {
    if (killed) return;
    killed = true;
    beforeOpen = !opened;
    atKill();
    child.kill('SIGKILL');
  };
  const watchdog = setTimeout(() => { hung = true; kill(); }, 20_000);
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => {
    buffer += d;
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) {
      if (line === 'START' && inOpen) setTimeout(kill, delay);
      if (line === 'OPEN') { opened = true; if (!inOpen) setTimeout(kill, delay); }
      onLine(line.split(' '));
    }
  });
  child.stderr.on('data', (d) => (stderr += d));
  const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
  clearTimeout(watchdog);
  expect(hung, 'the child was never killed (it printed no START / OPEN)').toBe(false);
  expect(signal, `the child ended by itself (exit code ${code}) instead of being killed:\n${stderr}`).toBe('SIGKILL');
  f.kills++;
  if (beforeOpen) f.beforeOpen++;
  f.emptyLocks += countEmptyLocks(dir);
  expect(f.emptyLocks, 'a kill left an empty LOCK file').toBe(0);
}

/**
 * Opens what a kill left: read-only on even cycles (the next child then does the recovery), for
 * writing on odd ones and the last. Any error is a violation unless `absent(e)` (null then).
 */
async function reopen<T>(dir: string, cycle: number, open: (readOnly: boolean) => Promise<T>, absent = (_e: unknown) => false): Promise<{ opened: T | null; readOnly: boolean }> {
  const readOnly = cycle % 2 === 0 && cycle !== KILLS - 1;
  try {
    return { opened: await open(readOnly), readOnly };
  } catch (e) {
    if (absent(e)) return { opened: null, readOnly };
    violation(dir, `cycle ${cycle}: reopening ${readOnly ? 'read-only' : 'for writing'} failed: ${(e as { code?: string }).code} ${(e as Error).message}`);
  }
}

/**
 * Empty LOCK files left by a kill. The lock is written under a temporary name and linked into
 * place, so a kill can never leave an empty one (an older lock did, and every open then refused for
 * 10 s): counted, and required to be zero.
 */
function countEmptyLocks(dir: string): number {
  const collections = join(dir, 'collections');
  const locks = [dir, ...(existsSync(collections) ? readdirSync(collections).map((d) => join(collections, d)) : [])].map((d) => join(d, 'LOCK'));
  return locks.filter((lock) => existsSync(lock) && statSync(lock).size === 0).length;
}

/** Whether a store holds exactly `model` (id -> { vector, metadata }), vectors bit for bit. */
function holds(store: DurableVectorStore, model: Map<unknown, { vector: number[]; metadata: unknown }>): boolean {
  if (store.size !== model.size) return false;
  for (const [id, rec] of model) {
    const got = store.get(id as string | number);
    if (!got || !isDeepStrictEqual(got.metadata, rec.metadata) || got.vector.length !== rec.vector.length || got.vector.some((v, i) => v !== rec.vector[i])) return false;
  }
  return true;
}

/** The write-ahead log generations in a store directory. */
const logGenerations = (dir: string) => (existsSync(dir) ? readdirSync(dir) : []).map((n) => /^wal-(\d+)\.log$/.exec(n)).filter((m) => m !== null).map((m) => Number(m![1]));

describe.each(['flat', 'hnsw'])('SIGKILL a store writer (%s index)', (kind) => {
  it(`loses no acknowledged write and applies no half batch, also during compactions (${KILLS} kills)`, async () => {
    const dir = join(work, `store-${kind}`);
    // The store held the state after operations 0..matched at the last check; model is that state.
    let matched = -1;
    const model = new Map<number, { vector: number[]; metadata: unknown }>();
    const f = { kills: 0, duringCompaction: 0, duringCompactionByFiles: 0, beforeOpen: 0, inFlightApplied: 0, operations: 0, maxLogs: 0, emptyLocks: 0 };
    for (let cycle = 0; cycle < KILLS; cycle++) {
      let acked = matched, issued = matched;
      const compacting = new Set<string>();
      const at = { compactingAtKill: false };
      const newestBefore = Math.max(0, ...logGenerations(dir));
      await runUntilKilled(dir, [fixture('crash-writer.mjs'), dir, String(matched + 1), kind], f, (w) => {
        if (w[0] === 'ACK') acked = Math.max(acked, Number(w[1]));
        else if (w[0] === 'ISSUE') issued = Math.max(issued, Number(w[1]));
        else if (w[0] === 'COMPACT-START') compacting.add(w[1]);
        else if (w[0] === 'COMPACT-END') compacting.delete(w[1]);
      }, () => { at.compactingAtKill = compacting.size > 0; });
      if (at.compactingAtKill) f.duringCompaction++;
      // A compaction rotated the log during this run and had not deleted the older logs yet.
      const gens = logGenerations(dir);
      f.maxLogs = Math.max(f.maxLogs, gens.length);
      if (gens.length > 1 && Math.max(...gens) > newestBefore) f.duringCompactionByFiles++;

      // NOT_FOUND: killed while the very first open was creating the store, so there is none yet.
      const { opened: store, readOnly } = await reopen(dir, cycle, (ro) => VectorStore.open(dir, ro ? { readOnly: true } : {}),
        (e) => acked === -1 && (e as { code?: string }).code === 'NOT_FOUND');
      if (!store) continue;
      if (readOnly && store.stats().damage !== null) violation(dir, `cycle ${cycle}: a read-only open found damage ${JSON.stringify(store.stats().damage)}`);
      // The store must hold the state after some prefix j with acked ≤ j ≤ issued: writes are
      // logged in the order issued, so an acknowledged one implies every earlier one.
      let j = matched;
      while (j < acked) applyOp(model, ++j);
      while (!holds(store, model) && j < issued) applyOp(model, ++j);
      if (!holds(store, model)) violation(dir, `cycle ${cycle}: the store (${store.size} records) matches no prefix of operations in [${acked}, ${issued}] (${readOnly ? 'read-only' : 'writable'} open)`);
      if (j > acked) f.inFlightApplied++;
      // The index agrees with the records: every hit is a live record (flat: a record finds itself).
      for (const [id, rec] of [...model].slice(0, 5)) {
        const hits = store.search(rec.vector, 10);
        if (hits.length !== Math.min(10, model.size) || hits.some((h) => !model.has(h.id as number))) violation(dir, `cycle ${cycle}: search returned ${JSON.stringify(hits.map((h) => h.id))}`);
        if (kind === 'flat' && hits[0].id !== id) violation(dir, `cycle ${cycle}: record ${id} does not find itself first`);
      }
      await store.close();
      matched = j;
    }
    f.operations = matched + 1;
    console.log(`store crash (${kind}): ${JSON.stringify(f)}`);
    expect(f.duringCompaction, 'no kill landed while a compaction was in flight').toBeGreaterThan(0);
    expect(matched).toBeGreaterThan(KILLS);
  }, TIMEOUT);
});

type Step = 'issued' | 'acked';
const raise = (a: Step | undefined, b: Step): Step => (a === 'acked' ? a : b);

describe('SIGKILL a database writer', () => {
  it(`keeps every acknowledged catalog change and upsert, and opens after any kill (${KILLS} kills)`, async () => {
    const dir = join(work, 'db');
    // What the parent has seen of collection c<i> over all runs.
    const seen = new Map<number, { create?: Step; drop?: Step; batches: (Step | undefined)[] }>();
    const of = (i: number) => seen.get(i) ?? seen.set(i, { batches: [] }).get(i)!;
    const f = {
      kills: 0, duringCatalogChange: 0, duringUpsert: 0, inFlightCreateCommitted: 0, inFlightCreateAbsent: 0, inFlightDropCommitted: 0,
      inFlightDropAbsent: 0, beforeOpen: 0, leftovers: 0, emptyLocks: 0, collectionsCreated: 0,
    };
    let start = 0;
    for (let cycle = 0; cycle < KILLS; cycle++) {
      // The step issued and not yet acknowledged (the child takes one at a time).
      const inFlight = { now: null as [string, number] | null, atKill: null as [string, number] | null };
      await runUntilKilled(dir, [fixture('crash-db-writer.mjs'), dir, String(start)], f, (w) => {
        if (w[0] !== 'ISSUE' && w[0] !== 'ACK') return;
        const step = w[0] === 'ACK' ? 'acked' : 'issued';
        const c = of(Number(w[2]));
        if (w[1] === 'upsert') c.batches[Number(w[3])] = raise(c.batches[Number(w[3])], step);
        else if (w[1] === 'create') c.create = raise(c.create, step);
        else c.drop = raise(c.drop, step);
        inFlight.now = step === 'issued' ? [w[1], Number(w[2])] : null;
      }, () => { inFlight.atKill = inFlight.now; });
      if (!existsSync(dir)) {
        if ([...seen.values()].some((c) => c.create === 'acked')) violation(dir, `cycle ${cycle}: the database directory is gone`);
        continue;
      }
      // Directories the catalog does not name: a create or drop the kill interrupted.
      const catalog = existsSync(join(dir, 'catalog.json')) ? JSON.parse(readFileSync(join(dir, 'catalog.json'), 'utf8')) as { collections: unknown[] } : { collections: [] };
      if (existsSync(join(dir, 'collections')) && readdirSync(join(dir, 'collections')).length > catalog.collections.length) f.leftovers++;
      const { opened, readOnly } = await reopen(dir, cycle, (ro) => Database.open(dir, ro ? { readOnly: true } : {}));
      const db = opened!;
      const listed = db.listCollections();
      const present = new Set<number>();
      for (const info of listed) {
        const m = /^c(\d+)$/.exec(info.name);
        if (!m || seen.get(Number(m[1]))?.create === undefined) violation(dir, `cycle ${cycle}: a collection ${info.name} that was never created`);
        present.add(Number(m[1]));
      }
      const where = `cycle ${cycle} (collections ${[...present].join(', ')}${readOnly ? ', read-only open' : ''})`;
      if (present.size > 4) violation(dir, `${where}: more than 4 collections (every create of c<i> follows the drop of c<i-4>)`);
      for (const [i, c] of seen) {
        if (c.drop === 'acked' && present.has(i)) violation(dir, `${where}: c${i} is present after its drop was acknowledged`);
        if (c.create === 'acked' && c.drop === undefined && !present.has(i)) violation(dir, `${where}: c${i} is missing after its create was acknowledged`);
      }
      for (const info of listed) {
        const i = Number(info.name.slice(1));
        const o = collectionOptions(i);
        if (info.dim !== o.dim || info.metric !== o.metric || info.index.startsWith('HNSW') !== (o.index.type === 'hnsw')) {
          violation(dir, `${where}: ${info.name} has dim ${info.dim} / ${info.metric} / ${info.index}, created with ${JSON.stringify(o)}`);
        }
        // Each batch is there whole or not at all; acknowledged ones are there, unissued ones not.
        const store = db.collection(info.name);
        let expected = 0;
        for (let b = 0; b < BATCHES; b++) {
          const records = batchRecords(i, b);
          const here = records.filter((r) => store.has(r.id)).length;
          const step = seen.get(i)!.batches[b];
          if ((here !== 0 && here !== records.length) || (step === 'acked' && here === 0) || (step === undefined && here !== 0)) {
            violation(dir, `${where}: ${info.name} holds ${here} of the ${records.length} records of batch ${b} (${step ?? 'not issued'})`);
          }
          for (const r of here ? records : []) {
            const got = store.get(r.id)!;
            if (!isDeepStrictEqual(got.metadata, r.metadata) || got.vector.some((v, k) => v !== r.vector[k])) violation(dir, `${where}: ${info.name} record ${r.id} differs`);
          }
          expected += here;
        }
        if (store.size !== expected) violation(dir, `${where}: ${info.name} holds ${store.size} records, ${expected} of them its own`);
      }
      if (inFlight.atKill?.[0] === 'upsert') f.duringUpsert++;
      else if (inFlight.atKill) {
        const [what, i] = inFlight.atKill;
        f.duringCatalogChange++;
        if (what === 'create') f[present.has(i) ? 'inFlightCreateCommitted' : 'inFlightCreateAbsent']++;
        else f[present.has(i) ? 'inFlightDropAbsent' : 'inFlightDropCommitted']++;
      }
      if (!readOnly) {
        // A writable open removes the directories of creates and drops a crash interrupted.
        const dirs = readdirSync(join(dir, 'collections'));
        if (dirs.length !== listed.length) violation(dir, `${where}: collections/ holds ${dirs.join(', ')} for ${listed.length} collection(s)`);
      }
      await db.close();
      // Go on from the newest collection (its batches again: upserts are idempotent).
      start = present.size > 0 ? Math.max(...present) : 0;
    }
    f.collectionsCreated = start + 1;
    console.log(`database crash: ${JSON.stringify(f)}`);
    expect(f.duringCatalogChange, 'no kill landed during a catalog change').toBeGreaterThan(0);
    expect(start, 'the child made no progress').toBeGreaterThan(3);
  }, TIMEOUT);
});
