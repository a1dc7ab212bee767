import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TIERS, lowestTierMin, tierFor } from './tiers.ts';

test('the lowest tier is the smallest minimum, and a holding below it earns no tier', () => {
  assert.equal(lowestTierMin(), 100_000);
  const tiers = { big: { min: 50, cores: 2, memory: 2048 }, small: { min: 7, cores: 1, memory: 512 } };
  assert.equal(lowestTierMin(tiers), 7);
  assert.equal(tierFor(6n, tiers), null);
  assert.equal(tierFor(7n, tiers)?.name, 'small');
  assert.equal(tierFor(BigInt(lowestTierMin()) - 1n, DEFAULT_TIERS), null);
  assert.equal(lowestTierMin({}), Infinity);
});
