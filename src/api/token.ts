import { join } from 'node:path';
import { ensureSecretFile, readSecretFile } from '../lib/secret-file.js';

export const TOKEN_FILE = 'api-token';

/** The API token of this data dir, created at first start. */
export function ensureApiToken(dataDir: string): string {
  return ensureSecretFile(join(dataDir, TOKEN_FILE));
}

export const METRICS_TOKEN_FILE = 'metrics-token';

/** The token Prometheus sends for GET /metrics (the API token works too), created at first start: it reads counters and nothing else. */
export function ensureMetricsToken(dataDir: string): string {
  return ensureSecretFile(join(dataDir, METRICS_TOKEN_FILE));
}

/** The token a client sends: null when the file is absent or unreadable (reads need none). */
export function readApiToken(dataDir: string): string | null {
  return readSecretFile(join(dataDir, TOKEN_FILE));
}
