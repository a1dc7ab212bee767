import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { pino, type DestinationStream, type Logger } from 'pino';
import { REDACT_PATHS } from '@romulus/shared';

/**
 * The stack's log: one JSON-lines file, <data>/logs/stack.log, shared by one logger per service (`name`:
 * stack, chain, node, gateway). The terminal keeps only the summary `romulus up` prints. Same redaction as
 * every Romulus logger, so no token or secret reaches the file.
 */
export interface StackLogs {
  file: string;
  /** A logger named after one service, writing to the shared file. */
  forService(name: string): Logger;
  flush(): void;
}

export function createStackLogs(dataDir: string, level: string): StackLogs {
  const dir = path.join(dataDir, 'logs');
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  const file = path.join(dir, 'stack.log');
  // Synchronous writes: nothing is lost when the process exits right after stopping the stack.
  const dest: DestinationStream & { flushSync?: () => void } = pino.destination({ dest: file, append: true, mkdir: true, sync: true });
  return {
    file,
    forService: (name) => pino({ name, level, redact: { paths: REDACT_PATHS, censor: '[REDACTED]' } }, dest),
    flush: () => dest.flushSync?.(),
  };
}
