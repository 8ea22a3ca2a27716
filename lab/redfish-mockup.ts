/**
 * A Redfish mockup server for the tests and the lab (test and demo code, not product): it
 * serves a tree of test/redfish/mockups (request path → <tree>/<path>/index.json) the way
 * a BMC would, with session and Basic auth, optional TLS, latency, hostile behaviours on
 * chosen paths, and writes: a PATCH merges into the resource (ETags checked against
 * If-Match), a ComputerSystem.Reset changes PowerState or calls the lab's hook. Vendor
 * behaviours (AMI's FutureState URI, HPE refusing a Mode) are hooks a test sets, each
 * citing where the behaviour is documented. A fake only in the sense that no real BMC can
 * run here; the bodies are captures of real BMCs and DMTF's published mockups.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The pruned copies scripts/vendor-mockups makes of ../shared/redfish-mockups (committed: a checkout may sit anywhere). */
export const MOCKUPS = fileURLToPath(new URL('../../test/redfish/mockups/', import.meta.url));

export type Hostile =
  | { kind: 'status'; status: number; body?: string; contentType?: string }
  | { kind: 'slow-bytes'; intervalMs: number }
  | { kind: 'huge'; bytes: number }
  | { kind: 'invalid-json' }
  | { kind: 'redirect'; location: string }
  | { kind: 'hang' };

export interface MockupOptions {
  tree: string;
  username?: string;
  password?: string;
  /** Whether POST /redfish/v1/SessionService/Sessions works; false answers 405, so clients fall back to Basic. */
  sessions?: boolean;
  tls?: { key: string; cert: string };
  latencyMs?: number;
  /** Behaviours by exact path (no query), e.g. a 500 on a collection. */
  hostile?: Record<string, Hostile>;
  host?: string;
  port?: number;
  /**
   * XORed into the fourth and fifth octets of every MAC the tree holds (low byte into the
   * fourth), so many servers of one tree are many distinct BMCs (distinct NIC MACs); 0
   * serves the tree as it is.
   */
  macSalt?: number;
  /** MACs of the tree replaced (any spelling, keyed lowercase with colons), e.g. a system NIC by a VM's. */
  macs?: Record<string, string>;
  /** Send an ETag header (a version counter per resource) and check If-Match on PATCH. */
  etags?: boolean;
  /** A vendor's way with writes: an answer replaces the default handling; undefined falls through to it. */
  write?: (write: MockupWrite, state: MockupState) => MockupAnswer | undefined | Promise<MockupAnswer | undefined>;
  /** Resets handed to the lab (which starts and stops a VM); without it a reset only sets PowerState. */
  reset?: (systemPath: string, resetType: string, state: MockupState) => void | Promise<void>;
  /** Virtual media inserted (the image's URL) or ejected (null), by action or PATCH: the lab attaches it to its VM. */
  media?: (drivePath: string, image: string | null, state: MockupState) => void | Promise<void>;
}

export interface MockupWrite {
  method: string;
  path: string;
  body: Record<string, unknown> | null;
  ifMatch: string | null;
}

export interface MockupAnswer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

/** What writes changed: merged over the tree's files on every GET. */
export interface MockupState {
  /** The resource as a GET would return it now, or null. */
  read(path: string): Record<string, unknown> | null;
  /** Merges `patch` into the resource (objects merge, everything else replaces) and bumps its ETag. */
  merge(path: string, patch: Record<string, unknown>): void;
  etag(path: string): string;
}

export interface Mockup {
  url: string;
  port: number;
  /** Every request, `METHOD path`, in order. */
  requests: string[];
  /** Sessions currently open. */
  sessions: Set<string>;
  /** Every PATCH and POST other than a login, with its body and If-Match. */
  writes: MockupWrite[];
  state: MockupState;
  /** The most requests in flight at once. */
  maxInFlight: number;
  close(): Promise<void>;
}

