// Worker-thread entry for batched search: opens the arena each job names (a fresh kernel instance
// over the same shared memory: cheap, and the worker keeps no reference to an index's memory
// between jobs), runs its share, and reports on the shared control counter.
import { parentPort, workerData } from 'node:worker_threads';
import { openArena } from './backend.js';
import { runBatch, type BatchParams } from './batch.js';
import type { ArenaHandle } from './kernels.js';

const control = (workerData as { control: Int32Array }).control;
const NEXT = 0, DONE = 1, FAILED = 2, READY = 3;

interface Job { handle: ArenaHandle; params: BatchParams; thread: number }

parentPort!.on('message', (job: Job) => {
  try {
    runBatch(openArena(job.handle), job.params, control, NEXT, job.thread);
  } catch {
    Atomics.store(control, FAILED, 1);
  } finally {
    Atomics.add(control, DONE, 1);
    Atomics.notify(control, DONE);
  }
});

Atomics.add(control, READY, 1);
Atomics.notify(control, READY);
