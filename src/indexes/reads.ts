// Searches in flight on worker threads, and the rule that keeps them consistent: an index (or a
// store) finishes every read in flight before it changes anything. A read is handed to a worker
// with the index's state as it was then; "finishing" it means waiting for the worker (or, if the
// job was never handed over, running it on this thread) and turning its slots into ids while
// those slots still mean what they meant. So a search sees all of a change or none of it, and a
// change never waits for the event loop.
import { runOnWorker, type Job } from '../parallel/pool.js';

/** A read in flight: `settle` finishes it now (blocking if a worker is still on it); idempotent. */
export interface Read<T> {
  readonly promise: Promise<T>;
  settle(): T;
}

/** The reads in flight against one index or store. */
export class PendingReads {
  private readonly open = new Set<Read<unknown>>();

  /**
   * Starts a read: `job` on a worker thread (one of the first `threads`; none → this thread),
   * `local` runs the same job on this thread when no worker ran it, `collect` turns its output into
   * the result. The result is collected once, at the worker's answer or at the next settleAll(),
   * whichever comes first.
   */
  start<T>(job: Job | null, threads: number, local: () => void, collect: () => T): Read<T> {
    const run = job === null ? null : runOnWorker(job, threads);
    return this.track(run === null ? Promise.resolve(false) : run.done, () => run !== null && run.wait(), local, collect);
  }

  /** A read derived from another one (a store's over its index's): settled with it, mapped once. */
  derive<S, T>(inner: Read<S>, map: (value: S) => T): Read<T> {
    return this.track(inner.promise.then(() => true, () => true), () => true, () => { /* inner settles */ }, () => map(inner.settle()));
  }

  private track<T>(done: Promise<boolean>, wait: () => boolean, local: () => void, collect: () => T): Read<T> {
    let state: { value: T } | { error: unknown } | null = null;
    const settle = (): T => {
      if (state === null) {
        this.open.delete(read);
        try {
          if (!wait()) local();
          state = { value: collect() };
        } catch (error) {
          state = { error };
        }
      }
      if ('error' in state) throw state.error;
      return state.value;
    };
    const read: Read<T> = {
      promise: done.then(() => settle()),
      settle,
    };
    this.open.add(read);
    return read;
  }

  /** Finishes every read in flight (call before any change to what they read). */
  settleAll(): void {
    if (this.open.size === 0) return;
    for (const read of [...this.open]) {
      try { read.settle(); } catch { /* the read's own promise reports it */ }
    }
  }
}
