import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

export interface UiSession {
  /** Sent with every form and fetch that changes something; a cross-site page cannot read it. */
  csrf: string;
  expires: number;
  /** What the last action did, shown once on the page it redirected to (kept here, not in the URL, so no link can put words on the page). */
  flash?: string | undefined;
}

/** How long a login lasts without use. */
const IDLE_MS = 12 * 3_600_000;
/** Sessions kept at most: past it the oldest goes (a flood of logins cannot grow memory). */
const MAX_SESSIONS = 1000;

/**
 * The web console's logins: the API token, typed once, buys a random session id kept in an
 * HttpOnly, SameSite=Strict cookie, so the token itself never sits in the browser. In
 * memory only: a restart logs everyone out, which is the safe direction.
 */
export class UiSessions {
  readonly #sessions = new Map<string, UiSession>();
  readonly #token: Buffer;

  constructor(
    apiToken: string,
    private readonly now: () => number = Date.now,
  ) {
    this.#token = digest(apiToken);
  }

  /** A new session for the right token; null for any other. */
  login(token: string): { id: string; session: UiSession } | null {
    if (!timingSafeEqual(digest(token), this.#token)) return null;
    const id = randomBytes(32).toString('base64url');
    const session = { csrf: randomBytes(32).toString('base64url'), expires: this.now() + IDLE_MS };
    this.#sessions.set(id, session);
    for (const oldest of this.#sessions.keys()) {
      if (this.#sessions.size <= MAX_SESSIONS) break;
      this.#sessions.delete(oldest);
    }
    return { id, session };
  }

  /** The live session of a cookie value (its idle time restarts), or null. */
  get(id: string | undefined): UiSession | null {
    if (id === undefined) return null;
    const session = this.#sessions.get(id);
    if (session === undefined) return null;
    if (session.expires < this.now()) {
      this.#sessions.delete(id);
      return null;
    }
    session.expires = this.now() + IDLE_MS;
    return session;
  }

  logout(id: string | undefined): void {
    if (id !== undefined) this.#sessions.delete(id);
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Whether a form's or a header's CSRF token is the session's, in constant time. */
export function sameCsrf(session: UiSession, given: unknown): boolean {
  return typeof given === 'string' && timingSafeEqual(digest(given), digest(session.csrf));
}
