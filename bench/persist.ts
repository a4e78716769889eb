// Persistence benchmark: save and load throughput of our index files against hnswlib's, on the
// same data: Fashion-MNIST (60k x 784) and a synthetic clustered set (200k x 128).
//
//   npm run bench:persist              # npm run build, this file, then bench/durable.ts (durable writes)
//   npm run bench:persist -- --quick   # 10k x 784 and 20k x 128, smaller IVF (durable.ts: --quick too)
//
// Ours: FlatIndex, HnswIndex (m 16, efConstruction 100, built with 2 threads) and IvfIndex
// (IVF1024,PQ28 on 784-d; PQ16 on 128-d, where m must divide dim) — `saveIndex(index, path)` (atomic:
// temp file, fsync, rename, directory fsync) and `loadIndex(path)`; also the in-memory halves
// (`indexToBuffer` / `indexFromBuffer`) and a plain writeFileSync of the bytes (no fsync) to
// separate serialisation, file I/O and the durability cost. Peers: Debian
// python3-hnswlib (`save_index` / `load_index`, a child process that also builds the index with the
// same parameters) and npm hnswlib-node (`writeIndex` / `readIndex`, async, and the *Sync variants)
// on the index file the Python child wrote (same library, same on-disk format: hnswlib-node's
// build is single-threaded and would only add minutes).
//
// Per index: file size, save and load seconds (median of 3), MB/s = file size (10^6 bytes) ÷
// seconds. Files are read back from a warm page cache (just written): these are parse/copy speeds
// plus the kernel's copy, not disk speeds. After load, a few searches must return the same ids and
// distances as before saving (ours) / the same ids as the Python index (hnswlib). Writes
// bench/results/persist.json; temporary files live in bench/.cache/persist-<pid>/ and are removed.

import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';
import { FlatIndex, HnswIndex, createIndex, describeIndex, indexFromBuffer, indexToBuffer, loadIndex, saveIndex, type IvfIndex, type SearchHit } from 'nearest';
import { clusteredDataset, loadFashionMnist } from '../src/io/datasets.ts';
import { describeEnvironment } from './lib/environment.ts';
import { spawnJson } from './lib/spawn.ts';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const CACHE_DIR = join(REPO_ROOT, 'bench', '.cache');
const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
const PYTHON = process.env.NEAREST_BENCH_PYTHON ?? '/usr/bin/python3';
const HNSWLIB_CHILD = join(REPO_ROOT, 'bench', 'systems', 'hnswlib_persist.py');
const K = 10;
const M = 16;
const EF_CONSTRUCTION = 100;
const EF_SEARCH = 64;
const HNSW_SEED = 100;
const CHECK_QUERIES = 5;

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    repeats: { type: 'string' },
    threads: { type: 'string' },
    datasets: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
  strict: true,
});
if (args.help) {
  process.stdout.write('usage: tsx bench/persist.ts [--quick] [--repeats 3] [--threads 2] [--datasets fashion,synthetic]\n');
  process.exit(0);
}
const log = (message: string): void => {
  process.stderr.write(`${message}\n`);
};

const quick = args.quick;
const repeats = args.repeats ? Number(args.repeats) : 3;
const threads = args.threads ? Number(args.threads) : 2;
const datasetIds = args.datasets ? args.datasets.split(',') : ['fashion', 'synthetic'];
if (!(repeats >= 1) || !(threads >= 1) || datasetIds.some((d) => d !== 'fashion' && d !== 'synthetic')) {
  log('bad arguments (see --help)');
  process.exit(2);
}
const narrowed = Boolean(args.repeats || args.threads || args.datasets);
const suffix = quick ? '-quick' : narrowed ? '-partial' : '';
if (os.endianness() !== 'LE') throw new Error('the raw .f32 files assume a little-endian host');

const tmpDir = join(CACHE_DIR, `persist-${process.pid}`);
mkdirSync(tmpDir, { recursive: true });
const cleanup = (): void => rmSync(tmpDir, { recursive: true, force: true });
process.on('exit', cleanup);

interface DataSpec { id: string; name: string; n: number; dim: number; rows: Float32Array; checks: Float32Array; ivf: string }

