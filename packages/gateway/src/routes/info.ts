import type { FastifyPluginAsync } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { AgentTypeInfo, TierConfig, type Logger } from '@romulus/shared';
import type { AgentService } from '../agents/service.ts';
import type { GatewayConfig } from '../config.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { NodeClient } from '../node-client.ts';
import type { Store } from '../store/types.ts';

const TiersResponse = Type.Object({
  success: Type.Literal(true),
  tiers: Type.Record(Type.String(), TierConfig),
  agent_types: Type.Array(AgentTypeInfo),
});

const HealthResponse = Type.Object({
  success: Type.Literal(true),
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  store: Type.String(),
  node: Type.Object({ id: Type.String(), reachable: Type.Boolean(), accel: Type.Optional(Type.String()), warning: Type.Optional(Type.String()) }),
});

/** GET /tiers, GET /health, GET /metrics. */
export function infoRoutes(deps: {
  cfg: GatewayConfig;
  agents: AgentService;
  node: NodeClient;
  store: Store;
  metrics: GatewayMetrics;
  log: Logger;
}): FastifyPluginAsync {
  return async (app) => {
    const r = app.withTypeProvider<TypeBoxTypeProvider>();

    r.get('/tiers', { schema: { summary: 'Tiers (whole tokens → vCPUs, MiB) and spawnable agent types', response: { 200: TiersResponse } } }, async () => {
      let agentTypes: AgentTypeInfo[] = [];
      try {
        agentTypes = await deps.agents.catalog.agentTypes();
      } catch (err) {
        deps.log.warn({ err: (err as Error).message }, 'node unreachable: /tiers lists no agent types');
      }
      return { success: true as const, tiers: deps.cfg.tiers, agent_types: agentTypes };
    });

    r.get('/health', { schema: { summary: 'Gateway health (degraded when the node is unreachable or runs on TCG)', response: { 200: HealthResponse } } }, async () => {
      try {
        const h = await deps.node.health();
        return {
          success: true as const,
          status: h.status === 'ok' && h.accel === 'kvm' ? ('ok' as const) : ('degraded' as const),
          store: deps.store.kind,
          node: { id: deps.node.nodeId, reachable: true, accel: h.accel, ...(h.warning ? { warning: h.warning } : {}) },
        };
      } catch {
        return { success: true as const, status: 'degraded' as const, store: deps.store.kind, node: { id: deps.node.nodeId, reachable: false } };
      }
    });

    app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
      reply.header('content-type', deps.metrics.registry.contentType);
      return deps.metrics.registry.metrics();
    });
  };
}
