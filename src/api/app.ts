import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { loggableUrl } from '../netboot/callback-tokens.js';
import { isMetalboxError, type ErrorCode } from '../lib/errors.js';
import type { Store } from '../store/index.js';
import { requireToken } from './auth.js';
import type { HttpListener } from './listener.js';
import { machineRoutes } from './routes/machines.js';
import { observationRoutes } from './routes/observations.js';
import { operationRoutes } from './routes/operations.js';
import { catalogRoutes } from './routes/catalog.js';
import type { Catalog } from '../profiles/catalog.js';
import type { Provisioning } from '../provisioning/provisioning.js';
import { onboardingRoutes } from './routes/onboardings.js';
import type { Onboarding } from '../onboarding/onboarding.js';
import type { ServerTypes } from '../profiles/server-types.js';
import { errorSchema, eventSchema, jobSchema, machineSchema } from './schemas.js';
import type { BootSettings } from './explain-boot.js';
import { EXPOSITION_CONTENT_TYPE, renderExposition, type MetricFamily } from '../lib/prometheus.js';

export interface ApiOptions {
  store: Store;
  token: string;
  logger: FastifyBaseLogger;
  version: string;
  /** The onboarding service; without it the onboarding routes are absent. */
  onboarding?: Onboarding;
  /** Profiles and server types; without it those routes are absent. */
  catalog?: Catalog;
  /** Provisioning and power; without it those routes are absent. */
  provisioning?: Provisioning;
  /** The server types, for GET /machines/:ref/explain. */
  serverTypes?: ServerTypes;
  /** serve's boot settings, for GET /api/v1/boot-verdict/:ref ("why did it not boot"). */
  boot?: BootSettings;
  /** Counters of the services (drops by reason, answers), for GET /api/v1/stats. */
  stats?: () => Record<string, unknown>;
  /** GET /metrics: the families read at each scrape, and the token that may read them besides the API token. */
  metrics?: { families: () => MetricFamily[]; token: string } | undefined;
  /** Event streams (events --follow) open at once; past it 429. */
  maxEventStreams?: number;
  /** With a listener: answers the requests it knows ahead of fastify's router (true: answered); the boot storm's script path. */
  ahead?: (request: IncomingMessage, response: ServerResponse) => boolean;
  /** The socket bound before the services were built; it gets the app's requests once the routes are ready. Without it the app is only injected into (tests). */
  listener?: HttpListener;
}

type RequestHandler = (request: IncomingMessage, response: ServerResponse) => void;

const STATUS_OF: Partial<Record<ErrorCode, number>> = {
  E_BAD_REF: 400,
  E_NOT_FOUND: 404,
  E_AMBIGUOUS_REF: 409,
  E_NIC_CONFLICT: 409,
  E_CONFLICT: 409,
  E_BMC: 502,
  E_TOO_MANY: 429,
  E_STORAGE: 503,
};

