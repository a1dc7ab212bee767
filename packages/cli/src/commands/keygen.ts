import { closeSync, mkdirSync, openSync, writeSync, fsyncSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { KeypairSigner } from '@romulus/sdk';
import type { Context } from '../context.ts';
import { expandHome } from '../context.ts';
import { CliError, EXIT } from '../io.ts';
import { emit, fields } from '../output.ts';

type ContextOf = (cmd: Command) => Context;

/**
 * Writes a new keypair in the Solana CLI's format. The file is created with O_EXCL and mode 0600 in one
 * step, so an existing wallet is never overwritten and the secret is never readable by others, not even
 * for an instant.
 */
export function writeNewKeypair(file: string, signer: KeypairSigner): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new CliError(`${file} already exists; refusing to overwrite a wallet (pass --out <path> for a new file)`, EXIT.FAILED, 'EXISTS');
    }
    throw err;
  }
  try {
    writeSync(fd, signer.toSolanaKeypairJson());
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export function registerKeygenCommands(program: Command, ctxOf: ContextOf): void {
  program
    .command('keygen')
    .description('create a new wallet keypair (Solana CLI format, mode 0600); never overwrites')
    .option('--out <path>', 'where to write it (default: --keypair, else ~/.config/solana/id.json)')
    .action((o: { out?: string }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const file = path.resolve(o.out ? expandHome(o.out, ctx.io.env) : ctx.keypairPath);
      const signer = KeypairSigner.generate();
      writeNewKeypair(file, signer);
      emit(ctx.io, ctx.json, { success: true, wallet: signer.publicKey, keypair: file }, () =>
        fields([
          ['wallet', signer.publicKey],
          ['keypair', `${file} (mode 0600: it is your wallet's secret key; back it up)`],
        ]),
      );
    });

  program
    .command('wallet')
    .description("print the wallet address of your keypair")
    .action((_o: unknown, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const signer = ctx.signer();
      emit(ctx.io, ctx.json, { success: true, wallet: signer.publicKey, keypair: ctx.keypairPath }, () => signer.publicKey);
    });
}
