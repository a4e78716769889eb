// A ~100-d learned-embedding data set built on this machine: fastText skipgram word vectors trained
// on Debian's own text (package descriptions, licence texts, copyright files and changelogs), so a
// benchmark can use real learned vectors without downloading any. Installs nothing: it needs
// Debian's `fasttext` package (apt-get install fasttext; .ci/run installs it) and says so otherwise.
//
//   npx tsx bench/lib/wordvecs.ts            # build (or report) the cached set: ~210 CPU-s (< 2 min on 2 idle cores)
//   npx tsx bench/lib/wordvecs.ts --quick    # the small set --quick benches use (~10 s)
//   npx tsx bench/lib/wordvecs.ts --rebuild  # train again
//
// Corpus (in this order, file lists sorted): the Description fields of `apt-cache dumpavail` (the
// apt lists: "any machine after apt-get update"), /usr/share/common-licenses/*, and
// /usr/share/doc/*/copyright, changelog*.gz and NEWS*.gz. Each line is lower-cased, every run of
// characters other than a-z 0-9 becomes one space, lines with fewer than 3 words are dropped and a
// line seen before is dropped (licence texts repeat in hundreds of copyright files). About 9.4M
// words in 1.08M lines on Debian 12 with the bench's packages installed.
//
// Training: `fasttext skipgram -dim 100 -minCount 2 -minn 3 -maxn 5 -epoch 2 (quick: 1) -ws 5 -neg 5
// -thread 2 -seed 1`; the .vec file holds one vector per dictionary word (subword-composed), most
// frequent first. fastText's two threads update shared weights without locks (hogwild), so two
// builds are close but not bit-identical: "deterministic-ish". The set's name carries a hash of
// the base vectors, so cached ground truth never outlives the vectors it was computed for.
//
// Base and queries: the first base + queries dictionary words (most frequent first, `</s>` left
// out); every stride-th of them (stride = (base + queries) / queries, the last of each run) is a
// held-out query word, the others form the base set. Full: 60,000 base vectors (the issue's
// reference shape, "60k x 100-d cosine learned word vectors") and 1,000 queries; quick: a model
// trained one epoch on the corpus's first 1M words, 5,000 base vectors and 200 queries. Queries are
// words absent from the base set, so their neighbours are other words, as for a new document.
//
// Cache: $NEAREST_CACHE_DIR, else $XDG_CACHE_HOME/nearest, else ~/.cache/nearest; directory
// wordvecs-100d (or wordvecs-100d-quick) with base.f32 and queries.f32 (little-endian float32,
// row-major), base-words.txt and query-words.txt (one word a line) and meta.json (written last:
// a build that did not finish leaves no meta.json and is redone).

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync, createWriteStream } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

/** A loaded word-vector set, shaped like src/io/datasets.ts's Dataset (train = base, test = queries). */
export interface WordVecs {
  /** Cache key for ground truth: wordvecs-100d[-quick]-<hash of the base vectors>. */
  name: string;
  dim: number;
  metric: 'cosine';
  train: Float32Array;
  test: Float32Array;
  baseWords: string[];
  queryWords: string[];
  source: string;
  meta: WordVecsMeta;
}

export interface WordVecsMeta {
  name: string;
  dim: number;
  base: number;
  queries: number;
  stride: number;
  vocabulary: number;
  corpus: { lines: number; words: number; sources: Record<string, number> };
  fasttext: { command: string; version: string; trainSeconds: number; trainCpuSeconds: number };
  createdAt: string;
  host: string;
}

interface Shape {
  dir: string;
  base: number;
  queries: number;
  epoch: number;
  /** Stop the corpus after this many words (quick). */
  maxWords: number;
}

const DIM = 100;
const SHAPES: Record<'full' | 'quick', Omit<Shape, 'dir'>> = {
  full: { base: 60_000, queries: 1_000, epoch: 2, maxWords: Infinity },
  quick: { base: 5_000, queries: 200, epoch: 1, maxWords: 1_000_000 },
};

