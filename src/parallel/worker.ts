// Worker-thread entry: runs its share of each job posted by pool.ts, dispatching on `job.kind`,
// and reports on the shared control counter. Each job re-opens the arenas it names (a fresh kernel
// instance over the same shared memory: cheap, and no index memory is kept alive between jobs).
import v8 from 'node:v8';
import vm from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { runAssignJob } from '../distance/assign.js';
import { runFlatBatchJob } from '../distance/batch.js';
import { forgetFlatScans, runFlatScanJob } from '../indexes/flat-jobs.js';
import { forgetHnswCores, runHnswJob } from '../indexes/hnsw/jobs.js';
import { forgetIvfScanners, runIvfJob } from '../indexes/ivf/scan.js';
import { runYinyangJob } from '../indexes/ivf/yinyang.js';
import { CONTROL, STATE_CACHE, STATE_IDLE_MS, type Job } from './pool.js';

const control = (workerData as { control: Int32Array }).control;

// Each job receives its arena's memory; once the job ends that memory is garbage here, but a
// worker's heap is tiny and rarely collected, so it would pin index-sized shared memories long
// after their index is gone. Collect once jobs stop for 250 ms (not during a stream of jobs: a
// full collection every 250 ms cost a worker answering single queries about 5% of its time).
v8.setFlagsFromString('--expose-gc');
const collect = vm.runInNewContext('gc') as (() => void) | undefined;
let collectTimer: ReturnType<typeof setTimeout> | null = null;
function scheduleCollect(): void {
  if (!collect) return;
  if (collectTimer) collectTimer.refresh();
  else { collectTimer = setTimeout(() => { collectTimer = null; collect(); }, 250); collectTimer.unref(); }
}

const handlers: Record<string, (job: never, control: Int32Array, thread: number) => void> = {
  'flat-batch': runFlatBatchJob,
  'hnsw': runHnswJob,
  'flat-scan': runFlatScanJob,
  'assign': runAssignJob,
  'yinyang': runYinyangJob,
  'ivf': runIvfJob,
};

// Shapes of jobs with a state, oldest first (the pool mirrors this order to know what to send).
const shapes = new Map<string, unknown>();
let forgetShapes: ReturnType<typeof setTimeout> | null = null;

function withShape(job: Job): Job {
  const state = job.state;
  if (state === undefined) return job;
  if (job.shape !== undefined) {
    shapes.delete(state);
    if (shapes.size >= STATE_CACHE) shapes.delete(shapes.keys().next().value!);
    shapes.set(state, job.shape);
    return job;
  }
  const shape = shapes.get(state);
  if (shape === undefined) throw new Error(`job state ${state} is not held here`);
  shapes.delete(state); shapes.set(state, shape);
  return { ...job, shape };
}

// A message is a share of a synchronous parallel job (on the pool's control words) or, with its
// own `control` words, a whole async job (the caller waits on their DONE word).
parentPort!.on('message', (m: { job: Job; thread: number; control?: Int32Array }) => {
  const words = m.control ?? control;
  try {
    const handler = handlers[m.job.kind];
    if (!handler) throw new Error(`unknown job kind ${m.job.kind}`);
    handler(withShape(m.job) as never, words, m.thread);
  } catch (error) {
    Atomics.store(words, CONTROL.FAILED, 1);
    // Visible when debugging; the caller redoes the work on its own thread.
    if (process.env.NEAREST_DEBUG) console.error('nearest worker failed:', error);
  } finally {
    Atomics.add(words, CONTROL.DONE, 1);
    Atomics.notify(words, CONTROL.DONE);
    scheduleCollect();
    if (forgetShapes) clearTimeout(forgetShapes);
    // Once idle, let go of what jobs opened, so a dropped index's memory can be collected.
    forgetShapes = setTimeout(() => { shapes.clear(); forgetHnswCores(); forgetFlatScans(); forgetIvfScanners(); forgetShapes = null; collect?.(); }, STATE_IDLE_MS);
    forgetShapes.unref?.();
  }
});

Atomics.add(control, CONTROL.READY, 1);
Atomics.notify(control, CONTROL.READY);
parentPort!.postMessage({ ready: true });
