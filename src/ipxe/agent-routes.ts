import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { LoadedAgentImage } from '../agent/image.js';
import { type Facts, parseFacts } from '../agent/inventory.js';
import type { AgentTask, AgentTasks, CleanOutcome, DeployOutcome } from '../agent/tasks.js';
import { isMetalboxError } from '../lib/errors.js';
import type { LogLimiter } from '../lib/log-limiter.js';
import type { MachineTrust } from '../netboot/machine-trust.js';
import { machineUrls } from '../netboot/callback-tokens.js';
import { type MachineUrls, TemplateError } from '../profiles/template.js';
import { withoutControlCharacters } from '../lib/text.js';
import { admitMachine } from './admission.js';
import { sendBody, textReply } from './http-files.js';

export interface AgentRoutesOptions {
  /** The agent image served from memory; without one its files are 404. */
  image: LoadedAgentImage | null;
  /** Told of each agent file sent from its start (`<key>/vmlinuz`): the machine's boot milestone. */
  sent?: (clientIp: string, name: string, size: number) => void;
  trust: MachineTrust;
  complaints: LogLimiter;
  /** The lifecycle's answers to the agent. */
  tasks: AgentTasks;
  /** metalbox's URL as the machine reaches it (from the request's Host when no address is advertised). */
  serverUrl: (host: string | undefined) => string;
  /** The base of a machine's /assets/ URLs given serverUrl (a file thread's port); serverUrl when absent. */
  filesUrl?: ((serverUrl: string) => string) | undefined;
}

/** Facts of one machine: a few hundred paths; a file's text up to 64 KiB (the agent's own bound). */
const MAX_FACTS = 20_000;
const FACTS_BODY_LIMIT = 4 * 1024 * 1024;
/** Progress and outcome bodies are a few numbers and a line of text. */
const SMALL_BODY_LIMIT = 4096;
const AGENT_PARAMS = {
  type: 'object',
  required: ['machineId', 'token'],
  properties: { machineId: { type: 'string', maxLength: 64 }, token: { type: 'string', maxLength: 128 } },
} as const;
/** A byte count: up to 1 PB, which no disk of today reaches. */
const BYTES = { type: 'integer', minimum: 0, maximum: 1e15 } as const;
/** An agent's report that a deploy or a wipe failed, with the last line of what failed. */
const FAILED_OUTCOME = {
  type: 'object',
  required: ['result', 'reason'],
  additionalProperties: false,
  properties: { result: { const: 'failed' }, reason: { type: 'string', maxLength: 1000 } },
} as const;
const DEPLOY_OUTCOME = {
  oneOf: [
    {
      type: 'object',
      required: ['result', 'bytes', 'sha256', 'seconds'],
      additionalProperties: false,
      properties: {
        result: { const: 'written' },
        bytes: BYTES,
        sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
        seconds: { type: 'integer', minimum: 0, maximum: 1e7 },
      },
    },
    FAILED_OUTCOME,
  ],
} as const;

const CLEAN_OUTCOME = {
  oneOf: [
    {
      type: 'object',
      required: ['result', 'disks'],
      additionalProperties: false,
      properties: {
        result: { const: 'wiped' },
        disks: {
          type: 'array',
          maxItems: 256,
          items: {
            type: 'object',
            required: ['device', 'discarded'],
            additionalProperties: false,
            properties: {
              device: { type: 'string', pattern: '^/dev/[a-z0-9]{1,32}$' },
              discarded: { type: 'boolean' },
              // What the disk's own erase did (wipe --secure): how, or unsupported:why.
              secure: { type: 'string', pattern: '^(nvme-format|ata-enhanced-erase|ata-erase|unsupported:[a-z-]{1,40})$' },
            },
          },
        },
      },
    },
    FAILED_OUTCOME,
  ],
} as const;

type AgentRequest = FastifyRequest<{ Params: { machineId: string; token: string } }>;

