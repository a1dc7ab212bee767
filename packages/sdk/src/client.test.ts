/**
 * The client against a small stand-in gateway on a real loopback listener: it verifies the signatures with
 * node:crypto, refuses replays like the real gateway, and answers in the documented shapes and errors.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { errorBody } from '@romulus/shared';
import { decodeBase58 } from '@romulus/shared';
import { RomulusClient } from './client.ts';
import { RomulusApiError, RomulusNetworkError, RomulusWaitError } from './errors.ts';
import { KeypairSigner } from './signer.ts';
import { agentFetch, agentBaseUrl } from './agent-fetch.ts';

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const owner = KeypairSigner.generate();
const stranger = KeypairSigner.generate();

let app: FastifyInstance;
let base: string;
const seenSignatures = new Set<string>();
const requests: { method: string; url: string; body: unknown; wallet?: string }[] = [];
let statusScript: string[] = [];

function authWallet(req: FastifyRequest): string | undefined {
  const wallet = req.headers['x-wallet'];
  const sig = req.headers['x-signature'];
  const ts = req.headers['x-timestamp'];
  if (typeof wallet !== 'string' || typeof sig !== 'string' || typeof ts !== 'string') return undefined;
  if (seenSignatures.has(sig)) throw Object.assign(new Error('replay'), { statusCode: 401, code: 'SIGNATURE_REPLAYED' });
  const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, decodeBase58(wallet)!]), format: 'der', type: 'spki' });
  if (!verify(null, Buffer.from(`romulus:${ts}`), key, decodeBase58(sig)!)) {
    throw Object.assign(new Error('bad signature'), { statusCode: 401, code: 'INVALID_SIGNATURE' });
  }
  seenSignatures.add(sig);
  return wallet;
}

const agentStatus = (status: string, wallet?: string) => ({
  id: 'ag-1',
  status,
  url: 'http://ag-1.localhost:8080',
  agent_type: 'base',
  spawned_at: 1700000000000,
  ...(wallet ? { wallet, tier: 'pro', cores: 4, memory: 4096 } : {}),
  ...(status === 'failed' ? { reason: 'guest did not become ready' } : {}),
});

before(async () => {
  app = Fastify();
  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    reply.status(err.statusCode ?? 500).send(errorBody(err.code ?? 'INTERNAL', err.message));
  });
  app.addHook('preHandler', async (req) => {
    requests.push({ method: req.method, url: req.url, body: req.body, wallet: authWallet(req) });
  });
  app.post('/spawn', async (req, reply) => {
    const wallet = requests.at(-1)!.wallet;
    if (!wallet) return reply.status(401).send(errorBody('MISSING_SIGNATURE', 'sign the request'));
    const body = req.body as { agent_type: string };
    if (body.agent_type === 'busy') return reply.status(409).send(errorBody('AGENT_EXISTS', 'wallet already has an agent', { agent_id: 'ag-0' }));
    return reply.status(201).send({
      success: true,
      agent: { id: 'ag-1', url: 'http://ag-1.localhost:8080', wallet, tier: 'pro', spawned_at: 1700000000000, agent_type: body.agent_type, status: 'starting', access_token: 'tok' },
      tier_config: { min: 1_000_000, cores: 4, memory: 4096 },
    });
  });
  app.get('/status/:id', async (req, reply) => {
    const wallet = requests.at(-1)!.wallet;
    if ((req.params as { id: string }).id !== 'ag-1') return reply.status(404).send(errorBody('NOT_FOUND', 'no such agent'));
    const next = statusScript.length > 1 ? statusScript.shift()! : (statusScript[0] ?? 'running');
    return { success: true, agent: agentStatus(next, wallet === owner.publicKey ? wallet : undefined) };
  });
  // Pushed status (GET /events/:id) for ag-push only; ag-1 has no stream, as with an older gateway.
  app.get('/events/ag-push', async (_req, reply) => {
    reply.hijack();
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream' });
    reply.raw.write(`: heartbeat\n\nevent: status\ndata: ${JSON.stringify(agentStatus('starting', owner.publicKey))}\n\n`);
    setTimeout(() => reply.raw.end(`event: status\ndata: ${JSON.stringify(agentStatus('running', owner.publicKey))}\n\n`), 20);
  });
  app.post('/stop/:id', async () => ({ success: true, agent: agentStatus('stopping', owner.publicKey) }));
  app.get('/usage/:wallet', async (req, reply) => {
    const wallet = (req.params as { wallet: string }).wallet;
    if (requests.at(-1)!.wallet !== wallet) return reply.status(403).send(errorBody('FORBIDDEN', 'not your wallet'));
    const figures = { spawn_count: 1, uptime_ms: 1234, vcpu_seconds: 4.9, mib_seconds: 5000 };
    return { success: true, usage: { wallet, totals: figures, agents: [{ id: 'ag-1', agent_type: 'base', status: 'stopped', ...figures }] } };
  });
  app.get('/tiers', async () => ({
    success: true,
    tiers: { basic: { min: 100000, cores: 1, memory: 1024 } },
    agent_types: [{ name: 'chat', image: 'agent-chat', min_cores: 1, min_memory: 1024 }],
  }));
  app.get('/health', async () => ({ status: 'ok', node: 'up' }));
  app.get('/broken', async () => ({ nope: true }));
  app.get('/proxy-error', async (_req, reply) => reply.status(502).type('text/html').send('<h1>Bad Gateway</h1>'));
  // Stands in for the ingress: echoes what reached it.
  app.get('/echo', async (req) => ({ host: req.headers.host, authorization: req.headers.authorization ?? null }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const addr = app.server.address() as { port: number };
  base = `http://127.0.0.1:${addr.port}`;
});
after(() => app.close());

test('spawn sends the documented body with fresh auth headers and parses the response', async () => {
  const c = new RomulusClient({ baseUrl: base + '/', signer: owner });
  const res = await c.spawn({ agent_type: 'base', secrets: { ANTHROPIC_API_KEY: 'sk-test' }, env: { MODE: 'x' } });
  assert.equal(res.agent.id, 'ag-1');
  assert.equal(res.agent.wallet, owner.publicKey);
  assert.equal(res.tier_config.cores, 4);
  const last = requests.at(-1)!;
  assert.deepEqual(last.body, { agent_type: 'base', secrets: { ANTHROPIC_API_KEY: 'sk-test' }, env: { MODE: 'x' } });
  assert.equal(last.wallet, owner.publicKey);
});

test('concurrent signed calls never reuse a signature (the server refuses replays)', async () => {
  const c = new RomulusClient({ baseUrl: base, signer: owner });
  const results = await Promise.all(Array.from({ length: 20 }, () => c.status('ag-1')));
  assert.equal(results.length, 20);
  for (const r of results) assert.equal(r.wallet, owner.publicKey);
});

test('409 carries the existing agent id', async () => {
  const c = new RomulusClient({ baseUrl: base, signer: owner });
  await assert.rejects(c.spawn({ agent_type: 'busy' }), (err: unknown) => {
    assert.ok(err instanceof RomulusApiError);
    assert.equal(err.status, 409);
    assert.equal(err.code, 'AGENT_EXISTS');
    assert.equal(err.agentId, 'ag-0');
    return true;
  });
});

test('status: signed gives the full view, unsigned the public one; 404 maps to an error', async () => {
  const signed = new RomulusClient({ baseUrl: base, signer: owner });
  assert.equal((await signed.status('ag-1')).tier, 'pro');
  assert.equal((await signed.status('ag-1', { signed: false })).tier, undefined);
  assert.equal(requests.at(-1)!.wallet, undefined);
  const anon = new RomulusClient({ baseUrl: base });
  assert.equal((await anon.status('ag-1')).wallet, undefined);
  await assert.rejects(anon.status('nope'), (e: unknown) => e instanceof RomulusApiError && e.status === 404 && e.code === 'NOT_FOUND');
});

test('usage defaults to the signer and a foreign wallet is refused', async () => {
  const c = new RomulusClient({ baseUrl: base, signer: owner });
  const u = await c.usage();
  assert.equal(u.wallet, owner.publicKey);
  assert.equal(u.totals.spawn_count, 1);
  await assert.rejects(c.usage(stranger.publicKey), (e: unknown) => e instanceof RomulusApiError && e.status === 403);
  await assert.rejects(new RomulusClient({ baseUrl: base }).usage(), /needs a signer/);
});

test('stop, tiers and health', async () => {
  const c = new RomulusClient({ baseUrl: base, signer: owner });
  assert.equal((await c.stop('ag-1')).status, 'stopping');
  assert.equal(requests.at(-1)!.url, '/stop/ag-1');
  const t = await c.tiers();
  assert.equal(t.tiers.basic.cores, 1);
  assert.equal(t.agent_types[0].image, 'agent-chat');
  assert.equal((await c.health()).status, 'ok');
});

test('waitForStatus follows the agent to running, and gives up on failed', async () => {
  const c = new RomulusClient({ baseUrl: base, signer: owner });
  statusScript = ['starting', 'starting', 'running'];
  const seen: string[] = [];
  const a = await c.waitForStatus('ag-1', 'running', { intervalMs: 10, onStatus: (s) => seen.push(s.status) });
  assert.equal(a.status, 'running');
  assert.deepEqual(seen, ['starting', 'starting', 'running']);
  statusScript = ['starting', 'failed'];
  await assert.rejects(c.waitForStatus('ag-1', 'running', { intervalMs: 10 }), (e: unknown) => {
    assert.ok(e instanceof RomulusWaitError);
    assert.equal(e.lastStatus, 'failed');
    assert.match(e.message, /guest did not become ready/);
    return true;
  });
  statusScript = ['starting'];
  await assert.rejects(c.waitForStatus('ag-1', 'running', { intervalMs: 10, timeoutMs: 50 }), /still starting/);
  statusScript = [];
});

test('responses off the contract, non-JSON errors and unreachable gateways get distinct errors', async () => {
  const c = new RomulusClient({ baseUrl: base, signer: owner });
  const raw = c as unknown as { request: (m: string, p: string, s: unknown, o: unknown) => Promise<unknown> };
  const { Type } = await import('typebox');
  await assert.rejects(raw.request('GET', '/broken', Type.Object({ success: Type.Literal(true) }), { signed: false }), (e: unknown) => e instanceof RomulusApiError && e.code === 'BAD_RESPONSE');
  await assert.rejects(raw.request('GET', '/proxy-error', Type.Object({}), { signed: false }), (e: unknown) => e instanceof RomulusApiError && e.status === 502 && e.code === 'HTTP_502' && /Bad Gateway/.test(e.message));
  // A port nothing listens on (ours, after closing a throwaway server).
  const tmp = Fastify();
  await tmp.listen({ host: '127.0.0.1', port: 0 });
  const deadPort = (tmp.server.address() as { port: number }).port;
  await tmp.close();
  await assert.rejects(new RomulusClient({ baseUrl: `http://127.0.0.1:${deadPort}` }).tiers(), (e: unknown) => e instanceof RomulusNetworkError && /ECONNREFUSED/.test(e.message));
  assert.throws(() => new RomulusClient({ baseUrl: 'ftp://x' }), /http/);
  assert.throws(() => new RomulusClient({ baseUrl: 'not a url' }), /invalid gateway URL/);
});

test('agentFetch sends the bearer token with the agent host name, resolving *.localhost to loopback', async () => {
  const port = new URL(base).port;
  const res = await agentFetch(`http://ag-1.localhost:${port}`, 'secret-token', '/echo');
  assert.equal(res.status, 200);
  assert.deepEqual(res.json(), { host: `ag-1.localhost:${port}`, authorization: 'Bearer secret-token' });
  const anon = await agentFetch(`http://ag-1.localhost:${port}`, '', '/echo');
  assert.equal(anon.json<{ authorization: null }>().authorization, null);
  assert.equal(agentBaseUrl('abc.romulus.ai').toString(), 'https://abc.romulus.ai/');
  assert.equal(agentBaseUrl('abc.localhost:8080').toString(), 'http://abc.localhost:8080/');
});

test('waitForStatus follows the pushed events when the gateway has them, and polls when it does not', async () => {
  const c = new RomulusClient({ baseUrl: base, signer: owner });
  const seen: string[] = [];
  const before = requests.length;
  const a = await c.waitForStatus('ag-push', 'running', { intervalMs: 10, onStatus: (s) => seen.push(s.status) });
  assert.equal(a.status, 'running');
  assert.deepEqual(seen, ['starting', 'running']);
  assert.deepEqual(requests.slice(before).map((r) => r.url), ['/events/ag-push'], 'no polling while events flow');
  const pushed: string[] = [];
  for await (const s of c.statusEvents('ag-push')) pushed.push(s.status);
  assert.deepEqual(pushed, ['starting', 'running']);
  await assert.rejects(
    (async () => {
      for await (const _ of c.statusEvents('ag-1')) void _;
    })(),
    (e: unknown) => e instanceof RomulusApiError && e.status === 404,
  );
});
