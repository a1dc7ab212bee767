import { appendFileSync, renameSync, statSync } from 'node:fs';

/**
 * A VM's guest log file (<vm dir>/guest.log), bounded: when it passes maxBytes it is rotated once to
 * guest.log.1, so a chatty workload can never fill the host disk. Secret values are replaced before a
 * line is written (the workload may print its own environment).
 */
export class GuestLogSink {
  private size = 0;

  constructor(
    private readonly file: string,
    private readonly maxBytes: number,
    private readonly redact: (line: string) => string,
  ) {
    try {
      this.size = statSync(file).size;
    } catch {
      this.size = 0;
    }
  }

  write(stream: string, line: string): void {
    const text = `${new Date().toISOString()} ${stream} ${this.redact(line).slice(0, 16384)}\n`;
    if (this.size + text.length > this.maxBytes) {
      try {
        renameSync(this.file, `${this.file}.1`);
      } catch {
        /* nothing to rotate yet */
      }
      this.size = 0;
    }
    appendFileSync(this.file, text, { mode: 0o600 });
    this.size += Buffer.byteLength(text);
  }
}

/** Builds a redactor that replaces every occurrence of each secret value (values kept in memory only). */
export function secretRedactor(secrets: Record<string, string>): (line: string) => string {
  const values = Object.values(secrets)
    .filter((v) => v.length >= 4)
    .sort((a, b) => b.length - a.length);
  if (values.length === 0) return (l) => l;
  return (line) => {
    let out = line;
    for (const v of values) out = out.split(v).join('[REDACTED]');
    return out;
  };
}