/** A fresh self-signed certificate, as BMCs ship, made by openssl in `dir`; also its SHA-256 fingerprint as openssl prints it. */
export function selfSignedTls(dir: string, name = 'bmc'): { key: string; cert: string; fingerprint: string } {
  const key = join(dir, `${name}-key.pem`);
  const cert = join(dir, `${name}-cert.pem`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  const printed = execFileSync('openssl', ['x509', '-in', cert, '-noout', '-fingerprint', '-sha256'], { encoding: 'utf8' });
  return { key: readFileSync(key, 'utf8'), cert: readFileSync(cert, 'utf8'), fingerprint: printed.trim().split('=')[1]! };
}

export async function startMockup(options: MockupOptions): Promise<Mockup> {
  const root = join(MOCKUPS, options.tree);
  const username = options.username ?? 'admin';
  const password = options.password ?? 'password';
  const requests: string[] = [];
  const writes: MockupWrite[] = [];
  const sessions = new Set<string>();
  const overlays = new Map<string, Record<string, unknown>>();
  const versions = new Map<string, number>();
  const rewrite = (text: string) => {
    let out = options.macSalt ? saltMacs(text, options.macSalt) : text;
    if (options.macs) out = replaceMacs(out, options.macs);
    return out;
  };
  const state: MockupState = {
    read(path) {
      const file = join(root, path, 'index.json');
      if (!file.startsWith(root) || !existsSync(file)) return overlays.has(path) ? structuredClone(overlays.get(path)!) : null;
      const body = JSON.parse(rewrite(readFileSync(file, 'utf8'))) as Record<string, unknown>;
      return overlays.has(path) ? deepMerge(body, overlays.get(path)!) : body;
    },
    merge(path, patch) {
      overlays.set(path, deepMerge(overlays.get(path) ?? {}, patch));
      versions.set(path, (versions.get(path) ?? 1) + 1);
    },
    etag: (path) => `"${versions.get(path) ?? 1}"`,
  };
  let inFlight = 0;
  const counters = { maxInFlight: 0 };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    inFlight++;
    counters.maxInFlight = Math.max(counters.maxInFlight, inFlight);
    response.on('close', () => inFlight--);
    const path = decodeURIComponent((request.url ?? '/').split('?')[0]!).replace(/\/+$/, '') || '/';
    requests.push(`${request.method} ${request.url}`);
    if (options.latencyMs) await new Promise((resolve) => setTimeout(resolve, options.latencyMs));
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      response.writeHead(status, { 'content-type': 'application/json', ...headers });
      response.end(JSON.stringify(body));
    };
    const error = (status: number, messageId: string, message: string) =>
      json(status, { error: { code: messageId, message, '@Message.ExtendedInfo': [{ MessageId: messageId, Message: message }] } });

    if (request.method === 'POST' && path === '/redfish/v1/SessionService/Sessions') {
      if (options.sessions === false) return error(405, 'Base.1.0.ActionNotSupported', 'sessions are not supported');
      const body = await readBody(request);
      let credentials: { UserName?: string; Password?: string } = {};
      try {
        credentials = JSON.parse(body) as typeof credentials;
      } catch {
        return error(400, 'Base.1.0.MalformedJSON', 'malformed JSON');
      }
      if (credentials.UserName !== username || credentials.Password !== password)
        return error(401, 'Base.1.0.InsufficientPrivilege', 'Invalid username or password');
      const token = randomBytes(16).toString('hex');
      const id = randomBytes(4).toString('hex');
      sessions.add(id);
      tokens.set(token, id);
      return json(
        201,
        { '@odata.id': `/redfish/v1/SessionService/Sessions/${id}`, Id: id, UserName: username },
        {
          'x-auth-token': token,
          location: `/redfish/v1/SessionService/Sessions/${id}`,
        },
      );
    }
    const isRoot = path === '/redfish' || path === '/redfish/v1';
    if (!isRoot && !authorized(request))
      return error(401, 'Base.1.0.NoValidSession', 'There is no valid session established with the implementation.');
    if (request.method === 'DELETE' && path.startsWith('/redfish/v1/SessionService/Sessions/')) {
      const id = path.split('/').at(-1)!;
      if (!sessions.delete(id)) return error(404, 'Base.1.0.ResourceMissingAtURI', 'no such session');
      response.writeHead(204).end();
      return;
    }
    const hostile = options.hostile?.[path];
    if (hostile) return behave(hostile, response);
    if (request.method === 'PATCH' || request.method === 'POST') {
      const text = await readBody(request);
      let body: Record<string, unknown> | null = null;
      try {
        body = text === '' ? null : (JSON.parse(text) as Record<string, unknown>);
      } catch {
        return error(400, 'Base.1.0.MalformedJSON', 'malformed JSON');
      }
      const ifMatch = typeof request.headers['if-match'] === 'string' ? request.headers['if-match'] : null;
      const write = { method: request.method, path, body, ifMatch };
      writes.push(write);
      const answer = await options.write?.(write, state);
      if (answer) return json(answer.status, answer.body ?? {}, answer.headers);
      return request.method === 'PATCH' ? patch(write, response, error) : action(write, response, error);
    }
    if (request.method !== 'GET') return error(405, 'Base.1.0.ActionNotSupported', `${request.method} is not supported here`);
    const resource = state.read(path);
    if (resource === null) return error(404, 'Base.1.0.ResourceMissingAtURI', `The resource at the URI ${path} was not found.`);
    response.writeHead(200, { 'content-type': 'application/json', ...(options.etags ? { etag: state.etag(path) } : {}) });
    response.end(JSON.stringify(resource));
  };

  /** The standard PATCH: the resource must exist, If-Match (when sent, or required by etags) must match. */
  const patch = async (write: MockupWrite, response: ServerResponse, error: (status: number, id: string, message: string) => void) => {
    if (state.read(write.path) === null)
      return error(404, 'Base.1.0.ResourceMissingAtURI', `The resource at the URI ${write.path} was not found.`);
    if (
      options.etags &&
      write.ifMatch !== null &&
      write.ifMatch !== state.etag(write.path) &&
      write.ifMatch !== `W/${state.etag(write.path)}`
    ) {
      return error(412, 'Base.1.0.PreconditionFailed', 'The ETag supplied did not match the ETag required to change this resource.');
    }
    state.merge(write.path, write.body ?? {});
    if (/\/VirtualMedia\/[^/]+$/.test(write.path) && write.body !== null && ('Image' in write.body || 'Inserted' in write.body)) {
      const image = state.read(write.path)?.Image;
      await options.media?.(write.path, typeof image === 'string' && image !== '' ? image : null, state);
    }
    response.writeHead(204).end();
  };

  /** VirtualMedia.InsertMedia and EjectMedia, as the Redfish schema defines them: Image is required, Inserted and WriteProtected default to true. */
  const mediaAction = async (
    drive: string,
    verb: string,
    write: MockupWrite,
    response: ServerResponse,
    error: (status: number, id: string, message: string) => void,
  ) => {
    if (verb === 'EjectMedia') {
      state.merge(drive, { Image: null, ImageName: null, Inserted: false, ConnectedVia: 'NotConnected' });
      await options.media?.(drive, null, state);
      return response.writeHead(204).end();
    }
    const image = write.body?.Image;
    if (typeof image !== 'string' || image === '')
      return error(400, 'Base.1.0.PropertyMissing', 'The property Image is a required property and must be included in the request.');
    state.merge(drive, {
      Image: image,
      ImageName: image.split('/').at(-1) ?? image,
      Inserted: write.body?.Inserted ?? true,
      WriteProtected: write.body?.WriteProtected ?? true,
      ConnectedVia: 'URI',
      ...(typeof write.body?.TransferProtocolType === 'string' ? { TransferProtocolType: write.body.TransferProtocolType } : {}),
    });
    await options.media?.(drive, image, state);
    response.writeHead(204).end();
  };

  /** ComputerSystem.Reset: the lab's hook, else PowerState follows the reset type. */
  const action = async (write: MockupWrite, response: ServerResponse, error: (status: number, id: string, message: string) => void) => {
    const media = /^(.*)\/Actions\/VirtualMedia\.(InsertMedia|EjectMedia)$/.exec(write.path);
    if (media !== null && state.read(media[1]!) !== null) return mediaAction(media[1]!, media[2]!, write, response, error);
    const match = /^(.*)\/Actions\/ComputerSystem\.Reset$/.exec(write.path);
    if (match === null || state.read(match[1]!) === null) return error(404, 'Base.1.0.ResourceMissingAtURI', `no action at ${write.path}`);
    const type = typeof write.body?.ResetType === 'string' ? write.body.ResetType : null;
    if (type === null)
      return error(400, 'Base.1.0.PropertyMissing', 'The property ResetType is a required property and must be included in the request.');
    if (options.reset) await options.reset(match[1]!, type, state);
    else state.merge(match[1]!, { PowerState: ['ForceOff', 'GracefulShutdown'].includes(type) ? 'Off' : 'On' });
    response.writeHead(204).end();
  };

  const tokens = new Map<string, string>();
  const authorized = (request: IncomingMessage) => {
    const token = request.headers['x-auth-token'];
    if (typeof token === 'string') {
      const id = tokens.get(token);
      return id !== undefined && sessions.has(id);
    }
    const basic = /^Basic (.+)$/.exec(request.headers.authorization ?? '');
    return basic !== null && Buffer.from(basic[1]!, 'base64').toString() === `${username}:${password}`;
  };

  const listener = (request: IncomingMessage, response: ServerResponse) => {
    handle(request, response).catch((error: unknown) => {
      response.writeHead(500).end(String(error));
    });
  };
  const server: Server = options.tls
    ? createHttpsServer({ key: options.tls.key, cert: options.tls.cert }, listener)
    : createHttpServer(listener);
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${options.tls ? 'https' : 'http'}://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    requests,
    sessions,
    writes,
    state,
    get maxInFlight() {
      return counters.maxInFlight;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function behave(hostile: Hostile, response: ServerResponse): void {
  switch (hostile.kind) {
    case 'status':
      response.writeHead(hostile.status, { 'content-type': hostile.contentType ?? 'text/html' });
      response.end(hostile.body ?? '<html><body>Internal Server Error</body></html>');
      return;
    case 'invalid-json':
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end('{"Members": [ {"@odata.id": ');
      return;
    case 'redirect':
      response.writeHead(302, { location: hostile.location });
      response.end();
      return;
    case 'hang':
      return; // never answers
    case 'huge': {
      response.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      const pump = () => {
        while (sent < hostile.bytes) {
          sent += chunk.length;
          if (!response.write(chunk)) return void response.once('drain', pump);
        }
        response.end();
      };
      response.on('close', () => (sent = hostile.bytes));
      pump();
      return;
    }
    case 'slow-bytes': {
      response.writeHead(200, { 'content-type': 'application/json' });
      const body = Buffer.from(`{"Name": "${'x'.repeat(10_000)}"}`);
      let at = 0;
      const timer = setInterval(() => {
        if (at >= body.length) {
          clearInterval(timer);
          response.end();
          return;
        }
        response.write(body.subarray(at, at + 1));
        at++;
      }, hostile.intervalMs);
      response.on('close', () => clearInterval(timer));
    }
  }
}

const MAC_IN_TEXT = /\b([0-9a-fA-F]{2})([:-])([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\2([0-9a-fA-F]{2})\b/g;

function saltMacs(text: string, salt: number): string {
  return text.replace(MAC_IN_TEXT, (_match, a: string, separator: string, b: string, c: string, d: string, e: string, f: string) => {
    const salted = (octet: string, byte: number) => (Number.parseInt(octet, 16) ^ byte).toString(16).padStart(2, '0');
    return [a, b, c, salted(d, salt & 0xff), salted(e, (salt >> 8) & 0xff), f].join(separator);
  });
}

function replaceMacs(text: string, macs: Record<string, string>): string {
  return text.replace(MAC_IN_TEXT, (match) => macs[match.toLowerCase().replaceAll('-', ':')] ?? match);
}

function deepMerge(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(patch)) {
    const current = merged[key];
    merged[key] =
      value !== null &&
      typeof value === 'object' &&
      !Array.isArray(value) &&
      current !== null &&
      typeof current === 'object' &&
      !Array.isArray(current)
        ? deepMerge(current as Record<string, unknown>, value as Record<string, unknown>)
        : structuredClone(value);
  }
  return merged;
}

function readBody(request: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let body = '';
    request.on('data', (chunk: Buffer) => (body += chunk));
    request.on('end', () => resolve(body));
    request.on('error', reject);
  });
}
