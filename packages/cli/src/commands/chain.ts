import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { RemoteChain } from '@romulus/chain/remote';
import { KeypairSigner, RomulusNetworkError } from '@romulus/sdk';
import type { Context } from '../context.ts';
import { CliError, EXIT } from '../io.ts';
import { emit, fields } from '../output.ts';
import { stackDirs } from '../stack/options.ts';
import { readStackFile } from '../stack/stack-file.ts';

type ContextOf = (cmd: Command) => Context;

const BASE58_ADDRESS = /^[1-9A-HJ-NP-Za-km-z]{32,44}$/;

/** The running local chain: its URL and state dir from stack.json, else the defaults under the data dir. */
function localChain(ctx: Context, rpcFlag?: string): { url: string; stateDir: string } {
  const stack = readStackFile(ctx.dataDir);
  return {
    url: rpcFlag ?? ctx.io.env.ROMULUS_RPC_URL ?? stack?.chain.url ?? 'http://127.0.0.1:8899',
    stateDir: stack?.chain.stateDir ?? stackDirs(ctx.dataDir).chain,
  };
}

/** The admin token the chain keeps in <stateDir>/admin-token (mode 0600). */
function readAdminToken(stateDir: string): string {
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

/**
 * Runs calls on the chain's RPC client (@romulus/chain's RemoteChain, loaded only by these commands) and
 * says its failures the CLI's way: not reached is UNREACHABLE like an unreachable gateway, anything else
 * CHAIN_RPC.
 */
async function withChain<T>(url: string, adminToken: string | undefined, f: (chain: RemoteChain) => Promise<T>): Promise<T> {
  const { RemoteChain, ChainRpcError } = await import('@romulus/chain/remote');
  try {
    return await f(new RemoteChain(url, adminToken));
  } catch (err) {
    if (!(err instanceof ChainRpcError)) throw err;
    if (err.code === 'UNREACHABLE') throw new RomulusNetworkError(url, err.cause);
    throw new CliError(err.message, EXIT.FAILED, 'CHAIN_RPC');
  }
}

function walletArg(ctx: Context, wallet: string | undefined): string {
  if (wallet === undefined) return ctx.signer().publicKey;
  if (!BASE58_ADDRESS.test(wallet)) {
    // A path to a keypair file is accepted too: `romulus chain fund ./alice.json 1000`.
    if (wallet.endsWith('.json') || wallet.includes(path.sep)) {
      try {
        return KeypairSigner.fromFile(wallet).publicKey;
      } catch (err) {
        throw new CliError((err as Error).message, EXIT.USAGE, 'KEYPAIR');
      }
    }
    throw new CliError(`not a wallet address (base58) or keypair file: ${wallet}`, EXIT.USAGE, 'BAD_ARGUMENT');
  }
  return wallet;
}

export function registerChainCommands(program: Command, ctxOf: ContextOf): void {
  const chain = program.command('chain').description('the local development chain (started by `romulus up`)');

  chain
    .command('fund')
    .description('mint tokens on the local chain to a wallet (your own keypair\'s by default)')
    .argument('<wallet_or_amount>', 'wallet address or keypair file; omit it to fund your own wallet')
    .argument('[amount]', 'whole tokens, e.g. 1000000 or 2.5')
    .option('--rpc <url>', 'chain RPC URL (default: the running stack\'s)')
    .action(async (first: string, second: string | undefined, o: { rpc?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const [walletGiven, amount] = second === undefined ? [undefined, first] : [first, second];
      if (!/^\d+(\.\d+)?$/.test(amount)) throw new CliError(`not an amount of tokens: ${amount}`, EXIT.USAGE, 'BAD_ARGUMENT');
      const wallet = walletArg(ctx, walletGiven);
      const where = localChain(ctx, o.rpc);
      const { r, info } = await withChain(where.url, readAdminToken(where.stateDir), async (rpc) => {
        const r = await rpc.fund(wallet, amount);
        return { r, info: await rpc.balance(wallet) };
      });
      emit(ctx.io, ctx.json, { success: true, wallet, funded: amount, signature: r.signature, balance: info.ui }, () =>
        fields([
          ['wallet', wallet],
          ['funded', `${amount} tokens`],
          ['balance', `${info.ui} tokens`],
          ['signature', r.signature],
        ]),
      );
    });

  chain
    .command('balance')
    .description("a wallet's token balance on the local chain (your own by default)")
    .argument('[wallet]', 'wallet address or keypair file')
    .option('--rpc <url>', 'chain RPC URL (default: the running stack\'s)')
    .action(async (walletGiven: string | undefined, o: { rpc?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const wallet = walletArg(ctx, walletGiven);
      const info = await withChain(localChain(ctx, o.rpc).url, undefined, (rpc) => rpc.balance(wallet));
      emit(ctx.io, ctx.json, { success: true, wallet, balance: info.ui, raw: info.raw, decimals: info.decimals }, () => `${info.ui} tokens (${wallet})`);
    });
}
