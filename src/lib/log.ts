import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type { Logger } from 'pino';

/**
 * JSON lines for machines (journald, log shippers), colourised lines for a person at a
 * terminal. Secrets are redacted whatever a caller passes in.
 */
export function createLogger(level: string, options: { pretty?: boolean } = {}): Logger {
  const settings = {
    level,
    base: { pid: process.pid },
    redact: {
      paths: ['password', '*.password', 'token', '*.token', 'headers.authorization', '*.headers.authorization'],
      censor: '[redacted]',
    },
  };
  const human = options.pretty ?? process.stdout.isTTY === true;
  return human ? pino(settings, pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })) : pino(settings);
}
