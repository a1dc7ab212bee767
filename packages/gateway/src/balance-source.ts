import { lowestTierMin } from '@romulus/shared';
import type { BalanceSource } from './balance.ts';
import { BalanceCache, RpcChainReader } from './chain/index.ts';
import type { GatewayConfig } from './config.ts';

/** The real balance source: chain/'s BalanceCache over its RPC reader, with the gateway's TTLs. */
export function createBalanceSource(cfg: GatewayConfig): BalanceSource {
  const reader = new RpcChainReader({ rpcUrl: cfg.chain.rpcUrl, mint: cfg.chain.mint, timeoutMs: cfg.chain.rpcTimeoutMs });
  const cache = new BalanceCache(reader, {
    ttlMs: cfg.chain.ttlMs,
    insufficientTtlMs: cfg.chain.insufficientTtlMs,
    maxStaleMs: cfg.chain.maxStaleMs,
    insufficientBelowWhole: lowestTierMin(cfg.tiers),
  });
  return { lookup: (owner) => cache.get(owner) };
}
