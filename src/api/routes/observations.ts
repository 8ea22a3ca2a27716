import type { FastifyInstance } from 'fastify';
import { MetalboxError } from '../../lib/errors.js';
import { normalizeMac } from '../../lib/mac.js';
import type { Store } from '../../store/index.js';
import { errorResponses } from '../schemas.js';

const str = { type: ['string', 'null'] };

export const observationSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['mac', 'messageType', 'ip', 'vendorClass', 'arch', 'hostname', 'relay', 'firstSeen', 'lastSeen', 'count'],
  properties: {
    mac: { type: 'string' },
    messageType: { type: 'string' },
    ip: str,
    vendorClass: str,
    arch: { type: ['integer', 'null'] },
    hostname: str,
    relay: str,
    firstSeen: { type: 'string' },
    lastSeen: { type: 'string' },
    count: { type: 'integer' },
  },
};

/** What DHCP snooping saw: which machines are plugged in, and the addresses they took. */
export function observationRoutes(app: FastifyInstance, store: Store): void {
  app.get<{ Querystring: { mac?: string; limit: number } }>('/observations', {
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { mac: { type: 'string', maxLength: 32 }, limit: { type: 'integer', minimum: 1, maximum: 10000, default: 1000 } },
      },
      response: { 200: { type: 'array', items: observationSchema }, ...errorResponses },
    },
    handler: async (request) => {
      const { mac: text, limit } = request.query;
      const mac = text === undefined ? undefined : normalizeMac(text);
      if (mac === null) throw new MetalboxError('E_BAD_REF', `not a MAC address: ${text}`);
      return store.observations.list({ mac, limit });
    },
  });
}
