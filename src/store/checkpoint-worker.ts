/**
 * The WAL checkpointer's thread (see checkpointer.ts): its own connection to the database,
 * a PASSIVE checkpoint each time the main thread asks, the result posted back. It never
 * writes a row, and PASSIVE never waits for the writer or for readers.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

export interface CheckpointRequest {
  kind: 'checkpoint' | 'stop';
}

export type CheckpointReply =
  | { kind: 'checkpointed'; walFrames: number; checkpointedFrames: number; ms: number }
  | { kind: 'failed'; code: string | null; message: string };

const port = parentPort!;
const { path } = workerData as { path: string };
const db = new Database(path, { fileMustExist: true });
// The writer holds its lock only for a transaction's length: wait that out rather than skip a round.
db.pragma('busy_timeout = 1000');
db.pragma('wal_autocheckpoint = 0');

port.on('message', (request: CheckpointRequest) => {
  if (request.kind === 'stop') {
    db.close();
    port.close();
    return;
  }
  const started = performance.now();
  try {
    const [result] = db.pragma('wal_checkpoint(PASSIVE)') as Array<{ busy: number; log: number; checkpointed: number }>;
    port.postMessage({
      kind: 'checkpointed',
      walFrames: result?.log ?? 0,
      checkpointedFrames: result?.checkpointed ?? 0,
      ms: performance.now() - started,
    } satisfies CheckpointReply);
  } catch (error) {
    const { code, message } = error as { code?: unknown; message?: unknown };
    port.postMessage({
      kind: 'failed',
      code: typeof code === 'string' ? code : null,
      message: String(message),
    } satisfies CheckpointReply);
  }
});
