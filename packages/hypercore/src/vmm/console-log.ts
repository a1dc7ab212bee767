import { closeSync, openSync, readSync, statSync, truncateSync, writeFileSync } from 'node:fs';

/**
 * Keeps VM console logs bounded. The VMM writes the guest's serial console to <stateDir>/console.log opened
 * with O_APPEND (qemu `append=on`, firecracker's stdout opened 'a'), so truncating the file under it is
 * safe: the next write lands at the new end. When a log passes maxBytes, its last keepBytes move to
 * console.log.1 (one generation) and console.log starts empty again.
 */
export function capLogFile(file: string, maxBytes: number, keepBytes = Math.min(maxBytes, 64 * 1024)): boolean {
  let size: number;
  try {
    size = statSync(file).size;
  } catch {
    return false;
  }
  if (size <= maxBytes) return false;
  const keep = Math.min(keepBytes, size);
  const buf = Buffer.alloc(keep);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, buf, 0, keep, size - keep);
  } finally {
    closeSync(fd);
  }
  writeFileSync(`${file}.1`, buf, { mode: 0o600 });
  truncateSync(file, 0);
  return true;
}

export class ConsoleLogCapper {
  private readonly files = new Set<string>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly maxBytes: number,
    private readonly intervalMs = 5000,
  ) {}

  track(file: string): void {
    this.files.add(file);
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), this.intervalMs);
      this.timer.unref(); // housekeeping must never keep the daemon (or a test) alive
    }
  }

  untrack(file: string): void {
    this.files.delete(file);
    if (this.files.size === 0) this.close();
  }

  sweep(): void {
    for (const f of this.files) capLogFile(f, this.maxBytes);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
