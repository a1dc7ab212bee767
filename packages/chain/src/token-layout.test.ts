import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatUnits, parseUnits, uiTokenAmount } from './token-layout.ts';
import { stringifyJson } from './json.ts';

test('parseUnits turns decimal strings into exact raw units', () => {
  assert.equal(parseUnits('1', 6), 1_000_000n);
  assert.equal(parseUnits('1.5', 6), 1_500_000n);
  assert.equal(parseUnits('0.000001', 6), 1n);
  assert.equal(parseUnits('18446744073709.551615', 6), 2n ** 64n - 1n);
  assert.equal(parseUnits('7', 0), 7n);
  for (const bad of ['', '-1', '1e6', '0.0000001', '1.', 'abc', '0x10']) assert.throws(() => parseUnits(bad, 6), bad);
});

test('formatUnits trims trailing zeros and keeps leading ones', () => {
  assert.equal(formatUnits(1_500_000n, 6), '1.5');
  assert.equal(formatUnits(1n, 6), '0.000001');
  assert.equal(formatUnits(100_000_000_000n, 6), '100000');
  assert.equal(formatUnits(0n, 6), '0');
  assert.equal(formatUnits(42n, 0), '42');
});

test('uiTokenAmount has the RPC field set', () => {
  assert.deepEqual(uiTokenAmount(2_500_000n, 6), { amount: '2500000', decimals: 6, uiAmount: 2.5, uiAmountString: '2.5' });
});

test('stringifyJson writes bigints as exact JSON numbers', () => {
  assert.equal(stringifyJson({ a: 18446744073709551615n, b: [1, 'x', null, undefined], c: undefined }), '{"a":18446744073709551615,"b":[1,"x",null,null]}');
});
