import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { forbidden, type AgentStatus } from '@romulus/shared';
import type { AgentService } from '../agents/service.ts';
import { isTerminal } from '../agents/states.ts';
import type { RequestAuth } from '../auth/request-auth.ts';
import { AgentIdParams, SignedHeaders, errors } from './schemas.ts';

const HEARTBEAT_MS = 15_000;

/**
 * GET /events/:id (owner only): the agent's status as server-sent events, `event: status` with the owner's view
 * each time it changes (state, phase, reason, address), ending after a stopped or failed one. What a client
 * would poll /status/:id for, pushed: the gateway re-reads the store whenever it hears of the agent (node
 * events, spawn, stop) and every `rereadMs` besides, so a change another gateway made is seen too.
 */
export function agentEventRoutes(deps: { agents: AgentService; auth: RequestAuth; rereadMs: number }): FastifyPluginAsync {
  const { agents, auth } = deps;
  return async (app) => {
    const open = new Set<ServerResponse>();
    app.addHook('preClose', async () => {
      for (const res of open) res.end();
    });
    app.withTypeProvider<TypeBoxTypeProvider>().get(
      '/events/:id',
      {
        schema: {
          summary: "Follow your agent's status (server-sent events; ends once it has stopped or failed)",
          headers: SignedHeaders,
          params: AgentIdParams,
          response: { 200: { description: 'text/event-stream of `status` events, each an AgentStatus' }, ...errors(400, 401, 403, 404, 429) },
        },
      },
      async (req, reply) => {
        const { wallet } = await auth.require(req);
        const id = req.params.id;
        const first = await agents.status(id, wallet);
        if (first.wallet !== wallet) throw forbidden("only the owner may follow this agent's events", 'NOT_OWNER');

        reply.hijack();
        const res = reply.raw;
        res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
        open.add(res);
        let last = '';
        let reading = false;
        let again = false;
        const send = (s: AgentStatus) => {
          // uptime_ms moves every read: a change is anything else.
          const key = JSON.stringify({ ...s, uptime_ms: undefined });
          if (key === last || res.destroyed) return;
          last = key;
          res.write(`event: status\ndata: ${JSON.stringify(s)}\n\n`);
          if (isTerminal(s.status)) res.end();
        };
        const reread = async () => {
          if (reading) return void (again = true);
          reading = true;
          try {
            do {
              again = false;
              send(await agents.status(id, wallet));
            } while (again && !res.destroyed);
          } catch {
            // The store is briefly unreachable: the next note or tick reads again.
          } finally {
            reading = false;
          }
        };
        const unsubscribe = agents.changes.subscribe(id, () => void reread());
        const tick = setInterval(() => void reread(), deps.rereadMs);
        const heartbeat = setInterval(() => res.destroyed || res.write(': heartbeat\n\n'), HEARTBEAT_MS);
        tick.unref();
        heartbeat.unref();
        res.once('close', () => {
          unsubscribe();
          clearInterval(tick);
          clearInterval(heartbeat);
          open.delete(res);
        });
        send(first);
      },
    );
  };
}
