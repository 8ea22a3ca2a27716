import type { FastifyInstance } from 'fastify';
import { MetalboxError } from '../../lib/errors.js';
import { normalizeMac } from '../../lib/mac.js';
import { parseMachineRef } from '../../lib/machine-ref.js';
import type { Onboarding, OnboardingRequest, OnboardingTicket } from '../../onboarding/onboarding.js';
import type { JobStore } from '../../store/index.js';
import { errorResponses } from '../schemas.js';

interface OnboardingBody extends Omit<OnboardingRequest, 'bmcMac'> {
  bmcMac?: string;
  /** Onboard a known machine's BMC again with its stored settings. */
  retry?: string;
}

const ticketSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['job', 'machine', 'created'],
  properties: { job: { $ref: 'job#' }, machine: { $ref: 'machine#' }, created: { type: 'boolean' } },
};

export function onboardingRoutes(app: FastifyInstance, onboarding: Onboarding, jobs: JobStore): void {
  app.post<{ Body: OnboardingBody }>('/onboardings', {
    schema: {
      body: {
        type: 'object',
        additionalProperties: false,
        oneOf: [{ required: ['bmcMac'] }, { required: ['retry'] }],
        properties: {
          bmcMac: { type: 'string', minLength: 1, maxLength: 64 },
          retry: { type: 'string', minLength: 1, maxLength: 64 },
          protocol: { type: 'string', enum: ['redfish', 'ipmi', 'auto'] },
          ip: { type: 'string', format: 'ipv4' },
          port: { type: 'integer', minimum: 1, maximum: 65535 },
          scheme: { type: 'string', enum: ['https', 'http'] },
          username: { type: 'string', minLength: 1, maxLength: 256 },
          password: { type: 'string', maxLength: 1024 },
          insecure: { type: 'boolean' },
          tlsFingerprint: { type: 'string', pattern: '^([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$' },
        },
      },
      response: { 200: ticketSchema, 202: ticketSchema, ...errorResponses },
    },
    handler: async (request, reply) => {
      const { retry, bmcMac, ...settings } = request.body;
      let ticket: OnboardingTicket;
      if (retry !== undefined) {
        if (bmcMac !== undefined || Object.keys(settings).length > 0)
          throw new MetalboxError('E_BAD_REF', 'retry takes no other settings: it onboards again with the stored ones');
        const ref = parseMachineRef(retry);
        if (ref === null) throw new MetalboxError('E_BAD_REF', `not a MAC address or machine id: ${retry}`);
        ticket = onboarding.retry(ref);
      } else {
        const mac = normalizeMac(bmcMac!);
        if (mac === null) throw new MetalboxError('E_BAD_REF', `not a MAC address: ${bmcMac}`);
        ticket = onboarding.request({ ...settings, bmcMac: mac });
      }
      // 202: queued now; 200: the onboarding already under way.
      return reply.code(ticket.created ? 202 : 200).send(ticket);
    },
  });

  app.get<{ Params: { id: number } }>('/onboardings/:id', {
    schema: {
      params: { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1 } } },
      response: { 200: { $ref: 'job#' }, ...errorResponses },
    },
    handler: async (request) => {
      const job = jobs.get(request.params.id);
      if (job?.kind !== 'onboarding') throw new MetalboxError('E_NOT_FOUND', `no onboarding ${request.params.id}`);
      return job;
    },
  });
}
