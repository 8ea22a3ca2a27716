import type { Worker } from 'node:worker_threads';

/** Posts `request` (the worker's own stop message) and waits for the thread to exit; one stuck past `graceMs` is terminated. */
export async function stopWorker(worker: Worker, request: unknown, graceMs = 5000): Promise<void> {
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  worker.postMessage(request);
  const stuck = setTimeout(() => void worker.terminate(), graceMs);
  await exited;
  clearTimeout(stuck);
}
