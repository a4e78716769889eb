// A lazily started pool of worker threads that run batch searches over shared memory, while the
// calling thread works alongside them and then blocks on an Atomics counter (so searchBatch stays
// synchronous, like FAISS). Node.js only; elsewhere, or when the memory is not shared, the calling
// thread does all the work. Workers are unref'd: an idle pool never keeps a process alive.
import type { Worker as NodeWorker } from 'node:worker_threads';
import { runBatch, UNIT, type BatchParams } from './batch.js';
import type { Arena, ArenaHandle } from './kernels.js';

const isNode = typeof process === 'object' && process.versions?.node !== undefined;
const workerThreads = isNode ? await import('node:worker_threads') : null;
const os = isNode ? await import('node:os') : null;

/** Control words shared with the workers. */
const NEXT = 0;
const DONE = 1;
const FAILED = 2;
const READY = 3;
/** How long the first parallel call waits for new workers to start before going without them. */
const START_TIMEOUT_MS = 5000;

/** Cores available to this process (1 where that cannot be known). */
export function availableThreads(): number {
  if (os) return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return nav?.hardwareConcurrency ?? 1;
}

interface Pool {
  workers: { worker: NodeWorker; alive: boolean }[];
  control: Int32Array;
}

let pool: Pool | null = null;

function ensurePool(size: number): Pool | null {
  if (!workerThreads) return null;
  if (!pool) pool = { workers: [], control: new Int32Array(new SharedArrayBuffer(16)) };
  const p = pool;
  p.workers = p.workers.filter((w) => w.alive);
  let started = false;
  while (p.workers.length < size) {
    const worker = new workerThreads.Worker(new URL('./batch-worker.js', import.meta.url), {
      workerData: { control: p.control },
    });
    const entry = { worker, alive: true };
    const dead = (): void => {
      if (entry.alive) { entry.alive = false; Atomics.sub(p.control, READY, 1); }
    };
    worker.on('error', dead);
    worker.on('exit', dead);
    worker.unref();
    p.workers.push(entry);
    started = true;
  }
  if (started) {
    // New workers announce themselves on READY; wait (bounded) so this call can use them.
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      const ready = Atomics.load(p.control, READY);
      if (ready >= p.workers.length || Date.now() >= deadline) break;
      Atomics.wait(p.control, READY, ready, 50);
    }
  }
  return p;
}

/**
 * Runs a batch on `threads` threads (the caller plus threads - 1 workers) and returns when every
 * unit is done. Falls back to the calling thread alone when threads ≤ 1, the arena is not shared,
 * or worker threads do not exist here.
 */
export function runBatchParallel(arena: Arena, params: BatchParams, threads: number): void {
  const handle: ArenaHandle | null = arena.handle();
  const units = Math.ceil(params.nq / UNIT);
  const helpers = Math.min(threads, units) - 1;
  const p = helpers > 0 && handle ? ensurePool(helpers) : null;
  const ready = p ? Math.min(helpers, Atomics.load(p.control, READY), p.workers.length) : 0;
  if (!p || !handle || ready <= 0) {
    const local = new Int32Array(1);
    runBatch(arena, params, local, 0, 0);
    return;
  }
  const control = p.control;
  Atomics.store(control, NEXT, 0);
  Atomics.store(control, DONE, 0);
  Atomics.store(control, FAILED, 0);
  for (let w = 0; w < ready; w++) {
    p.workers[w].worker.postMessage({ handle, params, thread: w + 1 });
  }
  try {
    runBatch(arena, params, control, NEXT, 0);
  } finally {
    // Every worker reports exactly once per job, whether it ran units or found none left.
    for (;;) {
      const done = Atomics.load(control, DONE);
      if (done >= ready) break;
      Atomics.wait(control, DONE, done, 1000);
    }
  }
  if (Atomics.load(control, FAILED) !== 0) {
    // A worker failed (it reported after storing FAILED): redo the whole batch on this thread.
    const local = new Int32Array(1);
    runBatch(arena, params, local, 0, 0);
  }
}
