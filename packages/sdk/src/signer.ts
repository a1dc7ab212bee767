import { createPrivateKey, createPublicKey, generateKeyPairSync, sign as edSign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { encodeBase58 } from '@romulus/shared';

/**
 * Something that can sign for a wallet: the SDK only needs the base58 public key and raw-message signing
 * (what browser wallets' `signMessage` does), so a hardware or browser wallet can stand in for a keypair.
 */
export interface Signer {
  /** Base58 Ed25519 public key: the wallet address. */
  readonly publicKey: string;
  /** Ed25519 signature (64 bytes) over the raw message bytes. */
  signMessage(message: Uint8Array): Promise<Uint8Array> | Uint8Array;
}

/** DER prefix of a PKCS#8 Ed25519 private key; the 32-byte seed follows it. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export class KeypairError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeypairError';
  }
}

/** An Ed25519 keypair held in memory (node:crypto), in the Solana CLI's format on disk. */
export class KeypairSigner implements Signer {
  readonly publicKey: string;
  readonly publicKeyBytes: Uint8Array;

  private constructor(
    private readonly privateKey: KeyObject,
    private readonly seed: Uint8Array,
  ) {
    const jwk = createPublicKey(privateKey).export({ format: 'jwk' });
    this.publicKeyBytes = new Uint8Array(Buffer.from(jwk.x as string, 'base64url'));
    this.publicKey = encodeBase58(this.publicKeyBytes);
  }

  /** A fresh random keypair. */
  static generate(): KeypairSigner {
    const { privateKey } = generateKeyPairSync('ed25519');
    const der = privateKey.export({ format: 'der', type: 'pkcs8' });
    return KeypairSigner.fromSeed(new Uint8Array(der.subarray(PKCS8_ED25519_PREFIX.length)));
  }

  /** From the 32-byte secret seed. */
  static fromSeed(seed: Uint8Array): KeypairSigner {
    if (seed.length !== 32) throw new KeypairError(`an Ed25519 seed is 32 bytes, got ${seed.length}`);
    const key = createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    return new KeypairSigner(key, Uint8Array.from(seed));
  }

  /**
   * From the Solana CLI's 64 bytes (32-byte seed then 32-byte public key); the public half must be the one
   * the seed derives, or the file is corrupt or hand-edited and signing would produce a different wallet.
   */
  static fromBytes(bytes: Uint8Array | readonly number[]): KeypairSigner {
    if (bytes.length !== 64) throw new KeypairError(`a Solana keypair is 64 bytes (seed + public key), got ${bytes.length}`);
    for (const b of bytes) {
      if (!Number.isInteger(b) || b < 0 || b > 255) throw new KeypairError('a Solana keypair holds only byte values 0-255');
    }
    const all = Uint8Array.from(bytes);
    const signer = KeypairSigner.fromSeed(all.subarray(0, 32));
    const storedPublic = all.subarray(32);
    if (!Buffer.from(storedPublic).equals(Buffer.from(signer.publicKeyBytes))) {
      throw new KeypairError(
        `the keypair's public key ${encodeBase58(storedPublic)} does not match its secret key (which derives ${signer.publicKey})`,
      );
    }
    return signer;
  }

  /** Reads a Solana CLI keypair file (`~/.config/solana/id.json`: a JSON array of 64 numbers). */
  static fromFile(file: string): KeypairSigner {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new KeypairError(code === 'ENOENT' ? `no keypair at ${file}` : `cannot read keypair ${file}: ${(err as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new KeypairError(`${file} is not JSON (expected the Solana CLI format: an array of 64 numbers)`);
    }
    if (!Array.isArray(parsed)) throw new KeypairError(`${file} is not a Solana CLI keypair (expected an array of 64 numbers)`);
    try {
      return KeypairSigner.fromBytes(parsed as number[]);
    } catch (err) {
      throw new KeypairError(`${file}: ${(err as Error).message}`);
    }
  }

  signMessage(message: Uint8Array): Uint8Array {
    return new Uint8Array(edSign(null, message, this.privateKey));
  }

  /** The 64 bytes of the Solana CLI format (seed + public key). Secret material: write only with mode 0600. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(64);
    out.set(this.seed, 0);
    out.set(this.publicKeyBytes, 32);
    return out;
  }

  /** The Solana CLI file content: `[n,n,...]` (64 numbers). */
  toSolanaKeypairJson(): string {
    return JSON.stringify([...this.toBytes()]);
  }
}
