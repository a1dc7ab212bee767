/**
 * The chain port: what the gateway needs from Solana. One adapter (JSON-RPC via @solana/kit) serves both
 * mainnet-like endpoints and the project's LiteSVM-backed local chain: the gateway cannot tell them apart.
 */
export interface TokenBalance {
  /** Sum of raw `amount` over all of the owner's token accounts for the mint (Token and Token-2022). */
  raw: bigint;
  decimals: number;
}

export interface ChainReader {
  /** getTokenAccountsByOwner(owner, { mint }, { commitment: 'confirmed' }) summed as BigInt. Throws ChainUnavailableError. */
  getTokenBalance(owner: string): Promise<TokenBalance>;
}

/** A cached, coalescing view over a ChainReader (see balance-cache.ts). */
export interface BalanceLookup {
  raw: bigint;
  decimals: number;
  /** raw / 10^decimals, rounded down. */
  whole: bigint;
  fetchedAt: number;
  /** True when served from cache past its TTL because the RPC failed (bounded staleness). */
  stale: boolean;
}

export class ChainUnavailableError extends Error {
  constructor(message: string, readonly cause?: unknown) {
    super(message);
    this.name = 'ChainUnavailableError';
  }
}
