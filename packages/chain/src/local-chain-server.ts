/**
 * startLocalChain: the library entry the CLI's `serve`, the stack launcher and the tests use. Opens (or
 * creates) the chain in a state dir, serves JSON-RPC on loopback and records its URL in server.json so
 * the CLI can find it. One server per state dir: a second one would fork the ledger.
 */
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Logger } from 'pino';
import { LocalChain } from './local-chain.ts';
import { createRpcServer } from './server.ts';
import { attachSubscriptions } from './subscriptions.ts';
import { readOrCreateAdminToken, readServerInfo, removeServerInfo, writeServerInfo } from './state-files.ts';
import { parseUnits } from './token-layout.ts';
import { pidAlive } from '@romulus/shared';

export interface StartLocalChainOptions {
  stateDir: string;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Loopback by default; the admin methods only ever answer loopback callers. */
  host?: string;
  token2022?: boolean;
  decimals?: number;
  log?: Logger;
}

export type TokenAmount = number | bigint | string;

export interface LocalChainHandle {
  url: string;
  /** PubSub (signature/slot/account subscriptions) on the same port. */
  wsUrl: string;
  port: number;
  stateDir: string;
  mint: string;
  decimals: number;
  tokenProgram: string;
  mintAuthority: string;
  /** Mints whole tokens to the owner's associated token account (created if needed). */
  fund(owner: string, wholeTokens: TokenAmount): Promise<{ signature: string; tokenAccount: string }>;
  /** A real transferChecked signed by the sender's 64-byte keypair. */
  transfer(fromKeypair: Uint8Array, toOwner: string, wholeTokens: TokenAmount): Promise<{ signature: string }>;
  /** An extra, non-associated token account for the owner holding `wholeTokens`. */
  createSecondTokenAccount(owner: string, wholeTokens?: TokenAmount): Promise<{ signature: string; tokenAccount: string }>;
  /** Raw units summed over the owner's token accounts for the mint. */
  balance(owner: string): bigint;
  stop(): Promise<void>;
}

const openDirs = new Set<string>();

export async function startLocalChain(opts: StartLocalChainOptions): Promise<LocalChainHandle> {
  const stateDir = path.resolve(opts.stateDir);
  if (openDirs.has(stateDir)) throw new Error(`a local chain is already running on ${stateDir} in this process`);
  const running = readServerInfo(stateDir);
  if (running && running.pid !== process.pid && pidAlive(running.pid)) {
    throw new Error(`a local chain (pid ${running.pid}) already serves ${stateDir} at ${running.url}`);
  }
  openDirs.add(stateDir);
  try {
    const chain = await LocalChain.open(stateDir, { token2022: opts.token2022, decimals: opts.decimals });
    const adminToken = readOrCreateAdminToken(stateDir);
    const server = createRpcServer({ chain, adminToken, log: opts.log });
    const pubsub = attachSubscriptions(server, chain);
    const host = opts.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const port = (server.address() as AddressInfo).port;
    const hostPart = host.includes(':') ? `[${host}]` : host;
    const url = `http://${hostPart}:${port}`;
    writeServerInfo(stateDir, { url, pid: process.pid });
    opts.log?.info({ url, mint: chain.mint, tokenProgram: chain.tokenProgram, stateDir }, 'local chain listening');
    const raw = (whole: TokenAmount) => {
      const units = parseUnits(String(whole), chain.decimals);
      if (units <= 0n) throw new Error('amount must be positive');
      return units;
    };
    let stopped = false;
    return {
      url,
      wsUrl: `ws://${hostPart}:${port}`,
      port,
      stateDir,
      mint: chain.mint,
      decimals: chain.decimals,
      tokenProgram: chain.tokenProgram,
      mintAuthority: chain.authority.address,
      fund: (owner, whole) => chain.fund(owner, raw(whole)),
      transfer: (from, to, whole) => chain.transfer(from, to, raw(whole)),
      createSecondTokenAccount: (owner, whole = 0) => chain.createExtraTokenAccount(owner, whole === 0 ? 0n : raw(whole)),
      balance: (owner) => chain.balanceOf(owner),
      stop: async () => {
        if (stopped) return;
        stopped = true;
        pubsub.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        removeServerInfo(stateDir, process.pid);
        openDirs.delete(stateDir);
      },
    };
  } catch (e) {
    openDirs.delete(stateDir);
    throw e;
  }
}
