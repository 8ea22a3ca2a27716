import { Worker } from 'node:worker_threads';
import { stopWorker } from '../lib/worker.js';
import type { FileThreadData, FileThreadReply, FileThreadRequest } from './file-worker.js';

interface Thread {
  worker: Worker;
  port: number;
  /** Downloads from byte 0 it began (what becomes a boot event). */
  sent: number;
  /** Bytes it handed to sockets, as it last reported (once a second). */
  bytesSent: number;
}

export interface FileThreadStats {
  /** Threads serving /assets/ on ports of their own (0: the main thread serves every file). */
  threads: number;
  ports: number[];
  /** Downloads from byte 0 each thread began. */
  sent: number[];
  /** Bytes each thread handed to sockets, reported once a second. */
  bytesSent: number[];
  /** Threads that failed; machines given their port since are given the main port. */
  failed: number;
}

export interface FileThreadOptions {
  threads: number;
  address: string;
  /** The first thread's port, the next one's +1 and so on; 0 lets the kernel choose each. */
  firstPort: number;
  assetsDir: string;
  /** Each thread's budget for shared chunks (file-chunks.ts). */
  cacheBytes: number;
  /** A download one of them began from byte 0: the boot event, written by the main thread. */
  sent: (clientIp: string, name: string, size: number) => void;
  onThreadFailed: (error: Error) => void;
  /** The thread's program; tests give one that fails. */
  script?: URL;
}

/**
 * The files under /assets/ (kernels, initrds, deploy images) served by N worker threads,
 * each on a port of its own: Node's HTTP server has no sendfile, so every byte sent costs
 * the sending thread a copy into the socket, and one thread tops out near a core's worth
 * (bench/RESULTS.md). Node 20 cannot share one listening port between threads (no
 * SO_REUSEPORT before Node 22.12), so machines are spread instead: each script or deploy
 * task names its files on the next thread's port in turn (`filesUrl`), and the main
 * thread, which keeps the store's one writer, gets an event for each download begun.
 *
 * The main port serves /assets/ as well (profiles whose own scripts say `{{ serverUrl }}`
 * still work), and a thread that fails is dropped: machines are given the main port again.
 */
export class FileThreads {
  readonly #threads: Thread[];
  readonly #onThreadFailed: (error: Error) => void;
  #next = 0;
  #failed = 0;
  #stopping = false;

  private constructor(threads: Thread[], onThreadFailed: (error: Error) => void) {
    this.#threads = threads;
    this.#onThreadFailed = onThreadFailed;
    for (const thread of threads) {
      thread.worker.on('error', (error) => this.#fail(thread, error));
      thread.worker.on('exit', (code) => {
        if (!this.#stopping) this.#fail(thread, new Error(`a file thread exited with ${code}`));
      });
    }
  }

  /** Starts the threads and waits until each has bound its port; one that cannot fails the start (and the others are stopped). */
  static async start(options: FileThreadOptions): Promise<FileThreads> {
    const script = options.script ?? new URL('./file-worker.js', import.meta.url);
    const starting = Array.from({ length: options.threads }, (_, index) => {
      const data: FileThreadData = {
        address: options.address,
        port: options.firstPort === 0 ? 0 : options.firstPort + index,
        assetsDir: options.assetsDir,
        cacheBytes: options.cacheBytes,
      };
      const worker = new Worker(script, { workerData: data });
      const thread: Thread = { worker, port: 0, sent: 0, bytesSent: 0 };
      worker.on('message', (reply: FileThreadReply) => {
        if (reply.kind === 'bytes') thread.bytesSent = reply.bytesSent;
        if (reply.kind !== 'sent') return;
        thread.sent++;
        options.sent(reply.clientIp, reply.name, reply.size);
      });
      return { thread, bound: listeningPort(worker, data.port) };
    });
    const bound = await Promise.allSettled(starting.map((start) => start.bound));
    const failure = bound.find((result) => result.status === 'rejected');
    if (failure) {
      await Promise.all(starting.map(({ thread }) => thread.worker.terminate()));
      throw failure.reason;
    }
    for (const [index, { thread }] of starting.entries()) thread.port = (bound[index] as PromiseFulfilledResult<number>).value;
    return new FileThreads(
      starting.map(({ thread }) => thread),
      options.onThreadFailed,
    );
  }

  /** The base of /assets/ URLs for the next machine: `serverUrl` on the next live thread's port, in turn; `serverUrl` itself with none. */
  filesUrl(serverUrl: string): string {
    if (this.#threads.length === 0) return serverUrl;
    const thread = this.#threads[this.#next++ % this.#threads.length]!;
    const url = new URL(serverUrl);
    url.port = String(thread.port);
    return url.origin;
  }

  stats(): FileThreadStats {
    return {
      threads: this.#threads.length,
      ports: this.#threads.map((thread) => thread.port),
      sent: this.#threads.map((thread) => thread.sent),
      bytesSent: this.#threads.map((thread) => thread.bytesSent),
      failed: this.#failed,
    };
  }

  /** Stops accepting on every thread's port; downloads still running are cut after stopWorker's grace. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#threads.map((thread) => stopWorker(thread.worker, { kind: 'stop' } satisfies FileThreadRequest)));
    this.#threads.length = 0;
  }

  #fail(thread: Thread, error: Error): void {
    const index = this.#threads.indexOf(thread);
    if (index === -1) return;
    this.#threads.splice(index, 1);
    this.#failed++;
    void thread.worker.terminate();
    this.#onThreadFailed(error);
  }
}

/** The port a starting thread bound, or why it could not (its error, or its exit before it said). */
function listeningPort(worker: Worker, asked: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: FileThreadReply) => {
      if (reply.kind !== 'listening') return;
      settle();
      resolve(reply.port);
    };
    const onError = (error: NodeJS.ErrnoException) => {
      settle();
      const message = `a file thread cannot serve /assets/ on port ${asked}: ${error.message} (http.fileThreads takes the ports after http.port)`;
      reject(Object.assign(new Error(message), { cause: error, code: error.code }));
    };
    const onExit = (code: number) => onError(new Error(`it exited with ${code}`));
    const settle = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
  });
}
