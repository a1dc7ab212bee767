import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NodeEvent, Vm } from './node-api.ts';

/** One VM change: the VM as it now is, or its id once it is gone. */
export type VmChange = { id: string; vm: Vm; deleted?: undefined } | { id: string; deleted: true; vm?: undefined };

/** What a node's event stream is made from (the VM manager; a test node's in-memory VMs). */
export interface VmChangeSource {
  list(): Vm[];
  /** Calls the listener with every change from now on; returns the unsubscribe. */
  subscribe(listener: (change: VmChange) => void): () => void;
}

/** A subscriber that reads slower than this much buffered output is cut off; it reconnects and resyncs. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;

/**
 * Serves GET /v1/events (packages/shared/src/node-api.ts NodeEvent as server-sent events). A stream opens
 * with every VM as it is and a `synced` event, so a client that reconnects after a gap needs nothing else to
 * be current; then one event per change, and a comment line as a heartbeat. Streams never end by
 * themselves: closeAll() ends them when the server closes (else it would wait on them forever).
 */
export class VmEventStreams {
  private readonly open = new Set<ServerResponse>();

  constructor(private readonly source: VmChangeSource) {}

  serve(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const send = (ev: NodeEvent) => {
      if (res.destroyed) return;
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        res.destroy();
        return;
      }
      res.write(`event: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`);
    };
    // Subscribe before the snapshot: a change in between is sent twice (harmless), never lost.
    const unsubscribe = this.source.subscribe((c) => send(c.deleted ? { type: 'vm-deleted', id: c.id } : { type: 'vm', vm: c.vm }));
    for (const vm of this.source.list()) send({ type: 'vm', vm });
    send({ type: 'synced' });
    const heartbeat = setInterval(() => res.destroyed || res.write(': heartbeat\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    this.open.add(res);
    const end = () => {
      clearInterval(heartbeat);
      unsubscribe();
      this.open.delete(res);
    };
    req.once('close', end);
    res.once('close', end);
  }

  closeAll(): void {
    for (const res of this.open) res.end();
  }
}