function loadData(id: string): DataSpec {
  if (id === 'fashion') {
    const fm = loadFashionMnist({ install: true });
    if (!fm) throw new Error('Fashion-MNIST not found (apt-get install dataset-fashion-mnist)');
    const n = quick ? 10_000 : 60_000;
    return {
      id, name: `${fm.name} train`, n, dim: fm.dim, rows: fm.train.slice(0, n * fm.dim), checks: fm.test.slice(0, CHECK_QUERIES * fm.dim),
      ivf: quick ? 'IVF64,PQ28' : 'IVF1024,PQ28',
    };
  }
  const n = quick ? 20_000 : 200_000;
  const ds = clusteredDataset({ n, nq: CHECK_QUERIES, dim: 128, seed: 1234 });
  return { id, name: ds.name, n, dim: 128, rows: ds.train, checks: ds.test, ivf: quick ? 'IVF64,PQ16' : 'IVF1024,PQ16' };
}

// ---- measurement ---------------------------------------------------------------------------------

interface Timed { wallSeconds: number; cpuSeconds: number }
async function timed(fn: () => unknown): Promise<Timed> {
  const w0 = performance.now();
  const c0 = process.cpuUsage();
  await fn();
  const c = process.cpuUsage(c0);
  return { wallSeconds: (performance.now() - w0) / 1000, cpuSeconds: (c.user + c.system) / 1e6 };
}
const median = (values: number[]): number => {
  const v = [...values].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

interface Row {
  dataset: string;
  n: number;
  dim: number;
  system: string;
  index: string;
  buildSeconds: number | null;
  fileBytes: number;
  save: Timed[];
  load: Timed[];
  saveSeconds: number;
  loadSeconds: number;
  saveMBps: number;
  loadMBps: number;
  /** Ours only: serialise to / parse from an in-memory buffer (no file I/O). */
  toBufferSeconds?: number;
  /** Ours only: writeFileSync of the serialised buffer (no temp file, no fsync). */
  plainWriteSeconds?: number;
  fromBufferSeconds?: number;
  verified: string;
  notes?: string;
}

function summarise(partial: Omit<Row, 'saveSeconds' | 'loadSeconds' | 'saveMBps' | 'loadMBps'>): Row {
  const saveSeconds = median(partial.save.map((t) => t.wallSeconds));
  const loadSeconds = median(partial.load.map((t) => t.wallSeconds));
  return { ...partial, saveSeconds, loadSeconds, saveMBps: partial.fileBytes / 1e6 / saveSeconds, loadMBps: partial.fileBytes / 1e6 / loadSeconds };
}

type Searchable = { search(q: Float32Array, k: number, options?: Record<string, unknown>): SearchHit[] };
function answers(index: Searchable, data: DataSpec, options: Record<string, unknown>): { ids: number[]; distances: number[] }[] {
  const out: { ids: number[]; distances: number[] }[] = [];
  for (let i = 0; i < CHECK_QUERIES; i++) {
    const hits = index.search(data.checks.subarray(i * data.dim, (i + 1) * data.dim), K, options);
    out.push({ ids: hits.map((h) => h.id), distances: hits.map((h) => h.distance) });
  }
  return out;
}
const sameAnswers = (a: ReturnType<typeof answers>, b: ReturnType<typeof answers>): number =>
  a.filter((x, i) => JSON.stringify(x) === JSON.stringify(b[i])).length;

async function measureOurs(data: DataSpec, kind: 'Flat' | 'HNSW' | 'IVF'): Promise<Row> {
  let index: FlatIndex | HnswIndex | IvfIndex;
  let options: Record<string, unknown> = {};
  const label = kind === 'Flat' ? 'Flat' : kind === 'HNSW' ? `HNSW${M} (efC ${EF_CONSTRUCTION})` : data.ivf;
  log(`nearest ${label}: building over ${data.n} x ${data.dim}`);
  const w0 = performance.now();
  if (kind === 'Flat') {
    index = new FlatIndex({ dim: data.dim, metric: 'euclidean' });
    index.add(data.rows);
  } else if (kind === 'HNSW') {
    index = new HnswIndex({ dim: data.dim, metric: 'euclidean', m: M, efConstruction: EF_CONSTRUCTION, threads, seed: HNSW_SEED });
    index.add(data.rows);
    options = { efSearch: EF_SEARCH };
  } else {
    index = createIndex(data.ivf, { dim: data.dim, metric: 'euclidean', threads }) as IvfIndex;
    index.train(data.rows);
    index.add(data.rows);
    options = { nprobe: 8 };
  }
  const buildSeconds = (performance.now() - w0) / 1000;
  const before = answers(index as Searchable, data, options);
  const path = join(tmpDir, `nearest-${data.id}-${kind}.idx`);
  // Where save's time goes: serialising to one buffer, then writing it (plain write, no fsync).
  let buf: Uint8Array | null = null;
  const toBuf: number[] = [];
  for (let r = 0; r < repeats; r++) {
    buf = null;
    toBuf.push((await timed(() => { buf = indexToBuffer(index); })).wallSeconds);
  }
  const plainPath = `${path}.plain`;
  const plain: number[] = [];
  for (let r = 0; r < repeats; r++) {
    rmSync(plainPath, { force: true });
    plain.push((await timed(() => writeFileSync(plainPath, buf!))).wallSeconds);
  }
  rmSync(plainPath, { force: true });
  const serialised: Uint8Array = buf!;
  buf = null;
  const save: Timed[] = [];
  for (let r = 0; r < repeats; r++) save.push(await timed(() => saveIndex(index, path)));
  const fileBytes = statSync(path).size;
  const fileMatches = serialised.length === fileBytes && Buffer.compare(Buffer.from(serialised.buffer, serialised.byteOffset, serialised.byteLength), readFileSync(path)) === 0;
  // Parsing alone, from bytes already in memory.
  const bytes = new Uint8Array(readFileSync(path));
  const fromBuf: number[] = [];
  for (let r = 0; r < repeats; r++) fromBuf.push((await timed(() => indexFromBuffer(bytes))).wallSeconds);
  const load: Timed[] = [];
  let loaded: unknown = null;
  for (let r = 0; r < repeats; r++) {
    loaded = null;
    load.push(await timed(async () => {
      loaded = await loadIndex(path);
    }));
  }
  const after = answers(loaded as Searchable, data, options);
  const identical = sameAnswers(before, after);
  const row = summarise({
    dataset: data.name, n: data.n, dim: data.dim, system: 'nearest', index: describeIndex(index), buildSeconds, fileBytes, save, load,
    toBufferSeconds: median(toBuf), plainWriteSeconds: median(plain), fromBufferSeconds: median(fromBuf),
    verified: `${identical}/${CHECK_QUERIES} identical (ids + distances)${fileMatches ? '' : '; toBuffer differs from the saved file'}`,
  });
  if (identical !== CHECK_QUERIES) throw new Error(`nearest ${label} on ${data.id}: ${identical}/${CHECK_QUERIES} check queries identical after load`);
  log(`nearest ${label}: ${(fileBytes / 1e6).toFixed(1)} MB, save ${row.saveSeconds.toFixed(3)} s, load ${row.loadSeconds.toFixed(3)} s, ${row.verified}`);
  rmSync(path, { force: true });
  return row;
}

interface HnswlibNode {
  HierarchicalNSW: new (space: 'l2' | 'ip' | 'cosine', dim: number) => {
    readIndex(path: string, allowReplaceDeleted?: boolean): Promise<boolean>;
    readIndexSync(path: string, allowReplaceDeleted?: boolean): void;
    writeIndex(path: string): Promise<boolean>;
    writeIndexSync(path: string): void;
    setEf(ef: number): void;
    getCurrentCount(): number;
    searchKnn(query: number[], k: number): { distances: number[]; neighbors: number[] };
  };
}

async function measureHnswlib(data: DataSpec): Promise<Row[]> {
  const dataPath = join(tmpDir, `${data.id}-rows.f32`);
  const checkPath = join(tmpDir, `${data.id}-checks.f32`);
  writeFileSync(dataPath, new Uint8Array(data.rows.buffer, data.rows.byteOffset, data.rows.byteLength));
  writeFileSync(checkPath, new Uint8Array(data.checks.buffer, data.checks.byteOffset, data.checks.byteLength));
  const pyPath = join(tmpDir, `hnswlib-${data.id}.bin`);
  const spec = {
    dataPath, checkPath, checkRows: CHECK_QUERIES, n: data.n, dim: data.dim, k: K, m: M, efConstruction: EF_CONSTRUCTION, ef: EF_SEARCH,
    seed: HNSW_SEED, threads, repeats, path: pyPath,
  };
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
  for (const v of ['OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS']) env[v] = String(threads);
  log(`hnswlib (python): building over ${data.n} x ${data.dim} with ${threads} threads`);
  const outcome = await spawnJson({
    command: PYTHON, args: [HNSWLIB_CHILD, JSON.stringify(spec)], env, cwd: REPO_ROOT, timeoutSeconds: 3600, echoStderr: true, label: 'hnswlib',
  });
  rmSync(dataPath, { force: true });
  const label = `HNSW${M} (efC ${EF_CONSTRUCTION})`;
  const skipped = (system: string, reason: string): Row => ({
    dataset: data.name, n: data.n, dim: data.dim, system, index: label, buildSeconds: null, fileBytes: 0, save: [], load: [],
    saveSeconds: NaN, loadSeconds: NaN, saveMBps: NaN, loadMBps: NaN, verified: `skipped: ${reason}`,
  });
  const json = outcome.ok ? (outcome.json as Record<string, unknown>) : { skipped: true, reason: outcome.reason };
  if (json.skipped) return [skipped('hnswlib (python)', String(json.reason))];
  const py = json as {
    version: string; buildWallSeconds: number; fileBytes: number; save: Timed[]; load: Timed[]; checkAnswers: number[][];
    identicalAfterLoad: number; checkQueries: number; calls: string;
  };
  const rows: Row[] = [summarise({
    dataset: data.name, n: data.n, dim: data.dim, system: 'hnswlib (python)', index: label, buildSeconds: py.buildWallSeconds,
    fileBytes: py.fileBytes, save: py.save, load: py.load, verified: `${py.identicalAfterLoad}/${py.checkQueries} identical ids`,
    notes: `${py.version}; ${py.calls}`,
  })];

  // hnswlib-node on the file the Python child wrote.
  let lib: HnswlibNode;
  let version = '?';
  try {
    const require = createRequire(import.meta.url);
    lib = require('hnswlib-node') as HnswlibNode;
    version = (JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', 'hnswlib-node', 'package.json'), 'utf8')) as { version: string }).version;
  } catch (error) {
    rows.push(skipped('hnswlib-node', (error as Error).message));
    return rows;
  }
  const checkRows = Array.from({ length: CHECK_QUERIES }, (_, i) => Array.from(data.checks.subarray(i * data.dim, (i + 1) * data.dim)));
  const check = (index: InstanceType<HnswlibNode['HierarchicalNSW']>): number => {
    index.setEf(EF_SEARCH);
    return checkRows.filter((q, i) => {
      const got = index.searchKnn(q, K);
      // searchKnn returns neighbours farthest-first or nearest-first depending on the version: sort by distance.
      const ids = got.neighbors.map((id, j) => [got.distances[j], id]).sort((a, b) => a[0] - b[0] || a[1] - b[1]).map((p) => p[1]);
      return JSON.stringify(ids) === JSON.stringify(py.checkAnswers[i]);
    }).length;
  };
  for (const mode of ['async', 'sync'] as const) {
    const nodePath = join(tmpDir, `hnswlib-node-${data.id}-${mode}.bin`);
    const load: Timed[] = [];
    let index: InstanceType<HnswlibNode['HierarchicalNSW']> | null = null;
    for (let r = 0; r < repeats; r++) {
      index = null;
      const fresh = new lib.HierarchicalNSW('l2', data.dim);
      load.push(await timed(async () => {
        if (mode === 'async') await fresh.readIndex(pyPath);
        else fresh.readIndexSync(pyPath);
      }));
      index = fresh;
    }
    const loadedOk = check(index!);
    const save: Timed[] = [];
    for (let r = 0; r < repeats; r++) {
      rmSync(nodePath, { force: true });
      save.push(await timed(async () => {
        if (mode === 'async') await index!.writeIndex(nodePath);
        else index!.writeIndexSync(nodePath);
      }));
    }
    const fileBytes = statSync(nodePath).size;
    const sameFile = fileBytes === py.fileBytes && Buffer.compare(readFileSync(nodePath), readFileSync(pyPath)) === 0;
    rows.push(summarise({
      dataset: data.name, n: data.n, dim: data.dim, system: `hnswlib-node (${mode === 'async' ? 'writeIndex/readIndex' : 'writeIndexSync/readIndexSync'})`, index: label,
      buildSeconds: null, fileBytes, save, load,
      verified: `${loadedOk}/${CHECK_QUERIES} same ids as python; ${sameFile ? 'rewritten file byte-identical' : 'rewritten file differs'}`,
      notes: `hnswlib-node ${version}, reading the file written by python hnswlib (same format; ${index!.getCurrentCount()} elements)`,
    }));
    log(`hnswlib-node ${mode}: ${(fileBytes / 1e6).toFixed(1)} MB, save ${rows.at(-1)!.saveSeconds.toFixed(3)} s, load ${rows.at(-1)!.loadSeconds.toFixed(3)} s, ${rows.at(-1)!.verified}`);
    rmSync(nodePath, { force: true });
  }
  rmSync(pyPath, { force: true });
  return rows;
}

// ---- run -----------------------------------------------------------------------------------------

const rows: Row[] = [];
for (const id of datasetIds) {
  const data = loadData(id);
  log(`== ${data.name}: ${data.n} x ${data.dim}`);
  for (const kind of ['Flat', 'HNSW', 'IVF'] as const) rows.push(await measureOurs(data, kind));
  rows.push(...(await measureHnswlib(data)));
}

const environment = describeEnvironment(REPO_ROOT, PYTHON);
environment.command = ['tsx', 'bench/persist.ts', ...process.argv.slice(2)].join(' ');
const out = process.stdout;
out.write(`\nIndex persistence: save and load, median of ${repeats}; MB = 10^6 bytes; files on ${tmpDir.replace(REPO_ROOT + '/', '')} ` +
  `(warm page cache on load); ours' save is atomic (temp file + fsync + rename + dir fsync), hnswlib's is a plain write\n`);
out.write(`${environment.cpuModel}, ${environment.logicalCpus} logical CPUs, node ${environment.node}; load average ${environment.loadAverage.join(' ')}; shared machine, figures are noisy\n`);
const f = (v: number | null | undefined, digits: number): string => (v === null || v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(digits));
for (const id of datasetIds) {
  const these = rows.filter((r) => (id === 'fashion' ? r.dim === 784 : r.dim === 128));
  if (these.length === 0) continue;
  out.write(`\n== ${these[0].dataset}: ${these[0].n} x ${these[0].dim}\n`);
  const t = new Table({
    head: ['system', 'index', 'build s', 'file MB', 'save s', 'save MB/s', 'load s', 'load MB/s', 'toBuffer s', 'plain write s', 'fromBuffer s', 'check after load'],
    colAligns: ['left', 'left', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'right', 'left'], style: { head: [], border: [], compact: true },
  });
  for (const r of these) {
    t.push([r.system, r.index, f(r.buildSeconds, 1), f(r.fileBytes / 1e6, 1), f(r.saveSeconds, 3), f(r.saveMBps, 0), f(r.loadSeconds, 3), f(r.loadMBps, 0),
      f(r.toBufferSeconds, 3), f(r.plainWriteSeconds, 3), f(r.fromBufferSeconds, 3), r.verified]);
  }
  out.write(`${t.toString()}\n`);
  out.write('ours: save = toBuffer + atomic write (temp file, fsync, rename, dir fsync); plain write = writeFileSync of the same bytes without fsync, ' +
    'comparable to hnswlib\'s save; load = read + fromBuffer (validation, copy into kernel memory)\n');
  const ours = these.find((r) => r.system === 'nearest' && r.index.startsWith('HNSW'));
  for (const peer of these.filter((r) => r.system !== 'nearest' && Number.isFinite(r.saveSeconds))) {
    if (!ours) break;
    out.write(`HNSW ours ÷ ${peer.system}: save ${(ours.saveSeconds / peer.saveSeconds).toFixed(2)}× the time (${(ours.saveMBps / peer.saveMBps).toFixed(2)}× MB/s), ` +
      `load ${(ours.loadSeconds / peer.loadSeconds).toFixed(2)}× the time (${(ours.loadMBps / peer.loadMBps).toFixed(2)}× MB/s), file ${(ours.fileBytes / peer.fileBytes).toFixed(2)}× the size\n`);
  }
}

mkdirSync(RESULTS_DIR, { recursive: true });
const jsonPath = join(RESULTS_DIR, `persist${suffix}.json`);
writeFileSync(jsonPath, `${JSON.stringify({
  benchmark: 'persist', environment,
  params: { repeats, threads, m: M, efConstruction: EF_CONSTRUCTION, efSearch: EF_SEARCH, checkQueries: CHECK_QUERIES, k: K, quick },
  rows,
}, null, 2)}\n`);
out.write(`\nwrote ${jsonPath}\n`);
if (existsSync(tmpDir)) cleanup();
