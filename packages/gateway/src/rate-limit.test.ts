import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBuckets } from './rate-limit.ts';

describe('TokenBuckets', () => {
  it('allows the burst, refuses beyond it, refills at the rate, keys independent', () => {
    let now = 1_000_000;
    const b = new TokenBuckets(3, 2, () => now);
    assert.deepEqual([b.take('a'), b.take('a'), b.take('a'), b.take('a')], [true, true, true, false]);
    assert.equal(b.take('b'), true);
    assert.equal(b.retryAfterSec('a'), 1);
    now += 500; // half a second at 2/s = one token
    assert.equal(b.take('a'), true);
    assert.equal(b.take('a'), false);
    now += 60_000;
    assert.deepEqual([b.take('a'), b.take('a'), b.take('a'), b.take('a')], [true, true, true, false], 'refills to the burst, not beyond');
  });
});
