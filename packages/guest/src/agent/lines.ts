/**
 * Splits a byte stream into text lines. Lines longer than maxLine are cut into pieces so one runaway
 * writer cannot make the agent buffer without bound.
 */
export class LineSplitter {
  private partial = '';
  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxLine = 16 * 1024,
  ) {}

  push(chunk: Buffer | string): void {
    const text = this.partial + (typeof chunk === 'string' ? chunk : chunk.toString('utf8'));
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.emit(line.endsWith('\r') ? line.slice(0, -1) : line);
    while (this.partial.length > this.maxLine) {
      this.onLine(this.partial.slice(0, this.maxLine));
      this.partial = this.partial.slice(this.maxLine);
    }
  }

  /** Emits what is left (a last line without newline). */
  end(): void {
    if (this.partial) this.emit(this.partial);
    this.partial = '';
  }

  private emit(line: string): void {
    for (let i = 0; i < line.length; i += this.maxLine) this.onLine(line.slice(i, i + this.maxLine));
    if (line.length === 0) this.onLine('');
  }
}
