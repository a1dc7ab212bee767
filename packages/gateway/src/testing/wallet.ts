import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { encodeBase58 } from '@romulus/shared';
import { cliEnvelope, v0Envelope, v1Envelope } from '../auth/offchain.ts';

/**
 * A real Ed25519 wallet for tests, the harness and the benchmark: signs `romulus:<ts>` the way a browser
 * wallet (raw) or the Solana CLI / Ledger (off-chain envelopes) would.
 */
export class TestWallet {
  readonly address: string;
  readonly publicKey: Uint8Array;
  readonly privateKey: KeyObject;
  /** Solana CLI keypair file contents: 64 bytes, secret seed then public key. */
  readonly keypairBytes: number[];
  /** Last default timestamp handed out (see headers()). */
  private lastTs = 0;

  constructor() {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const jwk = privateKey.export({ format: 'jwk' });
    this.publicKey = Buffer.from(jwk.x!, 'base64url');
    this.privateKey = privateKey;
    this.address = encodeBase58(this.publicKey);
    this.keypairBytes = [...Buffer.from(jwk.d!, 'base64url'), ...this.publicKey];
    void publicKey;
  }

  signBytes(bytes: Uint8Array): Buffer {
    return sign(null, bytes, this.privateKey);
  }

  /**
   * The three auth headers for `romulus:<ts>`. Without `ts`, timestamps are strictly increasing per wallet
   * (as the SDK's are): Ed25519 is deterministic, so two requests signed in one millisecond would carry the
   * same signature and the gateway would refuse the second as a replay.
   */
  headers(opts: { ts?: number; form?: 'raw' | 'cli' | 'v0' | 'v1'; encoding?: 'base58' | 'base64' } = {}): Record<string, string> {
    const ts = opts.ts ?? (this.lastTs = Math.max(Date.now(), this.lastTs + 1));
    const msg = Buffer.from(`romulus:${ts}`, 'utf8');
    const form = opts.form ?? 'raw';
    const bytes =
      form === 'raw' ? msg : form === 'cli' ? cliEnvelope(msg) : form === 'v0' ? v0Envelope(msg, this.publicKey) : v1Envelope(msg, this.publicKey);
    const sig = this.signBytes(bytes);
    return {
      'x-wallet': this.address,
      'x-signature': opts.encoding === 'base64' ? sig.toString('base64') : encodeBase58(sig),
      'x-timestamp': String(ts),
    };
  }
}
