import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_TIERS, dataDir } from '@romulus/shared';
import { StoreConfigSchema } from './store/create.ts';

/**
 * The gateway's configuration, parsed once at start-up. Everything tunable lives here so tests can shrink
 * TTLs and windows instead of waiting on wall-clock time.
 */
const TierSchema = z.object({ min: z.number().int().min(0), cores: z.number().int().min(1), memory: z.number().int().min(64) });

const BucketSchema = z.object({
  /** Requests allowed in a burst. */
  burst: z.number().int().min(1),
  /** Sustained refill rate, requests per second. */
  perSec: z.number().positive(),
});

/** sqlite (embedded default) | redis | redis-cluster: the store/ adapters' own schema. */
const StoreSchema = StoreConfigSchema;

export const GatewayConfigSchema = z
  .object({
    listen: z.object({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(8080) }).default({ host: '127.0.0.1', port: 8080 }),
    /** Optional second listener that serves only agent URLs (ingress). */
    ingressListen: z.object({ host: z.string(), port: z.number().int().min(0).max(65535) }).optional(),
    /** Agent URLs are `<scheme>://<agent-id>.<domain>[:<publicPort>]`. */
    domain: z.string().min(1).default('localhost'),
    publicScheme: z.enum(['http', 'https']).default('http'),
    /** Port shown in agent URLs; defaults to the listener's actual port for the local stack. */
    publicPort: z.number().int().min(0).max(65535).optional(),
    node: z.object({ url: z.string().url(), token: z.string().min(1), id: z.string().default('node-1') }),
    store: StoreSchema.optional(),
    chain: z.object({
      rpcUrl: z.string().url(),
      mint: z.string().min(32).max(44),
      /** Fresh balance lifetime. */
      ttlMs: z.number().int().min(0).default(30_000),
      /** Shorter lifetime for balances below the lowest tier (a user who just bought tokens retries soon). */
      insufficientTtlMs: z.number().int().min(0).default(10_000),
      /** How long past its TTL a cached balance may be served when the RPC fails. */
      maxStaleMs: z.number().int().min(0).default(300_000),
      rpcTimeoutMs: z.number().int().min(100).default(5_000),
    }),
    tiers: z.record(z.string(), TierSchema).default(DEFAULT_TIERS),
    auth: z
      .object({ windowMs: z.number().int().min(1000).default(300_000) })
      .default({ windowMs: 300_000 }),
    limits: z
      .object({
        bodyLimitBytes: z.number().int().min(256).default(16 * 1024),
        perIp: BucketSchema.default({ burst: 60, perSec: 20 }),
        perWallet: BucketSchema.default({ burst: 20, perSec: 5 }),
        /** Incomplete headers are cut off (408) after this: a slow-loris client cannot hold a connection. */
        headersTimeoutMs: z.number().int().min(100).default(10_000),
        /** The whole request, body included, must arrive within this (agent URLs too; WebSockets once upgraded are exempt). */
        requestTimeoutMs: z.number().int().min(100).default(60_000),
      })
      .default({ bodyLimitBytes: 16 * 1024, perIp: { burst: 60, perSec: 20 }, perWallet: { burst: 20, perSec: 5 }, headersTimeoutMs: 10_000, requestTimeoutMs: 60_000 }),
    lifecycle: z
      .object({
        /** How long a VM may take from create to running before the agent is failed (TCG boots are slow). */
        startTimeoutMs: z.number().int().min(1000).default(600_000),
        reconcileIntervalMs: z.number().int().min(50).default(5_000),
        /** A starting agent without a VM is only declared lost after this (create may be in flight). */
        missingVmGraceMs: z.number().int().min(0).default(30_000),
        nodeTimeoutMs: z.number().int().min(100).default(15_000),
      })
      .default({ startTimeoutMs: 600_000, reconcileIntervalMs: 5_000, missingVmGraceMs: 30_000, nodeTimeoutMs: 15_000 }),
    ingress: z
      .object({
        /** Also forward `Authorization: Bearer <token>` to the agent (for agents that check the token themselves). */
        passTokenToAgent: z.boolean().default(false),
        /** Add X-Forwarded-For/-Proto/-Host for the agent (client-supplied ones are always dropped). */
        forwardedHeaders: z.boolean().default(false),
      })
      .default({ passTokenToAgent: false, forwardedHeaders: false }),
    /** Overridden by ROMULUS_LOG_LEVEL in configFromEnv. */
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict();

export type GatewayConfigInput = z.input<typeof GatewayConfigSchema>;
export type GatewayConfig = z.output<typeof GatewayConfigSchema>;
export type StoreConfig = z.output<typeof StoreSchema>;

export function parseConfig(input: unknown): GatewayConfig {
  const parsed = GatewayConfigSchema.safeParse(input);
  if (!parsed.success) {
    throw new Error(`invalid gateway config: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  }
  if (Object.keys(parsed.data.tiers).length === 0) throw new Error('invalid gateway config: tiers: at least one tier');
  return parsed.data;
}

/** The embedded default store: SQLite under the data dir. */
export function storeConfigOf(cfg: GatewayConfig): StoreConfig {
  return cfg.store ?? { kind: 'sqlite', path: path.join(dataDir(), 'gateway', 'romulus.db') };
}

/** Reads config from the environment (the CLI and main.ts; tests pass objects to startGateway). */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  const num = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v));
  const file = env.ROMULUS_GATEWAY_CONFIG;
  const fromFile = file ? JSON.parse(requireFile(file)) : {};
  const store = env.ROMULUS_REDIS_CLUSTER
    ? { kind: 'redis-cluster', nodes: env.ROMULUS_REDIS_CLUSTER.split(',') }
    : env.ROMULUS_REDIS_URL
      ? { kind: 'redis', url: env.ROMULUS_REDIS_URL }
      : env.ROMULUS_SQLITE_PATH
        ? { kind: 'sqlite', path: env.ROMULUS_SQLITE_PATH }
        : undefined;
  const merged = {
    ...fromFile,
    listen: { host: env.ROMULUS_GATEWAY_HOST ?? fromFile.listen?.host ?? '127.0.0.1', port: num(env.ROMULUS_GATEWAY_PORT) ?? fromFile.listen?.port ?? 8080 },
    domain: env.ROMULUS_DOMAIN ?? fromFile.domain,
    logLevel: env.ROMULUS_LOG_LEVEL || fromFile.logLevel,
    node: {
      ...fromFile.node,
      ...(env.ROMULUS_NODE_URL ? { url: env.ROMULUS_NODE_URL } : {}),
      ...(env.ROMULUS_NODE_TOKEN ? { token: env.ROMULUS_NODE_TOKEN } : {}),
    },
    chain: {
      ...fromFile.chain,
      ...(env.ROMULUS_RPC_URL ? { rpcUrl: env.ROMULUS_RPC_URL } : {}),
      ...(env.ROMULUS_MINT ? { mint: env.ROMULUS_MINT } : {}),
    },
    ...(store ? { store } : {}),
  };
  return parseConfig(JSON.parse(JSON.stringify(merged)));
}

function requireFile(p: string): string {
  return readFileSync(p, 'utf8');
}
