import os from 'node:os';
import path from 'node:path';
import { KeypairError, KeypairSigner, RomulusClient } from '@romulus/sdk';
import { CliError, EXIT, type CliIo } from './io.ts';
import { readStackFile } from './stack/stack-file.ts';

export const DEFAULT_GATEWAY = 'http://127.0.0.1:8080';

/** Global options every command sees (commander's optsWithGlobals()). */
export interface GlobalOptions {
  gateway?: string;
  keypair?: string;
  dataDir?: string;
  json?: boolean;
}

/** Resolves the global options against the environment and the running stack, once per command. */
export class Context {
  constructor(
    readonly opts: GlobalOptions,
    readonly io: CliIo,
  ) {}

  get json(): boolean {
    return this.opts.json === true;
  }

  /** --data-dir, else ROMULUS_DATA_DIR, else /var/lib/romulus (the node daemon's default too). */
  get dataDir(): string {
    return path.resolve(this.opts.dataDir ?? this.io.env.ROMULUS_DATA_DIR ?? '/var/lib/romulus');
  }

  /** --gateway, else ROMULUS_GATEWAY, else the running local stack's, else http://127.0.0.1:8080. */
  get gatewayUrl(): string {
    return this.opts.gateway ?? this.io.env.ROMULUS_GATEWAY ?? readStackFile(this.dataDir)?.gateway.url ?? DEFAULT_GATEWAY;
  }

  /** --keypair, else ROMULUS_KEYPAIR, else the Solana CLI's default ~/.config/solana/id.json. */
  get keypairPath(): string {
    const p = this.opts.keypair ?? this.io.env.ROMULUS_KEYPAIR ?? path.join(this.io.env.HOME ?? os.homedir(), '.config', 'solana', 'id.json');
    return expandHome(p, this.io.env);
  }

  signer(): KeypairSigner {
    try {
      return KeypairSigner.fromFile(this.keypairPath);
    } catch (err) {
      if (err instanceof KeypairError) {
        const hint = /no keypair at/.test(err.message) ? ' (create one with `romulus keygen`, or pass --keypair <path>)' : '';
        throw new CliError(err.message + hint, EXIT.USAGE, 'KEYPAIR');
      }
      throw err;
    }
  }

  client(opts: { signed: boolean }): RomulusClient {
    try {
      return new RomulusClient({ baseUrl: this.gatewayUrl, signer: opts.signed ? this.signer() : undefined });
    } catch (err) {
      if (err instanceof TypeError) throw new CliError(err.message, EXIT.USAGE, 'BAD_ARGUMENT');
      throw err;
    }
  }
}

export function expandHome(p: string, env: NodeJS.ProcessEnv): string {
  return p === '~' || p.startsWith('~/') ? path.join(env.HOME ?? os.homedir(), p.slice(1)) : p;
}
