/**
 * A file thread (see file-threads.ts): GET and HEAD of /assets/ on a port of its own, with
 * its own shared chunks. It tells the main thread the port it bound and each download it
 * began, and never touches the store.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Fastify from 'fastify';
import { LISTEN_BACKLOG } from '../lib/net.js';
import { assetsRoute } from './assets-route.js';
import { FileChunkCache } from './file-chunks.js';

export interface FileThreadData {
  address: string;
  port: number;
  assetsDir: string;
  cacheBytes: number;
}

export type FileThreadRequest = { kind: 'stop' };

export type FileThreadReply =
  | { kind: 'listening'; port: number }
  | { kind: 'sent'; clientIp: string; name: string; size: number }
  | { kind: 'bytes'; bytesSent: number };

const parent = parentPort!;
const { address, port, assetsDir, cacheBytes } = workerData as FileThreadData;
const app = Fastify({ logger: false });
const fileChunks = new FileChunkCache(cacheBytes);
assetsRoute(app, {
  assetsDir,
  fileChunks,
  sent: (clientIp, name, size) => parent.postMessage({ kind: 'sent', clientIp, name, size } satisfies FileThreadReply),
});
// The bytes it sent, for the main thread's metrics: once a second while they grow.
let reported = 0;
const reporting = setInterval(() => {
  const { bytesSent } = fileChunks.stats();
  if (bytesSent === reported) return;
  reported = bytesSent;
  parent.postMessage({ kind: 'bytes', bytesSent } satisfies FileThreadReply);
}, 1000);
reporting.unref();
parent.on('message', (request: FileThreadRequest) => {
  if (request.kind !== 'stop') return;
  clearInterval(reporting);
  void app.close().then(() => parent.close());
});
// A port it cannot bind throws here: the thread's 'error', which fails serve's start-up.
await app.listen({ host: address, port, backlog: LISTEN_BACKLOG });
const bound = app.server.address();
parent.postMessage({ kind: 'listening', port: typeof bound === 'object' && bound !== null ? bound.port : port } satisfies FileThreadReply);
