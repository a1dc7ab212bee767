import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { getBase58Decoder, getBase58Encoder } from '@solana/kit';
import { decodeBase58, encodeBase58 } from './base58.ts';

test('base58 matches @solana/kit on random inputs, including leading zero bytes', () => {
  const kitEncode = getBase58Decoder(); // kit names codecs from the string's side: bytes -> string decodes
  const kitDecode = getBase58Encoder();
  for (let i = 0; i < 300; i++) {
    const zeros = i % 4;
    const bytes = new Uint8Array([...new Uint8Array(zeros), ...randomBytes(i % 70)]);
    const text = encodeBase58(bytes);
    assert.equal(text, kitEncode.decode(bytes));
    assert.deepEqual(decodeBase58(text), new Uint8Array(kitDecode.encode(text)));
  }
});

test('base58 known vectors', () => {
  assert.equal(encodeBase58(new Uint8Array(32)), '11111111111111111111111111111111'); // the system program id
  assert.equal(encodeBase58(new TextEncoder().encode('Hello World!')), '2NEpo7TZRRrLZSi2U');
  assert.deepEqual(decodeBase58(''), new Uint8Array(0));
});

test('base58 rejects characters outside the alphabet', () => {
  for (const bad of ['0', 'O', 'I', 'l', 'abc+', ' ']) assert.throws(() => decodeBase58(bad), /invalid base58/);
});
