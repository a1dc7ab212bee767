import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WebSocketServer, WebSocket } from 'ws';
import { createLogger, readServerSentEvents } from '@romulus/shared';
import { ChainUnavailableError, type BalanceLookup } from './chain/types.ts';
import { startGateway, type Gateway } from './gateway.ts';
import { SqliteStore } from './store/sqlite.ts';
import { FakeNode, testImage } from './testing/fake-node.ts';
import { eventually, request } from './testing/http.ts';
import { TestWallet } from './testing/wallet.ts';

/**
 * The gateway through real HTTP on loopback with a real SQLite store and real Ed25519 signatures; the node
 * and the chain are fakes here (the e2e suite runs the real ones). The fake node speaks the node API over
 * HTTP to the gateway's real node client and answers a create `creating` without an address, as the real
 * node does; the tests move its VMs on.
 */
const dir = mkdtempSync(path.join(tmpdir(), 'romulus-gw-test-'));
const balances = new Map<string, bigint>();
let chainDown = false;
const node = new FakeNode([testImage('base'), testImage('agent-chat', 1, 1024), testImage('heavy', 4, 4096)]);
let upstream: http.Server;
let upstreamSeen: { url: string; headers: http.IncomingHttpHeaders }[] = [];
let wss: WebSocketServer;
let gw: Gateway;
let store: SqliteStore;

const rich = new TestWallet();

function fund(w: TestWallet, whole: number) {
  balances.set(w.address, BigInt(whole));
}

async function until(what: string, cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`never happened: ${what}`);
}