/** The cache root: $NEAREST_CACHE_DIR, $XDG_CACHE_HOME/nearest or ~/.cache/nearest. */
export function cacheRoot(): string {
  if (process.env.NEAREST_CACHE_DIR) return process.env.NEAREST_CACHE_DIR;
  const xdg = process.env.XDG_CACHE_HOME;
  return join(xdg && xdg.length > 0 ? xdg : join(os.homedir(), '.cache'), 'nearest');
}

function shapeOf(quick: boolean): Shape {
  return { ...SHAPES[quick ? 'quick' : 'full'], dir: join(cacheRoot(), quick ? 'wordvecs-100d-quick' : 'wordvecs-100d') };
}

/** Whether `fasttext` is on PATH. */
export function fasttextAvailable(): boolean {
  const r = spawnSync('fasttext', [], { stdio: 'ignore' });
  return r.error === undefined;
}

function readF32(path: string, rows: number, dim: number): Float32Array {
  const bytes = readFileSync(path);
  if (bytes.length !== rows * dim * 4) throw new Error(`${path}: ${bytes.length} bytes, expected ${rows * dim * 4}`);
  const out = new Float32Array(rows * dim);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

function readCached(shape: Shape): WordVecs | null {
  const metaPath = join(shape.dir, 'meta.json');
  if (!existsSync(metaPath)) return null;
  try {
    const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as WordVecsMeta;
    if (meta.dim !== DIM || meta.base !== shape.base || meta.queries !== shape.queries || !meta.fasttext.command.includes(` -epoch ${shape.epoch} `)) return null;
    const words = (file: string) => readFileSync(join(shape.dir, file), 'utf8').split('\n').filter((w) => w.length > 0);
    return {
      name: meta.name, dim: meta.dim, metric: 'cosine',
      train: readF32(join(shape.dir, 'base.f32'), meta.base, meta.dim),
      test: readF32(join(shape.dir, 'queries.f32'), meta.queries, meta.dim),
      baseWords: words('base-words.txt'), queryWords: words('query-words.txt'),
      source: shape.dir, meta,
    };
  } catch {
    return null;
  }
}

// ---- corpus ------------------------------------------------------------------------------------

const NOT_WORD = /[^a-z0-9]+/g;

/** Lower-cased, de-duplicated lines of Debian text, written to `out`; returns the counts. */
async function writeCorpus(out: string, maxWords: number, log: (m: string) => void): Promise<WordVecsMeta['corpus']> {
  const stream = createWriteStream(out);
  const seen = new Set<string>();
  const sources: Record<string, number> = {};
  let lines = 0;
  let words = 0;
  const full = () => words >= maxWords;
  const addText = (source: string, text: string): void => {
    for (const raw of text.split('\n')) {
      if (full()) return;
      const line = raw.toLowerCase().replace(NOT_WORD, ' ').trim();
      if (line.length === 0) continue;
      const n = line.split(' ').length;
      if (n < 3 || seen.has(line)) continue;
      seen.add(line);
      stream.write(`${line}\n`);
      lines++;
      words += n;
      sources[source] = (sources[source] ?? 0) + n;
    }
  };

  // 1. Package descriptions from the apt lists (Description: and its continuation lines).
  const dump = spawnSync('apt-cache', ['dumpavail'], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (dump.status === 0) {
    const picked: string[] = [];
    let inDescription = false;
    for (const line of dump.stdout.split('\n')) {
      if (line.startsWith('Description:')) { picked.push(line.slice('Description:'.length)); inDescription = true; }
      else if (inDescription && line.startsWith(' ') && line !== ' .') picked.push(line);
      else inDescription = false;
    }
    addText('apt-descriptions', picked.join('\n'));
  } else {
    log('wordvecs: apt-cache dumpavail failed; going on without package descriptions');
  }
  // 2. Licence texts, 3. per-package copyright files, changelogs and NEWS.
  const files = (dir: string, keep: (name: string) => boolean): string[] => {
    try { return readdirSync(dir).filter(keep).sort().map((f) => join(dir, f)); } catch { return []; }
  };
  for (const f of files('/usr/share/common-licenses', () => true)) {
    try { if (statSync(f).isFile()) addText('common-licenses', readFileSync(f, 'utf8')); } catch { /* unreadable */ }
  }
  const docs = files('/usr/share/doc', () => true);
  for (const kind of ['copyright', 'changelogs'] as const) {
    for (const dir of docs) {
      if (full()) break;
      const picked = kind === 'copyright'
        ? files(dir, (f) => f === 'copyright')
        : files(dir, (f) => /^(changelog|NEWS)[A-Za-z.]*\.gz$/.test(f));
      for (const f of picked) {
        try {
          const bytes = readFileSync(f);
          addText(kind, (f.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8'));
        } catch { /* unreadable or not gzip */ }
      }
    }
  }
  await new Promise<void>((resolve, reject) => stream.end((e?: Error | null) => (e ? reject(e) : resolve())));
  return { lines, words, sources };
}

// ---- training ----------------------------------------------------------------------------------

/** Runs fasttext through sh and returns the CPU seconds it used (the shell's `times`: children's user + sys). */
function runFasttext(args: string[], log: (m: string) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', 'fasttext "$@" >/dev/null && times', 'sh', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let tail = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (c: string) => { out += c; });
    child.stderr.on('data', (c: string) => { tail = (tail + c).slice(-2000); });
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        log(tail.replace(/\r/g, '\n').trim().split('\n').slice(-5).join('\n'));
        reject(new Error(`fasttext exited with ${code}`));
        return;
      }
      // `times` prints the shell's own times, then its children's: "0m41.250s 0m0.830s".
      const seconds = (t: string) => { const m = /^(\d+)m([\d.]+)s$/.exec(t); return m ? Number(m[1]) * 60 + Number(m[2]) : NaN; };
      const children = out.trim().split('\n').pop()?.trim().split(/\s+/) ?? [];
      resolve(seconds(children[0] ?? '') + seconds(children[1] ?? ''));
    });
  });
}

