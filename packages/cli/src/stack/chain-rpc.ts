import { readFileSync } from 'node:fs';
import path from 'node:path';
import { RomulusNetworkError } from '@romulus/sdk';
import { CliError, EXIT } from '../io.ts';

/**
 * The local chain's JSON-RPC, for the few calls the CLI makes: romulus_info, romulus_balance (public) and
 * romulus_fund (admin: bearer token from the chain's state dir, loopback only). The gateway never uses
 * these: it reads balances with getTokenAccountsByOwner like on mainnet.
 */
export class ChainRpc {
  private nextId = 1;

  constructor(
    readonly url: string,
    private readonly adminToken?: string,
  ) {}

  /** The admin token the chain keeps in <stateDir>/admin-token (mode 0600). */
  static readAdminToken(stateDir: string): string {
    const file = path.join(stateDir, 'admin-token');
    try {
      return readFileSync(file, 'utf8').trim();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new CliError(
        code === 'ENOENT'
          ? `no local chain in ${stateDir} (start the stack with \`romulus up\` first)`
          : `cannot read the local chain's admin token ${file}: ${(err as Error).message}`,
        EXIT.FAILED,
        'NO_LOCAL_CHAIN',
      );
    }
  }

  async call<T>(method: string, params: unknown[] = []): Promise<T> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.adminToken) headers.authorization = `Bearer ${this.adminToken}`;
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers,
        body: JSON.stringify({ jsonrpc: '2.0', id: this.nextId++, method, params }),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (err) {
      throw new RomulusNetworkError(this.url, err);
    }
    const text = await res.text();
    let body: { result?: T; error?: { code: number; message: string } };
    try {
      body = JSON.parse(text);
    } catch {
      throw new CliError(`chain RPC ${this.url} answered HTTP ${res.status}: ${text.slice(0, 200)}`, EXIT.FAILED, 'CHAIN_RPC');
    }
    if (body.error) throw new CliError(`chain RPC ${method}: ${body.error.message}`, EXIT.FAILED, 'CHAIN_RPC');
    return body.result as T;
  }

  info(): Promise<{ mint: string; decimals: number; tokenProgram: string; slot: number }> {
    return this.call('romulus_info');
  }

  /** Balance of the chain's mint, summed over the owner's token accounts. */
  balance(owner: string): Promise<{ raw: string; decimals: number; ui: string }> {
    return this.call('romulus_balance', [owner]);
  }

  /** Mints `wholeTokens` (a decimal string, e.g. "1000000" or "2.5") to the owner. */
  fund(owner: string, wholeTokens: string): Promise<{ signature: string; tokenAccount: string; raw: string; balance: string }> {
    return this.call('romulus_fund', [owner, wholeTokens]);
  }
}
