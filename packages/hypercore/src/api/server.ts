import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController } from 'fastify';
import { Type } from 'typebox';
import {
  CreateVmRequest,
  ExecRequest,
  VM_STATES,
  createGuardedServer,
  errorBody,
  renderError,
  renderFrameworkError,
  type HttpLimits,
  badRequest,
  unauthorized,
  type Health,
  type Logger,
} from '@romulus/shared';
import type { VmManager } from '../manager/vm-manager.ts';
import type { NodeMetrics } from '../metrics.ts';
import { bearerMatches } from './auth.ts';
import { eventsRoutes } from './events.ts';

export interface ApiDeps {
  manager: VmManager;
  metrics: NodeMetrics;
  token: string;
  nodeId: string;
  version: string;
  bodyLimit: number;
  /** Slow clients (incomplete headers or body) are cut off after these. */
  httpLimits: HttpLimits;
  log: Logger;
  startedAt: number;
}

const IdParams = Type.Object({ id: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{2,62}$' }) });
const WaitQuery = Type.Object(
  {
    state: Type.Union(VM_STATES.map((s) => Type.Literal(s))),
    timeoutMs: Type.Optional(Type.String({ pattern: '^[0-9]{1,7}$' })),
  },
  { additionalProperties: false },
);
const MAX_WAIT_MS = 15 * 60 * 1000;

/** The node's HTTP API (routes documented in packages/shared/src/node-api.ts). Handlers get params, query and
 *  body typed from their route schemas (TypeBox type provider, as the gateway's routes do). */
export function buildApi(d: ApiDeps) {
  const app = Fastify({
    loggerInstance: d.log.child({ component: 'api' }),
    bodyLimit: d.bodyLimit,
    logController: new LogController({ disableRequestLogging: true }),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    // The shared guarded server answers what Node's parser refuses, slow requests and the like in the envelope.
    serverFactory: (handler) => createGuardedServer(d.httpLimits, { request: handler }),
    clientErrorHandler: () => {},
    frameworkErrors: (err, req, reply) => void renderFrameworkError(err, req, reply as never),
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setErrorHandler((err, req, reply) => renderError(err as Parameters<typeof renderError>[0], reply, req.log));
  app.setNotFoundHandler((req, reply) => reply.status(404).send(errorBody('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)));

  app.addHook('onRequest', async (req) => {
    if (req.url === '/v1/health' || req.url.startsWith('/v1/health?')) return;
    if (!bearerMatches(req.headers.authorization, d.token)) {
      throw unauthorized(req.headers.authorization ? 'wrong node token' : 'missing node token (Authorization: Bearer <token>)');
    }
  });

  app.get('/v1/health', async (): Promise<Health> => {
    const warning = d.manager.accelWarning();
    return {
      status: warning ? 'degraded' : 'ok',
      nodeId: d.nodeId,
      version: d.version,
      driver: d.manager.ctx.driver.name,
      accel: d.manager.ctx.accel,
      ...(warning ? { warning } : {}),
      uptimeSec: Math.round((Date.now() - d.startedAt) / 1000),
    };
  });

  app.get('/v1/capacity', async () => d.manager.capacity());
  app.get('/v1/images', async () => ({ images: d.manager.ctx.images.list() }));

  app.post('/v1/vms', { schema: { body: CreateVmRequest } }, async (req, reply) => {
    const vm = d.manager.create(req.body);
    return reply.status(201).send(vm);
  });

  app.get('/v1/vms', async () => ({ vms: d.manager.list() }));

  app.get('/v1/vms/:id', { schema: { params: IdParams } }, async (req) => d.manager.get(req.params.id));

  app.post('/v1/vms/:id/stop', { schema: { params: IdParams } }, async (req, reply) => {
    const { vm } = d.manager.stop(req.params.id);
    return reply.status(202).send(vm);
  });

  app.delete('/v1/vms/:id', { schema: { params: IdParams } }, async (req) => {
    await d.manager.delete(req.params.id);
    return { success: true };
  });

  app.get('/v1/vms/:id/wait', { schema: { params: IdParams, querystring: WaitQuery } }, async (req) => {
    const q = req.query;
    const timeoutMs = q.timeoutMs === undefined ? 60_000 : Number(q.timeoutMs);
    if (timeoutMs > MAX_WAIT_MS) throw badRequest(`timeoutMs must be at most ${MAX_WAIT_MS}`, 'VALIDATION_FAILED');
    return d.manager.wait(req.params.id, q.state, timeoutMs);
  });

  void app.register(eventsRoutes, { manager: d.manager });

  app.post('/v1/vms/:id/exec', { schema: { params: IdParams, body: ExecRequest } }, async (req) =>
    d.manager.exec(req.params.id, req.body),
  );

  app.get('/metrics', async (_req, reply) => {
    reply.header('content-type', d.metrics.registry.contentType);
    return d.metrics.registry.metrics();
  });

  return app;
}
