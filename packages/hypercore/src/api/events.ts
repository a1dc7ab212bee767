import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsync } from 'fastify';
import type { NodeEvent } from '@romulus/shared';
import type { VmManager } from '../manager/vm-manager.ts';

/** A subscriber that reads slower than this much buffered output is cut off; it reconnects and resyncs. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;

/**
 * GET /v1/events: server-sent events of every VM change (packages/shared/src/node-api.ts NodeEvent). The
 * stream opens with every VM as it is (`vm` events) and a `synced` event, so a client that reconnects after a
 * gap needs nothing else to be current; then one event per change, and a comment line as a heartbeat.
 */
export const eventsRoutes: FastifyPluginAsync<{ manager: VmManager }> = async (app, { manager }) => {
  const open = new Set<ServerResponse>();
  // A stream never ends by itself: end them at close, or the server waits on them forever.
  app.addHook('preClose', async () => {
    for (const res of open) res.end();
  });
  app.get('/v1/events', async (req, reply) => {
    reply.hijack();
    const res = reply.raw;
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
    const unsubscribe = manager.subscribe((c) => send(c.deleted ? { type: 'vm-deleted', id: c.id } : { type: 'vm', vm: c.vm }));
    for (const vm of manager.list()) send({ type: 'vm', vm });
    send({ type: 'synced' });
    const heartbeat = setInterval(() => res.destroyed || res.write(': heartbeat\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    open.add(res);
    const end = () => {
      clearInterval(heartbeat);
      unsubscribe();
      open.delete(res);
    };
    req.raw.once('close', end);
    res.once('close', end);
  });
};
