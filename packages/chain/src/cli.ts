/**
 * romulus-chain: the local Solana chain's command line.
 *   init      [--decimals 6] [--token-2022]        create the $ROMULUS mint and its authority
 *   serve     [--port 8899] [--host 127.0.0.1]     serve JSON-RPC (creates the mint first if needed)
 *   fund      <wallet> <amount>                    mint whole tokens to the wallet
 *   transfer  <fromKeypairFile> <toWallet> <amount> a transfer signed by the sender's keypair
 *   balance   <wallet>
 *   info
 * Every command takes --state-dir (default $ROMULUS_DATA_DIR/chain). fund/transfer/balance go through the
 * running server when there is one (so it stays the only writer), else they open the state dir directly.
 *   node --import tsx packages/chain/src/cli.ts serve --state-dir /tmp/chain
 */
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pidAlive, createLogger, dataDir } from '@romulus/shared';
import { LocalChain } from './local-chain.ts';
import { startLocalChain } from './local-chain-server.ts';
import { RemoteChain } from './remote.ts';
import { readAdminToken, readKeypairFile, readServerInfo, readState } from './state-files.ts';
import { formatUnits, parseUnits } from './token-layout.ts';

const USAGE = `usage: romulus-chain <init|serve|fund|transfer|balance|info> [args] [--state-dir DIR] [--json]
  init      [--decimals N] [--token-2022]
  serve     [--port 8899] [--host 127.0.0.1] [--decimals N] [--token-2022]
  fund      <wallet> <amount>
  transfer  <fromKeypairFile> <toWallet> <amount>
  balance   <wallet>
  info`;

class UsageError extends Error {}

/** The running server of this state dir, if any. */
function running(stateDir: string): RemoteChain | null {
  const info = readServerInfo(stateDir);
  if (!info || !pidAlive(info.pid)) return null;
  return new RemoteChain(info.url, readAdminToken(stateDir) ?? undefined);
}

function need(args: string[], n: number, what: string): string[] {
  if (args.length !== n) throw new UsageError(`expected ${what}`);
  return args;
}

async function main(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'state-dir': { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      decimals: { type: 'string' },
      'token-2022': { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...args] = positionals;
  if (values.help || !command) {
    console.log(USAGE);
    return;
  }
  const stateDir = path.resolve(values['state-dir'] ?? process.env.ROMULUS_CHAIN_DIR ?? path.join(dataDir(), 'chain'));
  const decimals = values.decimals === undefined ? undefined : Number(values.decimals);
  if (decimals !== undefined && !(Number.isInteger(decimals) && decimals >= 0 && decimals <= 9)) throw new UsageError('--decimals must be 0..9');
  const token2022 = values['token-2022'] ? true : undefined;
  const out = (obj: Record<string, unknown>, text: string) => console.log(values.json ? JSON.stringify(obj) : text);

  switch (command) {
    case 'init': {
      need(args, 0, 'no arguments');
      if (running(stateDir)) throw new Error(`a server is running on ${stateDir}; it is already initialised`);
      const chain = await LocalChain.open(stateDir, { decimals, token2022 });
      out({ stateDir, mint: chain.mint, decimals: chain.decimals, tokenProgram: chain.tokenProgram, mintAuthority: chain.authority.address }, `mint ${chain.mint} (${chain.decimals} decimals, program ${chain.tokenProgram}) in ${stateDir}`);
      return;
    }
    case 'serve': {
      need(args, 0, 'no arguments');
      const port = values.port === undefined ? 8899 : Number(values.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('--port must be 0..65535');
      const log = createLogger('chain');
      const chain = await startLocalChain({ stateDir, port, host: values.host, decimals, token2022, log });
      out({ url: chain.url, mint: chain.mint, decimals: chain.decimals, tokenProgram: chain.tokenProgram }, `local chain at ${chain.url}, mint ${chain.mint}`);
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          chain.stop().then(resolve, resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      return;
    }
    case 'fund': {
      const [wallet, amount] = need(args, 2, '<wallet> <amount>');
      const remote = running(stateDir);
      if (remote) {
        const r = await remote.fund(wallet, amount);
        const info = await remote.info();
        out({ ...r, via: remote.url }, `funded ${wallet} with ${amount}; balance ${formatUnits(BigInt(r.balance), info.decimals)} (tx ${r.signature})`);
        return;
      }
      const chain = await openExisting(stateDir);
      const r = await chain.fund(wallet, parseUnits(amount, chain.decimals));
      out({ ...r, balance: chain.balanceOf(wallet).toString() }, `funded ${wallet} with ${amount}; balance ${formatUnits(chain.balanceOf(wallet), chain.decimals)} (tx ${r.signature})`);
      return;
    }
    case 'transfer': {
      const [keyFile, to, amount] = need(args, 3, '<fromKeypairFile> <toWallet> <amount>');
      const keypair = readKeypairFile(keyFile);
      const remote = running(stateDir);
      try {
        if (remote) {
          const info = await remote.info();
          const signature = await remote.transfer(keypair, to, parseUnits(amount, info.decimals));
          out({ signature, via: remote.url }, `transferred ${amount} to ${to} (tx ${signature})`);
          return;
        }
        const chain = await openExisting(stateDir);
        const { signature } = await chain.transfer(keypair, to, parseUnits(amount, chain.decimals));
        out({ signature }, `transferred ${amount} to ${to} (tx ${signature})`);
      } finally {
        keypair.fill(0);
      }
      return;
    }
    case 'balance': {
      const [wallet] = need(args, 1, '<wallet>');
      const remote = running(stateDir);
      if (remote) {
        const b = await remote.balance(wallet);
        out({ wallet, ...b }, b.ui);
        return;
      }
      const chain = await openExisting(stateDir);
      const raw = chain.balanceOf(wallet);
      out({ wallet, raw: raw.toString(), decimals: chain.decimals, ui: formatUnits(raw, chain.decimals) }, formatUnits(raw, chain.decimals));
      return;
    }
    case 'info': {
      need(args, 0, 'no arguments');
      const state = readState(stateDir);
      if (!state) throw new Error(`no local chain in ${stateDir} (run init or serve)`);
      const server = readServerInfo(stateDir);
      const url = server && pidAlive(server.pid) ? server.url : null;
      out(
        { stateDir, url, mint: state.mint, decimals: state.decimals, tokenProgram: state.tokenProgram, mintAuthority: state.authority },
        [`state dir  ${stateDir}`, `rpc url    ${url ?? '(not running)'}`, `mint       ${state.mint}`, `decimals   ${state.decimals}`, `program    ${state.tokenProgram}`, `authority  ${state.authority}`].join('\n'),
      );
      return;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

async function openExisting(stateDir: string): Promise<LocalChain> {
  if (!readState(stateDir)) throw new Error(`no local chain in ${stateDir} (run init or serve)`);
  return LocalChain.open(stateDir);
}

main(process.argv.slice(2)).catch((e) => {
  console.error(`romulus-chain: ${(e as Error).message}`);
  if (e instanceof UsageError) console.error(USAGE);
  process.exit(e instanceof UsageError ? 2 : 1);
});
