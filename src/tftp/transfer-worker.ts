/**
 * A TFTP transfer thread (see transfer-threads.ts): it holds a copy of the boot files,
 * runs the transfers the main thread hands it, each on a socket of its own, and posts
 * each outcome back. It never reads port 69 and never touches the store.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { CancelReason, TransferOutcome } from './transfer.js';
import { runTransfer, type TransferStart } from './transfer-socket.js';

export type ThreadRequest =
  | { kind: 'start'; id: number; file: string; start: TransferStart }
  | { kind: 'cancel'; id: number; reason: CancelReason }
  | { kind: 'stop' };

export type ThreadReply =
  | { kind: 'done'; id: number; outcome: TransferOutcome }
  | { kind: 'socket-error'; code: string | null; message: string };

export interface ThreadData {
  files: Array<[string, Uint8Array]>;
  address: string;
}

const port = parentPort!;
const { files: fileList, address } = workerData as ThreadData;
const files = new Map(fileList.map(([name, bytes]) => [name, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)]));
const running = new Map<number, (reason: CancelReason) => void>();
let stopping = false;

port.on('message', (request: ThreadRequest) => {
  if (request.kind === 'start') {
    const file = files.get(request.file);
    if (file === undefined) {
      // The main thread checked the name against the same files: a bug, reported as one.
      port.postMessage({
        kind: 'done',
        id: request.id,
        outcome: { result: 'protocol-error', reason: `no file ${request.file} on this thread` },
      });
      return;
    }
    running.set(
      request.id,
      runTransfer(
        file,
        request.start,
        address,
        (outcome) => {
          running.delete(request.id);
          port.postMessage({ kind: 'done', id: request.id, outcome } satisfies ThreadReply);
          if (stopping && running.size === 0) port.close();
        },
        (error) => port.postMessage({ kind: 'socket-error', code: error.code ?? null, message: error.message } satisfies ThreadReply),
      ),
    );
  } else if (request.kind === 'cancel') {
    running.get(request.id)?.(request.reason);
  } else {
    stopping = true;
    for (const cancel of [...running.values()]) cancel('shutdown');
    if (running.size === 0) port.close();
  }
});
