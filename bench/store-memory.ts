// Memory of a durable store against the raw data it holds: writes n × dim float32 vectors with
// numeric ids in batches of 10,000 (fsync per batch), compacts, closes, and reopens in a fresh
// process; reports peak RSS (VmHWM) of each phase beside the raw size n × (4·dim + 8) bytes and the
// bar of issue #9: peak ≤ 1.5 × raw + 64 MiB, compaction and reopening included. The phases run in
// plain `node` children (bench/store-memory-child.mjs, importing the built package) so that the
// figures are the store's and node's, not tsx's.
//
//   npm run bench:store-memory                      # 1M × 96 (the shape), flat
//   npm run bench:store-memory -- --n 200000 --dim 768 --index hnsw
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '1000000' }, dim: { type: 'string', default: '96' }, index: { type: 'string', default: 'flat' },
    quick: { type: 'boolean', default: false },
  },
});
const n = args.quick ? 100_000 : Number(args.n), dim = Number(args.dim);
const MiB = 2 ** 20;

{
  const here = dirname(fileURLToPath(import.meta.url));
  const dir = mkdtempSync(join(here, '.cache-store-memory-'));
  const run = (phase: string, dirName = 's', extra: string[] = []) => {
    const r = spawnSync(process.execPath, [join(here, 'store-memory-child.mjs'), '--phase', phase, ...extra, '--dir', join(dir, dirName), '--n', String(n), '--dim', String(dim), '--index', args.index!], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`${phase} failed`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  };
  try {
    const w = run('write');
    const o = run('reopen');
    run('write', 'log', ['--compact', 'no']);
    const r = run('replay', 'log');
    const raw = n * (4 * dim + 8);
    const bar = 1.5 * raw + 64 * MiB;
    const f = (b: number) => `${(b / MiB).toFixed(0)} MiB`;
    console.log(`durable store memory: ${n} × ${dim} float32, ${args.index} index; raw data ${f(raw)}, bar 1.5 × raw + 64 MiB = ${f(bar)}`);
    console.log(`  node baseline RSS ${f(w.base)}; writes ${w.writeSeconds.toFixed(1)} s, compaction ${w.compactSeconds.toFixed(1)} s, reopen ${o.openSeconds.toFixed(1)} s`);
    console.log(`  RSS before compaction ${f(w.beforeCompact)} (peak ${f(w.hwmBefore)}); peak incl. compaction ${f(w.hwm)} = ${(w.hwm / raw).toFixed(2)} × raw; ${w.hwm <= bar ? 'meets' : 'MISSES'} the bar`);
    console.log(`  peak while reopening ${f(o.hwm)} = ${(o.hwm / raw).toFixed(2)} × raw; ${o.hwm <= bar ? 'meets' : 'MISSES'} the bar; RSS after reopen ${f(o.after)}`);
    console.log(`  a store never compacted (its log holds all ${n} records, as after a crash): replaying it ${r.openSeconds.toFixed(1)} s (peak ${f(r.afterOpen)}), then compacting ${r.compactSeconds.toFixed(1)} s: peak ${f(r.hwm)} = ${(r.hwm / raw).toFixed(2)} × raw; ${r.hwm <= bar ? 'meets' : 'MISSES'} the bar`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
