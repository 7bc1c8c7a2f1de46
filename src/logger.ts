import { pino, destination as pinoDestination, type Logger, type DestinationStream } from 'pino';
import type { LogLevel } from './config/settings.js';

/**
 * JSON lines on stdout (or the given stream, or stderr for CLI commands). Secrets are redacted by key
 * wherever they might be attached by mistake; paths are redacted by the request logger.
 */
export function createLogger(level: LogLevel, destination?: DestinationStream, fd: 1 | 2 = 1): Logger {
  return pino(
    {
      level,
      base: { service: 'ember-sync' },
      redact: {
        paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization', '*.headers.authorization', 'secret', '*.secret', 'access_token', '*.access_token', 'private_key', '*.private_key'],
        censor: '[redacted]',
      },
    },
    destination ?? pinoDestination({ dest: fd, sync: true }),
  );
}
export type { Logger };
