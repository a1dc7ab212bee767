import { pino, type Logger, type LoggerOptions } from 'pino';

/**
 * The shared logger factory: JSON lines (pino) with the paths that can carry secrets redacted, so a
 * careless `log.info({ req })` can never write a model key or an auth header to disk.
 */
export const REDACT_PATHS = [
  'secrets',
  '*.secrets',
  '*.*.secrets',
  'req.headers.authorization',
  'req.headers["x-signature"]',
  'headers.authorization',
  'authorization',
  'token',
  '*.token',
  'access_token',
  '*.access_token',
  'nodeToken',
  '*.nodeToken',
];

export function createLogger(name: string, opts: LoggerOptions = {}): Logger {
  return pino({
    name,
    level: process.env.ROMULUS_LOG_LEVEL ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    ...opts,
  });
}
export type { Logger };
