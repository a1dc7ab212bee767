/**
 * BalanceCache: the gateway's view of token balances. In front of a ChainReader it
 *  - keeps fresh values for ttlMs, and values below the lowest tier's minimum only for insufficientTtlMs
 *    (a user who just bought tokens should not wait long to be let in);
 *  - coalesces concurrent look-ups of one owner into one RPC call;
 *  - when the RPC fails, serves the last value marked `stale` while it is at most maxStaleMs old, and
 *    otherwise throws ChainUnavailableError (the gateway answers 503, never a guessed tier);
 *  - holds at most maxEntries owners, least recently used evicted first;
 *  - counts hits, misses, coalesced calls, stale answers and errors.
 * Time comes from an injectable clock so the behaviour is testable without sleeping.
 */
import { DEFAULT_TIERS } from '@romulus/shared';
import { ChainUnavailableError, type BalanceLookup, type ChainReader, type TokenBalance } from './types.ts';

export interface BalanceCacheOptions {
  /** Lifetime of a balance at or above the threshold (default 30 s). */
  ttlMs?: number;
  /** Lifetime of a balance below the threshold (default 5 s). */
  insufficientTtlMs?: number;
  /** Whole tokens under which a balance counts as insufficient: the lowest tier minimum (default: the document's basic tier). */
  insufficientBelowWhole?: bigint | number;
  /** How old a value may be and still be served when the RPC fails (default 5 min). */
  maxStaleMs?: number;
  /** Owners kept at most (default 10 000). */
  maxEntries?: number;
  now?: () => number;
  /** Called for every counted event, e.g. to bump a Prometheus counter. */
  onEvent?: (event: BalanceCacheEvent) => void;
}

export type BalanceCacheEvent = 'hit' | 'miss' | 'coalesced' | 'stale' | 'error';

export interface BalanceCacheStats {
  hits: number;
  misses: number;
  coalesced: number;
  stale: number;
  errors: number;
}

interface Entry {
  balance: TokenBalance;
  fetchedAt: number;
  expiresAt: number;
}

const lowestTierMin = () => Object.values(DEFAULT_TIERS).reduce((min, t) => Math.min(min, t.min), Number.POSITIVE_INFINITY);

export class BalanceCache {
  readonly stats: BalanceCacheStats = { hits: 0, misses: 0, coalesced: 0, stale: 0, errors: 0 };
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<BalanceLookup>>();
  private readonly ttlMs: number;
  private readonly insufficientTtlMs: number;
  private readonly threshold: bigint;
  private readonly maxStaleMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(
    private readonly reader: ChainReader,
    private readonly opts: BalanceCacheOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 30_000;
    this.insufficientTtlMs = opts.insufficientTtlMs ?? 5_000;
    const threshold = opts.insufficientBelowWhole ?? lowestTierMin();
    if (typeof threshold === 'number' && !(Number.isSafeInteger(threshold) && threshold >= 0)) {
      throw new Error(`insufficientBelowWhole must be a non-negative integer (the lowest tier minimum), got ${threshold}`);
    }
    this.threshold = BigInt(threshold);
    this.maxStaleMs = opts.maxStaleMs ?? 300_000;
    this.maxEntries = Math.max(1, opts.maxEntries ?? 10_000);
    this.now = opts.now ?? Date.now;
    if (this.ttlMs < 0 || this.insufficientTtlMs < 0 || this.maxStaleMs < 0) throw new Error('cache durations must be >= 0');
  }

  get size(): number {
    return this.entries.size;
  }

  /** The owner's balance: cached, coalesced, or bounded-stale. Throws ChainUnavailableError. */
  get(owner: string): Promise<BalanceLookup> {
    const entry = this.entries.get(owner);
    if (entry && this.now() < entry.expiresAt) {
      this.count('hit');
      this.touch(owner, entry);
      return Promise.resolve(lookup(entry, false));
    }
    const pending = this.inFlight.get(owner);
    if (pending) {
      this.count('coalesced');
      return pending;
    }
    this.count('miss');
    const p = this.fetch(owner).finally(() => this.inFlight.delete(owner));
    this.inFlight.set(owner, p);
    return p;
  }

  /** Forgets an owner's balance, e.g. after the gateway learns of a transfer. */
  invalidate(owner: string): void {
    this.entries.delete(owner);
  }

  private async fetch(owner: string): Promise<BalanceLookup> {
    let balance: TokenBalance;
    try {
      balance = await this.reader.getTokenBalance(owner);
    } catch (e) {
      if (!(e instanceof ChainUnavailableError)) throw e; // a caller bug (bad owner), not an outage
      this.count('error');
      const last = this.entries.get(owner);
      if (last && this.now() - last.fetchedAt <= this.maxStaleMs) {
        this.count('stale');
        return lookup(last, true);
      }
      throw e;
    }
    const fetchedAt = this.now();
    const whole = wholeTokens(balance);
    const entry: Entry = { balance, fetchedAt, expiresAt: fetchedAt + (whole < this.threshold ? this.insufficientTtlMs : this.ttlMs) };
    this.touch(owner, entry);
    return lookup(entry, false);
  }

  /** Re-inserts at the most-recently-used end and evicts from the other end. */
  private touch(owner: string, entry: Entry): void {
    this.entries.delete(owner);
    this.entries.set(owner, entry);
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  private count(event: BalanceCacheEvent): void {
    const key = ({ hit: 'hits', miss: 'misses', coalesced: 'coalesced', stale: 'stale', error: 'errors' } as const)[event];
    this.stats[key] += 1;
    this.opts.onEvent?.(event);
  }
}

function wholeTokens(b: TokenBalance): bigint {
  return b.raw / 10n ** BigInt(b.decimals);
}

function lookup(entry: Entry, stale: boolean): BalanceLookup {
  return { raw: entry.balance.raw, decimals: entry.balance.decimals, whole: wholeTokens(entry.balance), fetchedAt: entry.fetchedAt, stale };
}
