/** The shared base58 codec (what the SDK signs with) against @solana/kit's, which the SDK depends on anyway. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { getBase58Decoder, getBase58Encoder } from '@solana/kit';
import { decodeBase58, encodeBase58 } from '@romulus/shared';

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
