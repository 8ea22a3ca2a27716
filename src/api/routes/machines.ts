import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { MetalboxError } from '../../lib/errors.js';
import { parseMachineRef } from '../../lib/machine-ref.js';
import { MACHINE_STATES, type MachineFilter, type MachineState, type Store } from '../../store/index.js';
import type { ServerTypes } from '../../profiles/server-types.js';
import { errorResponses, machineRefParams } from '../schemas.js';
import { explainBoot, type BootSettings } from '../explain-boot.js';

export interface MachineRouteOptions {
  serverTypes?: ServerTypes | undefined;
  /** serve's boot settings, for GET /boot-verdict/:ref; without them the route is absent. */
  boot?: BootSettings | undefined;
  /** Event streams open at once; past it 429 (each polls the store four times a second). */
  maxEventStreams?: number | undefined;
}

export function machineRoutes(app: FastifyInstance, store: Store, options: MachineRouteOptions = {}): void {
  const { serverTypes } = options;
  const maxStreams = options.maxEventStreams ?? 100;
  const streams = new Set<() => void>();
  // Followers never end on their own: they end before the server waits for its connections
  // to finish (preClose), or a stop would wait for them until it is killed.
  app.addHook('preClose', async () => {
    for (const end of streams) end();
  });
  app.get<{ Querystring: { state?: MachineState; q?: string } }>('/machines', {
    schema: {
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { state: { type: 'string', enum: [...MACHINE_STATES] }, q: { type: 'string', maxLength: 200 } },
      },
      response: { 200: { type: 'array', items: { $ref: 'machine#' } }, ...errorResponses },
    },
    // Streamed a page at a time, the documents as SQLite wrote them: 100,000 machines are
    // ~85 MB of JSON, which built whole would stall the hot paths and take a GiB of memory.
    handler: async (request, reply) => {
      const filter = { state: request.query.state, q: request.query.q };
      return reply.type('application/json; charset=utf-8').send(Readable.from(machineArray(store, filter)));
    },
  });

  app.get<{ Params: { ref: string } }>('/machines/:ref', {
    schema: { params: machineRefParams, response: { 200: { $ref: 'machine#' }, ...errorResponses } },
    handler: async (request) => store.machines.resolve(refFrom(request.params.ref)),
  });

  app.delete<{ Params: { ref: string }; Querystring: { force: boolean } }>('/machines/:ref', {
    schema: {
      params: machineRefParams,
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: { force: { type: 'boolean', default: false } },
      },
      response: { 200: { $ref: 'machine#' }, ...errorResponses },
    },
    // The machine as it was. Its timeline goes with it, so the log keeps one line of what was forgotten.
    handler: async (request) => {
      const { id } = store.machines.resolve(refFrom(request.params.ref));
      const machine = store.machines.delete(id, { force: request.query.force });
      request.log.info(
        { machineId: id, state: machine.state, bmc: machine.bmc?.mac ?? null, serial: machine.system.serial, force: request.query.force },
        'machine deleted',
      );
      return machine;
    },
  });

  app.post<{ Params: { ref: string }; Body: { on: boolean } }>('/machines/:ref/maintenance', {
    schema: {
      params: machineRefParams,
      body: { type: 'object', additionalProperties: false, required: ['on'], properties: { on: { type: 'boolean' } } },
      response: { 200: { $ref: 'machine#' }, ...errorResponses },
    },
    // In maintenance a machine gets no boot answer at all (boot-decisions.ts): an operator at
    // the machine, or one that must not be reinstalled by accident, is left alone.
    handler: async (request) => {
      const { id } = store.machines.resolve(refFrom(request.params.ref));
      store.machines.setMaintenance(id, request.body.on);
      return store.machines.get(id);
    },
  });

  app.get<{ Params: { ref: string } }>('/machines/:ref/facts', {
    schema: { params: machineRefParams, response: { 200: { type: 'object', additionalProperties: true }, ...errorResponses } },
    handler: async (request) => store.machines.facts(store.machines.resolve(refFrom(request.params.ref)).id),
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

  /**
   * The timeline as server-sent events (`metalbox events --follow`): the events after
   * `after`, then each new one as it is committed. Events are read from the store every
   * quarter second (an indexed range read), so a follower never holds a lock or a listener
   * the hot paths would have to feed.
   */
  app.get<{ Params: { ref: string }; Querystring: { after: number } }>('/machines/:ref/events/stream', {
    schema: {
      params: machineRefParams,
      querystring: { type: 'object', additionalProperties: false, properties: { after: { type: 'integer', minimum: 0, default: 0 } } },
    },
    handler: async (request, reply) => {
      const machine = store.machines.resolve(refFrom(request.params.ref));
      if (streams.size >= maxStreams) {
        throw new MetalboxError(
          'E_TOO_MANY',
          `${streams.size} event streams are open, the most api.maxEventStreams allows: close one (events --follow) and try again`,
        );
      }
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' });
      let after = request.query.after;
      let heartbeat = 0;
      const pump = () => {
        try {
          for (const event of store.machines.events(machine.id, { after, limit: 1000 })) {
            raw.write(`id: ${event.id}\nevent: machine-event\ndata: ${JSON.stringify(event)}\n\n`);
            after = event.id;
          }
          // A comment now and then keeps proxies and the client's body timeout from closing an idle stream.
          if (++heartbeat % 60 === 0) raw.write(': keep-alive\n\n');
        } catch (error) {
          request.log.error({ err: error }, 'event stream failed');
          raw.end();
        }
      };
      pump();
      const timer = setInterval(pump, 250);
      const end = () => {
        clearInterval(timer);
        streams.delete(end);
        raw.end();
        // The client may hold the connection open (keep-alive): a stop must not wait for it.
        raw.socket?.destroySoon();
      };
      streams.add(end);
      raw.on('close', end);
    },
  });

  const { boot } = options;
  if (boot) {
    // By machine or by MAC: a MAC the inventory does not know has a verdict too (not in the inventory).
    app.get<{ Params: { ref: string } }>('/boot-verdict/:ref', {
      schema: { params: machineRefParams, response: { 200: { type: 'object', additionalProperties: true }, ...errorResponses } },
      handler: async (request) => explainBoot(store, boot, refFrom(request.params.ref)),
    });
  }

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
                properties: {
                  type: { type: 'string' },
                  matched: { type: 'boolean' },
                  reasons: { type: 'array', items: { type: 'string' } },
                  specificity: { type: 'integer' },
                },
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

/** Machines read per page of a streamed list; a turn of the event loop between pages. */
const STREAM_PAGE = 1000;

/** The JSON array of the machines matching `filter`, one document a line. */
async function* machineArray(store: Store, filter: MachineFilter): AsyncGenerator<string> {
  let separator = '[\n';
  for (let after: number | null = 0; after !== null; ) {
    const page = store.machines.page(filter, after, STREAM_PAGE);
    if (page.documents.length > 0) {
      yield separator + page.documents.join(',\n');
      separator = ',\n';
    }
    after = page.next;
    if (after !== null) await nextTurn();
  }
  yield separator === '[\n' ? '[]\n' : '\n]\n';
}
