/**
 * The one client of a running local chain's JSON-RPC (romulus-chain's commands, the `romulus chain` CLI):
 * romulus_info and romulus_balance (public), romulus_fund (admin: bearer token from the chain's state dir,
 * loopback only), and a token transfer built and signed here, then sent with the standard sendTransaction,
 * exactly as a wallet would do it against mainnet. The gateway does not use it: it reads balances with
 * getTokenAccountsByOwner like on mainnet.
 */
import { address, createKeyPairSignerFromBytes, createSolanaRpc, lamports, type Base64EncodedWireTransaction } from '@solana/kit';
import { signAndEncode, transferInstructions } from './transactions.ts';

/** Fees for a few hundred transactions; requested by airdrop when the sender has less. */
const FEE_FLOAT_LAMPORTS = 10_000_000n;

/** Why a call failed: the chain was not reached, it answered something that is not JSON-RPC, or it
 *  answered a JSON-RPC error (`rpcCode`). Callers act on `code`. */
export type ChainRpcFailure = 'UNREACHABLE' | 'BAD_ANSWER' | 'RPC_ERROR';

export class ChainRpcError extends Error {
  constructor(
    readonly code: ChainRpcFailure,
    readonly url: string,
    readonly method: string,
    message: string,
    readonly rpcCode?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ChainRpcError';
  }
}

export class RemoteChain {
  private nextId = 1;
  readonly rpc;

  constructor(
    readonly url: string,
    private readonly adminToken?: string,
  ) {
    this.rpc = createSolanaRpc(url);
  }

  async call<T>(method: string, params: unknown[] = []): Promise<T> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.adminToken) headers.authorization = `Bearer ${this.adminToken}`;
    let res: Response;
    try {
      res = await fetch(this.url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: this.nextId++, method, params }), signal: AbortSignal.timeout(30_000) });
    } catch (err) {
      const why = err instanceof Error ? (err.cause instanceof Error ? err.cause.message : err.message) : String(err);
      throw new ChainRpcError('UNREACHABLE', this.url, method, `cannot reach the chain at ${this.url}: ${why}`, undefined, { cause: err });
    }
    const text = await res.text();
    let body: { result?: T; error?: { code: number; message: string } };
    try {
      body = JSON.parse(text);
    } catch {
      throw new ChainRpcError('BAD_ANSWER', this.url, method, `chain RPC ${this.url} answered HTTP ${res.status}: ${text.slice(0, 200)}`);
    }
    if (body.error) throw new ChainRpcError('RPC_ERROR', this.url, method, `chain RPC ${method}: ${body.error.message} (${body.error.code})`, body.error.code);
    return body.result as T;
  }

  info(): Promise<{ mint: string; decimals: number; tokenProgram: string; mintAuthority: string; slot: number }> {
    return this.call('romulus_info');
  }

  /** Balance of the chain's mint, summed over the owner's token accounts. */
  balance(owner: string): Promise<{ raw: string; decimals: number; ui: string }> {
    return this.call('romulus_balance', [owner]);
  }

  /** Mints `wholeTokens` (a decimal string, e.g. "1000000" or "2.5") to the owner (admin). */
  fund(owner: string, wholeTokens: string): Promise<{ signature: string; tokenAccount: string; raw: string; balance: string }> {
    return this.call('romulus_fund', [owner, wholeTokens]);
  }

  /** transferChecked signed (and paid for) by the sender; an airdrop covers fees on the local chain. */
  async transfer(fromKeypair: Uint8Array, to: string, raw: bigint): Promise<string> {
    const from = await createKeyPairSignerFromBytes(fromKeypair);
    const info = await this.info();
    const { value: sol } = await this.rpc.getBalance(from.address).send();
    if (sol < FEE_FLOAT_LAMPORTS) await this.rpc.requestAirdrop(from.address, lamports(FEE_FLOAT_LAMPORTS)).send();
    const { value: lifetime } = await this.rpc.getLatestBlockhash({ commitment: 'confirmed' }).send();
    const ixs = await transferInstructions({ feePayer: from, from, to: address(to), mint: info.mint, tokenProgram: info.tokenProgram, decimals: info.decimals, raw });
    const wire = await signAndEncode(from, lifetime, ixs);
    return this.rpc.sendTransaction(Buffer.from(wire).toString('base64') as Base64EncodedWireTransaction, { encoding: 'base64', preflightCommitment: 'confirmed' }).send();
  }
}
