import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { METHODS, breakFraming, mutate, toRaw, weirdBody, weirdHeader, weirdPath, weirdQuery, type Spec } from './lib/generators.ts';
import { json, startGatewayWorld, type GatewayWorld } from './lib/gateway-world.ts';
import { forRequest, fuzzRequests, fuzzSeed, type Rng } from './lib/prng.ts';
import { describe as describeRun, run, type Exchange } from './lib/runner.ts';

/**
 * Agent URLs under hostile input: the gateway's edge with a real registered agent (its VM on the fake node
 * points at a real HTTP + WebSocket upstream in the gateway process). Requests aim at that agent's host
 * with its token (Bearer, query, cookie), a wrong one, a broken one or none, at unknown agent hosts, and
 * try WebSocket upgrades. The agent's own answers (marked by the upstream) are not held to the envelope.
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

const fromAgent = (x: Exchange) => x.out.kind === 'response' && x.out.res.headers['x-fuzz-upstream'] === '1';

test(`ingress: ${count} hostile requests to agent URLs (seed ${seed})`, async () => {
  const { id, token } = w.agent;
  const hex = (r: Rng, n: number) => r.str(n, '0123456789abcdef');

  const spec = (r: Rng): Spec => {
    const host = r.weighted<() => string>([
      [14, () => w.host(id)],
      [1, () => w.host(`${hex(r, 12)}-${hex(r, 12)}`)],
      [1, () => w.host(id.toUpperCase())],
      [1, () => `${id}.localhost`],
      [1, () => w.host(r.pick(['x', 'ñ', 'a'.repeat(63), `${id}x`, '-', '%41']))],
    ])();
    const headers: [string, string][] = [['host', host]];
    let target = weirdPath(r, r.pick(['/', '/api/chat', '/v1/x/y', '/index.html'])) + weirdQuery(r);
    const cred = r.weighted([
      [4, 'bearer'],
      [2, 'query'],
      [2, 'cookie'],
      [2, 'wrong'],
      [2, 'none'],
      [2, 'broken'],
    ] as const);
    if (cred === 'bearer') headers.push(['authorization', `${r.pick(['Bearer', 'bearer', 'BEARER'])} ${token}`]);
    else if (cred === 'query') target += `${target.includes('?') ? '&' : '?'}romulus_token=${r.bool(0.8) ? encodeURIComponent(token) : token.slice(0, 10)}`;
    else if (cred === 'cookie') headers.push(['cookie', r.pick([`romulus_token=${encodeURIComponent(token)}`, `a=1; romulus_token=${token}; b=%zz`, `romulus_token=${token}%E0%A4%A`])]);
    else if (cred === 'wrong') headers.push(['authorization', `Bearer ${r.str(43, 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_')}`]);
    else if (cred === 'broken') headers.push(weirdHeader(r));
    const method = r.weighted([
      [6, () => 'GET'],
      [3, () => 'POST'],
      [2, () => r.pick(METHODS)],
    ])();
    let body: string | Buffer | undefined;
    if (method !== 'GET' && method !== 'HEAD' && r.bool(0.7)) {
      body = r.bool(0.5) ? JSON.stringify({ message: r.str(r.int(0, 100)) }) : weirdBody(r, { message: 'hi' });
      headers.push(['content-type', r.pick(['application/json', 'text/plain', 'application/octet-stream'])]);
    }
    if (r.bool(0.15)) {
      // A WebSocket handshake, well-formed or not.
      headers.push(['upgrade', r.pick(['websocket', 'websocket', 'WebSocket', 'h2c'])], ['connection', r.pick(['Upgrade', 'upgrade', 'keep-alive, Upgrade'])]);
      headers.push(['sec-websocket-version', r.pick(['13', '13', '8', 'x'])]);
      if (r.bool(0.85)) headers.push(['sec-websocket-key', r.bool(0.8) ? r.bytes(16).toString('base64') : r.str(10)]);
      return { method: 'GET', target, headers, clean: false, notes: ['upgrade', cred] };
    }
    return { method, target, headers, body, clean: true, notes: [cred] };
  };

  const report = await run({
    suite: 'ingress',
    seed,
    count,
    concurrency: 24,
    client: w.client,
    exempt: fromAgent,
    alive: () => (w.target.exited() ? `gateway process exited: ${JSON.stringify(w.target.exited())}` : null),
    gen: (i) => {
      const r = forRequest(seed, 'ingress', i);
      const s = spec(r);
      const kind = r.weighted([
        [5, 'plain'],
        [3, 'mutated'],
        [1, 'broken'],
      ] as const);
      const final = kind === 'plain' ? s : kind === 'mutated' ? mutate(r, s, { message: 'hi' }) : breakFraming(r, s);
      // The host header is the routing key: a mutation that dropped it is still an ingress-or-API request.
      return { req: toRaw(final), reuse: final.clean && !final.notes.includes('upgrade') };
    },
  });
  console.log(describeRun(report));
  const proxied = (report.byStatus['200'] ?? 0) + (report.byStatus['101'] ?? 0);

  const st = await w.request('GET', `/status/${id}`, { wallet: w.owner });
  const snap = await w.target.call('snapshot', { wallets: [w.owner.address] });
  assert.equal(w.target.exited(), null, 'the gateway process must still run');
  assert.deepEqual(report.violations, [], describeRun(report));
  assert.ok(proxied > count / 10, `the run reached the agent (${proxied} answers from it)`);
  assert.equal(json(st)?.agent?.status, 'running', 'the agent survived the run');
  assert.deepEqual(snap.active, [id], 'no agent appeared or disappeared');
  assert.equal(w.target.errorCount(), 0, `error log lines:\n${w.target.errorLines().join('\n')}`);
});
