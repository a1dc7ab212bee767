/**
 * "Agent X may have changed" within one gateway: the reconciler says so after each node event or pass it
 * applied, spawn and stop after theirs. Subscribers (the status stream, GET /events/:id) re-read the store,
 * so a change another gateway wrote is seen too once this one hears of its VM, and a missed note costs only
 * the stream's periodic re-read. One set of callbacks per agent: no emitter collects listeners.
 */
export class AgentChanges {
  private readonly byAgent = new Map<string, Set<() => void>>();

  notify(id: string): void {
    for (const fn of this.byAgent.get(id) ?? []) fn();
  }

  subscribe(id: string, fn: () => void): () => void {
    let set = this.byAgent.get(id);
    if (!set) this.byAgent.set(id, (set = new Set()));
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.byAgent.delete(id);
    };
  }

  /** Agents someone is watching (for tests and metrics). */
  get watched(): number {
    return this.byAgent.size;
  }
}
