import cliProgress from 'cli-progress';

/**
 * Progress for long build steps: a bar on a terminal, or a line every 10% (plus elapsed time) when the
 * output goes to a log (CI), so progress is visible either way without flooding.
 */
export class Progress {
  private bar: cliProgress.SingleBar | null = null;
  private lastDecile = -1;
  private readonly started = Date.now();
  private total: number;
  private value = 0;

  constructor(
    private readonly label: string,
    total: number,
    private readonly unit = 'steps',
  ) {
    this.total = Math.max(1, total);
    if (process.stdout.isTTY) {
      this.bar = new cliProgress.SingleBar(
        { format: `[${label}] {bar} {percentage}% | {value}/{total} ${unit} | {duration_formatted}`, hideCursor: true },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(this.total, 0);
    }
  }

  update(value: number): void {
    this.value = value;
    if (value > this.total) {
      this.total = value;
      this.bar?.setTotal(value);
    }
    if (this.bar) return this.bar.update(value);
    const decile = Math.floor((10 * value) / this.total);
    if (decile > this.lastDecile) {
      this.lastDecile = decile;
      console.log(`[${this.label}] ${value}/${this.total} ${this.unit} (~${decile * 10}%), ${elapsed(this.started)}`);
    }
  }

  stop(): void {
    this.bar?.update(this.value);
    this.bar?.stop();
  }
}

export function elapsed(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)} s`;
}

/** Prints a stage message with the time since `since`. */
export function stage(label: string, message: string, since?: number): void {
  console.log(`[${label}] ${message}${since !== undefined ? ` (${elapsed(since)})` : ''}`);
}
