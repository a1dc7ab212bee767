/**
 * The chain adapter: a token balance over Solana JSON-RPC through @solana/kit. Works the same against
 * mainnet RPC providers and the project's local chain.
 *
 * One getTokenAccountsByOwner(owner, {mint}, {commitment, encoding:'jsonParsed'}) per look-up: the RPC
 * resolves Token vs Token-2022 from the mint's owner, so every account the owner holds for the mint comes
 * back, and the raw `amount` strings are summed as BigInt (uiAmount is a float and never used). Any
 * transport error, timeout, RPC error or unexpected response shape becomes ChainUnavailableError: the
 * caller must answer 503 rather than guess a tier.
 */
import { address, createSolanaRpc, isAddress, type Address, type Commitment } from '@solana/kit';
import { ChainUnavailableError, type ChainReader, type TokenBalance } from './types.ts';

export interface RpcChainReaderOptions {
  rpcUrl: string;
  /** The $ROMULUS mint. */
  mint: string;
  /** Per-request timeout (default 5000 ms). */
  timeoutMs?: number;
  commitment?: Commitment;
}

export class InvalidOwnerError extends Error {
  constructor(owner: string) {
    super(`not a Solana address: ${JSON.stringify(owner)}`);
    this.name = 'InvalidOwnerError';
  }
}

export class RpcChainReader implements ChainReader {
  private readonly rpc;
  private readonly mint: Address;
  private readonly timeoutMs: number;
  private readonly commitment: Commitment;
  /** Mint decimals never change; learnt from the first response (or getTokenSupply) and kept. */
  private mintDecimals: number | null = null;

  constructor(opts: RpcChainReaderOptions) {
    if (!isAddress(opts.mint)) throw new Error(`chain.mint is not a Solana address: ${JSON.stringify(opts.mint)}`);
    this.rpc = createSolanaRpc(opts.rpcUrl);
    this.mint = address(opts.mint);
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.commitment = opts.commitment ?? 'confirmed';
  }

  async getTokenBalance(owner: string): Promise<TokenBalance> {
    if (!isAddress(owner)) throw new InvalidOwnerError(owner);
    const response = await this.call('getTokenAccountsByOwner', (abortSignal) =>
      this.rpc
        .getTokenAccountsByOwner(address(owner), { mint: this.mint }, { commitment: this.commitment, encoding: 'jsonParsed' })
        .send({ abortSignal }),
    );
    let raw = 0n;
    let decimals: number | null = null;
    for (const item of asArray(response?.value)) {
      const info = (item as any)?.account?.data?.parsed?.info;
      const amount = info?.tokenAmount?.amount;
      const d = Number(info?.tokenAmount?.decimals);
      if (info?.mint !== this.mint || info?.owner !== owner || typeof amount !== 'string' || !/^\d+$/.test(amount) || !Number.isInteger(d)) {
        throw new ChainUnavailableError('getTokenAccountsByOwner returned an account that is not a parsed token account of this mint and owner');
      }
      if (decimals !== null && decimals !== d) throw new ChainUnavailableError('token accounts of one mint disagree on decimals');
      decimals = d;
      raw += BigInt(amount);
    }
    if (decimals === null) decimals = await this.decimalsOfMint();
    else this.mintDecimals ??= decimals;
    return { raw, decimals };
  }

  private async decimalsOfMint(): Promise<number> {
    if (this.mintDecimals !== null) return this.mintDecimals;
    const supply = await this.call('getTokenSupply', (abortSignal) => this.rpc.getTokenSupply(this.mint, { commitment: this.commitment }).send({ abortSignal }));
    const d = Number(supply?.value?.decimals);
    if (!Number.isInteger(d) || d < 0) throw new ChainUnavailableError('getTokenSupply returned no decimals');
    this.mintDecimals = d;
    return d;
  }

  private async call<T>(method: string, send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await send(AbortSignal.timeout(this.timeoutMs));
    } catch (e) {
      const reason = (e as Error)?.name === 'TimeoutError' ? `timed out after ${this.timeoutMs} ms` : ((e as Error)?.message ?? String(e));
      throw new ChainUnavailableError(`Solana RPC ${method} failed: ${reason}`, e);
    }
  }
}

function asArray(value: unknown): unknown[] {
  if (!Array.isArray(value)) throw new ChainUnavailableError('getTokenAccountsByOwner returned no account list');
  return value;
}
