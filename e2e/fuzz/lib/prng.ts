/**
 * A small seeded PRNG (mulberry32) and the picks the generators need. Every fuzz run is a pure function of
 * its seed: request i of a suite is generated from `forRequest(seed, suite, i)`, so one offending request
 * reproduces alone (ROMULUS_FUZZ_SEED=<seed>, its index is printed) without replaying the whole run.
 */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)];
  }
  /** Picks by weight: [[weight, value], ...]. */
  weighted<T>(xs: readonly (readonly [number, T])[]): T {
    let total = 0;
    for (const [w] of xs) total += w;
    let r = this.next() * total;
    for (const [w, v] of xs) if ((r -= w) < 0) return v;
    return xs[xs.length - 1][1];
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.next() * 256);
    return b;
  }
  /** A string of `n` characters drawn from `alphabet`. */
  str(n: number, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'): string {
    let s = '';
    for (let i = 0; i < n; i++) s += alphabet[Math.floor(this.next() * alphabet.length)];
    return s;
  }
}

/** FNV-1a of a string: folds the suite name into the seed. */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** The generator for request `index` of `suite` under `seed`. */
export function forRequest(seed: number, suite: string, index: number): Rng {
  const r = new Rng((seed ^ hash(suite) ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
  r.next();
  return r;
}

export const DEFAULT_SEED = 20240601;
export const DEFAULT_REQUESTS = 20_000;

export function fuzzSeed(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.ROMULUS_FUZZ_SEED;
  return v && /^\d+$/.test(v) ? Number(v) >>> 0 : DEFAULT_SEED;
}

export function fuzzRequests(env: NodeJS.ProcessEnv = process.env): number {
  const v = env.ROMULUS_FUZZ_REQUESTS;
  return v && /^\d+$/.test(v) ? Number(v) : DEFAULT_REQUESTS;
}
