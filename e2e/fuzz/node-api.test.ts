import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { METHODS, breakFraming, jsonSpec, mutate, toRaw, weirdBody, weirdHeader, weirdPath, weirdQuery, type Spec } from './lib/generators.ts';
import { forRequest, fuzzRequests, fuzzSeed, type Rng } from './lib/prng.ts';
import { RawClient } from './lib/raw-http.ts';
import { describe as describeRun, run } from './lib/runner.ts';
import { startTarget, type Target } from './lib/target.ts';

/**
 * The node API under hostile input: the real daemon (fake VMM driver and network, no VM boots) in its own
 * process. Malformed requests and mutations of every route's valid request, with and without the token;
 * afterwards every VM is deleted through the API and nothing may remain: no VM record, live fake VMM, TAP,
 * firewall rule, state dir or allocated capacity.
 */
const seed = fuzzSeed();
const count = fuzzRequests();
let target: Target;
let port = 0;
let token = '';
let client: RawClient;

before(async () => {
  const t = await startTarget(path.join(import.meta.dirname, 'targets', 'node-target.ts'), {});
  target = t.target;
  port = t.ready.port;
  token = t.ready.token;
  client = new RawClient(port);
});
after(async () => {
  client?.close();
  await target?.close();
});

const ROUTES = ['/v1/vms', '/v1/vms/abc', '/v1/vms/abc/stop', '/v1/vms/abc/wait', '/v1/vms/abc/exec', '/v1/capacity', '/v1/images', '/v1/health', '/metrics', '/'];

