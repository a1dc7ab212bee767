import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { REDACT_PATHS } from '@romulus/shared';

/**
 * The stack's log: one JSON-lines file, <data>/logs/stack.log, with a child logger per service (chain,
 * node, gateway). The terminal keeps only the summary `romulus up` prints. Same redaction as every
 * Romulus logger, so no token or secret reaches the file.
 */
export function createStackLogger(dataDir: string, level: string): { log: Logger; file: string } {
  const dir = path.join(dataDir, 'logs');
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  const file = path.join(dir, 'stack.log');
  const log = pino(
    { name: 'stack', level, redact: { paths: REDACT_PATHS, censor: '[REDACTED]' } },
    pino.destination({ dest: file, append: true, mkdir: true, sync: true }),
  );
  return { log, file };
}
