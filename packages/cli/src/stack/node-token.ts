import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';

/**
 * The node daemon's bearer token for the local stack: generated on first start, then reused, kept in
 * <data>/node/token with mode 0600 (created that way with O_EXCL, so it is never briefly world-readable).
 * Only the gateway (in the same `romulus up` process) uses it; it is never printed or logged.
 */
export function readOrCreateNodeToken(nodeDir: string): string {
  mkdirSync(nodeDir, { recursive: true, mode: 0o700 });
  const file = path.join(nodeDir, 'token');
  try {
    const fd = openSync(file, 'wx', 0o600);
    try {
      writeSync(fd, randomBytes(32).toString('hex') + '\n');
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  // A token file someone loosened is tightened again rather than trusted as is.
  if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  const token = readFileSync(file, 'utf8').trim();
  if (token.length < 16) throw new Error(`${file} holds no usable node token (delete it to generate a new one)`);
  return token;
}
