import { Agent, request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { readApiToken } from '../api/token.js';
import { defaultDataDir } from '../config/settings.js';
import { CliError, EXIT } from './errors.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

export interface ClientOptions {
  server?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

/** Errors meaning nothing answered at the URL: exit 3, not 1. */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'ETIMEDOUT']);
/** How long a connection may take, and how long the server may stay silent (headers, or a body that stalls; event streams send heartbeats). */
const CONNECT_MS = 5000;
const SILENCE_MS = 30_000;

/**
 * The CLI's only way to the appliance: its REST API. The server is --server, else
 * METALBOX_SERVER, else the local default; the token is METALBOX_TOKEN, else the token
 * file of the data dir (METALBOX_DATA_DIR or the default); every API route needs it.
 */
export class ApiClient {
  readonly baseUrl: string;
  readonly #token: string | null;
  // node:http rather than undici: a client command's whole run is a few requests, and
  // loading undici took 0.1 s of a command that should start in under 0.2 s.
  readonly #agent = new Agent({ keepAlive: true });

  constructor(options: ClientOptions = {}) {
    const env = options.env ?? process.env;
    this.baseUrl = parseServerUrl(options.server ?? (env.METALBOX_SERVER?.trim() || DEFAULT_SERVER));
    this.#token = env.METALBOX_TOKEN?.trim() || readApiToken(env.METALBOX_DATA_DIR?.trim() || defaultDataDir(env));
  }

  async get<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    return (await this.#call<T>('GET', path, query, undefined)).body;
  }

  /** POSTs a JSON body; returns the status too (200 and 202 can mean different things). */
  async post<T>(path: string, json: unknown): Promise<{ status: number; body: T }> {
    return this.#call<T>('POST', path, {}, json);
  }

  async delete<T>(path: string, query: Record<string, string | number | undefined> = {}): Promise<T> {
    return (await this.#call<T>('DELETE', path, query, undefined)).body;
  }

  async #call<T>(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    query: Record<string, string | number | undefined>,
    json: unknown,
  ): Promise<{ status: number; body: T }> {
    const response = await this.#open(method, path, query, json);
    return { status: response.statusCode!, body: (await this.#json(response)) as T };
  }

  /**
   * Copies a JSON response as it arrives into `sink`, unparsed (`ls -o json` of a large
   * inventory: parsing 100,000 machines only to print them again costs seconds).
   */
  async copyTo(path: string, query: Record<string, string | number | undefined>, sink: NodeJS.WritableStream): Promise<void> {
    const response = await this.#open('GET', path, query, undefined);
    if (!String(response.headers['content-type'] ?? '').startsWith('application/json')) {
      response.destroy();
      throw new CliError(EXIT.failed, `${this.baseUrl} answered ${response.statusCode} with a body that is not JSON: is it metalbox?`);
    }
    await pipeline(response, sink, { end: false });
  }

  /**
   * Reads a server-sent event stream, handing each event's data (parsed JSON) to
   * `onEvent` until it returns true or the server ends the stream.
   */
  async stream<T>(path: string, query: Record<string, string | number | undefined>, onEvent: (data: T) => boolean): Promise<void> {
    const response = await this.#open('GET', path, query, undefined, { accept: 'text/event-stream' });
    let buffered = '';
    for await (const chunk of response) {
      buffered += (chunk as Buffer).toString('utf8');
      for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 2);
        const data = block
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trimStart())
          .join('\n');
        if (data === '') continue; // a heartbeat comment
        if (onEvent(JSON.parse(data) as T) === true) {
          response.destroy();
          return;
        }
      }
    }
  }

  /** Sends the request; a server that cannot be reached or answers an error status becomes a CliError. */
  async #open(
    method: 'GET' | 'POST' | 'DELETE',
    path: string,
    query: Record<string, string | number | undefined>,
    json: unknown,
    headers: Record<string, string> = {},
  ): Promise<IncomingMessage> {
    const url = new URL(`${this.baseUrl}${path}`);
    for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
    const body = json === undefined ? undefined : JSON.stringify(json);
    const options: RequestOptions = {
      method,
      headers: {
        ...headers,
        ...(this.#token ? { authorization: `Bearer ${this.#token}` } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }),
      },
    };
    let response: IncomingMessage;
    try {
      // https only behind a proxy that terminates TLS: loaded when asked for.
      const send = url.protocol === 'https:' ? (await import('node:https')).request : httpRequest;
      response = await new Promise<IncomingMessage>((resolve, reject) => {
        const request = send(url, { ...options, ...(url.protocol === 'http:' ? { agent: this.#agent } : {}) }, resolve);
        const fail = (message: string) => request.destroy(Object.assign(new Error(message), { code: 'ETIMEDOUT' }));
        const connecting = setTimeout(() => fail(`no connection within ${CONNECT_MS / 1000} s`), CONNECT_MS);
        request.once('socket', (socket) => {
          if (socket.connecting) socket.once('connect', () => clearTimeout(connecting));
          else clearTimeout(connecting);
        });
        request.once('close', () => clearTimeout(connecting));
        request.setTimeout(SILENCE_MS, () => fail(`no answer for ${SILENCE_MS / 1000} s`));
        request.once('error', reject);
        request.end(body);
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (UNREACHABLE.has(code)) {
        throw new CliError(
          EXIT.unreachable,
          `cannot reach metalbox at ${this.baseUrl} (${code}): is 'metalbox serve' running? Set --server or METALBOX_SERVER`,
        );
      }
      throw new CliError(EXIT.unreachable, `request to ${url.origin} failed: ${(error as Error).message}`);
    }
    if (response.statusCode === 401) {
      response.resume();
      throw new CliError(
        EXIT.failed,
        this.#token === null
          ? `metalbox at ${this.baseUrl} needs its API token: set METALBOX_TOKEN, or run where the api-token file of its data dir is readable (METALBOX_DATA_DIR, root for /var/lib/metalbox)`
          : `metalbox at ${this.baseUrl} refused the API token: it is not this server's (METALBOX_TOKEN, or the api-token file of METALBOX_DATA_DIR)`,
      );
    }
    if (response.statusCode! >= 400) {
      const body = await this.#json(response);
      const message = (body as { message?: unknown }).message;
      throw new CliError(
        inputError(response.statusCode!) ? EXIT.usage : EXIT.failed,
        typeof message === 'string' ? message : `HTTP ${response.statusCode}`,
      );
    }
    return response;
  }

  async #json(response: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    try {
      return JSON.parse(text);
    } catch {
      throw new CliError(EXIT.failed, `${this.baseUrl} answered ${response.statusCode} with a body that is not JSON: is it metalbox?`);
    }
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }
}

/** A request the server refused as given (bad input, or a state that does not allow it): exit 2, nothing changed. */
function inputError(status: number): boolean {
  return status === 400 || status === 409;
}

function parseServerUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new CliError(EXIT.usage, `not a server URL: ${text} (expected e.g. ${DEFAULT_SERVER})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(EXIT.usage, `not a server URL: ${text} (expected e.g. ${DEFAULT_SERVER})`);
  }
  return url.href.replace(/\/+$/, '');
}
