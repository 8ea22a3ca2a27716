import type { TLSSocket } from 'node:tls';
import type { Client, Dispatcher } from 'undici';
import { withoutControlCharacters } from '../lib/text.js';

/**
 * undici is loaded with the first Redfish request, not with the module: an appliance that
 * is only serving boots never needs it, and loading it costs ~11 MiB of resident memory.
 */
let undici: typeof import('undici') | undefined;
async function loadUndici(): Promise<typeof import('undici')> {
  undici ??= await import('undici');
  return undici;
}

/** Why a Redfish exchange failed; onboarding maps these to bmc_unreachable, auth_failed and inspect_failed. */
export type RedfishFailure =
  | 'unreachable' // no TCP/TLS connection, or no answer in time
  | 'timeout' // an answer started but did not finish in time
  | 'auth' // credentials refused
  | 'too-large' // a body past the size cap
  | 'bad-json' // a body that is not a JSON object
  | 'redirect' // to another host, or a loop
  | 'tls' // a certificate other than the pinned one
  | 'http'; // any other status that is not a success

export class RedfishError extends Error {
  override readonly name = 'RedfishError';
  constructor(
    readonly failure: RedfishFailure,
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface RedfishTarget {
  host: string;
  port?: number | null;
  scheme: 'https' | 'http';
  /** Accept a certificate no CA vouches for (BMCs ship self-signed ones). */
  insecure?: boolean;
  /** SHA-256 of the certificate pinned at first contact: this one is accepted, any other refused. */
  tlsFingerprint?: string | null;
}

export interface RedfishOptions {
  auth: 'auto' | 'session' | 'basic';
  connectTimeoutMs: number;
  /** Deadline of one request, from sending to the last byte of the body. */
  requestTimeoutMs: number;
  maxBodyBytes: number;
  /** Extra tries of a GET after a connection error, a timeout, 429 or 5xx. */
  retries: number;
  backoffMs: number;
  /** Shared by every client: the global cap on requests in flight to all BMCs. */
  limiter?: Limiter;
}

export const REDFISH_DEFAULTS: RedfishOptions = {
  auth: 'auto',
  connectTimeoutMs: 15_000,
  requestTimeoutMs: 60_000,
  maxBodyBytes: 16 * 1024 * 1024,
  retries: 3,
  backoffMs: 1000,
};

/**
 * The global cap on Redfish requests in flight. A request still unanswered after
 * `stalledAfterMs` gives its slot back and waits on outside the count: a BMC that accepts
 * connections and never answers then costs a socket, not a slot, and fifty of them cannot
 * starve the healthy BMCs for their whole request timeout (the engine's concurrency still
 * bounds how many stall at once).
 */
export class Limiter {
  #active = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(
    readonly capacity: number,
    readonly stalledAfterMs = 5_000,
  ) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#active >= this.capacity) await new Promise<void>((resolve) => this.#waiting.push(resolve));
    this.#active++;
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      this.#active--;
      this.#waiting.shift()?.();
    };
    const stalled = setTimeout(release, this.stalledAfterMs);
    try {
      return await task();
    } finally {
      clearTimeout(stalled);
      release();
    }
  }
}

export type RedfishBody = Record<string, unknown>;

/** The answer to a write, or to a read whose status the caller interprets. */
export interface RedfishReply {
  status: number;
  /** The ETag header, else the body's @odata.etag. */
  etag: string | null;
  body: RedfishBody | null;
  /** The BMC's own words (see bmcMessage). */
  message: string;
  location: string | null;
}

const MAX_REDIRECTS = 3;

/**
 * One BMC's Redfish service. Its undici Client holds a single connection without
 * pipelining, so requests to one BMC go one at a time (BMCs fall over otherwise); the
 * limiter caps them across BMCs. Every body read is kept in `resources` as JSON text (what
 * the inventory stores; parsed objects took 3-5× the memory while a fleet of onboardings
 * held theirs), and login always ends with a logout in close().
 */
