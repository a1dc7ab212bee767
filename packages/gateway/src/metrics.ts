import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Store } from './store/types.ts';

/** The gateway's Prometheus metrics, on a registry of its own (several gateways can share one process in tests). */
export function createMetrics(store: () => Store | null) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'romulus_gateway_' });
  const requests = new Counter({
    name: 'romulus_gateway_http_requests_total',
    help: 'API requests by route, method and status',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const spawns = new Counter({
    name: 'romulus_gateway_spawns_total',
    help: 'Spawn attempts past auth and balance, by result',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  const spawnApiSeconds = new Histogram({
    name: 'romulus_gateway_spawn_api_seconds',
    help: 'Time to answer POST /spawn (excludes the guest boot)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const authFailures = new Counter({
    name: 'romulus_gateway_auth_failures_total',
    help: 'Rejected signatures by reason',
    labelNames: ['code'] as const,
    registers: [registry],
  });
  const agentTransitions = new Counter({
    name: 'romulus_gateway_agent_transitions_total',
    help: 'Agents entering a terminal state',
    labelNames: ['to'] as const,
    registers: [registry],
  });
  const reconcilerRepairs = new Counter({
    name: 'romulus_gateway_reconciler_repairs_total',
    help: 'Differences between store and node repaired by the reconciler',
    labelNames: ['action'] as const,
    registers: [registry],
  });
  const ingress = new Counter({
    name: 'romulus_gateway_ingress_requests_total',
    help: 'Agent URL requests by result',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'romulus_gateway_agents',
    help: 'Agents by state (non-terminal states)',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const s = store();
      if (!s) return;
      this.reset();
      for (const state of ['starting', 'running', 'stopping'] as const) {
        this.set({ state }, (await s.listAgentsInStates([state])).length);
      }
    },
  });
  return { registry, requests, spawns, spawnApiSeconds, authFailures, agentTransitions, reconcilerRepairs, ingress };
}

export type GatewayMetrics = ReturnType<typeof createMetrics>;
