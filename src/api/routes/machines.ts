import type { FastifyInstance } from 'fastify';
import { MetalboxError } from '../../lib/errors.js';
import { parseMachineRef } from '../../lib/machine-ref.js';
import { MACHINE_STATES, type MachineState, type Store } from '../../store/index.js';
import type { ServerTypes } from '../../profiles/server-types.js';
import { errorResponses, machineRefParams } from '../schemas.js';

export function machineRoutes(app: FastifyInstance, store: Store, serverTypes?: ServerTypes): void {
  app.get<{ Querystring: { state?: MachineState; q?: string } }>('/machines', {
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { state: { type: 'string', enum: [...MACHINE_STATES] }, q: { type: 'string', maxLength: 200 } },
      },
      response: { 200: { type: 'array', items: { $ref: 'machine#' } }, ...errorResponses },
    },
    handler: async (request) => store.machines.list({ state: request.query.state, q: request.query.q }),
  });

  app.get<{ Params: { ref: string } }>('/machines/:ref', {
    schema: { params: machineRefParams, response: { 200: { $ref: 'machine#' }, ...errorResponses } },
    handler: async (request) => store.machines.resolve(refFrom(request.params.ref)),
  });

  app.get<{ Params: { ref: string }; Querystring: { after: number; limit: number } }>('/machines/:ref/events', {
    schema: {
      params: machineRefParams,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          after: { type: 'integer', minimum: 0, default: 0 },
          limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
        },
      },
      response: { 200: { type: 'array', items: { $ref: 'event#' } }, ...errorResponses },
    },
    handler: async (request) => {
      const machine = store.machines.resolve(refFrom(request.params.ref));
      return store.machines.events(machine.id, request.query);
    },
  });

  app.get<{ Params: { ref: string } }>('/machines/:ref/explain', {
    schema: {
      params: machineRefParams,
      response: {
        200: {
          type: 'object',
          additionalProperties: false,
          required: ['machineId', 'serverType', 'profile', 'tie', 'verdicts'],
          properties: {
            machineId: { type: 'string' },
            serverType: { type: ['string', 'null'] },
            profile: { type: ['string', 'null'] },
            tie: { type: ['array', 'null'], items: { type: 'string' } },
            verdicts: {
              type: 'array',
              items: {
                type: 'object',
                additionalProperties: false,
                required: ['type', 'matched', 'reasons', 'specificity'],
                properties: { type: { type: 'string' }, matched: { type: 'boolean' }, reasons: { type: 'array', items: { type: 'string' } }, specificity: { type: 'integer' } },
              },
            },
          },
        },
        ...errorResponses,
      },
    },
    handler: async (request) => {
      const machine = store.machines.resolve(refFrom(request.params.ref));
      const result = serverTypes?.classify(machine) ?? { type: null, profile: null, tie: null, verdicts: [] };
      return { machineId: machine.id, serverType: result.type, profile: result.profile, tie: result.tie, verdicts: result.verdicts };
    },
  });
}

export function refFrom(text: string) {
  const ref = parseMachineRef(text);
  if (ref === null) throw new MetalboxError('E_BAD_REF', `not a MAC address or machine id: ${text}`);
  return ref;
}
