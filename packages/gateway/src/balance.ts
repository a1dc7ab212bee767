import type { BalanceLookup } from './chain/types.ts';

/** What the gateway needs from the chain side: a cached balance look-up (chain/'s BalanceCache). */
export interface BalanceSource {
  /** Throws ChainUnavailableError when the RPC fails and no usable cached value exists. */
  lookup(owner: string): Promise<BalanceLookup>;
}