export class RedfishClient {
  /** The JSON text of each resource read, by path. */
  readonly resources = new Map<string, string>();
  /** The ETag header of each resource read, for If-Match on writes. */
  readonly etags = new Map<string, string>();
  /** What the service did oddly but metalbox worked around (a service root that answers 404), for the inspection's notes. */
  readonly notes: string[] = [];
  readonly origin: string;
  /** SHA-256 of the certificate the BMC presented (https only), in pinning form. */
  certificateFingerprint: string | null = null;
  /** Made with the first request (see loadUndici); undefined until then. */
  #client: Client | undefined;
  #aborted = false;
  readonly #target: RedfishTarget;
  readonly #options: RedfishOptions;
  #authorization: Record<string, string> = {};
  #session: string | null = null;
  #credentials: { username: string; password: string } | null = null;
  /** The `$expand` query the service root advertises (null: none; then one GET per member). */
  #expand: string | null = null;

  constructor(target: RedfishTarget, options: Partial<RedfishOptions> = {}) {
    this.#options = { ...REDFISH_DEFAULTS, ...options };
    this.#target = target;
    const host = target.host.includes(':') ? `[${target.host}]` : target.host;
    this.origin = `${target.scheme}://${host}${target.port ? `:${target.port}` : ''}`;
  }

