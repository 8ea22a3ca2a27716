import { isIPv4 } from 'node:net';
import { Agent, request, type Dispatcher } from 'undici';
import { normalizeMac } from '../lib/mac.js';
import type { Finding, Resolver } from './locator.js';
import type { UnifiSettings } from './unifi-settings.js';

interface Station {
  mac: string;
  ip: string;
  lastSeen: number | null;
}

const TIMEOUT_MS = 10_000;
const MAX_BODY_BYTES = 32 * 1024 * 1024;
/** One station list serves every onboarding for this long: controllers are slow and rate-limit logins. */
const CACHE_MS = 30_000;

/**
 * The UniFi Network controller's client list (what the proof of concept queried). Two
 * generations: UniFi OS consoles (`/api/auth/login`, then the Network app under
 * `/proxy/network`) and the classic controller (`/api/login`). The first is tried first; a
 * 404 there means a classic controller.
 */
export class UnifiResolver implements Resolver {
  readonly name = 'unifi';
  readonly passive = false;
  readonly #dispatcher: Agent;
  #stations: { at: number; list: Promise<Station[]> } | null = null;

  constructor(private readonly settings: UnifiSettings) {
    this.#dispatcher = new Agent({
      connect: { timeout: TIMEOUT_MS, rejectUnauthorized: !settings.insecure },
      headersTimeout: TIMEOUT_MS,
      bodyTimeout: TIMEOUT_MS,
    });
  }

  async find(mac: string): Promise<Finding> {
    if (this.#stations === null || Date.now() - this.#stations.at > CACHE_MS) {
      const list = this.#fetchStations();
      this.#stations = { at: Date.now(), list };
      list.catch(() => {
        if (this.#stations?.list === list) this.#stations = null;
      });
    }
    const stations = await this.#stations.list;
    // Read after the list came: a first call logs in first, and an age taken before would be short by that time.
    const now = Date.now() / 1000;
    const candidates = stations
      .filter((station) => station.mac === mac)
      .map((station) => ({
        ip: station.ip,
        source: this.name,
        ageSeconds: station.lastSeen === null ? null : Math.max(0, now - station.lastSeen),
      }));
    return { candidates, note: `not among the controller's clients (site ${this.settings.site})` };
  }

  async close(): Promise<void> {
    await this.#dispatcher.close();
  }

  async #fetchStations(): Promise<Station[]> {
    const base = this.settings.url.replace(/\/+$/, '');
    const credentials = { username: this.settings.username, password: this.settings.password };
    let prefix = '/proxy/network';
    let login = await this.#call('POST', `${base}/api/auth/login`, credentials, {});
    if (login.status === 404 || login.status === 405) {
      prefix = '';
      login = await this.#call('POST', `${base}/api/login`, credentials, {});
    }
    if (login.status === 401 || login.status === 403)
      throw new Error(`login refused (HTTP ${login.status}): check unifi.username and the password`);
    if (login.status < 200 || login.status >= 300) throw new Error(`login failed with HTTP ${login.status}`);
    const cookie = cookiesOf(login.headers['set-cookie']);
    const stations = await this.#call(
      'GET',
      `${base}${prefix}/api/s/${encodeURIComponent(this.settings.site)}/stat/sta`,
      undefined,
      cookie ? { cookie } : {},
    );
    if (stations.status < 200 || stations.status >= 300) throw new Error(`client list failed with HTTP ${stations.status}`);
    const data = (stations.body as { data?: unknown } | null)?.data;
    if (!Array.isArray(data)) throw new Error('the client list is not {"data": [...]}');
    const list: Station[] = [];
    for (const entry of data as Array<Record<string, unknown>>) {
      const mac = typeof entry?.mac === 'string' ? normalizeMac(entry.mac) : null;
      const ip = typeof entry?.ip === 'string' && isIPv4(entry.ip) ? entry.ip : null;
      if (mac === null || ip === null) continue;
      list.push({ mac, ip, lastSeen: typeof entry.last_seen === 'number' ? entry.last_seen : null });
    }
    return list;
  }

  async #call(method: Dispatcher.HttpMethod, url: string, json: unknown, headers: Record<string, string>) {
    const response = await request(url, {
      method,
      dispatcher: this.#dispatcher,
      headers: { accept: 'application/json', ...headers, ...(json === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    });
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) {
        response.body.destroy();
        throw new Error(`an answer over ${MAX_BODY_BYTES} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    let body: unknown = null;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      // a non-JSON error page: the status speaks
    }
    return { status: response.statusCode, headers: response.headers, body };
  }
}

/** The name=value pairs of Set-Cookie headers, as one Cookie header. */
function cookiesOf(header: string | string[] | undefined): string {
  const values = header === undefined ? [] : Array.isArray(header) ? header : [header];
  return values
    .map((value) => value.split(';')[0]!.trim())
    .filter((pair) => pair.includes('='))
    .join('; ');
}
