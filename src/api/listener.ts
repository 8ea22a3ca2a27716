import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LISTEN_BACKLOG } from '../lib/net.js';

type RequestHandler = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * The HTTP socket, bound before any service is built: the URL booting machines are sent to
 * names the port actually bound (`http.port: 0` binds any), and every service gets it as a
 * plain value when it is made instead of reading a variable filled in after `listen`.
 *
 * The socket exists a moment (the start-up: database, catalog, services) before the routes
 * do; a request in that moment is answered 503 with Retry-After, never left hanging.
 */
export class HttpListener {
  #handler: RequestHandler = startingUp;
  #port = 0;

  private constructor(readonly server: Server) {}

  static async bind(host: string, port: number): Promise<HttpListener> {
    const listener = new HttpListener(createServer((request, response) => listener.#handler(request, response)));
    // fastify's defaults for a server it makes itself, which it leaves to whoever makes the server.
    listener.server.keepAliveTimeout = 72_000;
    listener.server.requestTimeout = 0;
    listener.server.setTimeout(0);
    await new Promise<void>((resolve, reject) => {
      listener.server.once('error', reject);
      listener.server.listen({ host, port, backlog: LISTEN_BACKLOG }, () => {
        listener.server.off('error', reject);
        resolve();
      });
    });
    listener.#port = (listener.server.address() as AddressInfo).port;
    return listener;
  }

  /** The port bound (the one asked for, or the one the kernel chose for 0). */
  get port(): number {
    return this.#port;
  }

  /** From now on requests go to `handler` (the app, once its routes are ready). */
  serve(handler: RequestHandler): void {
    this.#handler = handler;
  }

  /** Stops accepting, closes idle keep-alive connections, and waits for the busy ones to finish. */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    await closed;
  }
}

function startingUp(_request: IncomingMessage, response: ServerResponse): void {
  const body = JSON.stringify({
    statusCode: 503,
    code: 'E_STARTING',
    error: 'Service Unavailable',
    message: 'metalbox is starting: try again in a moment',
  });
  response.writeHead(503, {
    'content-type': 'application/json; charset=utf-8',
    'retry-after': '1',
    'content-length': Buffer.byteLength(body),
  });
  response.end(body);
}
