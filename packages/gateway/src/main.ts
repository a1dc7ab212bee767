#!/usr/bin/env -S node --import tsx
/**
 * Gateway entry point. Config from ROMULUS_GATEWAY_CONFIG (a JSON file) and env overrides
 * (ROMULUS_NODE_URL, ROMULUS_NODE_TOKEN, ROMULUS_RPC_URL, ROMULUS_MINT, ROMULUS_GATEWAY_PORT, ROMULUS_DOMAIN,
 * ROMULUS_REDIS_URL | ROMULUS_REDIS_CLUSTER | ROMULUS_SQLITE_PATH, ROMULUS_LOG_LEVEL). Tokens come from the environment or the
 * config file, never from argv (visible in ps).
 */
import { createLogger } from '@romulus/shared';
import { configFromEnv } from './config.ts';
import { startGateway } from './gateway.ts';

let log = createLogger('gateway');
try {
  const cfg = configFromEnv();
  // The config file's logLevel (or ROMULUS_LOG_LEVEL) decides from here on.
  log = createLogger('gateway', { level: cfg.logLevel });
  const gw = await startGateway(cfg, { log });
  log.info({ url: gw.url, ingress: gw.ingressUrl }, 'gateway started');
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'gateway stopping');
    await gw.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
} catch (err) {
  log.fatal({ err: (err as Error).message }, 'gateway failed to start');
  process.exit(1);
}
