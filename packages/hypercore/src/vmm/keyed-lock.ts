/**
 * Runs at most one operation per key at a time (in this process): two concurrent start() calls on one
 * state dir must not race to spawn two VMMs; the second waits, then finds the first one's VMM and adopts it.
 */
export class KeyedLock {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** Is an operation for this key running or queued? */
  busy(key: string): boolean {
    return this.tails.has(key);
  }

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    const next = prev.catch(() => {}).then(fn);
    this.tails.set(key, next);
    try {
      return await next;
    } finally {
      if (this.tails.get(key) === next) this.tails.delete(key);
    }
  }
}
