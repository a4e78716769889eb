// Benchmarks of nearest against the systems people would otherwise use, on Fashion-MNIST:
//   exact  exact k-NN (FlatIndex), bench/suites/exact.ts  -> bench/results/exact.{json,svg}
//   hnsw   HNSW recall@10 vs QPS sweeps, bench/suites/hnsw.ts -> bench/results/hnsw.json, hnsw-<dataset>.svg
//
//   npm run bench                        both suites, full size (build first): ~7 + ~16 min on 2 cores
//   npm run bench -- --quick             both suites, smoke-test size (a few minutes)
//   npm run bench:hnsw                   the HNSW suite only
//   tsx bench/run.ts --suite exact --systems nearest,faiss --runs 5 --verbose
//   tsx bench/run.ts --help

import { HELP, parseBenchArgs } from './lib/args.ts';
import { runExactSuite } from './suites/exact.ts';
import { runHnswSuite } from './suites/hnsw.ts';

const { args, suites } = parseBenchArgs();
if (args.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

for (const suite of suites) {
  if (suites.length > 1) process.stderr.write(`\n=== suite ${suite} ===\n`);
  if (suite === 'exact') await runExactSuite(args);
  else await runHnswSuite(args);
}
