import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BalanceCache } from './balance-cache.ts';
import { ChainUnavailableError, type ChainReader, type TokenBalance } from './types.ts';

/** A reader whose answers the test controls: a balance per owner, or an outage; calls are counted and can be held open. */
class FakeReader implements ChainReader {
  calls = 0;
  balances = new Map<string, bigint>();
  down = false;
  private gate: Promise<void> | null = null;
  private release: (() => void) | null = null;

  hold(): void {
    this.gate = new Promise((r) => (this.release = r));
  }
  open(): void {
    this.release?.();
    this.gate = null;
  }
  async getTokenBalance(owner: string): Promise<TokenBalance> {
    this.calls += 1;
    if (this.gate) await this.gate;
    if (this.down) throw new ChainUnavailableError('rpc down');
    return { raw: this.balances.get(owner) ?? 0n, decimals: 6 };
  }
}

const WHALE = 'whale';
const SHRIMP = 'shrimp';
const M = 1_000_000n; // one whole token in raw units at 6 decimals

function setup(opts: ConstructorParameters<typeof BalanceCache>[1] = {}) {
  let t = 1_000_000;
  const reader = new FakeReader();
  reader.balances.set(WHALE, 200_000n * M);
  reader.balances.set(SHRIMP, 5n * M);
  const cache = new BalanceCache(reader, { ttlMs: 30_000, insufficientTtlMs: 5_000, insufficientBelowWhole: 100_000, maxStaleMs: 300_000, now: () => t, ...opts });
  return { reader, cache, advance: (ms: number) => (t += ms) };
}

test('a fresh balance is served from cache until its TTL ends', async () => {
  const { reader, cache, advance } = setup();
  const first = await cache.get(WHALE);
  assert.equal(first.raw, 200_000n * M);
  assert.equal(first.whole, 200_000n);
  assert.equal(first.stale, false);
  advance(29_999);
  await cache.get(WHALE);
  assert.equal(reader.calls, 1);
  advance(1);
  await cache.get(WHALE);
  assert.equal(reader.calls, 2);
  assert.deepEqual(cache.stats, { hits: 1, misses: 2, coalesced: 0, stale: 0, errors: 0 });
});

test('an insufficient balance expires after the shorter TTL, so new tokens are seen soon', async () => {
  const { reader, cache, advance } = setup();
  assert.equal((await cache.get(SHRIMP)).whole, 5n);
  advance(4_999);
  await cache.get(SHRIMP);
  assert.equal(reader.calls, 1);
  reader.balances.set(SHRIMP, 150_000n * M);
  advance(1);
  assert.equal((await cache.get(SHRIMP)).whole, 150_000n);
  assert.equal(reader.calls, 2);
});

test('N concurrent look-ups of one owner make one reader call', async () => {
  const { reader, cache } = setup();
  reader.hold();
  const all = Array.from({ length: 25 }, () => cache.get(WHALE));
  reader.open();
  const results = await Promise.all(all);
  assert.equal(reader.calls, 1);
  assert.ok(results.every((r) => r.raw === 200_000n * M));
  assert.equal(cache.stats.coalesced, 24);
  assert.equal(cache.stats.misses, 1);
});

test('different owners are not coalesced together', async () => {
  const { reader, cache } = setup();
  reader.hold();
  const p = Promise.all([cache.get(WHALE), cache.get(SHRIMP)]);
  reader.open();
  const [w, s] = await p;
  assert.equal(reader.calls, 2);
  assert.equal(w.whole, 200_000n);
  assert.equal(s.whole, 5n);
});

test('coalesced callers all see the outage when there is nothing cached', async () => {
  const { reader, cache } = setup();
  reader.down = true;
  reader.hold();
  const all = Array.from({ length: 5 }, () => cache.get(WHALE));
  reader.open();
  const settled = await Promise.allSettled(all);
  assert.equal(reader.calls, 1);
  for (const s of settled) {
    assert.equal(s.status, 'rejected');
    assert.ok((s as PromiseRejectedResult).reason instanceof ChainUnavailableError);
  }
});

