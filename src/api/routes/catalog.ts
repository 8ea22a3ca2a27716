import type { FastifyInstance } from 'fastify';
import { SETTINGS } from '../../config/settings.js';
import type { ProfileConfig } from '../../profiles/profiles.js';
import type { Catalog } from '../../profiles/catalog.js';
import type { ServerTypeConfig } from '../../profiles/server-types.js';
import type { Store } from '../../store/index.js';
import { errorResponses } from '../schemas.js';

/** The same schemas as the config file's, so a file that loads as config applies through the API too. */
const schemaOf = (path: string) => SETTINGS.find((setting) => setting.path === path)!.schema;
const nameParams = { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1, maxLength: 64 } } };
const profileView = {
  type: 'object',
  required: ['name', 'source', 'spec'],
  properties: { name: { type: 'string' }, source: { type: 'string' }, spec: { type: 'object', additionalProperties: true } },
};
const typeView = profileView;

export function catalogRoutes(app: FastifyInstance, catalog: Catalog, store: Store): void {
  app.get('/profiles', {
    schema: { response: { 200: { type: 'array', items: profileView } } },
    handler: async () => catalog.listProfiles(),
  });
  app.get<{ Params: { name: string } }>('/profiles/:name', {
    schema: { params: nameParams, response: { 200: profileView, ...errorResponses } },
    handler: async (request) => catalog.profile(request.params.name),
  });
  app.post<{ Body: { profiles: Record<string, ProfileConfig> } }>('/profiles', {
    schema: {
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['profiles'],
        properties: { profiles: { ...schemaOf('profiles'), minProperties: 1 } },
      },
      response: {
        200: {
          type: 'object',
          properties: { applied: { type: 'array', items: { type: 'string' } }, warnings: { type: 'array', items: { type: 'string' } } },
        },
        ...errorResponses,
      },
    },
    handler: async (request) => catalog.applyProfiles(request.body.profiles),
  });

  const deletion = {
    200: {
      type: 'object',
      required: ['deleted', 'restored'],
      properties: { deleted: { type: 'string' }, restored: { type: ['string', 'null'] } },
    },
    ...errorResponses,
  };
  app.delete<{ Params: { name: string } }>('/profiles/:name', {
    schema: { params: nameParams, response: deletion },
    handler: async (request) => catalog.deleteProfile(request.params.name),
  });
  app.delete<{ Params: { name: string } }>('/server-types/:name', {
    schema: { params: nameParams, response: deletion },
    handler: async (request) => catalog.deleteServerType(request.params.name),
  });

  app.get('/server-types', {
    schema: { response: { 200: { type: 'array', items: typeView } } },
    handler: async () => catalog.listServerTypes(),
  });
  app.get('/server-types/check', {
    schema: {
      response: {
        200: {
          type: 'object',
          properties: {
            machines: { type: 'integer' },
            ties: {
              type: 'array',
              items: { type: 'object', properties: { machineId: { type: 'string' }, types: { type: 'array', items: { type: 'string' } } } },
            },
            unmatched: { type: 'array', items: { type: 'string' } },
            matched: { type: 'object', additionalProperties: { type: 'integer' } },
          },
        },
      },
    },
    handler: async () => catalog.check(store.machines.list()),
  });
  app.get<{ Params: { name: string } }>('/server-types/:name', {
    schema: { params: nameParams, response: { 200: typeView, ...errorResponses } },
    handler: async (request) => catalog.serverType(request.params.name),
  });
  app.post<{ Body: { serverTypes: ServerTypeConfig[] } }>('/server-types', {
    schema: {
      body: {
        type: 'object',
        additionalProperties: false,
        required: ['serverTypes'],
        properties: { serverTypes: { ...schemaOf('serverTypes'), minItems: 1 } },
      },
      response: { 200: { type: 'object', properties: { applied: { type: 'array', items: { type: 'string' } } } }, ...errorResponses },
    },
    handler: async (request) => catalog.applyServerTypes(request.body.serverTypes),
  });
}
