import { pipeline } from 'node:stream/promises';
import { Agent, request, type Dispatcher } from 'undici';
import { readApiToken } from '../api/token.js';
import { defaultDataDir } from '../config/settings.js';
import { CliError, EXIT } from './errors.js';

export const DEFAULT_SERVER = 'http://127.0.0.1:8080';

export interface ClientOptions {
  server?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

/** Errors meaning nothing answered at the URL: exit 3, not 1. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_HEADERS_TIMEOUT',
]);

/**
 * The CLI's only way to the appliance: its REST API. The server is --server, else
 * METALBOX_SERVER, else the local default; the token is METALBOX_TOKEN, else the token
 * file of the data dir (METALBOX_DATA_DIR or the default); every API route needs it.
 */
export class ApiClient {
  readonly baseUrl: string;
  readonly #token: string | null;
  readonly #dispatcher = new Agent({ connect: { timeout: 5000 }, headersTimeout: 30_000, bodyTimeout: 30_000 });

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
    return { status: response.statusCode, body: (await this.#json(response)) as T };
  }

  /**
   * Copies a JSON response as it arrives into `sink`, unparsed (`ls -o json` of a large
   * inventory: parsing 100,000 machines only to print them again costs seconds).
   */
  async copyTo(path: string, query: Record<string, string | number | undefined>, sink: NodeJS.WritableStream): Promise<void> {
    const response = await this.#open('GET', path, query, undefined);
    if (!String(response.headers['content-type'] ?? '').startsWith('application/json')) {
      response.body.destroy();
      throw new CliError(EXIT.failed, `${this.baseUrl} answered ${response.statusCode} with a body that is not JSON: is it metalbox?`);
    }
    await pipeline(response.body, sink, { end: false });
  }

  /**
   * Reads a server-sent event stream, handing each event's data (parsed JSON) to
   * `onEvent` until it returns true or the server ends the stream.
   */
  async stream<T>(path: string, query: Record<string, string | number | undefined>, onEvent: (data: T) => boolean): Promise<void> {
    const response = await this.#open('GET', path, query, undefined, { accept: 'text/event-stream' });
    let buffered = '';
    for await (const chunk of response.body) {
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
          response.body.destroy();
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
  ): Promise<Dispatcher.ResponseData> {
    const url = new URL(`${this.baseUrl}${path}`);
    for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
    let response: Dispatcher.ResponseData;
    try {
      response = await request(url, {
        method,
        dispatcher: this.#dispatcher,
        headers: {
          ...headers,
          ...(this.#token ? { authorization: `Bearer ${this.#token}` } : {}),
          ...(json === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(json === undefined ? {} : { body: JSON.stringify(json) }),
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
      await response.body.dump();
      throw new CliError(
        EXIT.failed,
        this.#token === null
          ? `metalbox at ${this.baseUrl} needs its API token: set METALBOX_TOKEN, or run where the api-token file of its data dir is readable (METALBOX_DATA_DIR, root for /var/lib/metalbox)`
          : `metalbox at ${this.baseUrl} refused the API token: it is not this server's (METALBOX_TOKEN, or the api-token file of METALBOX_DATA_DIR)`,
      );
    }
    if (response.statusCode >= 400) {
      const body = await this.#json(response);
      const message = (body as { message?: unknown }).message;
      throw new CliError(
        inputError(response.statusCode) ? EXIT.usage : EXIT.failed,
        typeof message === 'string' ? message : `HTTP ${response.statusCode}`,
      );
    }
    return response;
  }

  async #json(response: Dispatcher.ResponseData): Promise<unknown> {
    const text = await response.body.text();
    try {
      return JSON.parse(text);
    } catch {
      throw new CliError(EXIT.failed, `${this.baseUrl} answered ${response.statusCode} with a body that is not JSON: is it metalbox?`);
    }
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
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
