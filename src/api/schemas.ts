import { MACHINE_STATES } from '../store/index.js';

/** JSON schemas of the API bodies; they validate requests and serialise responses. */

const nullable = (type: string) => ({ type: [type, 'null'] });
const str = nullable('string');
const int = nullable('integer');
const num = nullable('number');

const closedObject = (properties: Record<string, unknown>) => ({
  type: 'object',
  additionalProperties: false,
  required: Object.keys(properties),
  properties,
});

export const errorSchema = {
  $id: 'error',
  ...closedObject({ statusCode: { type: 'integer' }, code: { type: 'string' }, error: { type: 'string' }, message: { type: 'string' } }),
};

export const machineSchema = {
  $id: 'machine',
  ...closedObject({
    id: { type: 'string' },
    state: { type: 'string', enum: [...MACHINE_STATES] },
    stateReason: str,
    power: str,
    bmc: {
      type: ['object', 'null'],
      additionalProperties: false,
      required: ['mac', 'protocol', 'ip', 'model', 'firmware', 'redfishVersion', 'ipSource'],
      properties: {
        mac: { type: 'string' },
        protocol: { type: 'string', enum: ['redfish', 'ipmi'] },
        ip: str,
        model: str,
        firmware: str,
        redfishVersion: str,
        ipSource: str,
      },
    },
    system: closedObject({ manufacturer: str, model: str, serial: str, uuid: str, sku: str, biosVersion: str, powerState: str }),
    cpu: closedObject({ count: int, cores: int, threads: int, model: str }),
    memory: closedObject({ totalGiB: num, dimms: int }),
    drives: {
      type: 'array',
      items: closedObject({ name: str, model: str, serial: str, capacityBytes: int, mediaType: str, protocol: str }),
    },
    nics: { type: 'array', items: closedObject({ mac: { type: 'string' }, name: str, speedMbps: int, linkStatus: str }) },
    serverType: str,
    profile: str,
    maintenance: { type: 'boolean' },
    warnings: { type: 'array', items: { type: 'string' } },
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  }),
};

const stateName = { type: 'string', enum: [...MACHINE_STATES] };

export const eventSchema = {
  $id: 'event',
  ...closedObject({
    id: { type: 'integer' },
    machineId: { type: 'string' },
    at: { type: 'string' },
    type: { type: 'string' },
    fromState: { anyOf: [stateName, { type: 'null' }] },
    toState: { anyOf: [stateName, { type: 'null' }] },
    message: { type: 'string' },
    data: {},
    operationId: str,
  }),
};

export const machineRefParams = {
  type: 'object',
  required: ['ref'],
  properties: { ref: { type: 'string', minLength: 1, maxLength: 64 } },
};

/** The error responses every route can give, for the schema's `response` map. */
export const errorResponses = { 400: { $ref: 'error#' }, 404: { $ref: 'error#' }, 409: { $ref: 'error#' } };

/** A job as the API shows it (its input holds no secret: credentials are sealed in their own table). */
export const jobSchema = {
  $id: 'job',
  ...closedObject({
    id: { type: 'integer' },
    kind: { type: 'string' },
    machineId: str,
    status: { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] },
    step: str,
    input: { type: 'object', additionalProperties: true },
    attempts: { type: 'integer' },
    runAfter: { type: 'string' },
    leaseOwner: str,
    leaseExpiresAt: str,
    lastError: str,
    createdAt: { type: 'string' },
    updatedAt: { type: 'string' },
  }),
};