/**
 * The agent's side of metalbox: its kernel and initramfs, and its protocol under
 * /agent/v1/<machine>/<token>/, the token being the machine's operation's (MachineTrust:
 * given only in a script fetched from the machine's own address, accepted only from it,
 * only while the operation is under way). The agent asks for its task, sends what it read,
 * its progress writing an image and the outcome, fetches its config drive, and reports a
 * wipe; each answer
 * is AgentTasks', which the lifecycle decides.
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
      const { key, file } = request.params;
      const bytes = options.image?.files.get(`/agent/${key}/${file}`);
      if (bytes === undefined) return textReply(reply, 404, 'no such agent file (metalbox agent build makes the image)\n');
      const range = sendBody(request, reply, { size: bytes.length, read: ({ start, end }) => bytes.subarray(start, end + 1) });
      if (range?.start === 0) options.sent?.(request.ip, `${key}/${file}`, bytes.length);
      return reply;
    },
  });

  /** The machine's operation, when the request may act for it; else the 403 is sent and null returned. */
  const admit = (request: AgentRequest, reply: FastifyReply) => admitMachine(options.trust, options.complaints, 'agent', request, reply);

  /** The machine's URLs under the admitted token, as the machine reaches metalbox. */
  const urls = (request: AgentRequest): MachineUrls => {
    const serverUrl = options.serverUrl(request.headers.host);
    return machineUrls(serverUrl, request.params.machineId, request.params.token, options.filesUrl?.(serverUrl));
  };

  app.get('/agent/v1/:machineId/:token/task', { schema: { params: AGENT_PARAMS } }, async (request: AgentRequest, reply) => {
    const operationId = admit(request, reply);
    if (operationId === null) return reply;
    return options.tasks.next(request.params.machineId, operationId, urls(request));
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
        const { state, mergedInto, task } = options.tasks.report(request.params.machineId, operationId, inventory, urls(request));
        return { state, ...(mergedInto ? { mergedInto } : {}), ...task };
      } catch (error) {
        if (!isMetalboxError(error, 'E_NIC_CONFLICT') && !isMetalboxError(error, 'E_CONFLICT')) throw error;
        return textReply(reply, 409, `${error.message}\n`);
      }
    },
  );

  app.post(
    '/agent/v1/:machineId/:token/progress',
    {
      bodyLimit: SMALL_BODY_LIMIT,
      schema: {
        params: AGENT_PARAMS,
        body: {
          type: 'object',
          required: ['bytes', 'mbps'],
          additionalProperties: false,
          properties: { bytes: BYTES, mbps: { type: 'integer', minimum: 0, maximum: 1e6 } },
        },
      },
    },
    async (request: FastifyRequest<{ Params: { machineId: string; token: string }; Body: { bytes: number; mbps: number } }>, reply) => {
      const operationId = admit(request, reply);
      if (operationId === null) return reply;
      try {
        options.tasks.progress(request.params.machineId, operationId, request.body.bytes, request.body.mbps);
      } catch (error) {
        if (!isMetalboxError(error, 'E_CONFLICT')) throw error;
        return textReply(reply, 409, `${error.message}\n`);
      }
      return reply.code(204).send();
    },
  );

  /** An outcome (a deploy's, a wipe's); its failure reason, a tool's last line on the machine, loses control characters. */
  const outcomeRoute = <T extends { result: string; reason?: string }>(
    name: string,
    body: object,
    decide: (machineId: string, operationId: string, outcome: T) => AgentTask,
  ) =>
    app.post(
      `/agent/v1/:machineId/:token/${name}`,
      { bodyLimit: SMALL_BODY_LIMIT, schema: { params: AGENT_PARAMS, body } },
      async (request: FastifyRequest<{ Params: { machineId: string; token: string }; Body: T }>, reply) => {
        const operationId = admit(request, reply);
        if (operationId === null) return reply;
        // fastify cannot resolve a body typed by a type parameter: the schema above has checked it is a T.
        const body = request.body as T;
        const outcome = body.reason === undefined ? body : { ...body, reason: withoutControlCharacters(body.reason) };
        return decide(request.params.machineId, operationId, outcome);
      },
    );
  outcomeRoute<DeployOutcome>('deploy', DEPLOY_OUTCOME, (machineId, operationId, outcome) =>
    options.tasks.outcome(machineId, operationId, outcome),
  );
  outcomeRoute<CleanOutcome>('clean', CLEAN_OUTCOME, (machineId, operationId, outcome) =>
    options.tasks.cleaned(machineId, operationId, outcome),
  );

  app.get('/agent/v1/:machineId/:token/config-drive', { schema: { params: AGENT_PARAMS } }, async (request: AgentRequest, reply) => {
    const operationId = admit(request, reply);
    if (operationId === null) return reply;
    try {
      const image = options.tasks.configDrive(request.params.machineId, urls(request));
      return reply.header('content-type', 'application/octet-stream').header('cache-control', 'no-store').send(image);
    } catch (error) {
      if (!isMetalboxError(error, 'E_CONFLICT') && !isMetalboxError(error, 'E_DEPLOY') && !(error instanceof TemplateError)) throw error;
      return textReply(reply, 409, `${error.message}\n`);
    }
  });
}
