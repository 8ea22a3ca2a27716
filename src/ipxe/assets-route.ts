import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { FileChunkCache } from './file-chunks.js';
import { openConfined, sendBody, textReply } from './http-files.js';

export interface AssetsRouteOptions {
  assetsDir?: string | undefined;
  /** The chunks of files under assetsDir that this thread's downloads share. */
  fileChunks: FileChunkCache;
  /** A download of `name` begun from byte 0 (not a HEAD, not a later range): the boot event of whoever fetched it. */
  sent: (clientIp: string, name: string, size: number) => void;
}

/**
 * GET and HEAD of the files under --assets-dir: kernels, initrds and images. The same route
 * runs on the main thread and on each file thread (file-threads.ts); it neither awaits the
 * network nor touches the store.
 */
export function assetsRoute(app: FastifyInstance, options: AssetsRouteOptions): void {
  app.route({
    method: ['GET', 'HEAD'],
    url: '/assets/*',
    schema: { params: { type: 'object', properties: { '*': { type: 'string', maxLength: 1024 } } } },
    handler: async (request: FastifyRequest<{ Params: { '*': string } }>, reply) => {
      const name = request.params['*'];
      const file = options.assetsDir === undefined ? null : await openConfined(options.assetsDir, name);
      if (file === null) {
        request.log.debug({ name, from: request.ip }, 'assets: not found or outside --assets-dir');
        return textReply(reply, 404, 'not found\n');
      }
      let streaming = false;
      try {
        const range = sendBody(request, reply, {
          size: file.size,
          modified: file.modified,
          read: (range) => {
            streaming = true;
            return options.fileChunks.stream(file, range);
          },
        });
        if (range?.start === 0) options.sent(request.ip, name, file.size);
      } finally {
        if (!streaming) await file.handle.close();
      }
      return reply;
    },
  });
}
