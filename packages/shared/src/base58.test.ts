import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBase58, encodeBase58 } from './base58.ts';

test('base58 round-trips bytes with leading zeros', () => {
  for (const bytes of [new Uint8Array([0, 0, 1, 2]), new Uint8Array(32).fill(255), new Uint8Array(Buffer.from('romulus')), new Uint8Array(0)]) {
    assert.deepEqual(decodeBase58(encodeBase58(bytes)), bytes);
  }
});

test('base58 known vectors', () => {
  assert.equal(encodeBase58(new Uint8Array(32)), '11111111111111111111111111111111'); // the system program id
  assert.equal(encodeBase58(new TextEncoder().encode('Hello World!')), '2NEpo7TZRRrLZSi2U');
  assert.equal(encodeBase58(Buffer.from('hello world')), 'StV1DL6CwTryKyV');
  assert.deepEqual(decodeBase58(''), new Uint8Array(0));
});

test('base58 decodes a character outside the alphabet to null', () => {
  for (const bad of ['0', 'O', 'I', 'l', 'abc+', ' ', '0OIl', 'é']) assert.equal(decodeBase58(bad), null, bad);
});
