import type { AddressInfo } from 'node:net';
import type http from 'node:http';
import { closeWithin, createLogger, type Logger } from '@romulus/shared';
import { AgentService } from './agents/service.ts';
import { buildApp } from './app.ts';
import { RequestAuth } from './auth/request-auth.ts';
import { SignatureVerifier } from './auth/verifier.ts';
import type { BalanceSource } from './balance.ts';
import { parseConfig, storeConfigOf, type GatewayConfig, type GatewayConfigInput } from './config.ts';
import { createEdgeServer } from './ingress/edge.ts';
import { Ingress } from './ingress/ingress.ts';
import { createMetrics } from './metrics.ts';
import { HttpNodeClient, type NodeClient } from './node-client.ts';
import { TokenBuckets } from './rate-limit.ts';
import { Reconciler } from './reconciler.ts';
import { createStore } from './store/index.ts';
import type { Store } from './store/types.ts';

export interface Gateway {
  /** The API base URL, e.g. http://127.0.0.1:41234 (agent URLs are http://<id>.<domain>:<port>). */
  url: string;
  port: number;
  /** The separate ingress listener, when configured. */
  ingressUrl?: string;
  config: GatewayConfig;
  store: Store;
  agents: AgentService;
  reconciler: Reconciler;
  close(): Promise<void>;
}

/** Parts a test may replace (a unit test's fake node or balance source); real adapters otherwise. */
export interface GatewayOverrides {
  store?: Store;
  node?: NodeClient;
  balances?: BalanceSource;
  log?: Logger;
  now?: () => number;
}

/** How long a closing gateway lets requests in flight finish before it ends their connections. */
const CLOSE_GRACE_MS = 2_000;

/** Starts a gateway: store, chain, node client, API + ingress listener(s), reconciler. */
export async function startGateway(input: GatewayConfigInput | GatewayConfig, over: GatewayOverrides = {}): Promise<Gateway> {
  const cfg = parseConfig(input);
  const log = over.log ?? createLogger('gateway', { level: cfg.logLevel });
  const ownsStore = !over.store;
  const store = over.store ?? (await createStore(storeConfigOf(cfg), { onError: (err) => log.warn({ err: err.message }, 'store connection error') }));
  const node = over.node ?? new HttpNodeClient({ url: cfg.node.url, token: cfg.node.token, nodeId: cfg.node.id, timeoutMs: cfg.lifecycle.nodeTimeoutMs });
  // Loaded lazily so unit tests with a fake balance source do not load the RPC client at all.
  const balances = over.balances ?? (await import('./balance-source.ts')).createBalanceSource(cfg);
  const metrics = createMetrics(() => store);
  let listenPort: number | undefined;
  const agents = new AgentService(cfg, store, node, balances, log, metrics, () => cfg.publicPort ?? listenPort, over.now);
  const verifier = new SignatureVerifier({ windowMs: cfg.auth.windowMs, claim: (sig, ttl) => store.claimSignature(sig, ttl), now: over.now });
  const auth = new RequestAuth(verifier, new TokenBuckets(cfg.limits.perWallet.burst, cfg.limits.perWallet.perSec), metrics);
  const ingress = new Ingress({ domain: cfg.domain, secureCookie: cfg.publicScheme === 'https', passTokenToAgent: cfg.ingress.passTokenToAgent, forwardedHeaders: cfg.ingress.forwardedHeaders }, store, log, metrics);
  const app = await buildApp({ cfg, store, node, agents, auth, ingress, metrics, log });
  const reconciler = new Reconciler(cfg, store, node, agents, log, metrics, over.now);

  await app.listen({ host: cfg.listen.host, port: cfg.listen.port });
  listenPort = (app.server.address() as AddressInfo).port;

  let ingressServer: http.Server | undefined;
  let ingressUrl: string | undefined;
  if (cfg.ingressListen) {
    ingressServer = createEdgeServer(ingress, null, cfg.limits);
    await new Promise<void>((resolve, reject) => {
      ingressServer!.once('error', reject);
      ingressServer!.listen(cfg.ingressListen!.port, cfg.ingressListen!.host, () => resolve());
    });
    ingressUrl = `http://${cfg.ingressListen.host}:${(ingressServer.address() as AddressInfo).port}`;
  }

  reconciler.start();
  const host = cfg.listen.host === '0.0.0.0' ? '127.0.0.1' : cfg.listen.host;
  log.info({ port: listenPort, domain: cfg.domain, store: store.kind, node: cfg.node.url }, 'gateway listening');

  let closed = false;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${listenPort}`,
    port: listenPort,
    ingressUrl,
    config: cfg,
    store,
    agents,
    reconciler,
    async close() {
      if (closed) return;
      closed = true;
      await reconciler.stop();
      await agents.close();
      ingress.close();
      if (ingressServer) await closeWithin(ingressServer, () => new Promise<void>((r) => ingressServer!.close(() => r())), CLOSE_GRACE_MS);
      await closeWithin(app.server, () => app.close(), CLOSE_GRACE_MS);
      if (ownsStore) await store.close();
    },
  };
}
