/**
 * Operations on a running local chain over its JSON-RPC: the admin methods (with the state dir's token)
 * and a token transfer built and signed here, then sent with the standard sendTransaction, exactly as a
 * wallet would do it against mainnet.
 */
import { address, createKeyPairSignerFromBytes, createSolanaRpc, lamports, type Base64EncodedWireTransaction } from '@solana/kit';
import { signAndEncode, transferInstructions } from './transactions.ts';

/** Fees for a few hundred transactions; requested by airdrop when the sender has less. */
const FEE_FLOAT_LAMPORTS = 10_000_000n;

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
    const res = await fetch(this.url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: this.nextId++, method, params }), signal: AbortSignal.timeout(30_000) });
    const body = (await res.json()) as { result?: T; error?: { code: number; message: string } };
    if (body.error) throw new Error(`${method}: ${body.error.message} (${body.error.code})`);
    return body.result as T;
  }

  info(): Promise<{ mint: string; decimals: number; tokenProgram: string; mintAuthority: string; slot: number }> {
    return this.call('romulus_info');
  }

  balance(owner: string): Promise<{ raw: string; decimals: number; ui: string }> {
    return this.call('romulus_balance', [owner]);
  }

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
