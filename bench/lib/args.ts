// Command line of bench/run.ts: one parser for both suites, so `tsx bench/run.ts --quick` can run
// them back to back. Options that mean different things per suite (--systems, --out) or belong to
// one suite only are refused unless that suite alone is selected.

import { parseArgs } from 'node:util';

export const OPTIONS = {
  suite: { type: 'string' },
  quick: { type: 'boolean', default: false },
  verbose: { type: 'boolean', default: false },
  'no-cache': { type: 'boolean', default: false },
  'gt-source': { type: 'string' },
  n: { type: 'string' },
  nq: { type: 'string' },
  systems: { type: 'string' },
  out: { type: 'string' },
  help: { type: 'boolean', default: false },
  // exact suite
  runs: { type: 'string' },
  modes: { type: 'string' },
  'single-queries': { type: 'string' },
  'time-budget': { type: 'string' },
  threads: { type: 'string' },
  // hnsw suite
  datasets: { type: 'string' },
  ef: { type: 'string' },
  passes: { type: 'string' },
  'build-threads': { type: 'string' },
  'min-qps': { type: 'string' },
  'stop-recall': { type: 'string' },
  replot: { type: 'boolean' },
} as const;

export type Suite = 'exact' | 'hnsw';
export type BenchArgs = ReturnType<typeof parseBenchArgs>['args'];

const EXACT_ONLY = ['runs', 'modes', 'single-queries', 'time-budget', 'threads'] as const;
const HNSW_ONLY = ['datasets', 'ef', 'passes', 'build-threads', 'min-qps', 'stop-recall', 'replot'] as const;
const PER_SUITE = ['systems', 'out'] as const;

export function log(message: string): void {
  process.stderr.write(`${message}\n`);
}

/** Parses argv; exits with status 2 (and a message) on a bad combination. */
export function parseBenchArgs(argv: string[] = process.argv.slice(2)) {
  const { values: args } = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false });
  const suiteArg = args.suite ?? 'all';
  if (suiteArg !== 'all' && suiteArg !== 'exact' && suiteArg !== 'hnsw') {
    log(`--suite must be exact, hnsw or all, got ${suiteArg}`);
    process.exit(2);
  }
  const suites: Suite[] = suiteArg === 'all' ? ['exact', 'hnsw'] : [suiteArg];
  const given = (names: readonly string[]) => names.filter((o) => args[o as keyof typeof args] !== undefined);
  const refuse = (names: string[], why: string) => {
    if (names.length === 0) return;
    log(`${names.map((o) => `--${o}`).join(', ')} ${why}`);
    process.exit(2);
  };
  if (!suites.includes('exact')) refuse(given(EXACT_ONLY), 'only apply to --suite exact');
  if (!suites.includes('hnsw')) refuse(given(HNSW_ONLY), 'only apply to --suite hnsw');
  if (suites.length > 1) {
    refuse(given(PER_SUITE), 'differ per suite: add --suite exact or --suite hnsw');
    refuse(given(EXACT_ONLY), 'only apply to the exact suite: add --suite exact');
    refuse(given(HNSW_ONLY), 'only apply to the hnsw suite: add --suite hnsw');
  }
  return { args, suites };
}

/** An integer option (exits with status 2 when malformed). */
export function intArg(name: string, value: string | undefined, fallback: number, min = 1): number {
  if (value === undefined) return fallback;
  const v = Number(value);
  if (!Number.isInteger(v) || v < min) {
    log(`--${name} must be an integer >= ${min}, got ${value}`);
    process.exit(2);
  }
  return v;
}

/** A number option (exits with status 2 when malformed). */
export function numberArg(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const v = Number(value);
  if (!Number.isFinite(v) || v < min || v > max) {
    log(`--${name} must be a number from ${min} to ${max}, got ${value}`);
    process.exit(2);
  }
  return v;
}

export const HELP = `usage: tsx bench/run.ts [--suite exact|hnsw|all] [options]   (default: both suites)

common
  --quick              smoke test: small corpus, few queries, 1 run / pass
  --n N / --nq N       corpus rows / queries (exact: 60000 / 10000; hnsw: 60000 / 2000 of the test set)
  --no-cache           recompute the ground truth
  --gt-source S        nearest (default; FAISS if nearest is not built) or faiss (cross-check)
  --verbose            echo the children's stderr (the hnsw suite always shows its progress)
  --systems a,b        subset of the suite's systems (with --suite)
  --out NAME           results file stem in bench/results (with --suite)

exact suite (--suite exact)
  --runs N             runs per system and mode, medians reported (default 3; quick 1)
  --modes single,batch subset of modes
  --single-queries N   queries timed per single-mode run (default per system: 1000, naive 100)
  --time-budget S      single mode stops after S s of timed queries (default 10; chunked batches 3x)
  --threads N          threads for batch mode (default: logical CPUs)

hnsw suite (--suite hnsw)
  --datasets a,b       euclidean (Fashion-MNIST raw pixels), cosine (its L2-normalised copy),
                       wordvecs (100-d fastText word vectors, cosine; skipped without fasttext),
                       clustered-960 (960-d synthetic, intrinsic dim 10, euclidean), clustered-1m (1M x 128 synthetic, intrinsic dim 16, euclidean; not in all), or all;
                       default euclidean,cosine
  --ef a,b,...         efSearch sweep (default 10,12,16,20,24,32,40,48,64,80,96,128,192,256;
                       quick 10,16,32,64,128)
  --passes N           timed passes over the queries per sweep point, median reported (default 3; quick 1)
  --build-threads N    threads for building where the system can (default 2)
  --min-qps Q          stop a sweep once wall QPS falls below Q (default 300)
  --stop-recall R      stop a sweep once recall@10 reaches R (default 0.999)
  --replot             only redraw the charts from bench/results/<stem>.json (stem: --out, or hnsw / hnsw-quick)
`;

/**
 * The command line of a single-file bench: `options` parsed strictly (plus --help, which prints
 * `usage` and exits 0), and `fail`, which prints a message with the usage and exits 2.
 */
export function benchArgs<const O extends NonNullable<Parameters<typeof parseArgs>[0]>['options']>(usage: string, options: O) {
  const { values } = parseArgs({ options: { ...options, help: { type: 'boolean', default: false } }, strict: true });
  if ((values as { help?: boolean }).help) {
    process.stdout.write(`${usage}\n`);
    process.exit(0);
  }
  const fail = (message: string): never => {
    log(`${message}\n${usage}`);
    process.exit(2);
  };
  return { args: values as ReturnType<typeof parseArgs<{ options: O; strict: true }>>['values'], fail };
}