/** The HTTP server: health, and the REST API under /api/v1. */
export function buildApi(options: ApiOptions): FastifyInstance {
  const { listener, ahead } = options;
  let route: RequestHandler | undefined;
  const app = Fastify({
    loggerInstance: options.logger,
    logController: new DebugLevelRequests(),
    bodyLimit: 1024 * 1024,
    // Reject unknown query and body keys instead of silently dropping them. Union types as
    // in the config schema (server-type match values are strings or numbers), which POST
    // /server-types reuses; without the flag ajv's strict mode prints a warning at start-up.
    ajv: { customOptions: { removeAdditional: false, allowUnionTypes: true } },
    // Firmware joins paths carelessly: shim 16.1 booted over HTTP asks for the GRUB beside it
    // as /grub//grubx64.efi. Such a path is served as if written with one slash, never
    // redirected: UEFI HTTP boot fails on a 301 (Smee PR #229).
    routerOptions: { ignoreDuplicateSlashes: true },
    ...(listener && {
      serverFactory: (handler: RequestHandler) => {
        route = handler;
        return listener.server;
      },
    }),
  });
  if (listener) {
    app.addHook('onReady', async () =>
      listener.serve(ahead ? (request, response) => ahead(request, response) || route!(request, response) : route!),
    );
  }
  app.addSchema(errorSchema);
  app.addSchema(machineSchema);
  app.addSchema(eventSchema);
  app.addSchema(jobSchema);

  app.setErrorHandler((thrown: FastifyError, request, reply) => {
    // A write that failed for the storage's sake (full disk, I/O error) says so, as 503.
    const error = options.store.health.report(thrown) as FastifyError;
    if (isMetalboxError(error)) {
      const statusCode = STATUS_OF[error.code] ?? 500;
      return reply.code(statusCode).send(errorBody(statusCode, error.code, error.message));
    }
    if (error.validation) return reply.code(400).send(errorBody(400, 'E_VALIDATION', error.message));
    const statusCode = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    if (statusCode >= 500) request.log.error({ err: error }, 'request failed');
    return reply
      .code(statusCode)
      .send(errorBody(statusCode, error.code ?? 'E_INTERNAL', statusCode >= 500 ? 'internal error' : error.message));
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody(404, 'E_NO_ROUTE', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );

  app.get('/healthz', {
    schema: {
      response: {
        200: { type: 'object', required: ['status', 'version'], properties: { status: { type: 'string' }, version: { type: 'string' } } },
        503: {
          type: 'object',
          required: ['status', 'version', 'reason'],
          properties: {
            status: { type: 'string' },
            version: { type: 'string' },
            reason: { type: 'string' },
            database: { type: 'string' },
            since: { type: 'string' },
            detail: { type: 'string' },
          },
        },
      },
    },
    handler: async (_request, reply) => {
      const failure = options.store.health.failure;
      if (failure === null) return { status: 'ok', version: options.version };
      // Booting machines are still answered from memory; what cannot be recorded waits in memory for the disk.
      return reply.code(503).send({
        status: 'degraded',
        version: options.version,
        reason: `metalbox cannot write its database: ${failure.problem}`,
        database: failure.path,
        since: failure.since,
        detail: failure.detail,
      });
    },
  });

  const { metrics } = options;
  if (metrics) {
    app.register(async (scope) => {
      requireToken(scope, options.token, metrics.token);
      scope.get('/metrics', async (_request, reply) =>
        reply.header('content-type', EXPOSITION_CONTENT_TYPE).send(renderExposition(metrics.families())),
      );
    });
  }

  app.register(
    async (api) => {
      requireToken(api, options.token);
      machineRoutes(api, options.store, { serverTypes: options.serverTypes, maxEventStreams: options.maxEventStreams, boot: options.boot });
      observationRoutes(api, options.store);
      if (options.onboarding) onboardingRoutes(api, options.onboarding, options.store.jobs);
      if (options.provisioning) operationRoutes(api, options.provisioning, options.store.jobs);
      if (options.catalog) catalogRoutes(api, options.catalog, options.store);
      api.get('/stats', {
        schema: { response: { 200: { type: 'object', additionalProperties: true } } },
        handler: async () => options.stats?.() ?? {},
      });
    },
    { prefix: '/api/v1' },
  );
  return app;
}

/** Booting fleets make many small requests: one info line each would drown the log. */
class DebugLevelRequests extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    reply.log.debug(
      { method: request.method, url: loggableUrl(request.url), status: reply.statusCode, ms: reply.elapsedTime, err: error ?? undefined },
      'http',
    );
  }
}

function errorBody(statusCode: number, code: string, message: string) {
  const error =
    statusCode === 400
      ? 'Bad Request'
      : statusCode === 401
        ? 'Unauthorized'
        : statusCode === 404
          ? 'Not Found'
          : statusCode === 409
            ? 'Conflict'
            : statusCode === 429
              ? 'Too Many Requests'
              : statusCode === 503
                ? 'Service Unavailable'
                : statusCode >= 500
                  ? 'Internal Server Error'
                  : 'Error';
  return { statusCode, code, error, message };
}
