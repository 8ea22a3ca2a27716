import type { FastifyInstance } from 'fastify';
import { MetalboxError } from '../../lib/errors.js';
import type { BootMethod, Provisioning } from '../../provisioning/provisioning.js';
import type { JobStore } from '../../store/index.js';
import { errorResponses, machineRefParams } from '../schemas.js';
import { refFrom } from './machines.js';

const ticketSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['job', 'machine', 'operationId'],
  properties: { job: { anyOf: [{ $ref: 'job#' }, { type: 'null' }] }, machine: { $ref: 'machine#' }, operationId: { type: 'string' } },
};

const powerStatusSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['machineId', 'protocol', 'powerState', 'bootOverride', 'resetTypes'],
  properties: {
    machineId: { type: 'string' },
    protocol: { type: 'string', enum: ['redfish', 'ipmi'] },
    powerState: { type: ['string', 'null'] },
    bootOverride: {
      type: 'object',
      additionalProperties: false,
      properties: { target: { type: ['string', 'null'] }, enabled: { type: ['string', 'null'] }, mode: { type: ['string', 'null'] } },
    },
    resetTypes: { type: ['array', 'null'], items: { type: 'string' } },
  },
};

/** How long `power status` waits for a BMC before answering 502. */
const STATUS_TIMEOUT_MS = 60_000;

/** Provisioning, deprovisioning and power: each starts a job under an operation id and answers 202 at once. */
export function operationRoutes(app: FastifyInstance, provisioning: Provisioning, jobs: JobStore): void {
  app.post<{ Params: { ref: string }; Body: { profile?: string; retry?: boolean; boot?: BootMethod } }>('/machines/:ref/provision', {
    schema: {
      params: machineRefParams,
      body: {
        type: ['object', 'null'],
        additionalProperties: false,
        properties: {
          profile: { type: 'string', minLength: 1, maxLength: 128 },
          retry: { type: 'boolean' },
          boot: { type: 'string', enum: ['pxe', 'virtual-media'] },
        },
      },
      response: { 202: ticketSchema, ...errorResponses },
    },
    handler: async (request, reply) =>
      reply.code(202).send(
        provisioning.provision(refFrom(request.params.ref), {
          ...(request.body?.profile ? { profile: request.body.profile } : {}),
          retry: request.body?.retry === true,
          ...(request.body?.boot ? { boot: request.body.boot } : {}),
        }),
      ),
  });

  app.post<{ Params: { ref: string } }>('/machines/:ref/inspect', {
    schema: { params: machineRefParams, response: { 202: ticketSchema, ...errorResponses } },
    handler: async (request, reply) => reply.code(202).send(provisioning.inspect(refFrom(request.params.ref))),
  });

  app.post<{ Params: { ref: string }; Body: { secure?: boolean } | null }>('/machines/:ref/deprovision', {
    schema: {
      params: machineRefParams,
      body: { type: ['object', 'null'], additionalProperties: false, properties: { secure: { type: 'boolean' } } },
      response: { 202: ticketSchema, ...errorResponses },
    },
    handler: async (request, reply) =>
      reply.code(202).send(provisioning.deprovision(refFrom(request.params.ref), { secure: request.body?.secure === true })),
  });

  app.post<{ Params: { ref: string }; Body: { action: 'on' | 'off' | 'cycle' | 'status' } }>('/machines/:ref/power', {
    schema: {
      params: machineRefParams,
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['action'],
        properties: { action: { type: 'string', enum: ['on', 'off', 'cycle', 'status'] } },
      },
      response: { 200: powerStatusSchema, 202: ticketSchema, ...errorResponses },
    },
    handler: async (request, reply) => {
      const ref = refFrom(request.params.ref);
      // Status reads the BMC with the stored credentials, so it sits behind the token like the actions.
      if (request.body.action === 'status') return provisioning.powerStatus(ref, AbortSignal.timeout(STATUS_TIMEOUT_MS));
      return reply.code(202).send(provisioning.power(ref, request.body.action));
    },
  });

  app.get<{ Params: { id: number } }>('/jobs/:id', {
    schema: {
      params: { type: 'object', required: ['id'], properties: { id: { type: 'integer', minimum: 1 } } },
      response: { 200: { $ref: 'job#' }, ...errorResponses },
    },
    handler: async (request) => {
      const job = jobs.get(request.params.id);
      if (!job) throw new MetalboxError('E_NOT_FOUND', `no job ${request.params.id}`);
      return job;
    },
  });
}
