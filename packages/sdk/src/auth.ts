import { encodeBase58 } from '@romulus/shared';
import type { Signer } from './signer.ts';

/** The message every request signs: `romulus:<timestamp-ms>` as raw UTF-8 bytes. */
export function authMessage(timestampMs: number): Uint8Array {
  return new TextEncoder().encode(`romulus:${timestampMs}`);
}

export interface AuthHeaders {
  'X-Wallet': string;
  'X-Signature': string;
  'X-Timestamp': string;
  [name: string]: string;
}

/**
 * Ed25519 is deterministic and the gateway accepts each signature once, so two requests signed in the same
 * millisecond would carry the same signature and the second would be refused as a replay. Timestamps are
 * therefore strictly increasing per wallet within this process (a burst runs a few ms ahead of the clock,
 * far inside the gateway's ±5 minute window).
 */
const lastTimestampByWallet = new Map<string, number>();

export function nextTimestamp(wallet: string, now: number = Date.now()): number {
  const last = lastTimestampByWallet.get(wallet) ?? 0;
  const ts = now > last ? now : last + 1;
  lastTimestampByWallet.set(wallet, ts);
  return ts;
}

/** Fresh auth headers for one request. */
export async function signedHeaders(signer: Signer, now?: number): Promise<AuthHeaders> {
  const ts = nextTimestamp(signer.publicKey, now);
  const signature = await signer.signMessage(authMessage(ts));
  if (signature.length !== 64) throw new Error(`signer returned ${signature.length} bytes; an Ed25519 signature is 64`);
  return { 'X-Wallet': signer.publicKey, 'X-Signature': encodeBase58(signature), 'X-Timestamp': String(ts) };
}
