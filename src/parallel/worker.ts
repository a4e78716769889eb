// Worker-thread entry: runs its share of each job posted by pool.ts, dispatching on `job.kind`,
// and reports on the shared control counter. Each job re-opens the arenas it names (a fresh kernel
// instance over the same shared memory: cheap, and no index memory is kept alive between jobs).
import v8 from 'node:v8';
import vm from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { runAssignJob } from '../distance/assign.js';
import { runFlatBatchJob } from '../distance/batch.js';
import { runHnswJob } from '../indexes/hnsw/jobs.js';
import { runYinyangJob } from '../indexes/ivf/yinyang.js';
import { CONTROL, type Job } from './pool.js';

const control = (workerData as { control: Int32Array }).control;

// Each job receives its arena's memory; once the job ends that memory is garbage here, but a
// worker's heap is tiny and rarely collected, so it would pin index-sized shared memories long
// after their index is gone. Collect shortly after jobs end (at most every 250 ms).
v8.setFlagsFromString('--expose-gc');
const collect = vm.runInNewContext('gc') as (() => void) | undefined;
let collectTimer: ReturnType<typeof setTimeout> | null = null;
function scheduleCollect(): void {
  if (!collect || collectTimer) return;
  collectTimer = setTimeout(() => { collectTimer = null; collect(); }, 250);
  collectTimer.unref();
}

const handlers: Record<string, (job: never, control: Int32Array, thread: number) => void> = {
  'flat-batch': runFlatBatchJob,
  'hnsw': runHnswJob,
  'assign': runAssignJob,
  'yinyang': runYinyangJob,
};

parentPort!.on('message', ({ job, thread }: { job: Job; thread: number }) => {
  try {
    const handler = handlers[job.kind];
    if (!handler) throw new Error(`unknown job kind ${job.kind}`);
    handler(job as never, control, thread);
  } catch (error) {
    Atomics.store(control, CONTROL.FAILED, 1);
    // Visible when debugging; the caller redoes the work on its own thread.
    if (process.env.NEAREST_DEBUG) console.error('nearest worker failed:', error);
  } finally {
    Atomics.add(control, CONTROL.DONE, 1);
    Atomics.notify(control, CONTROL.DONE);
    scheduleCollect();
  }
});

Atomics.add(control, CONTROL.READY, 1);
Atomics.notify(control, CONTROL.READY);
