// Benchmark child: usearch's exact search (exactSearch export of the npm package, NumKong/SimSIMD
// kernels). It keeps no index: every call scans the caller's array. Note exactSearch allocates a
// dataset × queries × 16-byte scratch matrix per call, so batch mode goes in chunks.

import { createRequire } from 'node:module';
import { describeError, loadData, packageVersion, readSpec, report, rssAfterGc, runSingle, skip, stopwatch } from '../lib/child.ts';

interface Matches {
  keys: BigUint64Array;
  distances: Float32Array;
}
interface BatchMatches extends Matches {
  counts: BigUint64Array;
  k: number;
}
type ExactSearch = (
  dataset: Float32Array,
  queries: Float32Array,
  dimensions: number,
  count: number,
  metric: string,
  threads: number,
) => Matches | BatchMatches;

/** Queries per exactSearch call in batch mode (scratch = corpusRows × chunk × 16 bytes). */
const SCRATCH_BYTES = 256 * 2 ** 20;

const spec = readSpec();
const require = createRequire(import.meta.url);
let exactSearch: ExactSearch;
let version = 'unknown';
try {
  const mod = require('usearch') as { exactSearch?: ExactSearch; default?: { exactSearch?: ExactSearch } };
  const fn = mod.exactSearch ?? mod.default?.exactSearch;
  if (typeof fn !== 'function') throw new Error('usearch has no exactSearch export');
  exactSearch = fn;
  version = packageVersion('usearch');
} catch (error) {
  skip(spec.system, spec.mode, `cannot load usearch: ${describeError(error)}`);
  process.exit(0);
}

const { corpus, queries } = loadData(spec);
const { dim, k } = spec;
const metric = spec.metric === 'euclidean' ? 'l2sq' : spec.metric === 'dot' ? 'ip' : 'cos';

// No build step: exactSearch reads `corpus` in place.
const rss0 = rssAfterGc();
const memoryBytes = rssAfterGc() - rss0;

if (spec.mode === 'single') {
  // usearch's addon reads ArrayBuffer.Data() and ignores byteOffset: pass a query that owns its buffer.
  const q = new Float32Array(dim);
  const measured = runSingle(spec, (i) => {
    q.set(queries.subarray(i * dim, (i + 1) * dim));
    return exactSearch(corpus, q, dim, k, metric, 1).keys;
  });
  report(spec, measured, {
    buildSeconds: 0,
    memoryBytes,
    version,
    notes: 'exactSearch(dataset, query, dim, k, l2sq, threads=1) per query; no index structure',
    threads: 1,
  });
} else {
  const chunk = Math.max(1, Math.min(spec.queryRows, Math.floor(SCRATCH_BYTES / (spec.corpusRows * 16))));
  const batch = (from: number, to: number): BigUint64Array =>
    exactSearch(corpus, queries.slice(from * dim, to * dim), dim, k, metric, spec.threads).keys;
  const warm = Math.min(spec.warmup, spec.queryRows);
  if (warm > 1) batch(0, warm);
  const ids = new Int32Array(spec.queryRows * k).fill(-1);
  const stop = stopwatch();
  const t0 = performance.now();
  let done = 0;
  while (done < spec.queryRows) {
    const to = Math.min(spec.queryRows, done + chunk);
    const keys = batch(done, to);
    // BatchMatches rows are k wide; a one-query chunk comes back as Matches (also k wide here).
    for (let i = 0; i < (to - done) * k; i++) ids[done * k + i] = Number(keys[i]);
    done = to;
    if (performance.now() - t0 > spec.timeBudgetSeconds * 1000) break;
  }
  const { wallSeconds, cpuSeconds } = stop();
  report(spec, { queries: done, ids: ids.subarray(0, done * k), wallSeconds, cpuSeconds }, {
    buildSeconds: 0,
    memoryBytes,
    version,
    notes: `exactSearch, threads: ${spec.threads}, ${chunk} queries per call (it allocates corpus x queries x 16 B per call)`,
  });
}
