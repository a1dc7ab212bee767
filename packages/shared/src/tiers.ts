import { Type, type Static } from 'typebox';

/** A resource tier: the smallest holding (in whole tokens) that earns it, and the VM it buys. */
export const TierConfig = Type.Object({
  min: Type.Integer({ minimum: 0 }),
  cores: Type.Integer({ minimum: 1 }),
  memory: Type.Integer({ minimum: 64, description: 'MiB' }),
});
export type TierConfig = Static<typeof TierConfig>;
export type TierName = string;

/** The architecture document's tiers (holdings in whole $ROMULUS; memory in MiB). */
export const DEFAULT_TIERS: Record<TierName, TierConfig> = {
  basic: { min: 100_000, cores: 1, memory: 1024 },
  standard: { min: 500_000, cores: 2, memory: 2048 },
  pro: { min: 1_000_000, cores: 4, memory: 4096 },
  power: { min: 5_000_000, cores: 8, memory: 8192 },
};

/** The smallest holding (whole tokens) that earns any tier: below it a wallet gets nothing. The gateway's
 *  config refuses an empty tier table; for one anyway, no holding is enough (Infinity). */
export function lowestTierMin(tiers: Record<TierName, TierConfig> = DEFAULT_TIERS): number {
  return Math.min(...Object.values(tiers).map((t) => t.min));
}

/** The highest tier whose minimum the holding reaches, or null. `wholeTokens` is raw amount / 10^decimals. */
export function tierFor(wholeTokens: bigint, tiers: Record<TierName, TierConfig> = DEFAULT_TIERS): { name: TierName; config: TierConfig } | null {
  let best: { name: TierName; config: TierConfig } | null = null;
  for (const [name, config] of Object.entries(tiers)) {
    if (wholeTokens >= BigInt(config.min) && (!best || config.min > best.config.min)) best = { name, config };
  }
  return best;
}
