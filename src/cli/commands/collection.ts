// nearest build / query / tune / info / verify: work on a collection of a database (or, for info
// and verify, on any index file, collection or database path). Only the public API is used.
import { writeFile } from 'node:fs/promises';
import { Database, indexFromFactory, inspectPath, verifyPath, type RecordId, type StoreIndexOptions, type StoreSearchOptions } from '../../index.js';
import { action, EXIT, ExitError, positiveInt, printJson, progress, withCommonFlags, type CommonFlags } from '../common.js';
import { readQueryNpy, readTuneQueries } from '../query-file.js';
import { runTune, sweepSvg } from '../tune.js';
import type { Command } from 'commander';

interface TargetFlags extends CommonFlags { db: string; collection: string }

function usage(message: string): never { throw new ExitError(message, EXIT.usage, 'USAGE'); }

function jsonArg(name: string, text: string): unknown {
  try { return JSON.parse(text); } catch (e) { return usage(`${name} is not valid JSON: ${(e as Error).message}`); }
}

/** An index spec: a JSON options object or a factory string ('HNSW32', 'IVF1024,PQ32,RFlat', 'Flat'). */
export function parseIndexSpec(text: string): StoreIndexOptions {
  if (text.trim().startsWith('{')) return jsonArg('--index', text) as StoreIndexOptions;
  return indexFromFactory(text) as StoreIndexOptions;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
const ms = (t: number) => (t >= 10000 ? `${(t / 1000).toFixed(1)} s` : `${Math.round(t)} ms`);

async function withCollection<T>(flags: TargetFlags, readOnly: boolean, run: (db: Database) => Promise<T>): Promise<T> {
  const db = await Database.open(flags.db, { readOnly });
  try {
    db.collection(flags.collection); // NOT_FOUND naming the collections there
    return await run(db);
  } finally {
    await db.close();
  }
}

async function build(flags: TargetFlags & { index: string }): Promise<void> {
  const index = parseIndexSpec(flags.index);
  await withCollection(flags, false, async (db) => {
    const before = db.collection(flags.collection).stats();
    const bar = await progress(`building ${flags.index}`, before.size, 'records', flags);
    const t0 = Date.now();
    const store = await db.reindexCollection(flags.collection, index, { onProgress: (done, total) => bar.update(done, total) });
    bar.stop();
    const took = Date.now() - t0;
    const st = store.stats();
    const rssBytes = process.resourceUsage().maxRSS * 1024;
    const result = { collection: flags.collection, previousIndex: before.index, index: st.index, count: st.size, buildMs: took, memoryBytes: st.memoryBytes, rssBytes, kernels: st.kernels };
    if (flags.json) return printJson(result);
    process.stdout.write(`${flags.collection}: ${before.index} -> ${st.index}, ${st.size.toLocaleString('en-US')} records in ${ms(took)}\n`);
    process.stdout.write(`memory: index ${mib(st.memoryBytes)}, peak RSS ${mib(rssBytes)}\n`);
  });
}

interface QueryFlags extends TargetFlags {
  vector?: string; file?: string; id?: string; k: number; filter?: string; ef?: number; nprobe?: number; refineFactor?: number; exact?: boolean;
}

async function query(flags: QueryFlags): Promise<void> {
  const given = [flags.vector, flags.file, flags.id].filter((x) => x !== undefined).length;
  if (given !== 1) usage('give exactly one of --vector JSON, --file FILE.npy, --id ID');
  const options: StoreSearchOptions = {};
  if (flags.filter !== undefined) options.filter = jsonArg('--filter', flags.filter) as Record<string, unknown>;
  if (flags.ef !== undefined) options.efSearch = flags.ef;
  if (flags.nprobe !== undefined) options.nprobe = flags.nprobe;
  if (flags.refineFactor !== undefined) options.refineFactor = flags.refineFactor;
  if (flags.exact) options.exact = true;
  await withCollection(flags, true, async (db) => {
    const store = db.collection(flags.collection);
    let queries: Float32Array[];
    if (flags.vector !== undefined) {
      const v = jsonArg('--vector', flags.vector);
      if (!Array.isArray(v)) usage('--vector must be a JSON array of numbers');
      queries = [v as unknown as Float32Array];
    } else if (flags.file !== undefined) {
      const { rows, n, dim } = await readQueryNpy(flags.file);
      if (dim !== store.dim) throw new ExitError(`${flags.file} holds ${dim}-d rows; the collection's dim is ${store.dim}`, EXIT.error, 'DIMENSION_MISMATCH');
      queries = Array.from({ length: n }, (_, i) => rows.subarray(i * dim, (i + 1) * dim));
    } else {
      const text = flags.id!;
      const id: RecordId = /^\d+$/.test(text) && Number.isSafeInteger(Number(text)) && store.has(Number(text)) ? Number(text) : text;
      const rec = store.get(id);
      if (!rec) throw new ExitError(`no record with id ${JSON.stringify(text)} in ${flags.collection}`, EXIT.error, 'NOT_FOUND');
      queries = [rec.vector];
    }
    const t0 = process.hrtime.bigint();
    const results = queries.map((q, i) => ({ query: i, hits: store.search(q, flags.k, options) }));
    const tookMs = Number(process.hrtime.bigint() - t0) / 1e6;
    if (flags.json) return printJson({ collection: flags.collection, k: flags.k, index: store.stats().index, searchDefaults: store.stats().searchDefaults, tookMs, results });
    for (const r of results) {
      if (results.length > 1) process.stdout.write(`query ${r.query}\n`);
      const rows = r.hits.map((h, rank) => [String(rank + 1), String(h.id), h.score.toFixed(4), h.distance.toFixed(4), h.metadata === undefined ? '' : JSON.stringify(h.metadata)]);
      printTable(['#', 'id', 'score', 'distance', 'metadata'], rows);
    }
    process.stderr.write(`${results.length} quer${results.length === 1 ? 'y' : 'ies'} in ${tookMs.toFixed(1)} ms (${store.stats().index})\n`);
  });
}

/** A plain aligned table (metadata cut to 60 characters). */
function printTable(head: string[], rows: string[][]): void {
  const cut = rows.map((r) => r.map((c, i) => (i === r.length - 1 && c.length > 60 ? `${c.slice(0, 57)}...` : c)));
  const widths = head.map((h, i) => Math.max(h.length, ...cut.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd();
  process.stdout.write(`${[line(head), ...cut.map(line)].join('\n')}\n`);
}

interface TuneFlags extends TargetFlags {
  targetRecall: string; queries?: string; k: number; sample?: number; build?: boolean; seed: number; svg: string; save: boolean;
}

async function tune(flags: TuneFlags): Promise<void> {
  const target = Number(flags.targetRecall);
  if (!(target > 0 && target <= 1)) usage(`--target-recall must be a number in (0, 1], got ${flags.targetRecall}`);
  const started = Date.now();
  await withCollection(flags, false, async (db) => {
    const store = db.collection(flags.collection);
    const n = store.size;
    let given: Float32Array | null = null, truth: RecordId[][] | null = null;
    if (flags.queries !== undefined) {
      const q = await readTuneQueries(flags.queries);
      if (q.dim !== store.dim) throw new ExitError(`${flags.queries} holds ${q.dim}-d rows; the collection's dim is ${store.dim}`, EXIT.error, 'DIMENSION_MISMATCH');
      if (q.n === 0) usage(`${flags.queries} holds no queries`);
      given = q.rows;
      // An HDF5 file's neighbours are the truth when they cover k and name records of this collection.
      const nb = q.neighbors;
      if (nb && nb.width >= flags.k) {
        truth = Array.from({ length: q.n }, (_, i) => Array.from(nb.rows.subarray(i * nb.width, i * nb.width + flags.k)));
        const missing = truth.flat().find((id) => !store.has(id));
        if (missing !== undefined) throw new ExitError(`${flags.queries}: "neighbors" names row ${missing}, which is not a record of ${flags.collection} (import the file's "train" rows with their row numbers as ids)`, EXIT.error, 'INVALID_ARGUMENT');
      }
    }
    const sample = flags.sample ?? Math.min(1000, Math.max(1, Math.floor(n / 10)));
    if (given === null && (n < 2 || sample >= n)) throw new ExitError(`the collection holds ${n} records: too few to hold out ${sample} as queries (pass --queries FILE.npy or a smaller --sample)`, EXIT.error, 'INVALID_ARGUMENT');
    const before = store.stats();
    const r = await runTune({
      store, k: flags.k, target, queries: given, truth, sample, build: flags.build === true, seed: flags.seed,
      progress: (label, total, unit) => progress(label, total, unit, flags),
    });
    let saved = false, reindexed = false;
    if (r.chosen && flags.save) {
      const opts = before.indexOptions;
      const rebuilt = Object.entries(r.chosen.build).some(([key, v]) => (opts as Record<string, unknown>)[key] !== v);
      let target = store;
      if (rebuilt) {
        const bar = await progress('rebuilding with the chosen build parameters', n, 'records', flags);
        target = await db.reindexCollection(flags.collection, { ...opts, ...r.chosen.build } as StoreIndexOptions, { onProgress: (d, t) => bar.update(d, t) });
        bar.stop();
        reindexed = true;
      }
      if (Object.keys(r.chosen.params).length > 0 || Object.keys(before.searchDefaults).length > 0) {
        await target.setSearchDefaults(r.chosen.params);
      }
      saved = true;
    }
    const title = `${flags.collection}: ${before.index.replace(/ \(.*$/, '')}, recall@${flags.k} vs QPS (${r.queryCount} ${r.querySource === 'sample' ? 'held-out' : 'given'} queries)`;
    await writeFile(flags.svg, sweepSvg(r.sweep, target, title, r.chosen));
    const tuningMs = Date.now() - started;
    const result = {
      collection: flags.collection, index: before.index, k: flags.k, targetRecall: target,
      queries: { source: r.querySource, count: r.queryCount, heldOut: r.querySource === 'sample', truth: r.truthSource }, baseSize: r.baseSize,
      met: r.chosen !== null, chosen: r.chosen, best: r.best, saved, reindexed,
      sweep: r.sweep, svg: flags.svg, tuningMs, timings: r.timings,
    };
    if (flags.json) printJson(result);
    else {
      printTable(['build', 'search', 'recall', 'QPS'], r.sweep.map((p) => [fmt(p.build), fmt(p.params), p.recall.toFixed(4), Math.round(p.qps).toLocaleString('en-US')]));
      if (r.chosen) {
        process.stdout.write(`chosen: ${fmt({ ...r.chosen.build, ...r.chosen.params }) || '(exact index)'}: recall ${r.chosen.recall.toFixed(4)} >= ${target}, ${Math.round(r.chosen.qps).toLocaleString('en-US')} QPS${saved ? ` — saved as ${flags.collection}'s default${reindexed ? ' (index rebuilt)' : ''}` : ' (not saved: --no-save)'}\n`);
      }
      process.stdout.write(`curve: ${flags.svg}; tuning took ${ms(tuningMs)} (ground truth ${ms(r.timings.groundTruthMs)}, builds ${ms(r.timings.buildMs)}, sweep ${ms(r.timings.sweepMs)})\n`);
    }
    if (!r.chosen) {
      // The result (met: false) is the answer on stdout; the one error line goes to stderr.
      process.stderr.write(`nearest tune: TARGET_NOT_MET: target recall ${target} cannot be met: the best setting measured, ${fmt({ ...r.best?.build, ...r.best?.params })}, reaches ${r.best?.recall.toFixed(4)}; nothing was saved (try --build, or a larger index)\n`);
      process.exitCode = EXIT.error;
    }
  });
}

const fmt = (o: object) => Object.entries(o).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`).join(' ');

async function info(path: string, flags: CommonFlags): Promise<void> {
  const r = await inspectPath(path);
  if (flags.json) return printJson(r);
  const one = (c: { path: string; formatVersion: number; dim: number; metric: string; count: number; index: string; memoryBytes: number }, extra: string[]) => {
    process.stdout.write([
      `path:           ${c.path}`,
      `format version: ${c.formatVersion}`,
      `dim:            ${c.dim}`,
      `metric:         ${c.metric}`,
      `index:          ${c.index}`,
      `count:          ${c.count.toLocaleString('en-US')}`,
      `memory:         ${mib(c.memoryBytes)}`,
      ...extra,
    ].join('\n') + '\n');
  };
  if (r.kind === 'index-file') one(r, [`file:           ${mib(r.fileBytes)}`]);
  else {
    const list = r.kind === 'database' ? r.collections : [r];
    if (r.kind === 'database') process.stdout.write(`database ${r.path}: ${r.collections.length} collection(s), ${r.count.toLocaleString('en-US')} records\n`);
    for (const c of list) {
      if (r.kind === 'database') process.stdout.write(`\ncollection ${c.name}\n`);
      one(c, [
        `snapshot:       ${mib(c.snapshotBytes)}`,
        `log:            ${mib(c.logBytes)} in ${c.logFiles} file(s)`,
        `search:         ${fmt(c.searchDefaults) || "the index's defaults"}`,
        ...(c.damage ? [`damage:         ${c.damage.file} at byte ${c.damage.offset} (${c.damage.framesAfter} intact frame(s) after it; run nearest verify)`] : []),
      ]);
    }
  }
}

async function verify(path: string, flags: CommonFlags): Promise<void> {
  const r = await verifyPath(path);
  if (flags.json) printJson(r);
  else {
    for (const f of r.files) {
      const what = f.type === 'log' ? `${f.frames} frames, ${f.records} records${f.tornBytes ? `, ${f.tornBytes} bytes of an interrupted last write` : ''}` : `${f.bytes.toLocaleString('en-US')} bytes`;
      process.stdout.write(`${f.problems.length === 0 ? 'ok     ' : 'DAMAGED'} ${f.file} (${what})\n`);
    }
  }
  if (!r.ok) {
    for (const p of r.problems) {
      const where = [p.offset !== undefined ? `offset ${p.offset}` : '', p.section ? `section ${p.section}` : '', p.record !== undefined ? `record ${p.record}` : ''].filter(Boolean).join(', ');
      process.stderr.write(`nearest verify: damage: ${p.file}${where ? ` (${where})` : ''}: ${p.message}\n`);
    }
    process.exitCode = EXIT.damaged;
  }
}

const target = (c: Command) => c
  .requiredOption('--db <dir>', 'database directory')
  .requiredOption('--collection <name>', 'collection name');

/** Registers `build`, `query`, `tune`, `info` and `verify`. */
export function registerCollectionCommands(program: Command): void {
  withCommonFlags(target(program.command('build')
    .description("(Re)build a collection's index from its records on all cores; the new index replaces the old atomically.")
    .requiredOption('--index <spec>', "factory string ('Flat', 'HNSW32', 'HNSW16,SQ8', 'IVF1024,PQ32,RFlat') or JSON options ({\"type\":\"hnsw\",\"m\":32,\"efConstruction\":200})")))
    .addHelpText('after', `
Reports the build time, the index's memory and the process's peak RSS. Search defaults saved by
nearest tune are reset (they were tuned for the old index): tune again afterwards.

Examples:
  nearest build --db ./data --collection docs --index HNSW32
  nearest build --db ./data --collection docs --index 'IVF1024,PQ32,RFlat' --json
  nearest build --db ./data --collection docs --index '{"type":"hnsw","m":16,"efConstruction":400}'`)
    .action(action('build', build));

  withCommonFlags(target(program.command('query')
    .description('Search a collection: the k nearest records of a vector, of each row of a .npy file, or of a stored record.')
    .option('--vector <json>', 'the query as a JSON array of numbers')
    .option('--file <file.npy>', 'float32 .npy of shape (dim,) or (n, dim): one query per row')
    .option('--id <id>', "the stored vector of this record is the query (the record itself comes first)")
    .option('--k <n>', 'results per query', positiveInt('--k'), 10)
    .option('--filter <json>', 'metadata filter, e.g. \'{"lang":"en","year":{"$gte":2020}}\'')
    .option('--ef <n>', 'HNSW efSearch for this search (default: the tuned or index default)', positiveInt('--ef'))
    .option('--nprobe <n>', 'IVF lists to scan (default: the tuned or index default)', positiveInt('--nprobe'))
    .option('--refine-factor <n>', 'IVF with RFlat: re-rank refineFactor·k candidates exactly', positiveInt('--refine-factor'))
    .option('--exact', 'exact search over every (matching) record')))
    .addHelpText('after', `
Prints a table (rank, id, score, distance, metadata) per query; --json prints
{ results: [{ query, hits: [{ id, score, distance, metadata }] }] } — always a list, even for one query.
Opens the database read-only (no lock): it can run beside nearest serve.

Examples:
  nearest query --db ./data --collection docs --vector '[0.1, 0.2, 0.3]' --k 5
  nearest query --db ./data --collection docs --file queries.npy --k 10 --json
  nearest query --db ./data --collection docs --id 42 --filter '{"lang":"en"}' --ef 128`)
    .action(action('query', query));

  withCommonFlags(target(program.command('tune')
    .description('Measure recall against exact search while sweeping the search parameters; save the cheapest setting that meets the target as the default.')
    .requiredOption('--target-recall <r>', 'recall@k to reach, e.g. 0.95')
    .option('--queries <file>', 'float32 .npy queries, or an ann-benchmarks HDF5 file (its test rows; its neighbors as the exact answers) (default: hold out a sample of the collection)')
    .option('--k <n>', 'k of recall@k', positiveInt('--k'), 10)
    .option('--sample <n>', 'records held out as queries (default min(1000, n/10))', positiveInt('--sample'))
    .option('--build', 'also sweep the build parameters (HNSW m; IVF nlist) and rebuild with the best')
    .option('--seed <n>', 'seed of the sample', positiveInt('--seed'), 1)
    .option('--svg <file>', 'where to draw the recall / QPS curve', 'nearest-tune.svg')
    .option('--no-save', 'report only: do not save the chosen setting')))
    .addHelpText('after', `
Held-out queries are kept out of the index that is measured: a temporary index of the same spec is
built over the other records (so tuning a 100k collection builds one 100k index per build variant).
QPS is one thread, one query at a time. Exits ${EXIT.error} when no setting reaches the target (nothing saved).

Examples:
  nearest tune --db ./data --collection docs --target-recall 0.95
  nearest tune --db ./data --collection docs --target-recall 0.99 --k 100 --queries test.npy --json
  nearest tune --db ./data --collection sift --target-recall 0.95 --queries sift-128-euclidean.hdf5   # its test rows and neighbors
  nearest tune --db ./data --collection docs --target-recall 0.9 --build --svg curve.svg`)
    .action(action('tune', tune));

  withCommonFlags(program.command('info')
    .description('Describe an index file, a collection (its directory or DB/NAME) or a database.')
    .argument('<path>', 'an index file (saveIndex), a collection directory, DB/NAME, or a database directory'))
    .addHelpText('after', `
Shows format version, dim, metric, index, count, memory, snapshot and log size, and the search
defaults; --json has at least dim, count, metric and index (a database: one entry per collection).
Read-only, no lock.

Examples:
  nearest info ./data/docs
  nearest info ./data --json
  nearest info vectors.hnsw`)
    .action(action('info', info));

  withCommonFlags(program.command('verify')
    .description('Check every checksum: index files, snapshots, every log frame and record, the catalog.')
    .argument('<path>', 'an index file, a collection directory, DB/NAME, or a database directory'))
    .addHelpText('after', `
Exit codes: ${EXIT.ok} intact; ${EXIT.damaged} damage found (each damaged spot is named on stderr: file, byte
offset, section or log record); ${EXIT.error} the path cannot be read. Read-only, takes no lock,
changes nothing (to recover a damaged log, see VectorStore.repair).

Examples:
  nearest verify ./data
  nearest verify ./data/docs --json`)
    .action(action('verify', verify));
}
