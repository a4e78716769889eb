// Command-line import benchmark (issue 11's bars), one run on one disk:
//
//   npm run bench:cli              # build, then this: 1M × 128 .fbin, 200k-line JSONL, HNSW on 100k
//   npx tsx bench/cli.ts --quick   # smoke size (~20 s): 100k × 128, 20k lines, HNSW on 10k
//
// 1. dd's sequential write speed with fsync (dd if=/dev/zero of=F bs=1M count=N conv=fdatasync,
//    N = the .fbin's size in MiB) in the same directory as the databases.
// 2. `nearest import` of a generated n × 128 float32 .fbin into a new collection with a Flat index
//    (so it measures reading, parsing and the durable log's writes and fsyncs, not index building),
//    through the real bin; file bytes ÷ wall seconds (the command's own report) against dd's
//    bytes/s. Bar: ≥ 0.5×. Peak RSS of that process (process.resourceUsage().maxRSS at exit) against
//    the index's raw size n × (4·dim + 8) + 256 MiB. Bar: under it.
// 3. The same with an HNSW32 index on the first rows (reported, no bar: it measures the build).
// 4. A JSONL file of m lines ({"id","vector","title"}) imported, against a bare JSON.parse loop over
//    the same lines already in memory (lines/s). Bar: ≥ 0.5×.
// Results: bench/results/cli.json (cli-quick.json with --quick). Data is generated in a temp
// directory under --dir (default the OS temp dir) and removed at the end.
import { execFileSync, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const dirArg = argv.indexOf('--dir');
const base = dirArg >= 0 ? argv[dirArg + 1] : tmpdir();
const ROWS = quick ? 100_000 : 1_000_000, DIM = 128, JSONL_ROWS = quick ? 20_000 : 200_000, HNSW_ROWS = quick ? 10_000 : 100_000;
const work = mkdtempSync(join(base, 'nearest-bench-cli-'));
const wrapper = join(root, 'test/fixtures/cli-rss.mjs');
const log = (s: string) => process.stderr.write(`${s}\n`);

/** A seeded xorshift generator of floats in [-1, 1). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x / 2 ** 31 - 1; };
}

function writeFbin(path: string, n: number, dim: number): void {
  const fd = openSync(path, 'w');
  const h = new Uint32Array([n, dim]);
  writeSync(fd, new Uint8Array(h.buffer));
  const r = rng(7), chunk = 16_384;
  for (let s = 0; s < n; s += chunk) {
    const rows = Math.min(chunk, n - s), v = new Float32Array(rows * dim);
    for (let i = 0; i < v.length; i++) v[i] = r();
    writeSync(fd, new Uint8Array(v.buffer));
  }
  closeSync(fd);
}

function writeJsonl(path: string, n: number, dim: number): void {
  const fd = openSync(path, 'w');
  const r = rng(11);
  let text = '';
  for (let i = 0; i < n; i++) {
    const vector = Array.from({ length: dim }, () => Math.fround(r()));
    text += `${JSON.stringify({ id: `doc-${i}`, vector, title: `title ${i}` })}\n`;
    if (text.length > 1 << 22) { writeSync(fd, text); text = ''; }
  }
  writeSync(fd, text);
  closeSync(fd);
}

/** dd's write speed with fdatasync, bytes/s. */
function dd(mib: number): number {
  const out = spawnSync('dd', ['if=/dev/zero', `of=${join(work, 'dd.tmp')}`, 'bs=1M', `count=${mib}`, 'conv=fdatasync'], { encoding: 'utf8' });
  rmSync(join(work, 'dd.tmp'), { force: true });
  const m = /(\d+) bytes .* copied, ([\d.]+) s/.exec(out.stderr);
  if (!m) throw new Error(`dd: ${out.stderr}`);
  return Number(m[1]) / Number(m[2]);
}

interface ImportRun { rows: number; seconds: number; rowsPerSecond: number; bytesPerSecond: number; maxRss: number }

function runImport(file: string, collection: string, extra: string[] = []): ImportRun {
  const r = spawnSync(process.execPath, [wrapper, 'import', file, '--db', join(work, `db-${collection}`), '--collection', collection, '--metric', 'euclidean', '--json', ...extra], { encoding: 'utf8', maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`import failed: ${r.stderr}`);
  const report = JSON.parse(r.stdout);
  return { rows: report.rows, seconds: report.seconds, rowsPerSecond: report.rowsPerSecond, bytesPerSecond: report.bytesPerSecond, maxRss: Number(/MAXRSS (\d+)/.exec(r.stderr)![1]) };
}

const MiB = 2 ** 20;
const mb = (b: number) => `${(b / MiB).toFixed(0)} MiB`;
const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');

try {
  const fbin = join(work, 'base.fbin'), small = join(work, 'hnsw.fbin'), jsonl = join(work, 'docs.jsonl');
  log(`generating ${ROWS.toLocaleString('en-US')} × ${DIM} .fbin, ${HNSW_ROWS.toLocaleString('en-US')} × ${DIM} .fbin and ${JSONL_ROWS.toLocaleString('en-US')}-line JSONL in ${work}`);
  writeFbin(fbin, ROWS, DIM); writeFbin(small, HNSW_ROWS, DIM); writeJsonl(jsonl, JSONL_ROWS, DIM);
  const fbinBytes = 8 + ROWS * DIM * 4;

  const ddBps = dd(Math.ceil(fbinBytes / MiB));
  log(`dd (fdatasync): ${mb(ddBps)}/s`);
  const flat = runImport(fbin, 'flat', ['--index', 'Flat']);
  const indexBytes = ROWS * (4 * DIM + 8);
  log(`import .fbin (Flat): ${flat.seconds} s, ${flat.rowsPerSecond.toLocaleString('en-US')} rows/s, ${mb(flat.bytesPerSecond)}/s, peak RSS ${mb(flat.maxRss)}`);
  const hnsw = runImport(small, 'hnsw', ['--index', 'HNSW32']);
  log(`import .fbin (HNSW32, ${HNSW_ROWS} rows): ${hnsw.seconds} s, ${hnsw.rowsPerSecond.toLocaleString('en-US')} rows/s`);

  const lines = readFileSync(jsonl, 'utf8').split('\n').filter((l) => l !== '');
  let t = performance.now(), sink = 0;
  for (const l of lines) sink += (JSON.parse(l) as { vector: number[] }).vector.length;
  const parseSeconds = (performance.now() - t) / 1000;
  if (sink !== JSONL_ROWS * DIM) throw new Error('JSON.parse loop: wrong count');
  const parseRate = JSONL_ROWS / parseSeconds;
  const js = runImport(jsonl, 'jsonl');
  log(`JSON.parse loop: ${Math.round(parseRate).toLocaleString('en-US')} lines/s; import .jsonl: ${js.rowsPerSecond.toLocaleString('en-US')} rows/s`);

  const bars = {
    fbinVsDd: { ratio: +(flat.bytesPerSecond / ddBps).toFixed(3), bar: 0.5, met: flat.bytesPerSecond >= 0.5 * ddBps },
    jsonlVsJsonParse: { ratio: +(js.rowsPerSecond / parseRate).toFixed(3), bar: 0.5, met: js.rowsPerSecond >= 0.5 * parseRate },
    peakRss: { bytes: flat.maxRss, bound: indexBytes + 256 * MiB, met: flat.maxRss < indexBytes + 256 * MiB },
  };
  const results = {
    date: new Date().toISOString(), quick, commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim(),
    node: process.version, cpus: cpus().length, dir: base,
    dd: { bytesPerSecond: Math.round(ddBps), mib: Math.ceil(fbinBytes / MiB) },
    fbinFlat: { rows: ROWS, dim: DIM, bytes: fbinBytes, ...flat }, fbinHnsw32: { rows: HNSW_ROWS, dim: DIM, ...hnsw },
    jsonl: { rows: JSONL_ROWS, dim: DIM, jsonParseLinesPerSecond: Math.round(parseRate), ...js },
    bars,
  };
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(join(root, `bench/results/cli${quick ? '-quick' : ''}.json`), `${JSON.stringify(results, null, 2)}\n`);
  console.log(`import .fbin ${ROWS.toLocaleString('en-US')} × ${DIM} (Flat): ${mb(flat.bytesPerSecond)}/s vs dd ${mb(ddBps)}/s = ${bars.fbinVsDd.ratio}× (bar ≥ 0.5×): ${verdict(bars.fbinVsDd.met)}`);
  console.log(`import .jsonl ${JSONL_ROWS.toLocaleString('en-US')} lines: ${js.rowsPerSecond.toLocaleString('en-US')} rows/s vs JSON.parse ${Math.round(parseRate).toLocaleString('en-US')} lines/s = ${bars.jsonlVsJsonParse.ratio}× (bar ≥ 0.5×): ${verdict(bars.jsonlVsJsonParse.met)}`);
  console.log(`peak RSS ${mb(flat.maxRss)} vs index ${mb(indexBytes)} + 256 MiB = ${mb(bars.peakRss.bound)}: ${verdict(bars.peakRss.met)}`);
  console.log(`import .fbin ${HNSW_ROWS.toLocaleString('en-US')} × ${DIM} (HNSW32): ${hnsw.seconds} s, ${hnsw.rowsPerSecond.toLocaleString('en-US')} rows/s (no bar)`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
