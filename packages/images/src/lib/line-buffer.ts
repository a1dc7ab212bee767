/** Turns chunks into lines for callers that watch a command's output. */
export class LineBuffer {
  private rest = '';
  constructor(private readonly onLine: (line: string) => void) {}
  push(d: Buffer | string): void {
    const parts = (this.rest + d.toString()).split('\n');
    this.rest = parts.pop() ?? '';
    for (const p of parts) this.onLine(p);
  }
  end(): void {
    if (this.rest) this.onLine(this.rest);
    this.rest = '';
  }
}
