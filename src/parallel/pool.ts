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

/**
 * A job as posted to workers: `kind` selects the handler in worker.ts. A job with a `state` (a
 * name that changes whenever `shape` would) sends its `shape` to a worker only when that worker
 * may not hold it yet: workers keep the last STATE_CACHE shapes, and forget all after STATE_IDLE_MS
 * without a job.
 */
export interface Job { readonly kind: string; state?: string; shape?: unknown }
export const STATE_CACHE = 4;
export const STATE_IDLE_MS = 2000;

/** Runs this thread's share of a job: claim units with Atomics.add(control, NEXT, 1). */
export type LocalRun = (control: Int32Array, thread: number) => void;

/** A buffer worker threads can share (a SharedArrayBuffer; a plain one where there is none). */
export function sharedBuffer(bytes: number): ArrayBuffer {
  return (typeof SharedArrayBuffer === 'function' ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes)) as ArrayBuffer;
}

let cores = 0;

/** Cores available to this process (1 where that cannot be known); read once. */
export function availableThreads(): number {
  if (cores > 0) return cores;
  if (os) cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  else cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency ?? 1;
  return cores;
}

interface Entry {
  worker: NodeWorker;
  alive: boolean;
  /** Set once the worker has started (it posts 'ready'); async jobs are posted only then. */
  ready: boolean;
  readyWaiters: ((ok: boolean) => void)[];
  /** Async jobs posted and not yet answered (the worker is ref'd while this is above zero). */
  pending: number;
  /** Answers of the async jobs posted to it (each called false should the worker die first). */
  answers: Set<(ok: boolean) => void>;
  /** The job states this worker holds (as far as we know), oldest first, and when a job last went. */
  states: string[];
  lastPost: number;
}

interface Pool {
  /** Worker w always runs as thread w + 1 (a dead worker is replaced in its place). */
  workers: Entry[];
  control: Int32Array;
}

let pool: Pool | null = null;
/** A worker that fails to start is reported once per process. */
let startFailureReported = false;

/** The pool (created on first use), or null without worker threads or shared memory. */
function thePool(): Pool | null {
  if (!workerThreads || typeof SharedArrayBuffer !== 'function') return null;
  if (!pool) pool = { workers: [], control: new Int32Array(new SharedArrayBuffer(16)) };
  return pool;
}

