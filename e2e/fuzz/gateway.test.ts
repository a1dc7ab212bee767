import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TestWallet } from '@romulus/gateway/testing';
import { METHODS, breakFraming, jsonSpec, mutate, toRaw, weirdBody, weirdHeader, weirdHost, weirdPath, weirdQuery, type Spec } from './lib/generators.ts';
import { json, startGatewayWorld, type GatewayWorld } from './lib/gateway-world.ts';
import { forRequest, fuzzRequests, fuzzSeed, type Rng } from './lib/prng.ts';
import { describe as describeRun, run } from './lib/runner.ts';

/**
 * The gateway API under hostile input: a real gateway process (real SQLite, real local chain) with the fake
 * node. Malformed requests over raw sockets and mutations of every route's valid request; then the books:
 * no 5xx, every error in the envelope, the process alive, and no agent, lock or spawn count that a failed
 * request left behind.
 */
const seed = fuzzSeed();
const count = fuzzRequests();
let w: GatewayWorld;

before(async () => {
  w = await startGatewayWorld();
});
after(async () => {
  await w?.close();
});

const ROUTES = ['/spawn', '/stop/x', '/status/x', '/usage/x', '/tiers', '/health', '/metrics', '/openapi.json', '/docs', '/docs/json', '/'];

test(`gateway API: ${count} hostile requests (seed ${seed})`, async () => {
  const fuzzWallets = [...w.rich, w.poor, w.broke];
  /** Agent ids seen in 201 answers, by wallet (so stop/status hit real agents). */
  const spawnedBy = new Map<string, string[]>(fuzzWallets.map((x) => [x.address, []]));
  const pendingSpawns = new Map<number, string>();
  const someId = (r: Rng) => {
    const all = [...spawnedBy.values()].flat();
    return r.weighted<() => string>([
      [4, () => (all.length ? r.pick(all) : w.agent.id)],
      [2, () => w.agent.id],
      [2, () => `${r.str(12, '0123456789abcdef')}-${r.str(12, '0123456789abcdef')}`],
      [1, () => r.pick(['x', 'A'.repeat(25), '..', '%2e%2e', 'ñ', '000000000000-00000000000g'])],
    ])();
  };

  const valid = (r: Rng, i: number): { spec: Spec; body?: unknown } => {
    const signer: TestWallet = r.weighted([
      [6, () => r.pick(w.rich)],
      [1, () => w.poor],
      [1, () => w.broke],
    ])();
    const signed = r.bool(0.9) ? w.signedHeaders(r, signer) : [];
    const host = `localhost:${w.port}`;
    const route = r.weighted([
      [5, 'spawn'],
      [3, 'stop'],
      [3, 'status'],
      [2, 'usage'],
      [1, 'info'],
    ] as const);
    if (route === 'spawn') {
      const body: Record<string, unknown> = { agent_type: r.weighted([[6, 'base'], [1, 'agent-chat'], [1, 'heavy'], [1, 'no-such-image'], [1, 'BASE']]) };
      if (r.bool(0.3)) body.secrets = { OPENAI_API_KEY: `sk-${r.str(20)}` };
      if (r.bool(0.3)) body.env = { MODE: r.str(5), [r.pick(['A', 'B_C', 'lower_ok'])]: 'v' };
      pendingSpawns.set(i, signer.address);
      return { spec: jsonSpec('POST', '/spawn', host, signed, body), body };
    }
    if (route === 'stop') return { spec: jsonSpec('POST', `/stop/${someId(r)}`, host, signed) };
    if (route === 'status') return { spec: jsonSpec('GET', `/status/${someId(r)}`, host, signed) };
    if (route === 'usage') {
      const whose = r.bool(0.8) ? signer.address : r.pick([w.owner.address, w.poor.address, 'x', '1'.repeat(45)]);
      return { spec: jsonSpec('GET', `/usage/${whose}`, host, signed) };
    }
    return { spec: jsonSpec('GET', r.pick(['/tiers', '/health', '/openapi.json', '/metrics', '/docs', '/docs/json']), host, []) };
  };

  const junk = (r: Rng): Spec => {
    const host = weirdHost(r, w.port, ['no-agent']);
    const headers: [string, string][] = host === null ? [] : [['host', host]];
    for (let k = r.int(0, 3); k > 0; k--) headers.push(weirdHeader(r));
    const body = r.bool(0.4) ? weirdBody(r, { agent_type: 'base' }) : undefined;
    if (body !== undefined && r.bool(0.7)) headers.push(['content-type', 'application/json']);
    const spec: Spec = { method: r.pick(METHODS), target: weirdPath(r, r.pick(ROUTES)) + weirdQuery(r), headers, body, clean: false, notes: ['junk'] };
    return spec;
  };

  const report = await run({
    suite: 'gateway',
    seed,
    count,
    concurrency: 24,
    client: w.client,
    alive: () => (w.target.exited() ? `gateway process exited: ${JSON.stringify(w.target.exited())}` : null),
    gen: (i) => {
      const r = forRequest(seed, 'gateway', i);
      const kind = r.weighted([
        [3, 'junk'],
        [2, 'valid'],
        [4, 'mutated'],
        [1, 'broken'],
      ] as const);
      if (kind === 'junk') return { req: toRaw(junk(r)), reuse: false };
      const { spec, body } = valid(r, i);
      if (kind === 'valid') return { req: toRaw({ ...spec, notes: ['valid'] }), reuse: true };
      if (kind === 'mutated') {
        const m = mutate(r, spec, body);
        return { req: toRaw(m), reuse: m.clean };
      }
      return { req: toRaw(breakFraming(r, spec)), reuse: false };
    },
    observe: (x) => {
      const wallet = pendingSpawns.get(x.index);
      pendingSpawns.delete(x.index);
      if (x.out.kind === 'response' && x.out.res.status === 201 && wallet) {
        const id = json(x.out.res)?.agent?.id;
        if (id) spawnedBy.get(wallet)!.push(id);
      }
    },
  });
  console.log(describeRun(report));

  // Cleanup through the API, then the books.
  const before = await w.target.call('snapshot', { wallets: fuzzWallets.map((x) => x.address) });
  for (const fw of fuzzWallets) {
    for (const a of before.wallets[fw.address].agents as { id: string; state: string }[]) {
      if (a.state === 'stopped' || a.state === 'failed') continue;
      const res = await w.request('POST', `/stop/${a.id}`, { wallet: fw });
      assert.ok([200, 202].includes(res.status), `cleanup stop ${a.id}: ${res.body}`);
    }
  }
  // Stop is asynchronous: wait (bounded) until no fuzz wallet has an agent on its way down.
  for (let i = 0; i < 200; i++) {
    const s = await w.target.call('snapshot', { wallets: fuzzWallets.map((x) => x.address) });
    const busy = fuzzWallets.some((fw) => (s.wallets[fw.address].agents as { state: string }[]).some((a) => a.state !== 'stopped' && a.state !== 'failed'));
    if (!busy) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const snap = await w.target.call('snapshot', { wallets: fuzzWallets.map((x) => x.address) });
  const problems: string[] = [];
  for (const fw of fuzzWallets) {
    const s = snap.wallets[fw.address];
    const ids = spawnedBy.get(fw.address)!;
    if (s.lock !== null) problems.push(`${fw.address}: wallet lock still held by ${s.lock}`);
    if (s.spawnCount !== ids.length) problems.push(`${fw.address}: ${s.spawnCount} spawns counted, ${ids.length} answered 201`);
    if (s.agents.length !== ids.length) problems.push(`${fw.address}: ${s.agents.length} agent records, ${ids.length} answered 201`);
    for (const a of s.agents) if (a.state !== 'stopped' && a.state !== 'failed') problems.push(`${a.id}: still ${a.state} after stop`);
  }
  const vmsLeft = snap.vms.filter((v: { id: string }) => v.id !== w.agent.id);
  if (vmsLeft.length) problems.push(`VMs left on the node: ${JSON.stringify(vmsLeft.slice(0, 5))}`);
  if (JSON.stringify(snap.active) !== JSON.stringify([w.agent.id])) problems.push(`active agents: ${JSON.stringify(snap.active)}`);
  // The owner's agent still answers: the run broke nothing for a bystander.
  const st = await w.request('GET', `/status/${w.agent.id}`, { wallet: w.owner });
  if (json(st)?.agent?.status !== 'running') problems.push(`owner's agent: ${st.status} ${st.body}`);

  assert.equal(w.target.exited(), null, 'the gateway process must still run');
  assert.deepEqual(report.violations, [], describeRun(report));
  assert.deepEqual(problems, []);
  assert.equal(w.target.errorCount(), 0, `error log lines:\n${w.target.errorLines().join('\n')}`);
});
