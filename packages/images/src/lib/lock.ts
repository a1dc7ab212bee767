import { mkdirSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import path from 'node:path';
import { pidAlive } from '@romulus/shared';

/**
 * An exclusive lock file (O_EXCL, holding our pid) around a build step, so two setups on one host do not
 * build into the same tree at once. A lock whose pid is dead is stale and taken over.
 */
export async function withLock<T>(lockFile: string, what: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(path.dirname(lockFile), { recursive: true });
  let announced = false;
  for (;;) {
    try {
      const fd = openSync(lockFile, 'wx', 0o644);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = Number(readFileSafe(lockFile));
      if (!holder || !pidAlive(holder)) {
        rmSync(lockFile, { force: true });
        continue;
      }
      if (!announced) console.log(`[${what}] waiting for pid ${holder} (lock ${lockFile})`);
      announced = true;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockFile, { force: true });
  }
}

function readFileSafe(f: string): string {
  try {
    return readFileSync(f, 'utf8').trim();
  } catch {
    return '';
  }
}

