import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { buildApi } from './api/app.js';
import { ensureApiToken, TOKEN_FILE } from './api/token.js';
import type { Config } from './config/settings.js';
import type { Logger } from './lib/log.js';
import { VERSION } from './lib/version.js';
import { lockDataDir, prepareDataDir, Store } from './store/index.js';

export interface RunningServer {
  /** Base URL of the HTTP server, with the port actually bound. */
  url: string;
  close(): Promise<void>;
}

/**
 * The composition root: opens the store, starts every service and wires them together.
 * Each step that can fail does so before the next starts, and undoes what was started.
 */
export async function startServer(config: Config, logger: Logger): Promise<RunningServer> {
  prepareDataDir(config.dataDir);
  const unlock = lockDataDir(config.dataDir);
  const cleanups: Array<() => void | Promise<void>> = [unlock];
  const close = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    cleanups.length = 0;
  };
  try {
    const store = Store.open(config.dataDir);
    cleanups.push(() => store.close());
    const token = ensureApiToken(config.dataDir);

    const api = buildApi({ store, token, logger, version: VERSION });
    cleanups.push(() => api.close());
    await api.listen({ host: config.listen, port: config.http.port });
    const { port } = api.server.address() as AddressInfo;
    const host = config.listen.includes(':') ? `[${config.listen}]` : config.listen;
    const url = `http://${host}:${port}`;
    logger.info(
      { version: VERSION, url, dataDir: config.dataDir, database: store.path, tokenFile: join(config.dataDir, TOKEN_FILE) },
      `metalbox ${VERSION} serving on ${url}`,
    );
    return { url, close };
  } catch (error) {
    await close();
    throw error;
  }
}
