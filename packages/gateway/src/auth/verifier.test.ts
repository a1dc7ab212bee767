import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { getOffchainMessageEncoder } from '@solana/offchain-messages';
import { address } from '@solana/kit';
import { TestWallet } from '../testing/wallet.ts';
import { encodeBase58 } from '@romulus/shared';
import { cliEnvelope, v0Envelope, v1Envelope } from './offchain.ts';
import { AuthError, SignatureVerifier, decodeSignature } from './verifier.ts';

const WINDOW = 300_000;

function verifierWithMemoryClaims(now = () => Date.now()) {
  const seen = new Set<string>();
  const claims: string[] = [];
  const v = new SignatureVerifier({
    windowMs: WINDOW,
    now,
    claim: async (sig) => {
      claims.push(sig);
      if (seen.has(sig)) return false;
      seen.add(sig);
      return true;
    },
  });
  return { v, claims };
}

async function rejects(p: Promise<unknown>, code: string) {
  await assert.rejects(p, (err: unknown) => err instanceof AuthError && err.status === 401 && err.code === code);
}

describe('off-chain envelopes match @solana/offchain-messages', () => {
  const w = new TestWallet();
  const text = 'romulus:1707022560000';
  it('v0 (application domain + signers)', () => {
    const ref = getOffchainMessageEncoder().encode({
      version: 0,
      applicationDomain: address('11111111111111111111111111111111') as any,
      content: { format: 0, text } as any,
      requiredSignatories: [{ address: address(w.address) }],
    } as any);
    assert.deepEqual(Buffer.from(ref), v0Envelope(Buffer.from(text), w.publicKey));
  });
  it('v1 (signers + message)', () => {
    const ref = getOffchainMessageEncoder().encode({
      version: 1,
      content: text,
      requiredSignatories: [{ address: address(w.address) }],
    } as any);
    assert.deepEqual(Buffer.from(ref), v1Envelope(Buffer.from(text), w.publicKey));
  });
  it('CLI form is the 20-byte header + message', () => {
    const env = cliEnvelope(Buffer.from(text));
    assert.equal(env.length, 20 + text.length);
    assert.equal(env.subarray(0, 16).toString('latin1'), '\xffsolana offchain');
    assert.equal(env.readUInt16LE(18), text.length);
  });
});

