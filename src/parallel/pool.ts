// A lazily started pool of worker threads for jobs over shared memory. The calling thread works
// alongside the workers, claiming units from the same atomic counter, then blocks on an Atomics
// counter until every worker has reported — so parallel calls stay synchronous, like FAISS.
// Node.js only; elsewhere (or without shared memory) the calling thread does all the work.
// Workers are unref'd: an idle pool never keeps a process alive.
import type { Worker as NodeWorker } from 'node:worker_threads';

const isNode = typeof process === 'object' && process.versions?.node !== undefined;
const workerThreads = isNode ? await import('node:worker_threads') : null;
const os = isNode ? await import('node:os') : null;

/** Control words shared with the workers. */
export const NEXT = 0;
const DONE = 1;
const FAILED = 2;
const READY = 3;
/** How long the first parallel call waits for new workers to start before going without them. */
const START_TIMEOUT_MS = 5000;

/** A job as posted to workers: `kind` selects the handler in worker.ts. */
export interface Job { readonly kind: string }

/** Runs this thread's share of a job: claim units with Atomics.add(control, NEXT, 1). */
export type LocalRun = (control: Int32Array, thread: number) => void;

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
  if (!workerThreads || typeof SharedArrayBuffer !== 'function') return null;
  if (!pool) pool = { workers: [], control: new Int32Array(new SharedArrayBuffer(16)) };
  const p = pool;
  p.workers = p.workers.filter((w) => w.alive);
  let started = false;
  while (p.workers.length < size) {
    const worker = new workerThreads.Worker(new URL('./worker.js', import.meta.url), {
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
 * Runs a job on up to `threads` threads: the caller runs `local` while ready workers run the
 * handler registered for `job.kind` (worker.ts) with thread numbers 1, 2, ...; all claim units from
 * the same counter. Returns when every thread is done. With one thread, no shared memory or no
 * worker threads, `local` alone does the whole job. If a worker fails, `local` reruns the job alone
 * (handlers must be idempotent per unit).
 */
export function runParallel(job: Job | null, threads: number, local: LocalRun): void {
  const helpers = job === null ? 0 : threads - 1;
  const p = helpers > 0 ? ensurePool(helpers) : null;
  const ready = p ? Math.min(helpers, Atomics.load(p.control, READY), p.workers.length) : 0;
  if (!p || ready <= 0) {
    local(new Int32Array(4), 0);
    return;
  }
  const control = p.control;
  Atomics.store(control, NEXT, 0);
  Atomics.store(control, DONE, 0);
  Atomics.store(control, FAILED, 0);
  for (let w = 0; w < ready; w++) p.workers[w].worker.postMessage({ job, thread: w + 1 });
  try {
    local(control, 0);
  } finally {
    for (;;) {
      const done = Atomics.load(control, DONE);
      if (done >= ready) break;
      Atomics.wait(control, DONE, done, 1000);
    }
  }
  if (Atomics.load(control, FAILED) !== 0) local(new Int32Array(4), 0);
}

/** For worker.ts: the control word indexes. */
export const CONTROL = { NEXT, DONE, FAILED, READY } as const;