function ensurePool(size: number): Pool | null {
  const p = thePool();
  if (!p) return null;
  const started = startWorkers(size);
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

/** Makes the pool hold `size` live workers (replacing dead ones in place); true when any started. */
function startWorkers(size: number): boolean {
  const p = pool!;
  let started = false;
  for (let w = 0; w < size; w++) {
    if (p.workers[w]?.alive) continue;
    // A clean execArgv: the parent's flags (--input-type, --eval, loaders) are not for this file,
    // and a worker that inherits them fails to start.
    const worker = new workerThreads!.Worker(new URL('./worker.js', import.meta.url), {
      workerData: { control: p.control }, execArgv: [],
    });
    const entry: Entry = { worker, alive: true, ready: false, readyWaiters: [], pending: 0, answers: new Set(), states: [], lastPost: 0 };
    const dead = (): void => {
      if (!entry.alive) return;
      entry.alive = false;
      if (entry.ready) Atomics.sub(p.control, READY, 1);
      for (const wake of entry.readyWaiters.splice(0)) wake(false);
      for (const answer of [...entry.answers]) answer(false);
    };
    worker.on('message', (m: { ready?: boolean }) => {
      if (m.ready) { entry.ready = true; for (const wake of entry.readyWaiters.splice(0)) wake(true); }
    });
    worker.on('error', (error: Error) => {
      if (!entry.ready && !startFailureReported) {
        startFailureReported = true;
        process.emitWarning(`nearest: a worker thread failed to start (${error.message}); parallel work runs on the threads that did`, { code: 'NEAREST_WORKER_START' });
      }
      dead();
    });
    worker.on('exit', dead);
    worker.unref();
    p.workers[w] = entry;
    started = true;
  }
  return started;
}

/** The job as it should go to this worker: without its shape when the worker holds it. */
function withoutKnownShape(entry: Entry, job: Job): Job {
  const now = Date.now();
  // Half the worker's idle time: by the time the worker could have forgotten, we resend.
  if (now - entry.lastPost > STATE_IDLE_MS / 2) entry.states = [];
  entry.lastPost = now;
  const state = job.state;
  if (state === undefined) return job;
  const at = entry.states.indexOf(state);
  if (at >= 0) {
    // Only a job that finds its state keeps it fresh in the worker's order too: mirror that.
    entry.states.splice(at, 1); entry.states.push(state);
    return { ...job, shape: undefined };
  }
  if (entry.states.length >= STATE_CACHE) entry.states.shift();
  entry.states.push(state);
  return job;
}

/** One job handed to a worker thread by `runOnWorker`. */
export interface WorkerRun {
  /** Settles once the job is over: true when a worker ran it, false when the caller must run it itself. */
  readonly done: Promise<boolean>;
  /**
   * Blocks the calling thread until the job is over; true when a worker ran it. A job not yet
   * handed to its worker is withdrawn instead (false: run it on this thread).
   */
  wait(): boolean;
}

/** How long `wait` blocks on a worker at most before giving up on it (the caller then runs the job). */
const WAIT_LIMIT_MS = 60_000;

/**
 * Runs a job on one of the first `threads` worker threads (the least busy; thread numbers 1 to
 * `threads`), off the calling thread. The job carries its own control words, so jobs for different
 * callers run at once on different workers. Without worker threads or shared memory, or when no
 * worker starts within a few seconds, `done` resolves false at once (or then) and the caller runs
 * the job. Never blocks.
 */
export function runOnWorker(job: Job, threads: number): WorkerRun {
  const p = threads < 1 ? null : thePool();
  if (!p) return { done: Promise.resolve(false), wait: () => false };
  startWorkers(threads);
  let entry = p.workers[0]!;
  for (let w = 1; w < threads; w++) {
    const e = p.workers[w]!;
    if (e.pending < entry.pending || (!entry.ready && e.ready)) entry = e;
  }
  const control = new Int32Array(new SharedArrayBuffer(16));
  let state: 'queued' | 'posted' | 'withdrawn' = 'queued';
  const done = new Promise<boolean>((resolve) => {
    const post = (): void => {
      if (state !== 'queued') { resolve(false); return; }
      if (!entry.alive) { state = 'withdrawn'; resolve(false); return; }
      state = 'posted';
      const answer = (r: boolean): void => {
        if (!entry.answers.delete(answer)) return; // answered already
        if (--entry.pending === 0) entry.worker.unref();
        resolve(r);
      };
      entry.answers.add(answer);
      if (entry.pending++ === 0) entry.worker.ref();
      entry.worker.postMessage({ job: withoutKnownShape(entry, job), thread: p.workers.indexOf(entry) + 1, control });
      // The worker answers on the job's DONE word (cheaper than a message back).
      const finished = (): void => {
        const failed = Atomics.load(control, FAILED) !== 0;
        if (failed) entry.states = []; // it may have lost a shape: send them again
        answer(!failed);
      };
      const waiting = Atomics.waitAsync(control, DONE, 0);
      if (waiting.async) void waiting.value.then(finished);
      else finished();
    };
    if (entry.ready) { post(); return; }
    // Waiting for the worker to start: it keeps the process alive meanwhile (as a posted job does).
    entry.pending++; entry.worker.ref();
    const started = (ok: boolean): void => {
      clearTimeout(timer);
      if (--entry.pending === 0) entry.worker.unref();
      if (ok) post();
      else { if (state === 'queued') state = 'withdrawn'; resolve(false); }
    };
    const timer = setTimeout(() => {
      const at = entry.readyWaiters.indexOf(started);
      if (at >= 0) { entry.readyWaiters.splice(at, 1); started(false); }
    }, START_TIMEOUT_MS);
    entry.readyWaiters.push(started);
  });
  const wait = (): boolean => {
    if (state === 'queued') { state = 'withdrawn'; return false; }
    if (state === 'withdrawn') return false;
    const deadline = Date.now() + WAIT_LIMIT_MS;
    while (Atomics.load(control, DONE) === 0) {
      if (Date.now() >= deadline) return false;
      Atomics.wait(control, DONE, 0, 100);
    }
    return Atomics.load(control, FAILED) === 0;
  };
  return { done, wait };
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
  // (Workers busy with async jobs take this one after them; worker w is always thread w + 1.)
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
