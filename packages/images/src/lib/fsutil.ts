import { copyFileSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

/**
 * Puts `src` at `dst` atomically: copy next to dst, then rename over it. A VM still running from the old
 * file keeps its open inode; a reader never sees a half-written file.
 */
export function installFile(src: string, dst: string, move = false): void {
  mkdirSync(path.dirname(dst), { recursive: true });
  const tmp = `${dst}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  if (move) renameSync(src, tmp);
  else copyFileSync(src, tmp);
  renameSync(tmp, dst);
}