function fasttextVersion(): string {
  const r = spawnSync('dpkg-query', ['-W', '-f', '${Version}', 'fasttext'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout ? `fasttext ${r.stdout.trim()} (Debian)` : 'fasttext (version unknown)';
}

async function build(shape: Shape, log: (m: string) => void): Promise<WordVecs> {
  const tmp = `${shape.dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  try {
    const t0 = performance.now();
    const corpusPath = join(tmp, 'corpus.txt');
    const corpus = await writeCorpus(corpusPath, shape.maxWords, log);
    log(`wordvecs: corpus ${corpus.words.toLocaleString('en-US')} words in ${corpus.lines.toLocaleString('en-US')} lines (${((performance.now() - t0) / 1000).toFixed(1)} s); training fastText skipgram (${shape.epoch} epoch${shape.epoch > 1 ? 's' : ''}, 2 threads)`);
    const args = ['skipgram', '-input', corpusPath, '-output', join(tmp, 'model'), '-dim', String(DIM), '-minCount', '2',
      '-minn', '3', '-maxn', '5', '-epoch', String(shape.epoch), '-ws', '5', '-neg', '5', '-thread', '2', '-seed', '1', '-bucket', '500000', '-verbose', '1'];
    const t1 = performance.now();
    const trainCpuSeconds = await runFasttext(args, log);
    const trainSeconds = (performance.now() - t1) / 1000;
    log(`wordvecs: trained in ${trainSeconds.toFixed(1)} s (${trainCpuSeconds.toFixed(1)} CPU-s)`);

    // model.vec: "<count> <dim>", then "<word> v1 ... v100" most frequent first.
    const lines = readFileSync(join(tmp, 'model.vec'), 'utf8').split('\n');
    const vocabulary = Number(lines[0].split(' ')[0]);
    const total = shape.base + shape.queries;
    const stride = total / shape.queries;
    if (!Number.isInteger(stride)) throw new Error('wordvecs: base + queries must be a multiple of queries');
    const base = new Float32Array(shape.base * DIM);
    const queries = new Float32Array(shape.queries * DIM);
    const baseWords: string[] = [];
    const queryWords: string[] = [];
    let taken = 0;
    for (let i = 1; i < lines.length && taken < total; i++) {
      const parts = lines[i].trimEnd().split(' ');
      if (parts.length !== DIM + 1 || parts[0] === '</s>') continue;
      const isQuery = taken % stride === stride - 1;
      const target = isQuery ? queries : base;
      const row = isQuery ? queryWords.length : baseWords.length;
      for (let j = 0; j < DIM; j++) target[row * DIM + j] = Number(parts[j + 1]);
      (isQuery ? queryWords : baseWords).push(parts[0]);
      taken++;
    }
    if (taken < total) throw new Error(`wordvecs: the model has ${taken} usable words, ${total} needed (a smaller corpus than expected?)`);

    const hash = createHash('sha256').update(new Uint8Array(base.buffer)).digest('hex').slice(0, 8);
    const name = `${shape.dir.endsWith('-quick') ? 'wordvecs-100d-quick' : 'wordvecs-100d'}-${hash}`;
    writeFileSync(join(tmp, 'base.f32'), new Uint8Array(base.buffer));
    writeFileSync(join(tmp, 'queries.f32'), new Uint8Array(queries.buffer));
    writeFileSync(join(tmp, 'base-words.txt'), `${baseWords.join('\n')}\n`);
    writeFileSync(join(tmp, 'query-words.txt'), `${queryWords.join('\n')}\n`);
    for (const f of ['corpus.txt', 'model.bin', 'model.vec']) rmSync(join(tmp, f), { force: true });
    const meta: WordVecsMeta = {
      name, dim: DIM, base: shape.base, queries: shape.queries, stride, vocabulary, corpus,
      fasttext: { command: `fasttext ${args.map((a) => (a.startsWith(tmp) ? a.replace(tmp, '<tmp>') : a)).join(' ')}`, version: fasttextVersion(), trainSeconds, trainCpuSeconds },
      createdAt: new Date().toISOString(), host: os.hostname(),
    };
    writeFileSync(join(tmp, 'meta.json'), `${JSON.stringify(meta, null, 2)}\n`);
    rmSync(shape.dir, { recursive: true, force: true });
    mkdirSync(dirname(shape.dir), { recursive: true });
    renameSync(tmp, shape.dir);
    const got = readCached(shape);
    if (!got) throw new Error(`wordvecs: cannot read back ${shape.dir}`);
    return got;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * The word-vector set from the cache, built first when missing (needs `fasttext`; takes 1-3 min,
 * quick ~10 s). Returns `{ skipped }` when it can be neither read nor built.
 */
export async function loadWordVecs(options: { quick?: boolean; rebuild?: boolean; log?: (m: string) => void } = {}): Promise<WordVecs | { skipped: string }> {
  const log = options.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const shape = shapeOf(options.quick === true);
  if (!options.rebuild) {
    const cached = readCached(shape);
    if (cached) return cached;
  }
  if (!fasttextAvailable()) return { skipped: 'the word vectors are not cached and fasttext is not installed (apt-get install fasttext)' };
  log(`wordvecs: building ${shape.dir}`);
  return build(shape, log);
}

// As a script: build or report the cached set.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const quick = process.argv.includes('--quick');
  const rebuild = process.argv.includes('--rebuild');
  const t0 = performance.now();
  const got = await loadWordVecs({ quick, rebuild });
  if ('skipped' in got) {
    process.stderr.write(`wordvecs: ${got.skipped}\n`);
    process.exit(1);
  }
  process.stdout.write(`${got.name}: ${got.meta.base} base + ${got.meta.queries} query vectors x ${got.dim} (vocabulary ${got.meta.vocabulary}, corpus ${got.meta.corpus.words} words, trained ${got.meta.fasttext.trainSeconds.toFixed(1)} s) in ${got.source} (${((performance.now() - t0) / 1000).toFixed(1)} s)\n`);
  process.stdout.write(`query examples: ${got.queryWords.slice(0, 12).join(' ')}\n`);
}
