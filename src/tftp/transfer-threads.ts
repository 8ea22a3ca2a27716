import { Worker } from 'node:worker_threads';
import { stopWorker } from '../lib/worker.js';
import type { CancelReason, TransferOutcome } from './transfer.js';
import { runTransfer, type TransferStart } from './transfer-socket.js';
import type { ThreadData, ThreadReply, ThreadRequest } from './transfer-worker.js';

interface Thread {
  worker: Worker;
  /** Its transfers by id, with whom to tell when each ends. */
  transfers: Map<number, (outcome: TransferOutcome) => void>;
}

export interface TransferThreadStats {
  /** Threads carrying transfers now (0: the main thread does). */
  threads: number;
  /** Transfers running on each thread. */
  active: number[];
  /** Threads that failed; their transfers ended as cancelled (thread-stopped). */
  failed: number;
}

/**
 * Where TFTP transfers run. With no threads, on the main thread, as always. With N, on N
 * worker threads: the main thread still reads every request on port 69, decides it
 * (names, files, limits, a retransmitted request) and keeps the one table of transfers by
 * client, then hands the transfer to the thread running fewest. The thread sends the
 * blocks and reads the ACKs on the transfer's own socket, and posts the outcome back,
 * where it becomes a boot event like any other (the store keeps its one writer). Each
 * datagram of a transfer costs a system call and Node's dgram machinery (bench/RESULTS.md:
 * half kernel, half Node), all of it now off the thread that answers DHCP and scripts, and
 * spread over as many cores as there are threads.
 *
 * A thread that fails ends its transfers (their clients retry their request) and is
 * dropped; with none left, transfers run on the main thread again.
 */
export class TransferThreads {
  readonly #threads: Thread[] = [];
  readonly #files: ReadonlyMap<string, Buffer>;
  readonly #address: string;
  readonly #onSocketError: (error: NodeJS.ErrnoException) => void;
  readonly #onThreadFailed: (error: Error) => void;
  #nextId = 0;
  #failed = 0;
  #stopping = false;

  constructor(
    files: ReadonlyMap<string, Buffer>,
    options: {
      address: string;
      threads: number;
      onSocketError: (error: NodeJS.ErrnoException) => void;
      onThreadFailed: (error: Error) => void;
      /** The thread's program; tests give one that fails. */
      script?: URL;
    },
  ) {
    this.#files = files;
    this.#address = options.address;
    this.#onSocketError = options.onSocketError;
    this.#onThreadFailed = options.onThreadFailed;
    const data: ThreadData = { files: [...files], address: options.address };
    const script = options.script ?? new URL('./transfer-worker.js', import.meta.url);
    for (let index = 0; index < options.threads; index++) this.#threads.push(this.#spawn(script, data));
  }

  /**
   * Starts a transfer of `file` (a name `files` has), or of `bytes` made for this request
   * (TftpServerOptions.dynamic), which the main thread carries; returns what cancels it.
   * `done` is told once.
   */
  start(file: string, start: TransferStart, done: (outcome: TransferOutcome) => void, bytes?: Buffer): (reason: CancelReason) => void {
    if (bytes !== undefined) return runTransfer(bytes, start, this.#address, done, this.#onSocketError);
    const thread = this.#leastBusy();
    if (thread === undefined) return runTransfer(this.#files.get(file)!, start, this.#address, done, this.#onSocketError);
    const id = this.#nextId++;
    thread.transfers.set(id, done);
    thread.worker.postMessage({ kind: 'start', id, file, start } satisfies ThreadRequest);
    return (reason) => {
      if (thread.transfers.has(id)) thread.worker.postMessage({ kind: 'cancel', id, reason } satisfies ThreadRequest);
    };
  }

  stats(): TransferThreadStats {
    return { threads: this.#threads.length, active: this.#threads.map((thread) => thread.transfers.size), failed: this.#failed };
  }

  /** Ends every thread's transfers (cancelled: shutdown) and waits for the threads to exit. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await Promise.all(this.#threads.map((thread) => stopWorker(thread.worker, { kind: 'stop' } satisfies ThreadRequest)));
    this.#threads.length = 0;
  }

  #spawn(script: URL, data: ThreadData): Thread {
    const thread: Thread = {
      worker: new Worker(script, { workerData: data }),
      transfers: new Map(),
    };
    thread.worker.on('message', (reply: ThreadReply) => {
      if (reply.kind === 'socket-error') {
        this.#onSocketError(Object.assign(new Error(reply.message), { code: reply.code ?? undefined }));
        return;
      }
      const done = thread.transfers.get(reply.id);
      thread.transfers.delete(reply.id);
      done?.(reply.outcome);
    });
    thread.worker.on('error', (error) => this.#fail(thread, error));
    thread.worker.on('exit', (code) => {
      if (!this.#stopping) this.#fail(thread, new Error(`a TFTP transfer thread exited with ${code}`));
      // Transfers whose outcome never came (a thread terminated at shutdown) end here.
      this.#endAll(thread, 'shutdown');
    });
    return thread;
  }

  #leastBusy(): Thread | undefined {
    let best: Thread | undefined;
    for (const thread of this.#threads) if (best === undefined || thread.transfers.size < best.transfers.size) best = thread;
    return best;
  }

  #fail(thread: Thread, error: Error): void {
    const index = this.#threads.indexOf(thread);
    if (index === -1) return;
    this.#threads.splice(index, 1);
    this.#failed++;
    this.#endAll(thread, 'thread-stopped');
    void thread.worker.terminate();
    this.#onThreadFailed(error);
  }

  #endAll(thread: Thread, reason: CancelReason): void {
    const ended = [...thread.transfers.values()];
    thread.transfers.clear();
    for (const done of ended) done({ result: 'cancelled', reason });
  }
}