describe('SignatureVerifier', () => {
  const w = new TestWallet();

  it("a test wallet's burst of requests all pass: default timestamps never repeat within one wallet", async () => {
    const { v } = verifierWithMemoryClaims();
    const burst = Array.from({ length: 50 }, () => w.headers());
    assert.equal(new Set(burst.map((h) => h['x-timestamp'])).size, 50);
    for (const h of burst) assert.equal((await v.verify(toVerify(h))).wallet, w.address);
  });

  for (const form of ['raw', 'cli', 'v0', 'v1'] as const) {
    for (const encoding of ['base58', 'base64'] as const) {
      it(`accepts ${form} signatures in ${encoding}`, async () => {
        const { v } = verifierWithMemoryClaims();
        const r = await v.verify(toVerify(w.headers({ form, encoding })));
        assert.equal(r.wallet, w.address);
        assert.equal(r.form, form);
      });
    }
  }

  it('rejects a replay, also re-encoded in the other alphabet', async () => {
    const { v } = verifierWithMemoryClaims();
    const h = w.headers();
    await v.verify(toVerify(h));
    await rejects(v.verify(toVerify(h)), 'SIGNATURE_REPLAYED');
    const b64 = decodeSignature(h['x-signature'])!.toString('base64');
    await rejects(v.verify({ ...toVerify(h), signature: b64 }), 'SIGNATURE_REPLAYED');
  });

  it('rejects a forged signature (another key) without claiming it', async () => {
    const { v, claims } = verifierWithMemoryClaims();
    const other = new TestWallet();
    const h = other.headers();
    await rejects(v.verify({ ...toVerify(h), wallet: w.address }), 'INVALID_SIGNATURE');
    assert.equal(claims.length, 0, 'garbage must never reach the replay store');
  });

  it('rejects a signature over another timestamp', async () => {
    const { v } = verifierWithMemoryClaims();
    const h = w.headers({ ts: Date.now() - 1000 });
    await rejects(v.verify({ ...toVerify(h), timestamp: String(Date.now()) }), 'INVALID_SIGNATURE');
  });

  it('rejects a tampered signature', async () => {
    const { v } = verifierWithMemoryClaims();
    const h = w.headers();
    const sig = decodeSignature(h['x-signature'])!;
    sig[10] ^= 1;
    await rejects(v.verify({ ...toVerify(h), signature: encodeBase58(sig) }), 'INVALID_SIGNATURE');
  });

  it('rejects expired and future timestamps', async () => {
    const now = 1_800_000_000_000;
    const { v } = verifierWithMemoryClaims(() => now);
    await rejects(v.verify(toVerify(w.headers({ ts: now - WINDOW - 1 }))), 'SIGNATURE_EXPIRED');
    await rejects(v.verify(toVerify(w.headers({ ts: now + WINDOW + 1 }))), 'SIGNATURE_FROM_FUTURE');
    // The window's edges are inside.
    await v.verify(toVerify(w.headers({ ts: now - WINDOW })));
    await v.verify(toVerify(w.headers({ ts: now + WINDOW })));
  });

  it('rejects a valid signature presented for the wrong wallet', async () => {
    const { v } = verifierWithMemoryClaims();
    const other = new TestWallet();
    await rejects(v.verify({ ...toVerify(w.headers()), wallet: other.address }), 'INVALID_SIGNATURE');
  });

  it('rejects malformed headers', async () => {
    const { v } = verifierWithMemoryClaims();
    const h = toVerify(w.headers());
    await rejects(v.verify({ ...h, wallet: undefined }), 'MISSING_SIGNATURE');
    await rejects(v.verify({ ...h, signature: undefined }), 'MISSING_SIGNATURE');
    await rejects(v.verify({ ...h, timestamp: undefined }), 'MISSING_SIGNATURE');
    await rejects(v.verify({ ...h, wallet: 'not-base58-0OIl' }), 'BAD_WALLET');
    await rejects(v.verify({ ...h, wallet: encodeBase58(new Uint8Array(31).fill(7)) }), 'BAD_WALLET');
    await rejects(v.verify({ ...h, signature: '!!!notbase64!!!' }), 'BAD_SIGNATURE_ENCODING');
    await rejects(v.verify({ ...h, signature: Buffer.alloc(63, 1).toString('base64') }), 'BAD_SIGNATURE_ENCODING');
    await rejects(v.verify({ ...h, signature: encodeBase58(new Uint8Array(65).fill(9)) }), 'BAD_SIGNATURE_ENCODING');
    await rejects(v.verify({ ...h, signature: 'x'.repeat(5000) }), 'BAD_SIGNATURE_ENCODING');
    await rejects(v.verify({ ...h, timestamp: '12abc' }), 'BAD_TIMESTAMP');
    await rejects(v.verify({ ...h, timestamp: '-5' }), 'BAD_TIMESTAMP');
  });

  it('rejects an envelope bound to a foreign application domain', async () => {
    const { v } = verifierWithMemoryClaims();
    const ts = Date.now();
    const sig = w.signBytes(v0Envelope(Buffer.from(`romulus:${ts}`), w.publicKey, new Uint8Array(32).fill(3)));
    await rejects(v.verify({ wallet: w.address, signature: encodeBase58(sig), timestamp: String(ts) }), 'INVALID_SIGNATURE');
  });
});

function toVerify(h: Record<string, string>) {
  return { wallet: h['x-wallet'], signature: h['x-signature'], timestamp: h['x-timestamp'] };
}