test(`node API: ${count} hostile requests (seed ${seed})`, async () => {
  const created: string[] = [];
  const pending = new Set<number>();
  const host = () => `127.0.0.1:${port}`;
  const someId = (r: Rng) =>
    r.weighted<() => string>([
      [5, () => (created.length ? r.pick(created) : 'vm-none')],
      [2, () => `vm-${r.str(8)}`],
      [1, () => r.pick(['ab', 'A'.repeat(10), 'x'.repeat(64), '-abc', 'ñññ', '..', '%2e%2e', 'a_b'])],
    ])();
  const auth = (r: Rng): [string, string][] =>
    r.weighted<() => [string, string][]>([
      [8, () => [['authorization', `Bearer ${token}`]]],
      [1, () => [['authorization', r.pick([`Bearer ${token}x`, 'Bearer', `bearer ${token}`, `Basic ${token}`, `Bearer  ${token} `])]]],
      [1, () => []],
    ])();

  const valid = (r: Rng, i: number): { spec: Spec; body?: unknown } => {
    const a = auth(r);
    const route = r.weighted([
      [4, 'create'],
      [2, 'get'],
      [2, 'stop'],
      [2, 'delete'],
      [2, 'wait'],
      [2, 'exec'],
      [1, 'list'],
      [1, 'info'],
    ] as const);
    if (route === 'create') {
      const body: Record<string, unknown> = { image: r.weighted([[6, 'testimg'], [1, 'bigimg'], [1, 'nope']]), vcpus: r.pick([1, 1, 2, 8]), memoryMib: r.pick([128, 256, 512, 4096]) };
      if (r.bool(0.5)) body.id = `vm-${r.str(10)}`;
      if (r.bool(0.3)) body.env = { MODE: r.str(4) };
      if (r.bool(0.3)) body.secrets = { API_KEY: r.str(12) };
      if (r.bool(0.2)) body.metadata = { owner: r.str(6) };
      if (r.bool(0.2)) body.diskMib = r.pick([16, 64, 100]);
      pending.add(i);
      return { spec: jsonSpec('POST', '/v1/vms', host(), a, body), body };
    }
    if (route === 'get') return { spec: jsonSpec('GET', `/v1/vms/${someId(r)}`, host(), a) };
    if (route === 'stop') return { spec: jsonSpec('POST', `/v1/vms/${someId(r)}/stop`, host(), a) };
    if (route === 'delete') return { spec: jsonSpec('DELETE', `/v1/vms/${someId(r)}`, host(), a) };
    if (route === 'wait') return { spec: jsonSpec('GET', `/v1/vms/${someId(r)}/wait?state=${r.pick(['running', 'stopped', 'failed'])}&timeoutMs=${r.pick(['0', '50', '200'])}`, host(), a) };
    if (route === 'exec') {
      const body = { argv: r.pick([['echo', 'hi'], ['printenv', 'MODE'], ['true']]), timeoutMs: r.pick([100, 1000]), ...(r.bool(0.3) ? { asWorkloadUser: r.bool() } : {}) };
      return { spec: jsonSpec('POST', `/v1/vms/${someId(r)}/exec`, host(), a, body), body };
    }
    if (route === 'list') return { spec: jsonSpec('GET', '/v1/vms', host(), a) };
    return { spec: jsonSpec('GET', r.pick(['/v1/capacity', '/v1/images', '/v1/health', '/metrics']), host(), a) };
  };

  const junk = (r: Rng): Spec => {
    const headers: [string, string][] = r.bool(0.85) ? [['host', r.pick([host(), 'localhost', '', 'a b', 'x'.repeat(300)])]] : [];
    if (r.bool(0.7)) headers.push(...auth(r));
    for (let k = r.int(0, 3); k > 0; k--) headers.push(weirdHeader(r));
    const body = r.bool(0.4) ? weirdBody(r, { image: 'testimg', vcpus: 1, memoryMib: 128 }) : undefined;
    if (body !== undefined && r.bool(0.7)) headers.push(['content-type', 'application/json']);
    return { method: r.pick(METHODS), target: weirdPath(r, r.pick(ROUTES)) + weirdQuery(r), headers, body, clean: false, notes: ['junk'] };
  };

  const report = await run({
    suite: 'node-api',
    seed,
    count,
    concurrency: 24,
    client,
    alive: () => (target.exited() ? `node process exited: ${JSON.stringify(target.exited())}` : null),
    gen: (i) => {
      const r = forRequest(seed, 'node-api', i);
      const kind = r.weighted([
        [3, 'junk'],
        [2, 'valid'],
        [4, 'mutated'],
        [1, 'broken'],
      ] as const);
      if (kind === 'junk') return { req: toRaw(junk(r)), reuse: false };
      const { spec, body } = valid(r, i);
      if (kind === 'valid') return { req: toRaw({ ...spec, notes: ['valid'] }), reuse: true };
      pending.delete(i);
      if (kind === 'mutated') {
        const m = mutate(r, spec, body);
        return { req: toRaw(m), reuse: m.clean };
      }
      return { req: toRaw(breakFraming(r, spec)), reuse: false };
    },
    observe: (x) => {
      if (!pending.delete(x.index)) return;
      if (x.out.kind === 'response' && x.out.res.status === 201) {
        const id = JSON.parse(x.out.res.body.toString()).id;
        if (id) created.push(id);
      }
    },
  });
  console.log(describeRun(report));

  // Delete whatever exists through the API, then nothing may remain.
  const list = await client.send(toRaw(jsonSpec('GET', '/v1/vms', host(), [['authorization', `Bearer ${token}`]])), false);
  assert.equal(list.kind, 'response');
  const vms: { id: string }[] = list.kind === 'response' ? JSON.parse(list.res.body.toString()).vms : [];
  for (const vm of vms) {
    const del = await client.send(toRaw(jsonSpec('DELETE', `/v1/vms/${vm.id}`, host(), [['authorization', `Bearer ${token}`]])), false);
    assert.ok(del.kind === 'response' && del.res.status === 200, `delete ${vm.id}: ${JSON.stringify(del)}`);
  }
  const snap = await target.call('snapshot');
  assert.equal(target.exited(), null, 'the node process must still run');
  assert.deepEqual(report.violations, [], describeRun(report));
  assert.ok(created.length > 0, 'some creates got through validation');
  assert.deepEqual(
    { vms: snap.vms, liveVmms: snap.liveVmms, taps: snap.taps, rules: snap.rules, stateDirs: snap.stateDirs, vcpus: snap.capacity.vcpus.allocated, mib: snap.capacity.memoryMib.allocated },
    { vms: [], liveVmms: 0, taps: [], rules: [], stateDirs: [], vcpus: 0, mib: 0 },
  );
  assert.equal(target.errorCount(), 0, `error log lines:\n${target.errorLines().join('\n')}`);
});
