import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ClientAddresses } from '../netboot/client-addresses.js';
import { sourcesOf, type MachineState } from '../lifecycle/lifecycle.js';
import type { MachineEventInput, MachineJson } from '../store/index.js';
import type { BootDecisions } from '../netboot/boot-decisions.js';
import type { BootEventRecorder } from '../netboot/boot-events.js';
import type { LogLimiter } from '../lib/log-limiter.js';
import type { MachineTrust } from '../netboot/machine-trust.js';
import { admitMachine } from './admission.js';
import { sendBody, textReply } from './http-files.js';
import { assetsRoute } from './assets-route.js';
import type { FileChunkCache } from './file-chunks.js';
import type { Profile } from '../profiles/profiles.js';
import { machineVariables, TemplateError } from '../profiles/template.js';
import { machineUrls } from '../netboot/callback-tokens.js';
import { withoutControlCharacters } from '../lib/text.js';

export interface NetbootHttpOptions {
  decisions: BootDecisions;
  profiles: ReadonlyMap<string, Profile>;
  /** Writes callback events at once (the installer waits for the answer). */
  appendEvents: (events: MachineEventInput[]) => unknown[];
  events: BootEventRecorder;
  addresses: ClientAddresses;
  trust: MachineTrust;
  /** Warnings about clients, at most one per client and kind per minute. */
  complaints: LogLimiter;
  /** iPXE binaries by name, served from memory under /ipxe/ (UEFI HTTP boot fetches them there). */
  binaries: ReadonlyMap<string, Buffer>;
  assetsDir?: string | undefined;
  /** The chunks of files under assetsDir that downloads share. */
  fileChunks: FileChunkCache;
  /** A machine's record, for its profile's metadata files. */
  machine: (machineId: string) => MachineJson | null;
  /** metalbox's URL as the machine reaches it (from the request's Host when no address is advertised). */
  serverUrl: (host: string | undefined) => string;
  /** The base of a machine's /assets/ URLs given serverUrl (a file thread's port); serverUrl when absent. */
  filesUrl?: ((serverUrl: string) => string) | undefined;
}

/** What an installer may report (`installed` and `failed` end the installation), and an OS the agent wrote (`booted`: active). */
const CALLBACK_ADVANCES: Record<string, { from: readonly MachineState[]; to: MachineState }> = {
  installed: { from: sourcesOf('provisioned', 'callback'), to: 'provisioned' },
  failed: { from: sourcesOf('provision_failed', 'callback'), to: 'provision_failed' },
  booted: { from: sourcesOf('active', 'callback'), to: 'active' },
};
const MAX_CALLBACK_FIELDS = 32;

/**
 * The HTTP side of netboot after the script (BootScripts): the files a machine boots, and
 * the installer's callback. Nothing here awaits the network.
 */
export function netbootRoutes(app: FastifyInstance, options: NetbootHttpOptions): void {
  const recordFile = bootFileRecorder(options);

  app.route({
    method: ['GET', 'HEAD'],
    url: '/ipxe/:name',
    schema: { params: { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 64 } } } },
    handler: async (request: FastifyRequest<{ Params: { name: string } }>, reply) => {
      const bytes = options.binaries.get(request.params.name);
      if (bytes === undefined) return textReply(reply, 404, `no iPXE binary ${request.params.name}\n`);
      const range = sendBody(request, reply, { size: bytes.length, read: ({ start, end }) => bytes.subarray(start, end + 1) });
      if (range?.start === 0) recordFile(request.ip, 'ipxe', request.params.name, bytes.length);
      return reply;
    },
  });

  assetsRoute(app, {
    assetsDir: options.assetsDir,
    fileChunks: options.fileChunks,
    sent: (clientIp, name, size) => recordFile(clientIp, 'assets', name, size),
  });

  /** The installer's callback: GET with a query, or POST with a form or JSON body. */
  const callback = {
    schema: {
      params: {
        type: 'object',
        required: ['machineId', 'token'],
        properties: { machineId: { type: 'string', maxLength: 64 }, token: { type: 'string', maxLength: 128 } },
      },
      querystring: { type: 'object', maxProperties: MAX_CALLBACK_FIELDS, additionalProperties: { type: 'string', maxLength: 1024 } },
    },
    handler: async (
      request: FastifyRequest<{ Params: { machineId: string; token: string }; Querystring: Record<string, string> }>,
      reply: FastifyReply,
    ) => {
      const { machineId } = request.params;
      // Only a machine that is installing (or first booting its disk) takes callbacks, only
      // with its current operation's token and only from its own address: a wrong token, one
      // of another machine, one replayed after the installation ended, or a right one sent
      // from another host is refused alike, and changes nothing.
      const operationId = admitMachine(options.trust, options.complaints, 'callback', request, reply);
      if (operationId === null) return reply;
      const fields = callbackFields(request.query, request.body);
      if (typeof fields === 'string') return textReply(reply, 400, `${fields}\n`);
      const { event, ...data } = fields;
      if (event === undefined || !/^[A-Za-z0-9._:-]{1,64}$/.test(event)) {
        return textReply(
          reply,
          400,
          'event= is required: a name of up to 64 letters, digits and ._:- (installed, failed, or any progress step)\n',
        );
      }
      // booted comes from the OS the agent wrote, at its first boot from the disk; every other event from an installer.
      const reporter = event === 'booted' ? 'the OS on its disk' : 'installer';
      const appended = options.appendEvents([
        {
          machineId,
          type: 'callback',
          operationId,
          message: `${reporter} reported ${event}`,
          data: { event, from: request.ip, ...data },
          ...(CALLBACK_ADVANCES[event] ? { advance: { ...CALLBACK_ADVANCES[event], reason: `${reporter} reported ${event}` } } : {}),
        },
      ]);
      if (appended.length === 0) return textReply(reply, 404, `no machine ${machineId}\n`);
      return textReply(reply, 200, 'recorded\n');
    },
  };
  app.register(async (scope) => {
    // busybox wget --post-data and curl -d send forms; fastify parses only JSON by itself.
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 16 * 1024 }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    });
    scope.get('/callback/:machineId/:token', callback);
    scope.post('/callback/:machineId/:token', { ...callback, bodyLimit: 16 * 1024 });
  });

  /**
   * A machine's metadata file (its profile's user-data, meta-data, preseed...), rendered for
   * it: for an installer at {{ metadataUrl }}, or read by the agent into the config drive.
   * The same token rule as the callback: secrets in user-data reach only the machine.
   */
  app.get(
    '/metadata/:machineId/:token/:name',
    {
      schema: {
        params: {
          type: 'object',
          required: ['machineId', 'token', 'name'],
          properties: {
            machineId: { type: 'string', maxLength: 64 },
            token: { type: 'string', maxLength: 128 },
            name: { type: 'string', maxLength: 128 },
          },
        },
      },
    },
    async (request: FastifyRequest<{ Params: { machineId: string; token: string; name: string } }>, reply) => {
      const { machineId, token, name } = request.params;
      if (admitMachine(options.trust, options.complaints, 'metadata', request, reply) === null) return reply;
      const machine = options.machine(machineId);
      const profile = machine?.profile == null ? undefined : options.profiles.get(machine.profile);
      if (machine === null || profile === undefined || !profile.metadataNames.includes(name))
        return textReply(reply, 404, `no metadata file ${name} for this machine\n`);
      try {
        const serverUrl = options.serverUrl(request.headers.host);
        const urls = machineUrls(serverUrl, machineId, token, options.filesUrl?.(serverUrl));
        const text = profile.metadata(name, machineVariables(machine, urls));
        return textReply(reply, 200, text ?? '');
      } catch (error) {
        if (!(error instanceof TemplateError)) throw error;
        return textReply(reply, 409, `profile ${profile.name}: metadata file ${name}: ${error.message}\n`);
      }
    },
  );
}

