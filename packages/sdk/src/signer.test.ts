import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { decodeBase58, encodeBase58 } from '@romulus/shared';
import { KeypairSigner } from './signer.ts';
import { authMessage, nextTimestamp, signedHeaders } from './auth.ts';

// RFC 8032 section 7.1, test 1.
const SEED = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
const PUB = Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex');
const SIG_EMPTY =
  'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b';

const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const publicKeyObject = (raw: Uint8Array) => createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, raw]), format: 'der', type: 'spki' });

const dir = mkdtempSync(path.join(tmpdir(), 'romulus-sdk-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('fromBytes derives the RFC 8032 public key and signature', () => {
  const s = KeypairSigner.fromBytes(Buffer.concat([SEED, PUB]));
  assert.equal(s.publicKey, encodeBase58(PUB));
  assert.equal(Buffer.from(s.signMessage(new Uint8Array(0))).toString('hex'), SIG_EMPTY);
});

test('signed headers verify with node:crypto against the wallet address', async () => {
  const s = KeypairSigner.generate();
  const h = await signedHeaders(s);
  assert.equal(h['X-Wallet'], s.publicKey);
  const pub = decodeBase58(h['X-Wallet'])!;
  assert.equal(pub.length, 32);
  const sig = decodeBase58(h['X-Signature'])!;
  assert.equal(sig.length, 64);
  assert.ok(verify(null, authMessage(Number(h['X-Timestamp'])), publicKeyObject(pub), sig));
  assert.equal(new TextDecoder().decode(authMessage(Number(h['X-Timestamp']))), `romulus:${h['X-Timestamp']}`);
  // A different timestamp must not verify with this signature.
  assert.ok(!verify(null, authMessage(Number(h['X-Timestamp']) + 1), publicKeyObject(pub), sig));
});

test('two signatures in the same millisecond get distinct timestamps and signatures', async () => {
  const s = KeypairSigner.generate();
  const now = Date.now();
  const a = await signedHeaders(s, now);
  const b = await signedHeaders(s, now);
  assert.notEqual(a['X-Timestamp'], b['X-Timestamp']);
  assert.notEqual(a['X-Signature'], b['X-Signature']);
  assert.ok(Number(b['X-Timestamp']) > Number(a['X-Timestamp']));
  // A clock that goes backwards still yields increasing timestamps.
  assert.ok(nextTimestamp(s.publicKey, now - 5000) > Number(b['X-Timestamp']));
});

test('fromFile reads the Solana CLI format and round-trips', () => {
  const s = KeypairSigner.generate();
  const file = path.join(dir, 'id.json');
  writeFileSync(file, s.toSolanaKeypairJson());
  const back = KeypairSigner.fromFile(file);
  assert.equal(back.publicKey, s.publicKey);
  assert.deepEqual(back.toBytes(), s.toBytes());
  const parsed = JSON.parse(s.toSolanaKeypairJson());
  assert.ok(Array.isArray(parsed) && parsed.length === 64);
});

test('fromFile detects a public key that does not match the seed', () => {
  const bytes = [...KeypairSigner.generate().toBytes()];
  bytes[40] ^= 1;
  const file = path.join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify(bytes));
  assert.throws(() => KeypairSigner.fromFile(file), /does not match its secret key/);
});

test('fromFile refuses malformed files with clear messages', () => {
  const cases: [string, RegExp][] = [
    ['not json', /is not JSON/],
    ['{"a":1}', /not a Solana CLI keypair/],
    ['[1,2,3]', /64 bytes/],
    [JSON.stringify(new Array(64).fill(256)), /byte values/],
    [JSON.stringify(new Array(64).fill('1')), /byte values/],
  ];
  for (const [content, re] of cases) {
    const file = path.join(dir, 'case.json');
    writeFileSync(file, content);
    assert.throws(() => KeypairSigner.fromFile(file), re);
  }
  assert.throws(() => KeypairSigner.fromFile(path.join(dir, 'missing.json')), /no keypair at/);
});
