import { createHmac, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { ensureSecretFile } from '../lib/secret-file.js';
import type { MachineUrls } from '../profiles/template.js';

export const CALLBACK_KEY_FILE = 'callback-key';
/** Tokens remembered; past it the memo starts over (a storm re-fetches a fleet's scripts, each needing its token). */
const REMEMBERED_TOKENS = 100_000;

/**
 * Installer callback URLs carry an HMAC of the machine id and its provisioning operation
 * under a key kept in the data dir: unguessable, bound to one machine and one operation
 * (a token of an earlier provisioning, or of another machine, is refused), stable across
 * restarts, and nothing to store.
 */
export class CallbackTokens {
  readonly #key: Buffer;
  /**
   * Tokens by operation id (one operation, one machine): an HMAC per script served was a
   * tenth of the script path's CPU, and a token never changes for its operation.
   */
  readonly #tokens = new Map<string, { machineId: string; token: string }>();

  constructor(key: string) {
    this.#key = Buffer.from(key);
  }

  static open(dataDir: string): CallbackTokens {
    return new CallbackTokens(ensureSecretFile(join(dataDir, CALLBACK_KEY_FILE)));
  }

  tokenFor(machineId: string, operationId: string): string {
    const known = this.#tokens.get(operationId);
    if (known?.machineId === machineId) return known.token;
    if (this.#tokens.size >= REMEMBERED_TOKENS) this.#tokens.clear();
    const token = createHmac('sha256', this.#key).update(`callback\0${machineId}\0${operationId}`).digest('base64url');
    this.#tokens.set(operationId, { machineId, token });
    return token;
  }

  verify(machineId: string, operationId: string, token: string): boolean {
    const expected = Buffer.from(this.tokenFor(machineId, operationId));
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}

/** The installer's callback URL; the path's shape is known to the request log, which hides the token. */
export function callbackUrl(serverUrl: string, machineId: string, token: string): string {
  return `${serverUrl}/callback/${machineId}/${token}`;
}

/** The agent's base URL for a machine; the agent adds /task, /facts. The token is the operation's, as in callbackUrl. */
export function agentUrl(serverUrl: string, machineId: string, token: string): string {
  return `${serverUrl}/agent/v1/${machineId}/${token}`;
}

/** The base of a machine's metadata files: NoCloud's `s=` and the config drive add meta-data, user-data… to it. */
export function metadataUrl(serverUrl: string, machineId: string, token: string): string {
  return `${serverUrl}/metadata/${machineId}/${token}/`;
}

/**
 * The callback, agent and metadata URLs of a machine under an operation's token (all null
 * without one), and the base of its /assets/ URLs (serverUrl unless a file thread serves them).
 */
export function machineUrls(serverUrl: string, machineId: string, token: string | null, filesUrl = serverUrl): MachineUrls {
  if (token === null) return { serverUrl, filesUrl, callbackUrl: null, agentUrl: null, metadataUrl: null };
  return {
    serverUrl,
    filesUrl,
    callbackUrl: callbackUrl(serverUrl, machineId, token),
    agentUrl: agentUrl(serverUrl, machineId, token),
    metadataUrl: metadataUrl(serverUrl, machineId, token),
  };
}

/** A request URL as it may be logged: a callback's, an agent's or a metadata token replaced (it is a credential for the operation). */
export function loggableUrl(url: string): string {
  return url.replace(/^(\/(?:callback|agent\/v1|metadata)\/[^/?]*\/)[^/?]*/, '$1[redacted]');
}
