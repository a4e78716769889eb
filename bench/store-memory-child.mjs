// Child of bench/store-memory.ts: one phase (write + compact, or reopen) in a plain node process;
// prints one JSON line with RSS figures (VmHWM is the peak resident set of this process).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { VectorStore } from 'nearest';

const { values: args } = parseArgs({ options: { n: { type: 'string' }, dim: { type: 'string' }, index: { type: 'string' }, phase: { type: 'string' }, dir: { type: 'string' }, compact: { type: 'string' } } });
const n = Number(args.n), dim = Number(args.dim);
const hwm = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]) * 1024;
const rss = () => process.memoryUsage().rss;

function rows(start, count) {
  const out = new Float32Array(count * dim);
  let x = (start * 2654435761) >>> 0;
  for (let i = 0; i < out.length; i++) { x = (x * 1664525 + 1013904223) >>> 0; out[i] = x / 2 ** 32 - 0.5; }
  return out;
}

if (args.phase === 'write') {
  const index = args.index === 'hnsw' ? { type: 'hnsw', m: 16, efConstruction: 64 } : { type: 'flat' };
  const s = await VectorStore.open(args.dir, { dim, metric: 'euclidean', index, compactBytes: 2 ** 40 });
  const base = rss();
  const B = 10_000;
  const t0 = performance.now();
  for (let i = 0; i < n; i += B) {
    const m = Math.min(B, n - i);
    const v = rows(i, m);
    await s.upsert(Array.from({ length: m }, (_, j) => ({ id: i + j, vector: v.subarray(j * dim, (j + 1) * dim) })));
  }
  const written = performance.now() - t0;
  const beforeCompact = rss();
  const hwmBefore = hwm();
  const t1 = performance.now();
  if (args.compact !== 'no') await s.compact();
  const compacted = performance.now() - t1;
  await s.close();
  process.stdout.write(JSON.stringify({ base, beforeCompact, hwmBefore, hwm: hwm(), writeSeconds: written / 1000, compactSeconds: compacted / 1000 }) + '\n');
} else if (args.phase === 'replay') {
  // A store whose log holds everything (as after a crash before any compaction): open it for
  // writing (replaying the log), then compact.
  const base = rss();
  const t0 = performance.now();
  const s = await VectorStore.open(args.dir);
  const opened = performance.now() - t0;
  const afterOpen = hwm();
  const t1 = performance.now();
  await s.compact();
  const compacted = performance.now() - t1;
  await s.close();
  process.stdout.write(JSON.stringify({ base, afterOpen, hwm: hwm(), size: s.size, openSeconds: opened / 1000, compactSeconds: compacted / 1000 }) + '\n');
} else if (args.phase === 'reopen') {
  const base = rss();
  const t0 = performance.now();
  const s = await VectorStore.open(args.dir, { readOnly: true });
  const opened = performance.now() - t0;
  const size = s.size;
  process.stdout.write(JSON.stringify({ base, hwm: hwm(), size, openSeconds: opened / 1000, after: rss() }) + '\n');
}
