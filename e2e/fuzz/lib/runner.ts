import type { Outcome, RawClient, RawRequest } from './raw-http.ts';

/** One request the run made: what was sent and what came back. */
export interface Exchange {
  index: number;
  req: RawRequest;
  out: Outcome;
}

export interface Violation {
  index: number;
  why: string;
  label: string;
  got: string;
}

export interface RunReport {
  suite: string;
  seed: number;
  sent: number;
  byStatus: Record<string, number>;
  violations: Violation[];
  ms: number;
}

/** A response counts as the error envelope when it is JSON `{success:false, error:{code, message}}` (strings). */
export function isEnvelope(body: Buffer): boolean {
  try {
    const j = JSON.parse(body.toString('utf8'));
    return j?.success === false && typeof j.error?.code === 'string' && j.error.code.length > 0 && typeof j.error.message === 'string';
  } catch {
    return false;
  }
}

/**
 * The per-answer rules of every suite: no 5xx; every answer >= 400 in the envelope (unless `exempt`, e.g.
 * the agent's own answer behind an agent URL); no connection dropped unanswered unless the client hung up
 * mid-request itself; nothing left hanging.
 */
export function judge(x: Exchange, exempt: (x: Exchange) => boolean = () => false): string | null {
  const o = x.out;
  if (o.kind === 'hung') return 'no answer within the deadline';
  if (o.kind === 'dropped') return x.req.halfClose ? null : `connection closed unanswered${o.error ? ` (${o.error})` : ''}`;
  const { status } = o.res;
  if (status >= 500) return `answered ${status}`;
  // A HEAD answer has no body by definition; its status is still judged.
  if (status >= 400 && !x.req.head && !exempt(x) && !isEnvelope(o.res.body)) return `answered ${status} outside the error envelope`;
  return null;
}

/**
 * Sends `count` generated requests, `concurrency` at a time. `gen(i)` is deterministic in the seed; `reuse`
 * says whether the request may share a keep-alive connection. `observe` sees every exchange (to learn ids).
 */
export async function run(opts: {
  suite: string;
  seed: number;
  count: number;
  concurrency: number;
  client: RawClient;
  gen: (i: number) => { req: RawRequest; reuse: boolean } | Promise<{ req: RawRequest; reuse: boolean }>;
  observe?: (x: Exchange) => void;
  exempt?: (x: Exchange) => boolean;
  /** Checked every so often; a failure (the target process died) ends the run at once. */
  alive?: () => string | null;
}): Promise<RunReport> {
  const started = Date.now();
  // ROMULUS_FUZZ_DUMP=12,345: print those requests' bytes (to replay one by hand).
  const dump = new Set((process.env.ROMULUS_FUZZ_DUMP ?? '').split(',').filter(Boolean).map(Number));
  const byStatus: Record<string, number> = {};
  const violations: Violation[] = [];
  let next = 0;
  let dead: string | null = null;
  const worker = async () => {
    while (next < opts.count && !dead) {
      const i = next++;
      const { req, reuse } = await opts.gen(i);
      const out = await opts.client.send(req, reuse);
      if (dump.has(i)) console.log(`[fuzz] #${i} sent ${JSON.stringify(req.bytes.toString('latin1').slice(0, 3000))}\n  got ${JSON.stringify(out).slice(0, 1000)}`);
      const x: Exchange = { index: i, req, out };
      const key = out.kind === 'response' ? String(out.res.status) : out.kind;
      byStatus[key] = (byStatus[key] ?? 0) + 1;
      opts.observe?.(x);
      const why = judge(x, opts.exempt);
      if (why) {
        violations.push({
          index: i,
          why,
          label: req.label,
          got: out.kind === 'response' ? `${out.res.status} ${out.res.body.subarray(0, 300).toString('utf8')}` : out.kind === 'dropped' ? `dropped; partial=${JSON.stringify(out.partial)}` : 'hung',
        });
      }
      if (i % 500 === 0 && opts.alive) dead = opts.alive();
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  if (dead) violations.push({ index: next, why: dead, label: '(target process)', got: '' });
  return { suite: opts.suite, seed: opts.seed, sent: next, byStatus, violations, ms: Date.now() - started };
}

/** The run in a few lines; with violations, a sample of them, each reproducible from seed and index. */
export function describe(r: RunReport): string {
  const lines = [
    `[fuzz] ${r.suite}: ${r.sent} requests in ${(r.ms / 1000).toFixed(1)} s (seed ${r.seed}); answers: ${Object.entries(r.byStatus)
      .sort()
      .map(([k, v]) => `${k}×${v}`)
      .join(' ')}`,
  ];
  if (r.violations.length) {
    lines.push(`[fuzz] ${r.violations.length} violations (reproduce: ROMULUS_FUZZ_SEED=${r.seed}, request index as shown); first ones:`);
    const seen = new Map<string, number>();
    for (const v of r.violations) {
      const k = v.why;
      const n = seen.get(k) ?? 0;
      seen.set(k, n + 1);
      if (n < 4) lines.push(`  #${v.index} ${v.why}: ${v.label}\n      -> ${v.got.replace(/\s+/g, ' ').slice(0, 300)}`);
    }
    lines.push(`[fuzz] by kind: ${[...seen].map(([k, n]) => `${k}×${n}`).join('; ')}`);
  }
  return lines.join('\n');
}