/** What makes a kernel, initrd or other file sent in full or from its start an event of the machine that fetched it. */
export type BootFileRecorder = (
  clientIp: string,
  source: 'assets' | 'ipxe' | 'agent',
  name: string,
  size: number,
  via?: 'HTTP' | 'TFTP',
) => void;

/** The boot event of a file sent over HTTP (or TFTP, to GRUB), on whichever thread sent it; for the machine behind the client's address, as DHCP and script traffic taught it. */
export function bootFileRecorder(options: Pick<NetbootHttpOptions, 'decisions' | 'addresses' | 'profiles' | 'events'>): BootFileRecorder {
  const machineOf = (clientIp: string): { machineId: string; profile: string | null } | null => {
    const mac = options.addresses.macOf(clientIp);
    if (mac === undefined) return null;
    const decision = options.decisions.decide(mac);
    if (decision.kind === 'install') return { machineId: decision.machineId, profile: decision.profile };
    if (decision.kind === 'local' || decision.kind === 'agent') return { machineId: decision.machineId, profile: null };
    return null;
  };
  return (clientIp, source, name, size, via = 'HTTP') => {
    const answer = machineOf(clientIp);
    if (answer === null) return;
    const assets = source === 'assets' && answer.profile !== null ? options.profiles.get(answer.profile)?.assets : undefined;
    // The agent image's files are <key>/vmlinuz and <key>/initrd.gz (src/agent/image.ts).
    const [milestone, what] =
      assets?.kernel === name || (source === 'agent' && name.endsWith('/vmlinuz'))
        ? (['boot.kernel', source === 'agent' ? 'agent kernel' : 'kernel'] as const)
        : assets?.initrds.includes(name) || (source === 'agent' && name.endsWith('/initrd.gz'))
          ? (['boot.initrd', source === 'agent' ? 'agent initrd' : 'initrd'] as const)
          : (['boot.asset', source === 'ipxe' ? 'iPXE binary' : 'file'] as const);
    options.events.record(answer.machineId, milestone, `${via} sent ${what} ${name}`, { bytes: size, to: clientIp });
  };
}

/** The callback's fields from the query and the body; a string says what is wrong. */
function callbackFields(query: Record<string, string>, body: unknown): Record<string, string> | string {
  const fields: Record<string, string> = { ...query };
  if (body !== undefined && body !== null) {
    if (typeof body !== 'object' || Array.isArray(body)) return 'the body must be a form or a JSON object';
    for (const [key, value] of Object.entries(body)) {
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return `field ${key} must be a plain value`;
      fields[key] = String(value);
    }
  }
  const entries = Object.entries(fields);
  if (entries.length > MAX_CALLBACK_FIELDS) return `at most ${MAX_CALLBACK_FIELDS} fields`;
  for (const [key, value] of entries) {
    if (key.length > 64 || value.length > 1024)
      return `field ${key.slice(0, 64)} is too long (names up to 64, values up to 1024 characters)`;
    // Installer-supplied text ends up in terminals (metalbox events): no control characters.
    fields[key] = withoutControlCharacters(value);
  }
  return fields;
}
