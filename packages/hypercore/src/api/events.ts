import type { FastifyPluginAsync } from 'fastify';
import { VmEventStreams } from '@romulus/shared';
import type { VmManager } from '../manager/vm-manager.ts';

/** GET /v1/events: the node's VM changes as server-sent events (shared/src/node-event-streams.ts). */
export const eventsRoutes: FastifyPluginAsync<{ manager: VmManager }> = async (app, { manager }) => {
  const streams = new VmEventStreams(manager);
  app.addHook('preClose', async () => streams.closeAll());
  app.get('/v1/events', async (req, reply) => {
    reply.hijack();
    streams.serve(req.raw, reply.raw);
  });
};