  #connect({ buildConnector, Client }: typeof import('undici')): Client {
    const target = this.#target;
    const pin = target.tlsFingerprint ? normalizeFingerprint(target.tlsFingerprint) : null;
    // A pinned certificate is checked here, by its hash, instead of by a CA chain.
    const connector = buildConnector({ timeout: this.#options.connectTimeoutMs, rejectUnauthorized: !target.insecure && pin === null });
    return new Client(this.origin, {
      pipelining: 1,
      connect: (connectOptions, callback) =>
        connector(connectOptions, (error, socket) => {
          if (error !== null) return callback(error, null);
          const certificate = target.scheme === 'https' ? (socket as TLSSocket).getPeerCertificate?.() : undefined;
          if (certificate?.fingerprint256) this.certificateFingerprint = normalizeFingerprint(certificate.fingerprint256);
          if (pin !== null && this.certificateFingerprint !== pin) {
            socket.destroy();
            return callback(new PinMismatch(pin, this.certificateFingerprint), null);
          }
          callback(null, socket);
        }),
      headersTimeout: this.#options.requestTimeoutMs,
      bodyTimeout: this.#options.requestTimeoutMs,
    });
  }

  /** Logs in: a session when the service offers one (auth auto/session), else Basic, checked with one GET. */
  async login(username: string, password: string): Promise<RedfishBody> {
    this.#credentials = { username, password };
    const root = await this.#serviceRoot();
    this.#expand = expandQuery(root);
    if (this.#options.auth !== 'basic') {
      const sessions = link((root.Links as RedfishBody | undefined)?.Sessions) ?? '/redfish/v1/SessionService/Sessions';
      const response = await this.#send('POST', sessions, { UserName: username, Password: password }, {});
      const token = response.headers['x-auth-token'];
      if (response.status >= 200 && response.status < 300 && typeof token === 'string' && token !== '') {
        this.#authorization = { 'x-auth-token': token };
        const location = response.headers.location;
        this.#session = typeof location === 'string' ? new URL(location, this.origin).pathname : null;
        return root;
      }
      if (response.status === 401 || response.status === 403)
        throw new RedfishError('auth', `login refused: ${bmcMessage(response.body, response.status)}`, response.status);
      if (this.#options.auth === 'session')
        throw new RedfishError('http', `session login failed: ${bmcMessage(response.body, response.status)}`, response.status);
    }
    this.#authorization = { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}` };
    // Basic is only known to work once a protected resource answers.
    await this.get(link(root.Systems) ?? '/redfish/v1/Systems');
    return root;
  }

  /**
   * The service root. Some BMC firmware answers 404 for /redfish/v1/ (and for
   * /redfish/v1) while its collections answer: then the standard collection paths stand
   * in for the root's links, and the inspection notes it.
   */
  async #serviceRoot(): Promise<RedfishBody> {
    try {
      return await this.get('/redfish/v1/');
    } catch (error) {
      if (!(error instanceof RedfishError) || error.status !== 404) throw error;
    }
    try {
      return await this.get('/redfish/v1');
    } catch (error) {
      if (!(error instanceof RedfishError) || error.status !== 404) throw error;
    }
    this.notes.push(
      'the service root /redfish/v1/ answered 404: read through the standard paths /redfish/v1/Systems, Managers and Chassis',
    );
    return {
      Systems: { '@odata.id': '/redfish/v1/Systems' },
      Managers: { '@odata.id': '/redfish/v1/Managers' },
      Chassis: { '@odata.id': '/redfish/v1/Chassis' },
      Links: { Sessions: { '@odata.id': '/redfish/v1/SessionService/Sessions' } },
    };
  }

  /** GETs a resource; retried on connection errors, timeouts, 429 and 5xx. Keeps the body in `resources`. */
  async get(path: string): Promise<RedfishBody> {
    for (let attempt = 0; ; attempt++) {
      try {
        const response = await this.#send('GET', path, undefined, this.#authorization);
        if (response.status === 401 && this.#session !== null && this.#credentials && attempt === 0) {
          // An expired session: log in once more, then give up.
          this.#session = null;
          await this.login(this.#credentials.username, this.#credentials.password);
          continue;
        }
        if (response.status >= 200 && response.status < 300) {
          const text = response.body.toString('utf8');
          const body = parseJson(text, path);
          this.resources.set(normalizePath(path), text);
          const etag = response.headers.etag;
          if (typeof etag === 'string') this.etags.set(normalizePath(path), etag);
          else this.etags.delete(normalizePath(path));
          return body;
        }
        if (response.status === 401 || response.status === 403)
          throw new RedfishError('auth', `${path}: ${bmcMessage(response.body, response.status)}`, response.status);
        const error = new RedfishError('http', `${path}: ${bmcMessage(response.body, response.status)}`, response.status);
        if (!(response.status === 429 || response.status >= 500) || attempt >= this.#options.retries) throw error;
        await this.#backoff(attempt, response.headers['retry-after']);
      } catch (error) {
        if (
          !(error instanceof RedfishError) ||
          !(error.failure === 'unreachable' || error.failure === 'timeout') ||
          attempt >= this.#options.retries
        )
          throw error;
        await this.#backoff(attempt, undefined);
      }
    }
  }

  /**
   * Every member of a collection, following Members@odata.nextLink pages with a loop
   * guard. Where the service advertises `$expand`, the first page is asked for expanded;
   * any error, or members that come back as bare links, fall back to the plain collection.
   */
  async members(path: string): Promise<RedfishBody[]> {
    if (this.#expand !== null) {
      const expanded = await this.#expandedMembers(path).catch((error: unknown) => {
        if (error instanceof RedfishError && error.failure === 'auth') throw error;
        return null;
      });
      if (expanded !== null) return expanded;
    }
    return this.#pages(path, (page) => this.get(page));
  }

  async #expandedMembers(path: string): Promise<RedfishBody[] | null> {
    const query = `${path.includes('?') ? '&' : '?'}${this.#expand}`;
    const members = await this.#pages(path, async (page) => {
      const body = await this.get(page === path ? `${path}${query}` : page);
      if (page === path) this.resources.delete(normalizePath(`${path}${query}`));
      return body;
    });
    if (members.some((member) => Object.keys(member).every((key) => key.startsWith('@odata')))) return null;
    for (const member of members) {
      const id = link(member);
      if (id !== null) this.resources.set(normalizePath(id), JSON.stringify(member));
    }
    return members;
  }

  async #pages(path: string, read: (page: string) => Promise<RedfishBody>): Promise<RedfishBody[]> {
    const members: RedfishBody[] = [];
    const seen = new Set<string>();
    for (let page: string | null = path; page !== null && !seen.has(normalizePath(page)) && seen.size < 100; ) {
      seen.add(normalizePath(page));
      const collection = await read(page);
      if (page === path) this.resources.set(normalizePath(path), JSON.stringify(collection));
      for (const member of Array.isArray(collection.Members) ? collection.Members : []) {
        if (member && typeof member === 'object') members.push(member as RedfishBody);
      }
      page = typeof collection['Members@odata.nextLink'] === 'string' ? collection['Members@odata.nextLink'] : null;
    }
    return members;
  }

  /**
   * One exchange whose status the caller interprets: a PATCH, an action POST, a GET that
   * may fail by design. Never retried (a write may have taken effect before the error);
   * an expired session is renewed once. Connection failures and refused credentials throw.
   */
  async call(method: 'GET' | 'PATCH' | 'POST', path: string, json?: unknown, headers: Record<string, string> = {}): Promise<RedfishReply> {
    let response = await this.#send(method, path, json, { ...this.#authorization, ...headers });
    if (response.status === 401 && this.#session !== null && this.#credentials) {
      this.#session = null;
      await this.login(this.#credentials.username, this.#credentials.password);
      response = await this.#send(method, path, json, { ...this.#authorization, ...headers });
    }
    if (response.status === 401)
      throw new RedfishError('auth', `${method} ${path}: ${bmcMessage(response.body, response.status)}`, response.status);
    let body: RedfishBody | null = null;
    try {
      body = response.body.length > 0 ? parseJson(response.body.toString('utf8'), path) : null;
    } catch {
      body = null;
    }
    const header = response.headers.etag;
    const etag = typeof header === 'string' ? header : typeof body?.['@odata.etag'] === 'string' ? (body['@odata.etag'] as string) : null;
    const location = typeof response.headers.location === 'string' ? response.headers.location : null;
    return { status: response.status, etag, body, message: bmcMessage(response.body, response.status), location };
  }

  /** Drops the connection at once, mid-request: a step that ran out of time must not linger. */
  abort(): void {
    this.#aborted = true;
    this.#client?.destroy().catch(() => undefined);
  }

  /** Deletes the session (sessions are scarce on BMCs) and closes the connection. */
  async close(): Promise<void> {
    const session = this.#session;
    this.#session = null;
    if (session !== null) {
      await this.#send('DELETE', session, undefined, this.#authorization).catch(() => undefined);
    }
    await this.#client?.close().catch(() => undefined);
  }

  async #backoff(attempt: number, retryAfter: string | string[] | undefined): Promise<void> {
    const asked = typeof retryAfter === 'string' && /^\d+$/.test(retryAfter) ? Number(retryAfter) * 1000 : 0;
    const exponential = this.#options.backoffMs * 2 ** attempt;
    const delay = Math.min(Math.max(asked, exponential * (0.5 + Math.random() / 2)), 60_000);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }

  async #send(method: Dispatcher.HttpMethod, path: string, json: unknown, headers: Record<string, string>) {
    const run = () => this.#exchange(method, path, json, headers);
    return this.#options.limiter ? this.#options.limiter.run(run) : run();
  }

  async #exchange(
    method: Dispatcher.HttpMethod,
    path: string,
    json: unknown,
    headers: Record<string, string>,
    redirects = 0,
  ): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> {
    const signal = AbortSignal.timeout(this.#options.requestTimeoutMs);
    const loaded = await loadUndici();
    if (this.#aborted) throw new RedfishError('unreachable', `${this.origin}${path}: abandoned, its step ran out of time`);
    this.#client ??= this.#connect(loaded);
    const client = this.#client;
    let response: Dispatcher.ResponseData;
    try {
      response = await client.request({
        method,
        path,
        signal,
        headers: {
          accept: 'application/json',
          'accept-encoding': 'identity',
          ...headers,
          ...(json === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(json === undefined ? {} : { body: JSON.stringify(json) }),
      });
    } catch (error) {
      throw connectionError(error, this.origin, path, this.#options);
    }
    if (response.statusCode >= 300 && response.statusCode < 400 && typeof response.headers.location === 'string') {
      await response.body.dump().catch(() => undefined);
      const target = new URL(response.headers.location, `${this.origin}${path}`);
      if (target.origin !== this.origin)
        throw new RedfishError('redirect', `${path}: redirected to another host (${target.origin}), refused`, response.statusCode);
      if (redirects >= MAX_REDIRECTS)
        throw new RedfishError('redirect', `${path}: more than ${MAX_REDIRECTS} redirects`, response.statusCode);
      return this.#exchange(method, target.pathname + target.search, json, headers, redirects + 1);
    }
    const declared = Number(response.headers['content-length']);
    if (declared > this.#options.maxBodyBytes) {
      response.body.destroy();
      throw new RedfishError('too-large', `${path}: a ${declared}-byte body is over the ${this.#options.maxBodyBytes}-byte limit`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    try {
      for await (const chunk of response.body) {
        size += (chunk as Buffer).length;
        if (size > this.#options.maxBodyBytes) {
          response.body.destroy();
          throw new RedfishError('too-large', `${path}: the body passed the ${this.#options.maxBodyBytes}-byte limit`);
        }
        chunks.push(chunk as Buffer);
      }
    } catch (error) {
      if (error instanceof RedfishError) throw error;
      throw connectionError(error, this.origin, path, this.#options, 'timeout');
    }
    return { status: response.statusCode, headers: response.headers, body: Buffer.concat(chunks) };
  }
}

class PinMismatch extends Error {
  constructor(
    readonly pinned: string,
    readonly presented: string | null,
  ) {
    super(
      `the BMC's certificate changed: pinned ${pinned}, presented ${presented ?? 'none'}; if it was renewed on purpose, onboard again with --insecure to pin the new one`,
    );
  }
}

/** SHA-256 fingerprints as pinned: uppercase hex pairs joined by colons, whatever form was given. */
export function normalizeFingerprint(text: string): string {
  return (
    text
      .replace(/[^0-9a-fA-F]/g, '')
      .toUpperCase()
      .match(/../g) ?? []
  ).join(':');
}

/** The `$expand` query a service root advertises in ProtocolFeaturesSupported.ExpandQuery, one level deep. */
function expandQuery(root: RedfishBody): string | null {
  const features = ((root.ProtocolFeaturesSupported ?? {}) as RedfishBody).ExpandQuery as RedfishBody | undefined;
  if (!features || typeof features !== 'object') return null;
  const levels = features.Levels === true ? '($levels=1)' : '';
  if (features.NoLinks === true) return `$expand=.${levels}`;
  if (features.ExpandAll === true) return `$expand=*${levels}`;
  return null;
}

function connectionError(
  error: unknown,
  origin: string,
  path: string,
  options: RedfishOptions,
  whenTimedOut: RedfishFailure = 'unreachable',
): RedfishError {
  if (error instanceof PinMismatch) return new RedfishError('tls', `${origin}: ${error.message}`);
  const name = (error as Error).name;
  const code = typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : name;
  const errors = undici?.errors;
  if (errors !== undefined && error instanceof errors.ConnectTimeoutError)
    return new RedfishError('unreachable', `${origin}: no connection within ${options.connectTimeoutMs / 1000} s`);
  // AbortSignal.timeout() rejects with a DOMException named TimeoutError (its numeric code is 23).
  if (
    name === 'TimeoutError' ||
    name === 'AbortError' ||
    (errors !== undefined &&
      (error instanceof errors.HeadersTimeoutError ||
        error instanceof errors.BodyTimeoutError ||
        error instanceof errors.RequestAbortedError))
  ) {
    return new RedfishError(whenTimedOut, `${origin}${path}: no complete answer within ${options.requestTimeoutMs / 1000} s`);
  }
  const cause = (error as { cause?: { code?: string } }).cause?.code;
  return new RedfishError(
    'unreachable',
    `${origin}: ${cause ?? code ?? String(error)}${/CERT|SELF_SIGNED|UNABLE_TO_VERIFY/.test(String(cause ?? code)) ? ' (a self-signed certificate? onboard with --insecure)' : ''}`,
  );
}

function parseJson(text: string, path: string): RedfishBody {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new RedfishError('bad-json', `${path}: the answer is not JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new RedfishError('bad-json', `${path}: the answer is not a JSON object`);
  return value as RedfishBody;
}

/** The BMC's own words for an error: Redfish's error.message and MessageId, else the status. */
export function bmcMessage(body: Buffer, status: number): string {
  let message: string | undefined;
  try {
    const error = (
      JSON.parse(body.toString('utf8')) as {
        error?: { message?: unknown; code?: unknown; '@Message.ExtendedInfo'?: Array<{ Message?: unknown; MessageId?: unknown }> };
      }
    ).error;
    const info = error?.['@Message.ExtendedInfo']?.[0];
    const text = typeof info?.Message === 'string' ? info.Message : typeof error?.message === 'string' ? error.message : undefined;
    const id = typeof info?.MessageId === 'string' ? info.MessageId : typeof error?.code === 'string' ? error.code : undefined;
    if (text !== undefined) message = id ? `${text} (${id})` : text;
  } catch {
    // HTML or empty: the status says it all
  }
  return `HTTP ${status}${message ? `: ${withoutControlCharacters(message, ' ').slice(0, 300)}` : ''}`;
}

/** The @odata.id of a link object, or null. */
export function link(value: unknown): string | null {
  const id = (value as { '@odata.id'?: unknown } | undefined)?.['@odata.id'];
  return typeof id === 'string' && id.startsWith('/') ? id : null;
}

/** Redfish ids with and without a trailing slash or fragment name the same resource. */
export function normalizePath(path: string): string {
  return path.split('#')[0]!.replace(/(?<=.)\/+$/, '');
}