test('on RPC failure the last value is served marked stale, within maxStaleMs', async () => {
  const { reader, cache, advance } = setup();
  await cache.get(WHALE);
  reader.down = true;
  advance(60_000);
  const stale = await cache.get(WHALE);
  assert.equal(stale.stale, true);
  assert.equal(stale.raw, 200_000n * M);
  advance(240_000); // exactly maxStaleMs after the fetch
  assert.equal((await cache.get(WHALE)).stale, true);
  assert.equal(cache.stats.stale, 2);
  assert.equal(cache.stats.errors, 2);
});

test('beyond maxStaleMs an RPC failure is ChainUnavailableError, never an old tier', async () => {
  const { reader, cache, advance } = setup();
  await cache.get(WHALE);
  reader.down = true;
  advance(300_001);
  await assert.rejects(cache.get(WHALE), ChainUnavailableError);
  reader.down = false;
  const fresh = await cache.get(WHALE);
  assert.equal(fresh.stale, false);
});

test('with no cached value an RPC failure is ChainUnavailableError', async () => {
  const { reader, cache } = setup();
  reader.down = true;
  await assert.rejects(cache.get(SHRIMP), ChainUnavailableError);
  assert.equal(cache.size, 0);
});

test('a recovered RPC replaces the stale value', async () => {
  const { reader, cache, advance } = setup();
  await cache.get(WHALE);
  reader.down = true;
  advance(31_000);
  assert.equal((await cache.get(WHALE)).stale, true);
  reader.down = false;
  reader.balances.set(WHALE, 1n);
  const fresh = await cache.get(WHALE);
  assert.equal(fresh.stale, false);
  assert.equal(fresh.raw, 1n);
});

test('errors that are not outages (a bad owner) pass through and are not served stale', async () => {
  const reader: ChainReader = { getTokenBalance: async () => { throw new TypeError('bad owner'); } };
  const cache = new BalanceCache(reader);
  await assert.rejects(cache.get('x'), TypeError);
  assert.equal(cache.stats.errors, 0);
});

test('the cache holds at most maxEntries owners, evicting the least recently used', async () => {
  const { reader, cache } = setup({ maxEntries: 3 });
  for (const o of ['a', 'b', 'c']) await cache.get(o);
  await cache.get('a'); // a is now most recent; b is the oldest
  await cache.get('d');
  assert.equal(cache.size, 3);
  const before = reader.calls;
  await cache.get('a');
  await cache.get('c');
  await cache.get('d');
  assert.equal(reader.calls, before, 'a, c and d are still cached');
  await cache.get('b');
  assert.equal(reader.calls, before + 1, 'b was evicted');
});

test('events are reported to the callback as they are counted', async () => {
  const events: string[] = [];
  const { cache } = setup({ onEvent: (e) => events.push(e) });
  await cache.get(WHALE);
  await cache.get(WHALE);
  assert.deepEqual(events, ['miss', 'hit']);
});

test('the default threshold is the lowest default tier minimum', async () => {
  let t = 0;
  const reader = new FakeReader();
  reader.balances.set('just-under', 99_999n * M);
  reader.balances.set('at', 100_000n * M);
  const cache = new BalanceCache(reader, { ttlMs: 30_000, insufficientTtlMs: 5_000, now: () => t });
  await cache.get('just-under');
  await cache.get('at');
  t = 5_000;
  await cache.get('just-under');
  await cache.get('at');
  assert.equal(reader.calls, 3, 'only the insufficient balance was fetched again');
});

test('a threshold that is not a whole number of tokens is refused at construction', () => {
  assert.throws(() => new BalanceCache(new FakeReader(), { insufficientBelowWhole: Math.min() }), /non-negative integer/);
  assert.throws(() => new BalanceCache(new FakeReader(), { insufficientBelowWhole: 1.5 }), /non-negative integer/);
});
