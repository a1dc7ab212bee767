import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * <data>/stack.json: where the running single-node stack listens, for the other commands to find it.
 * No secrets: the node token stays in <data>/node/token (0600), the chain's admin token in <data>/chain.
 */
export interface StackFile {
  version: 1;
  pid: number;
  startedAt: number;
  dataDir: string;
  gateway: { url: string };
  node: { url: string };
  chain: { url: string; mint: string; stateDir: string };
  /** Agent URLs look like <scheme>://<id>.<domain>:<port>. */
  domain: string;
}

export function stackFilePath(dataDir: string): string {
  return path.join(dataDir, 'stack.json');
}

export function readStackFile(dataDir: string): StackFile | null {
  const file = stackFilePath(dataDir);
  if (!existsSync(file)) return null;
  try {
    const parsed = JSON.parse(readFileSync(file, 'utf8')) as StackFile;
    return parsed.version === 1 && typeof parsed.gateway?.url === 'string' ? parsed : null;
  } catch {
    return null;
  }
}

export function writeStackFile(dataDir: string, stack: StackFile): void {
  const file = stackFilePath(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(stack, null, 2) + '\n', { mode: 0o644 });
  renameSync(tmp, file);
}

/** Removes the stack file only if it still describes this process (a newer `up` may have replaced it). */
export function removeStackFile(dataDir: string, pid: number): void {
  const current = readStackFile(dataDir);
  if (current && current.pid === pid) rmSync(stackFilePath(dataDir), { force: true });
}
