import { readServerSentEvents, type NodeEvent } from '@romulus/shared';

/**
 * Reads a node's GET /v1/events stream (server-sent events) and hands each event to `onEvent` until `signal`
 * aborts, reconnecting after a drop with a capped backoff. Every connection starts with a full snapshot of
 * the node's VMs, so a gap loses no transition: the consumer just sees the current state again.
 */
export async function followNodeEvents(opts: {
  url: string;
  token: string;
  onEvent: (ev: NodeEvent) => void | Promise<void>;
  onDisconnect?: (err: unknown) => void;
  signal: AbortSignal;
  backoffMs?: { min: number; max: number };
}): Promise<void> {
  const { min, max } = opts.backoffMs ?? { min: 500, max: 10_000 };
  let wait = min;
  while (!opts.signal.aborted) {
    try {
      const res = await fetch(`${opts.url.replace(/\/+$/, '')}/v1/events`, {
        headers: { authorization: `Bearer ${opts.token}`, accept: 'text/event-stream' },
        signal: opts.signal,
      });
      if (!res.ok || !res.body) throw new Error(`node event stream answered ${res.status}`);
      for await (const ev of parseEvents(res.body)) {
        if (ev.type === 'synced') wait = min;
        await opts.onEvent(ev);
      }
      throw new Error('node event stream ended');
    } catch (err) {
      if (opts.signal.aborted) return;
      opts.onDisconnect?.(err);
    }
    await sleep(wait, opts.signal);
    wait = Math.min(max, wait * 2);
  }
}

/** Each event of the node's stream as a NodeEvent. */
async function* parseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<NodeEvent> {
  for await (const { data } of readServerSentEvents(body)) yield JSON.parse(data) as NodeEvent;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
