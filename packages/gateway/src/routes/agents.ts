import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AgentStatus, SpawnRequest, SpawnResponse, WalletUsage, forbidden } from '@romulus/shared';
import type { AgentService } from '../agents/service.ts';
import type { RequestAuth } from '../auth/request-auth.ts';
import type { GatewayMetrics } from '../metrics.ts';
import { AgentIdParams, SignedHeaders, WalletParams, errors } from './schemas.ts';

const StatusResponse = Type.Object({ success: Type.Literal(true), agent: AgentStatus });

/** POST /spawn, POST /stop/:id, GET /status/:id, GET /usage/:wallet. */
export function agentRoutes(deps: { agents: AgentService; auth: RequestAuth; metrics: GatewayMetrics }): FastifyPluginAsync {
  const { agents, auth, metrics } = deps;
  return async (app) => {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();

    r.post(
      '/spawn',
      {
        schema: {
          summary: 'Spawn an agent for the signing wallet (one active agent per wallet)',
          headers: SignedHeaders,
          body: SpawnRequest,
          response: { 201: SpawnResponse, ...errors(400, 401, 403, 409, 413, 429, 502, 503) },
        },
      },
      async (req, reply) => {
        const started = process.hrtime.bigint();
        const { wallet } = await auth.require(req);
        const res = await agents.spawn(wallet, req.body);
        metrics.spawnApiSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
        return reply.status(201).send(res);
      },
    );

    r.post(
      '/stop/:id',
      {
        schema: {
          summary: 'Stop an agent (owner only, idempotent): 202 while it is stopping, 200 once it has ended',
          headers: SignedHeaders,
          params: AgentIdParams,
          response: { 200: StatusResponse, 202: StatusResponse, ...errors(400, 401, 403, 404, 429, 503) },
        },
      },
      async (req, reply) => {
        const { wallet } = await auth.require(req);
        const agent = await agents.stop(req.params.id, wallet);
        return reply.status(agent.status === 'stopping' ? 202 : 200).send({ success: true as const, agent });
      },
    );

    r.get(
      '/status/:id',
      {
        schema: {
          summary: 'Agent status: full for the signed owner, public view for anyone else',
          headers: SignedHeaders,
          params: AgentIdParams,
          response: { 200: StatusResponse, ...errors(400, 401, 404, 429) },
        },
      },
      async (req) => {
        const signer = await auth.optional(req);
        return { success: true as const, agent: await agents.status(req.params.id, signer?.wallet ?? null) };
      },
    );

    r.get(
      '/usage/:wallet',
      {
        schema: {
          summary: 'Usage of a wallet (owner only)',
          headers: SignedHeaders,
          params: WalletParams,
          response: { 200: Type.Object({ success: Type.Literal(true), usage: WalletUsage }), ...errors(400, 401, 403, 429) },
        },
      },
      async (req) => {
        const { wallet } = await auth.require(req);
        if (wallet !== req.params.wallet) throw forbidden('only the wallet itself may read its usage', 'NOT_OWNER');
        return { success: true as const, usage: await agents.usage(wallet) };
      },
    );
  };
}