async function spawn(w: TestWallet, body: unknown = { agent_type: 'base' }, ts?: number) {
  return request(`${gw.url}/spawn`, {
    method: 'POST',
    headers: { ...w.headers({ ts }), 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function signed(w: TestWallet, method: string, p: string) {
  return request(`${gw.url}${p}`, { method, headers: w.headers() });
}

async function startGw() {
  return startGateway(
    {
      listen: { host: '127.0.0.1', port: 0 },
      node: { url: node.url, token: node.token, id: node.nodeId },
      chain: { rpcUrl: 'http://127.0.0.1:9', mint: '11111111111111111111111111111111' },
      lifecycle: { reconcileIntervalMs: 100, missingVmGraceMs: 500, startTimeoutMs: 60_000, nodeTimeoutMs: 2000 },
      limits: { bodyLimitBytes: 16 * 1024, perIp: { burst: 10_000, perSec: 10_000 }, perWallet: { burst: 10_000, perSec: 10_000 } },
      logLevel: 'warn',
    },
    {
      store,
      log: createLogger('gateway-test', { level: 'warn' }),
      balances: {
        async lookup(owner): Promise<BalanceLookup> {
          if (chainDown) throw new ChainUnavailableError('rpc down');
          const whole = balances.get(owner) ?? 0n;
          return { raw: whole * 10n ** 6n, decimals: 6, whole, fetchedAt: Date.now(), stale: false };
        },
      },
    },
  );
}

before(async () => {
  upstream = http.createServer((req, res) => {
    upstreamSeen.push({ url: req.url ?? '', headers: req.headers });
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`agent says hi to ${req.url}`);
  });
  wss = new WebSocketServer({ server: upstream });
  wss.on('connection', (sock, req) => {
    upstreamSeen.push({ url: req.url ?? '', headers: req.headers });
    sock.on('message', (m) => sock.send(`echo:${m}`));
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  await node.start();
  store = new SqliteStore({ path: path.join(dir, 'romulus.db') });
  gw = await startGw();
});

after(async () => {
  await gw?.close();
  await store?.close();
  await node.close();
  wss?.close();
  upstream?.closeAllConnections();
  await new Promise((r) => upstream?.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('gateway API (fake node, fake chain, real SQLite and signatures)', () => {
  let agentId = '';
  let token = '';

  it('spawns: 201 with the document\'s shape plus access_token, secrets forwarded not stored', async () => {
    fund(rich, 600_000);
    const secret = 'sk-test-' + 'q'.repeat(24);
    const r = await spawn(rich, { agent_type: 'base', secrets: { ANTHROPIC_API_KEY: secret }, env: { MODE: 'x' } });
    assert.equal(r.status, 201, r.body);
    const a = r.json.agent;
    assert.equal(r.json.success, true);
    assert.match(a.id, /^[a-f0-9]{12}-[a-f0-9]{12}$/);
    assert.equal(a.url, `http://${a.id}.localhost:${gw.port}`);
    assert.equal(a.wallet, rich.address);
    assert.equal(a.tier, 'standard');
    assert.equal(a.status, 'starting');
    assert.equal(typeof a.spawned_at, 'number');
    assert.ok(a.access_token.length >= 40);
    assert.deepEqual(r.json.tier_config, { min: 500_000, cores: 2, memory: 2048 });
    const vm = node.vms.get(a.id)!;
    assert.equal(vm.vcpus, 2);
    assert.equal(vm.memoryMib, 2048);
    assert.equal(vm.metadata.romulus_agent_id, a.id);
    assert.equal(node.receivedSecrets.get(a.id)!.ANTHROPIC_API_KEY, secret);
    const dbBytes = readFileSync(path.join(dir, 'romulus.db'));
    assert.equal(dbBytes.includes(secret), false, 'secret must not be in the store');
    assert.equal(dbBytes.includes(a.access_token), false, 'access token must not be in the store');
    agentId = a.id;
    token = a.access_token;
  });

  it('a second spawn from the same wallet is 409 with the active agent id', async () => {
    const r = await spawn(rich);
    assert.equal(r.status, 409);
    assert.equal(r.json.error.code, 'AGENT_EXISTS');
    assert.equal(r.json.error.agent_id, agentId);
  });

  it('status: public view for anyone, full for the signed owner', async () => {
    const pub = await request(`${gw.url}/status/${agentId}`);
    assert.equal(pub.status, 200);
    assert.deepEqual(Object.keys(pub.json.agent).sort(), ['agent_type', 'id', 'spawned_at', 'status', 'url']);
    const stranger = await signed(new TestWallet(), 'GET', `/status/${agentId}`);
    assert.equal(stranger.json.agent.wallet, undefined);
    const own = await signed(rich, 'GET', `/status/${agentId}`);
    assert.equal(own.json.agent.wallet, rich.address);
    assert.equal(own.json.agent.cores, 2);
    const forged = await request(`${gw.url}/status/${agentId}`, { headers: { ...rich.headers(), 'x-signature': new TestWallet().headers()['x-signature'] } });
    assert.equal(forged.status, 401);
  });

  it('agent URL refuses without a token and before the agent is running', async () => {
    const host = `${agentId}.localhost`;
    const before = upstreamSeen.length;
    const none = await request(`${gw.url}/`, { host });
    assert.equal(none.status, 401);
    assert.equal(none.json.error.code, 'MISSING_TOKEN');
    const starting = await request(`${gw.url}/`, { host, headers: { authorization: `Bearer ${token}` } });
    assert.equal(starting.status, 503);
    assert.equal(upstreamSeen.length, before);
  });

  it('follows the VM to running (watcher), then the agent URL proxies with the token only', async () => {
    const port = (upstream.address() as any).port;
    node.setState(agentId, 'running', { ip: '127.0.0.1', agentPort: port });
    await eventually(async () => (await store.getAgent(agentId))?.state === 'running');
    const host = `${agentId}.localhost`;
    const before = upstreamSeen.length;
    assert.equal((await request(`${gw.url}/x`, { host, headers: { authorization: 'Bearer wrong' } })).status, 401);
    assert.equal((await request(`${gw.url}/x`, { host: `ffffffffffff-ffffffffffff.localhost`, headers: { authorization: `Bearer ${token}` } })).status, 401);
    assert.equal(upstreamSeen.length, before, 'refused requests never reach the agent');

    const ok = await request(`${gw.url}/hello?a=1`, {
      host,
      headers: { authorization: `Bearer ${token}`, cookie: 'theirs=1', 'x-forwarded-for': '203.0.113.7', forwarded: 'for=203.0.113.7' },
    });
    assert.equal(ok.status, 200);
    assert.equal(ok.body, 'agent says hi to /hello?a=1');
    const seen = upstreamSeen.at(-1)!;
    assert.equal(seen.headers.authorization, undefined, 'token header stripped');
    assert.equal(seen.headers.cookie, 'theirs=1');
    // No forwarding headers by default (OpenClaw refuses forwarded requests from an untrusted proxy), and the
    // client's own are dropped rather than passed on as if the ingress vouched for them.
    assert.equal(seen.headers['x-forwarded-for'], undefined, 'client X-Forwarded-For dropped, none added');
    assert.equal(seen.headers.forwarded, undefined);

    const viaQuery = await request(`${gw.url}/page?romulus_token=${encodeURIComponent(token)}&b=2`, { host });
    assert.equal(viaQuery.status, 302);
    assert.equal(viaQuery.headers.location, '/page?b=2');
    const cookie = String(viaQuery.headers['set-cookie']);
    assert.match(cookie, /HttpOnly/);
    const viaCookie = await request(`${gw.url}/page?b=2`, { host, headers: { cookie: cookie.split(';')[0] + '; theirs=2' } });
    assert.equal(viaCookie.status, 200);
    assert.equal(upstreamSeen.at(-1)!.headers.cookie, 'theirs=2', 'token cookie stripped');
  });

  it('agent URL carries WebSocket upgrades with the token, refuses without', async () => {
    const url = `ws://127.0.0.1:${gw.port}/ws`;
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(url, { headers: { host: `${agentId}.localhost` } });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => resolve(-1));
    });
    assert.equal(refused, 401);
    const echoed = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { host: `${agentId}.localhost`, authorization: `Bearer ${token}` } });
      ws.on('open', () => ws.send('ping'));
      ws.on('message', (m) => {
        resolve(String(m));
        ws.close();
      });
      ws.on('error', reject);
    });
    assert.equal(echoed, 'echo:ping');
    assert.equal(upstreamSeen.at(-1)!.headers.authorization, undefined);

    // When the client vanishes, the upstream socket is closed too (not left half-open towards the VM).
    const upstreamClosed = new Promise<void>((resolve) => wss.once('connection', (sock) => sock.once('close', () => resolve())));
    await new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { host: `${agentId}.localhost`, authorization: `Bearer ${token}` } });
      ws.on('open', () => {
        ws.terminate();
        resolve();
      });
      ws.on('error', reject);
    });
    await upstreamClosed;
  });

  it('stop is owner-only and idempotent; usage follows; the lock is freed', async () => {
    const notOwner = await signed(new TestWallet(), 'POST', `/stop/${agentId}`);
    assert.equal(notOwner.status, 403);
    assert.equal(notOwner.json.error.code, 'NOT_OWNER');
    const r = await signed(rich, 'POST', `/stop/${agentId}`);
    assert.equal(r.status, 202, r.body);
    assert.equal(r.json.agent.status, 'stopping');
    await until('stopped', async () => (await signed(rich, 'GET', `/status/${agentId}`)).json.agent.status === 'stopped');
    assert.equal(node.vms.has(agentId), false, 'VM deleted on the node');
    const again = await signed(rich, 'POST', `/stop/${agentId}`);
    assert.equal(again.status, 200);
    assert.equal(again.json.agent.status, 'stopped');
    assert.equal(await store.getWalletLock(rich.address), null);

    const u = await signed(rich, 'GET', `/usage/${rich.address}`);
    assert.equal(u.status, 200);
    const usage = u.json.usage;
    assert.equal(usage.totals.spawn_count, 1);
    assert.ok(usage.totals.uptime_ms > 0);
    assert.equal(usage.agents[0].vcpu_seconds, (usage.agents[0].uptime_ms / 1000) * 2);
    assert.equal(usage.agents[0].mib_seconds, (usage.agents[0].uptime_ms / 1000) * 2048);
    const other = await signed(new TestWallet(), 'GET', `/usage/${rich.address}`);
    assert.equal(other.status, 403);
  });

  it('of 10 concurrent spawns from one wallet exactly one wins; the rest get 409 with its id', async () => {
    const w = new TestWallet();
    fund(w, 100_000);
    // Distinct timestamps: one timestamp signs to one signature (Ed25519 is deterministic), which replay protection admits once.
    const now = Date.now();
    const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => spawn(w, { agent_type: 'base' }, now - i)));
    const won = rs.filter((r) => r.status === 201);
    const lost = rs.filter((r) => r.status === 409);
    assert.equal(won.length, 1, rs.map((r) => r.status).join(','));
    assert.equal(lost.length, 9);
    for (const l of lost) assert.equal(l.json.error.agent_id, won[0].json.agent.id);
    assert.equal(await store.getSpawnCount(w.address), 1);
  });

  it("a starting agent's owner status carries the node's phase of its VM; others and a running agent do not", async () => {
    const w = new TestWallet();
    fund(w, 100_000);
    const id = (await spawn(w)).json.agent.id;
    node.setState(id, 'starting', { phase: 'booting' });
    const owner = await signed(w, 'GET', `/status/${id}`);
    assert.equal(owner.json.agent.status, 'starting');
    assert.equal(owner.json.agent.phase, 'booting');
    const other = await request(`${gw.url}/status/${id}`);
    assert.equal(other.json.agent.phase, undefined);
    node.setState(id, 'running', { phase: undefined });
    await eventually(async () => (await store.getAgent(id))?.state === 'running');
    assert.equal((await signed(w, 'GET', `/status/${id}`)).json.agent.phase, undefined);
    await signed(w, 'POST', `/stop/${id}`);
  });

  it('reconciler: a VM that dies fails the agent, closes usage and frees the lock', async () => {
    const w = new TestWallet();
    fund(w, 100_000);
    const r = await spawn(w);
    const id = r.json.agent.id;
    node.setState(id, 'running');
    await eventually(async () => (await store.getAgent(id))?.state === 'running');
    node.forget(id); // the VM vanished (killed, node lost it)
    const failed = await eventually(async () => {
      const a = await store.getAgent(id);
      return a?.state === 'failed' ? a : null;
    });
    assert.match(failed.reason ?? '', /gone/);
    assert.equal(failed.runningSince, undefined);
    assert.equal(await store.getWalletLock(w.address), null);
    assert.equal((await spawn(w)).status, 201, 'the wallet can spawn again');
  });

  it("GET /events/:id pushes the owner's status as it changes and ends once stopped; others are refused", async () => {
    const w = new TestWallet();
    fund(w, 100_000);
    const r = await spawn(w);
    const id = r.json.agent.id;
    assert.equal((await signed(new TestWallet(), 'GET', `/events/${id}`)).status, 403);
    assert.equal((await request(`${gw.url}/events/${id}`)).status, 401);
    assert.equal((await signed(w, 'GET', '/events/01a2377b780d-00000000ffff')).status, 404);

    const res = await fetch(`${gw.url}/events/${id}`, { headers: w.headers() });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const seen: string[] = [];
    const reading = (async () => {
      for await (const { event, data } of readServerSentEvents(res.body!)) if (event === 'status') seen.push(JSON.parse(data).status);
    })();
    await until('first status', async () => seen.length > 0);
    node.setState(id, 'starting');
    node.setState(id, 'running');
    await until('running pushed', async () => seen.includes('running'));
    assert.equal((await signed(w, 'POST', `/stop/${id}`)).status, 202);
    await reading; // the stream ends by itself after stopped
    assert.deepEqual(seen.filter((s, i) => seen[i - 1] !== s), ['starting', 'running', 'stopping', 'stopped']);
    assert.equal(gw.agents.changes.watched, 0, 'the ended stream left no subscription');
  });

  it('many agents starting at once follow the one node event stream: no per-agent listeners (no MaxListenersExceededWarning)', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 25; i++) {
        const w = new TestWallet();
        fund(w, 100_000);
        const r = await spawn(w);
        assert.equal(r.status, 201, r.body);
        ids.push(r.json.agent.id);
      }
      for (const id of ids) node.setState(id, 'starting');
      for (const id of ids) node.setState(id, 'running');
      await eventually(async () => (await Promise.all(ids.map((id) => store.getAgent(id)))).every((a) => a?.state === 'running'));
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message), []);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('reconciler: removes a Romulus VM that has no live agent', async () => {
    const made = await request(`${node.url}/v1/vms`, {
      method: 'POST',
      headers: { authorization: `Bearer ${node.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'aaaaaaaaaaaa-000000000000', image: 'base', vcpus: 1, memoryMib: 128, metadata: { romulus_agent_id: 'aaaaaaaaaaaa-000000000000' } }),
    });
    assert.equal(made.status, 201, made.body);
    await eventually(async () => !node.vms.has('aaaaaaaaaaaa-000000000000'));
  });

  it('node create failure (no capacity) is 503 and leaves no lock or live agent', async () => {
    const w = new TestWallet();
    fund(w, 100_000);
    node.failCreate = 'INSUFFICIENT_CAPACITY';
    try {
      const r = await spawn(w);
      assert.equal(r.status, 503);
      assert.equal(r.json.error.code, 'NO_CAPACITY');
    } finally {
      node.failCreate = null;
    }
    assert.equal(await store.getWalletLock(w.address), null);
    const agents = await store.listAgentsByWallet(w.address);
    assert.equal(agents.length, 1);
    assert.equal(agents[0].state, 'failed');
  });

  it('node unreachable is 503 NODE_UNAVAILABLE', async () => {
    const w = new TestWallet();
    fund(w, 100_000);
    node.down = true;
    try {
      const r = await spawn(w);
      assert.equal(r.status, 503);
      assert.equal(r.json.error.code, 'NODE_UNAVAILABLE');
    } finally {
      node.down = false;
    }
    assert.equal(await store.getWalletLock(w.address), null);
  });

  it('balance rules: insufficient 403, chain down 503, tier too small 403 naming both', async () => {
    const poor = new TestWallet();
    fund(poor, 99_999);
    const r1 = await spawn(poor);
    assert.equal(r1.status, 403);
    assert.equal(r1.json.error.code, 'INSUFFICIENT_BALANCE');
    assert.match(r1.json.error.message, /99999.*100000/);
    chainDown = true;
    try {
      const r2 = await spawn(poor);
      assert.equal(r2.status, 503);
      assert.equal(r2.json.error.code, 'CHAIN_UNAVAILABLE');
    } finally {
      chainDown = false;
    }
    const basic = new TestWallet();
    fund(basic, 100_000);
    const r3 = await spawn(basic, { agent_type: 'heavy' });
    assert.equal(r3.status, 403);
    assert.equal(r3.json.error.code, 'TIER_TOO_SMALL');
    assert.match(r3.json.error.message, /basic/);
    assert.match(r3.json.error.message, /heavy/);
    assert.equal(await store.getWalletLock(basic.address), null);
  });

  it('bad input: malformed JSON, unknown fields, unknown type, bad ids, oversized body, no signature', async () => {
    const w = new TestWallet();
    fund(w, 100_000);
    const bad = await spawn(w, '{"agent_type": ');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'MALFORMED_JSON');
    const extra = await spawn(w, { agent_type: 'base', admin: true });
    assert.equal(extra.status, 400);
    const badKey = await spawn(w, { agent_type: 'base', secrets: { 'bad key': 'x' } });
    assert.equal(badKey.status, 400);
    const unknown = await spawn(w, { agent_type: 'nope' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json.error.code, 'UNKNOWN_AGENT_TYPE');
    const big = await spawn(w, { agent_type: 'base', env: { X: 'y'.repeat(20_000) } });
    assert.equal(big.status, 413);
    assert.equal(big.json.error.code, 'PAYLOAD_TOO_LARGE');
    assert.equal((await request(`${gw.url}/status/NOT_AN_ID`)).status, 400);
    assert.equal((await request(`${gw.url}/status/ffffffffffff-ffffffffffff`)).status, 404);
    const unsigned = await request(`${gw.url}/spawn`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"agent_type":"base"}' });
    assert.equal(unsigned.status, 401);
    assert.equal((await request(`${gw.url}/nope`)).json.error.code, 'NOT_FOUND');
    assert.equal(await store.getWalletLock(w.address), null);
  });

  it('serves tiers, health, metrics, OpenAPI and docs', async () => {
    const t = await request(`${gw.url}/tiers`);
    assert.deepEqual(t.json.tiers.pro, { min: 1_000_000, cores: 4, memory: 4096 });
    assert.ok(t.json.agent_types.find((x: any) => x.name === 'chat' && x.image === 'agent-chat' && x.min_memory === 1024));
    const h = await request(`${gw.url}/health`);
    assert.equal(h.json.node.reachable, true);
    assert.equal(h.json.status, 'degraded');
    const m = await request(`${gw.url}/metrics`);
    assert.match(m.body, /romulus_gateway_spawns_total\{result="ok"\}/);
    const o = await request(`${gw.url}/openapi.json`);
    assert.ok(o.json.paths['/spawn']);
    assert.ok(o.json.paths['/status/{id}']);
    assert.equal((await request(`${gw.url}/docs/`)).status, 200);
  });

  it('a gateway restart keeps agents, locks and usage', async () => {
    const w = new TestWallet();
    fund(w, 100_000);
    const r = await spawn(w);
    const id = r.json.agent.id;
    node.setState(id, 'running');
    await eventually(async () => (await store.getAgent(id))?.state === 'running');
    const before = (await signed(w, 'GET', `/usage/${w.address}`)).json.usage.totals;
    await gw.close();
    gw = await startGw();
    const after = (await signed(w, 'GET', `/usage/${w.address}`)).json.usage.totals;
    assert.equal(after.spawn_count, 1);
    assert.ok(after.uptime_ms >= before.uptime_ms);
    assert.equal((await spawn(w)).json.error.agent_id, id);
    assert.equal((await signed(w, 'GET', `/status/${id}`)).json.agent.status, 'running');
  });
});

describe('crash repair (reconciler and stale locks)', () => {
  it('a gateway that died after writing the record but before creating the VM: agent failed, lock freed', async () => {
    const w = new TestWallet();
    const id = `${(Date.now() - 10_000).toString(16).padStart(12, '0')}-00000000abcd`;
    await store.acquireWalletLock(w.address, id);
    await store.createAgent({
      id, wallet: w.address, agentType: 'base', image: 'base', tier: 'basic', cores: 1, memoryMib: 1024, nodeId: node.nodeId,
      state: 'starting', accessTokenHash: '0'.repeat(64), spawnedAt: Date.now() - 10_000, uptimeMs: 0,
    });
    const a = await eventually(async () => {
      const r = await store.getAgent(id);
      return r?.state === 'failed' ? r : null;
    });
    assert.match(a.reason ?? '', /gone/);
    assert.equal(await store.getWalletLock(w.address), null);
  });

  it('a gateway that died between lock and record: the stale lock is freed at the next spawn', async () => {
    const w = new TestWallet();
    fund(w, 100_000);
    const ghost = `${(Date.now() - 60_000).toString(16).padStart(12, '0')}-00000000dead`;
    await store.acquireWalletLock(w.address, ghost);
    const r = await spawn(w);
    assert.equal(r.status, 201, r.body);
    assert.equal(await store.getWalletLock(w.address), r.json.agent.id);
  });

  it('a lock whose holder is younger than the grace is respected (a spawn may be in flight)', async () => {
    const w = new TestWallet();
    fund(w, 100_000);
    const inFlight = `${Date.now().toString(16).padStart(12, '0')}-00000000beef`;
    await store.acquireWalletLock(w.address, inFlight);
    const r = await spawn(w);
    assert.equal(r.status, 409);
    assert.equal(r.json.error.agent_id, inFlight);
  });
});

describe('separate ingress listener', () => {
  it('serves agent hosts only, with the same token rule', async () => {
    const g2 = await startGateway(
      {
        listen: { host: '127.0.0.1', port: 0 },
        ingressListen: { host: '127.0.0.1', port: 0 },
        node: { url: node.url, token: node.token, id: node.nodeId },
        chain: { rpcUrl: 'http://127.0.0.1:9', mint: '11111111111111111111111111111111' },
        lifecycle: { reconcileIntervalMs: 3_600_000, missingVmGraceMs: 500, startTimeoutMs: 60_000, nodeTimeoutMs: 2000 },
        logLevel: 'warn',
      },
      { store, log: createLogger('gateway-test', { level: 'warn' }), balances: { lookup: async () => { throw new ChainUnavailableError('x'); } } },
    );
    try {
      assert.ok(g2.ingressUrl);
      const api = await request(`${g2.ingressUrl}/tiers`);
      assert.equal(api.status, 404, 'the API is not served on the ingress port');
      const noToken = await request(`${g2.ingressUrl}/`, { host: 'ffffffffffff-ffffffffffff.localhost' });
      assert.equal(noToken.status, 401);
    } finally {
      await g2.close();
    }
  });
});

describe('rate limits', () => {
  it('per IP: beyond the burst the answer is 429 in the envelope; health stays reachable', async () => {
    const g3 = await startGateway(
      {
        listen: { host: '127.0.0.1', port: 0 },
        node: { url: node.url, token: node.token, id: node.nodeId },
        chain: { rpcUrl: 'http://127.0.0.1:9', mint: '11111111111111111111111111111111' },
        limits: { bodyLimitBytes: 16384, perIp: { burst: 2, perSec: 0.001 }, perWallet: { burst: 1000, perSec: 1000 } },
        lifecycle: { reconcileIntervalMs: 3_600_000, missingVmGraceMs: 500, startTimeoutMs: 60_000, nodeTimeoutMs: 2000 },
        logLevel: 'warn',
      },
      { store, log: createLogger('gateway-test', { level: 'warn' }), balances: { lookup: async () => { throw new ChainUnavailableError('x'); } } },
    );
    try {
      const codes = [];
      for (let i = 0; i < 3; i++) codes.push((await request(`${g3.url}/tiers`)).status);
      assert.deepEqual(codes, [200, 200, 429]);
      const limited = await request(`${g3.url}/tiers`);
      assert.equal(limited.json.error.code, 'RATE_LIMITED');
      assert.equal((await request(`${g3.url}/health`)).status, 200);
    } finally {
      await g3.close();
    }
  });
});
