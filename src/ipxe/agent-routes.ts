import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { LoadedAgentImage } from '../agent/image.js';
import { type AgentInventory, type Facts, parseFacts } from '../agent/inventory.js';
import type { ReportOutcome } from '../agent/reports.js';
import { isMetalboxError } from '../lib/errors.js';
import type { LogLimiter } from '../lib/log-limiter.js';
import type { MachineTrust } from '../netboot/machine-trust.js';
import { sendBody } from './http-files.js';

export interface AgentRoutesOptions {
  /** The agent image served from memory; without one its files are 404. */
  image: LoadedAgentImage | null;
  trust: MachineTrust;
  complaints: LogLimiter;
  /** Stores what the agent read and moves the machine on (recordAgentReport, its store and server types bound). */
  report: (machineId: string, operationId: string, inventory: AgentInventory) => ReportOutcome;
}

/** What the agent is told to do next. */
export type AgentTask = 'inventory' | 'poweroff';

/** Facts of one machine: a few hundred paths; a file's text up to 64 KiB (the agent's own bound). */
const MAX_FACTS = 20_000;
const FACTS_BODY_LIMIT = 4 * 1024 * 1024;
const AGENT_PARAMS = {
  type: 'object',
  required: ['machineId', 'token'],
  properties: { machineId: { type: 'string', maxLength: 64 }, token: { type: 'string', maxLength: 128 } },
} as const;

type AgentRequest = FastifyRequest<{ Params: { machineId: string; token: string } }>;

/**
 * The agent's side of metalbox: its kernel and initramfs, and its protocol under
 * /agent/v1/<machine>/<token>/, the token being the machine's operation's (MachineTrust:
 * given only in a script fetched from the machine's own address, accepted only from it,
 * only while the operation is under way). The agent asks for its task and sends what it
 * read; metalbox's lifecycle decides what comes next.
 */
export function agentRoutes(app: FastifyInstance, options: AgentRoutesOptions): void {
  app.route({
    method: ['GET', 'HEAD'],
    url: '/agent/:key/:file',
    schema: {
      params: {
        type: 'object',
        required: ['key', 'file'],
        properties: { key: { type: 'string', maxLength: 32 }, file: { type: 'string', maxLength: 32 } },
      },
    },
    handler: async (request: FastifyRequest<{ Params: { key: string; file: string } }>, reply) => {
      const bytes = options.image?.files.get(`/agent/${request.params.key}/${request.params.file}`);
      if (bytes === undefined) return text(reply, 404, 'no such agent file (metalbox agent build makes the image)\n');
      sendBody(request, reply, { size: bytes.length, read: ({ start, end }) => bytes.subarray(start, end + 1) });
      return reply;
    },
  });

  /** The machine's operation, when the request may act for it; else the 403 is sent and null returned. */
  const admit = (request: AgentRequest, reply: FastifyReply): string | null => {
    const { machineId, token } = request.params;
    const admission = options.trust.admit(machineId, token, request.ip);
    if (admission.admitted) return admission.operationId;
    options.complaints.warn(
      `agent-refused|${request.ip}`,
      { machineId, from: request.ip, reason: admission.reason },
      'agent request refused',
    );
    // One answer for every refusal: which check failed is for the log, not for a prober.
    void text(reply, 403, 'agent request refused: no operation under way, wrong token, or not sent from this machine\n');
    return null;
  };

  app.get('/agent/v1/:machineId/:token/task', { schema: { params: AGENT_PARAMS } }, async (request: AgentRequest, reply) => {
    if (admit(request, reply) === null) return reply;
    // Admitted means the machine is under its agent's operation and has not reported yet.
    return { task: 'inventory' satisfies AgentTask };
  });

  app.post(
    '/agent/v1/:machineId/:token/facts',
    {
      bodyLimit: FACTS_BODY_LIMIT,
      schema: {
        params: AGENT_PARAMS,
        body: {
          type: 'object',
          required: ['facts'],
          additionalProperties: false,
          properties: {
            facts: {
              type: 'object',
              maxProperties: MAX_FACTS,
              propertyNames: { maxLength: 512 },
              additionalProperties: {
                anyOf: [
                  { type: 'string', maxLength: 65_536 },
                  {
                    type: 'object',
                    required: ['link'],
                    additionalProperties: false,
                    properties: { link: { type: 'string', maxLength: 4096 } },
                  },
                ],
              },
            },
          },
        },
      },
    },
    async (request: FastifyRequest<{ Params: { machineId: string; token: string }; Body: { facts: Facts } }>, reply) => {
      const operationId = admit(request, reply);
      if (operationId === null) return reply;
      const inventory = parseFacts(request.body.facts);
      try {
        const outcome = options.report(request.params.machineId, operationId, inventory);
        return {
          state: outcome.state,
          ...(outcome.mergedInto ? { mergedInto: outcome.mergedInto } : {}),
          task: 'poweroff' satisfies AgentTask,
        };
      } catch (error) {
        if (!isMetalboxError(error, 'E_NIC_CONFLICT') && !isMetalboxError(error, 'E_CONFLICT')) throw error;
        return text(reply, 409, `${error.message}\n`);
      }
    },
  );
}

const text = (reply: FastifyReply, code: number, body: string) =>
  reply.code(code).header('content-type', 'text/plain; charset=utf-8').header('cache-control', 'no-store').send(body);
