import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isMetalboxError } from '../lib/errors.js';
import type { LogLimiter } from '../lib/log-limiter.js';
import type { MachineTrust } from '../netboot/machine-trust.js';
import type { MachineJson } from '../store/index.js';
import type { BootScripts } from './boot-script.js';
import { buildBootIso, type IsoParts } from './boot-iso.js';
import { sendBody, textReply } from './http-files.js';

export interface MediaRouteOptions {
  trust: MachineTrust;
  scripts: BootScripts;
  machine: (machineId: string) => MachineJson | null;
  serverUrl: (host: string | undefined) => string;
  /** The ISO's parts (boot-iso.ts findIsoParts); looked up when the first ISO is built. */
  parts: () => IsoParts;
  complaints: LogLimiter;
}

/** ISOs kept by operation: a BMC reads its image in many ranged requests. */
const KEPT_IMAGES = 16;

/** The path of a machine's virtual media image under an operation's token (the BMC is given it as InsertMedia's Image). */
export function mediaPath(machineId: string, token: string): string {
  return `/media/${machineId}/${token}/boot.iso`;
}

/**
 * GET and HEAD of a machine's boot ISO, for its BMC to insert as virtual media. Only with
 * the machine's current operation's token, from any address (the BMC's is not the
 * machine's): the ISO holds that token, so it is worth no more than the URL. Anything else
 * is a 404 that says nothing of the machine. Built at the first request of an operation and
 * kept for the ranged reads that follow (iLO and iDRAC read an image in pieces).
 */
export function mediaRoute(app: FastifyInstance, options: MediaRouteOptions): void {
  const images = new Map<string, Promise<Buffer>>();
  app.route({
    method: ['GET', 'HEAD'],
    url: '/media/:machineId/:token/boot.iso',
    schema: {
      params: {
        type: 'object',
        required: ['machineId', 'token'],
        properties: { machineId: { type: 'string', maxLength: 64 }, token: { type: 'string', maxLength: 128 } },
      },
    },
    handler: async (request: FastifyRequest<{ Params: { machineId: string; token: string } }>, reply) => {
      const { machineId, token } = request.params;
      const operationId = options.trust.admitMedia(machineId, token);
      const machine = operationId === null ? null : options.machine(machineId);
      if (operationId === null || machine === null) {
        options.complaints.warn(
          `media-refused|${request.ip}`,
          { machineId, from: request.ip },
          'virtual media image refused: no such image',
        );
        return textReply(reply, 404, 'no such image\n');
      }
      try {
        let image = images.get(operationId);
        if (image === undefined) {
          const script = options.scripts.mediaScript(machine, operationId, token, options.serverUrl(request.headers.host));
          image = buildBootIso(script, options.parts());
          images.set(operationId, image);
          if (images.size > KEPT_IMAGES) images.delete(images.keys().next().value!);
          // A failed build is not kept: the next request tries again.
          image.catch(() => images.delete(operationId));
        }
        const bytes = await image;
        sendBody(request, reply, { size: bytes.length, read: ({ start, end }) => bytes.subarray(start, end + 1) });
        return reply;
      } catch (error) {
        if (!isMetalboxError(error)) throw error;
        options.complaints.error(`media-build|${machineId}`, { machineId, err: error }, 'virtual media image not built');
        return textReply(reply, 503, `${error.message}\n`);
      }
    },
  });
}
