import type http from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { ApiError, errorBody, renderError, renderFrameworkError, type Logger } from '@romulus/shared';
import type { AgentService } from './agents/service.ts';
import type { RequestAuth } from './auth/request-auth.ts';
import type { GatewayConfig } from './config.ts';
import { createEdgeServer } from './ingress/edge.ts';
import type { Ingress } from './ingress/ingress.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { NodeClient } from './node-client.ts';
import { TokenBuckets } from './rate-limit.ts';
import { agentEventRoutes } from './routes/agent-events.ts';
import { agentRoutes } from './routes/agents.ts';
import { infoRoutes } from './routes/info.ts';
import { StoreUnavailableError } from './store/errors.ts';
import type { Store } from './store/types.ts';

export interface AppDeps {
  cfg: GatewayConfig;
  store: Store;
  node: NodeClient;
  agents: AgentService;
  auth: RequestAuth;
  ingress: Ingress;
  metrics: GatewayMetrics;
  log: Logger;
}

const UNLIMITED_PATHS = new Set(['/health', '/metrics']);

/**
 * The gateway's HTTP app. One listener serves both the API and agent URLs: the edge server (ingress/edge.ts)
 * dispatches on the Host header before Fastify sees the request.
 */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance<http.Server, http.IncomingMessage, http.ServerResponse, Logger>> {
  const { cfg, ingress, metrics } = deps;
  const app = Fastify({
    loggerInstance: deps.log,
    bodyLimit: cfg.limits.bodyLimitBytes,
    // Unknown fields are an error (400), never silently dropped; types are not coerced in bodies.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    serverFactory: (handler) => createEdgeServer(ingress, handler, cfg.limits),
    // The edge server answers the HTTP parser's errors itself (one handler for both listeners).
    clientErrorHandler: () => {},
    frameworkErrors: (err, req, reply) => void renderFrameworkError(err, req, reply as any),
  });

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof StoreUnavailableError) {
      req.log.error({ err: err.message, backend: err.backendCode }, 'store unavailable');
      return reply.status(503).send(errorBody(err.code, 'state store unavailable; retry shortly'));
    }
    if (req.raw.socket?.destroyed) {
      // The client went away mid-request (e.g. aborted its body): nobody to answer, nothing to alarm about.
      req.log.debug({ err: (err as Error).message }, 'client aborted the request');
      return reply.status(400).send(errorBody('CLIENT_ABORTED', 'the request was aborted'));
    }
    return renderError(err as any, reply, req.log);
  });
  app.setNotFoundHandler((req, reply) => reply.status(404).send(errorBody('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)));

  const perIp = new TokenBuckets(cfg.limits.perIp.burst, cfg.limits.perIp.perSec);
  app.addHook('onRequest', async (req) => {
    if (UNLIMITED_PATHS.has(req.url)) return;
    if (!perIp.take(req.ip)) throw new ApiError(429, 'RATE_LIMITED', `too many requests from this address; retry in ${perIp.retryAfterSec(req.ip)} s`);
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.requests.inc({ route: req.routeOptions.url ?? 'unknown', method: req.method, status: String(reply.statusCode) });
  });

  await app.register(swagger, {
    openapi: {
      info: { title: 'Romulus gateway', version: '0.1.0', description: 'Token-gated AI agents on microVMs. Sign `romulus:<ms>` with your wallet.' },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(agentRoutes({ agents: deps.agents, auth: deps.auth, metrics }));
  await app.register(agentEventRoutes({ agents: deps.agents, auth: deps.auth, rereadMs: deps.cfg.lifecycle.reconcileIntervalMs }));
  await app.register(infoRoutes({ cfg, agents: deps.agents, node: deps.node, store: deps.store, metrics, log: deps.log }));
  return app;
}
