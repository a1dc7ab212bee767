import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { WebSocket } from 'ws';
import { encodeBase58 } from '@romulus/shared';
import { TestWallet } from '@romulus/gateway/testing';
import { startStack, type Stack } from '../harness/stack.ts';
import { BIG_IMAGE, ECHO_IMAGE, agentRequest, vmmPidOf, waitForStatus } from './helpers.ts';

/**
 * The gateway end to end on one node: real local chain (LiteSVM), real node daemon with real QEMU
 * microVMs (TCG here), real SQLite, real Ed25519 signatures, all over HTTP on loopback.
 */
let stack: Stack;

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p) : [p];
  });
}

before(async () => {
  stack = await startStack({ derivedImages: [ECHO_IMAGE, BIG_IMAGE] });
});
after(async () => {
  await stack?.close();
});

describe('gateway e2e (real chain, node, VMs)', { timeout: 40 * 60_000 }, () => {
  let owner: TestWallet;
  let agentId = '';
  let token = '';

  it('spawn returns 201 at once with status starting, then the agent runs', async () => {
    owner = await stack.newWallet(100_000);
    const r = await stack.request('POST', '/spawn', { wallet: owner, body: { agent_type: 'gw-echo', secrets: { MODEL_KEY: 'sk-e2e-secret-value-123456' } } });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.equal(r.json.agent.status, 'starting');
    assert.equal(r.json.agent.tier, 'basic');
    assert.deepEqual(r.json.tier_config, { min: 100_000, cores: 1, memory: 1024 });
    agentId = r.json.agent.id;
    token = r.json.agent.access_token;
    assert.equal(r.json.agent.url, `http://${agentId}.localhost:${stack.gateway.port}`);
    const vm = await stack.nodeClient.getVm(agentId);
    assert.equal(vm?.vcpus, 1);
    assert.equal(vm?.memoryMib, 1024);
    assert.ok(vm?.secretNames.includes('MODEL_KEY'));
    for (const f of filesUnder(path.join(stack.dir, 'gateway'))) {
      const bytes = readFileSync(f);
      assert.equal(bytes.includes('sk-e2e-secret-value-123456'), false, `secret found in ${f}`);
      assert.equal(bytes.includes(token), false, `access token found in ${f}`);
    }
    const running = await waitForStatus(stack, owner, agentId, ['running', 'failed']);
    assert.equal(running.status, 'running', JSON.stringify(running));
    assert.ok(running.ready_at >= running.spawned_at);
  });

  it('the agent URL answers with the token and refuses without it (the VM never sees refused requests)', async () => {
    const first = await agentRequest(stack, agentId, '/hello', { authorization: `Bearer ${token}` });
    assert.equal(first.status, 200, first.body);
    assert.match(first.body, /^n=1 path=\/hello auth=no token=no/);
    const none = await agentRequest(stack, agentId, '/nope');
    assert.equal(none.status, 401);
    const wrong = await agentRequest(stack, agentId, '/nope', { authorization: 'Bearer not-the-token' });
    assert.equal(wrong.status, 401);
    const second = await agentRequest(stack, agentId, '/again', { authorization: `Bearer ${token}` });
    assert.match(second.body, /^n=2 path=\/again /, 'the refused requests never reached the VM');
    const q = await agentRequest(stack, agentId, `/q?romulus_token=${token}&x=1`);
    assert.equal(q.status, 302);
    assert.equal(q.headers.location, '/q?x=1');
    const cookie = String(q.headers['set-cookie']).split(';')[0];
    const viaCookie = await agentRequest(stack, agentId, '/q?x=1', { cookie });
    assert.match(viaCookie.body, /^n=3 path=\/q\?x=1 auth=no token=no/);
  });

  it('the agent URL carries WebSocket upgrades into the VM with the token only', async () => {
    const url = `ws://127.0.0.1:${stack.gateway.port}/ws`;
    const host = `${agentId}.localhost:${stack.gateway.port}`;
    const refused = await new Promise<number>((resolve) => {
      const ws = new WebSocket(url, { headers: { host } });
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('open', () => resolve(101));
      ws.on('error', () => resolve(-1));
    });
    assert.equal(refused, 401);
    const msg = await new Promise<string>((resolve, reject) => {
      const ws = new WebSocket(url, { headers: { host, authorization: `Bearer ${token}` } });
      ws.on('message', (m) => {
        resolve(String(m));
        ws.terminate(); // the test workload does not answer close frames
      });
      ws.on('error', reject);
    });
    assert.equal(msg, 'ws n=4 auth=no token=no', 'the refused upgrade never reached the VM; the token was stripped');
  });

  it('status: owner sees details, others the public view', async () => {
    const own = await stack.request('GET', `/status/${agentId}`, { wallet: owner });
    assert.equal(own.json.agent.wallet, owner.address);
    assert.equal(own.json.agent.cores, 1);
    const pub = await stack.request('GET', `/status/${agentId}`);
    assert.deepEqual(Object.keys(pub.json.agent).sort(), ['agent_type', 'id', 'spawned_at', 'status', 'url']);
  });

  it('a gateway restart keeps agents, locks, usage and the agent URL', async () => {
    const before = (await stack.request('GET', `/usage/${owner.address}`, { wallet: owner })).json.usage;
    await stack.restartGateway();
    const st = await stack.request('GET', `/status/${agentId}`, { wallet: owner });
    assert.equal(st.json.agent.status, 'running');
    const again = await stack.request('POST', '/spawn', { wallet: owner, body: { agent_type: 'gw-echo' } });
    assert.equal(again.status, 409);
    assert.equal(again.json.error.agent_id, agentId);
    const afterUsage = (await stack.request('GET', `/usage/${owner.address}`, { wallet: owner })).json.usage;
    assert.equal(afterUsage.totals.spawn_count, before.totals.spawn_count);
    assert.ok(afterUsage.totals.uptime_ms >= before.totals.uptime_ms);
    const viaUrl = await agentRequest(stack, agentId, '/after-restart', { authorization: `Bearer ${token}` });
    assert.match(viaUrl.body, /^n=5 /);
  });

  it('the reconciler fails the agent and frees the lock when its VM is killed', async () => {
    const pid = vmmPidOf(stack, agentId);
    assert.ok(pid, 'VMM process found');
    process.kill(pid!, 'SIGKILL');
    const failed = await waitForStatus(stack, owner, agentId, ['failed'], 120_000);
    assert.ok(failed.reason, 'a reason is given');
    assert.equal(await stack.gateway.store.getWalletLock(owner.address), null);
    const u = (await stack.request('GET', `/usage/${owner.address}`, { wallet: owner })).json.usage;
    assert.ok(u.agents[0].uptime_ms > 0);
  });

  it('stop: owner only, idempotent, usage = uptime × cores / memory', async () => {
    const r = await stack.request('POST', '/spawn', { wallet: owner, body: { agent_type: 'gw-echo' } });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    const id = r.json.agent.id;
    await waitForStatus(stack, owner, id, ['running']);
    const stranger = await stack.newWallet(0);
    assert.equal((await stack.request('POST', `/stop/${id}`, { wallet: stranger })).status, 403);
    const s = await stack.request('POST', `/stop/${id}`, { wallet: owner });
    assert.equal(s.status, 202, JSON.stringify(s.json));
    assert.equal(s.json.agent.status, 'stopping');
    await waitForStatus(stack, owner, id, ['stopped']);
    assert.equal(await stack.nodeClient.getVm(id), null, 'VM removed from the node');
    const again = await stack.request('POST', `/stop/${id}`, { wallet: owner });
    assert.equal(again.status, 200, JSON.stringify(again.json));
    assert.equal(again.json.agent.status, 'stopped');
    const u = (await stack.request('GET', `/usage/${owner.address}`, { wallet: owner })).json.usage;
    const row = u.agents.find((a: any) => a.id === id);
    assert.ok(row.uptime_ms > 0);
    assert.equal(row.vcpu_seconds, (row.uptime_ms / 1000) * 1);
    assert.equal(row.mib_seconds, (row.uptime_ms / 1000) * 1024);
    assert.equal(u.totals.spawn_count, 2);
    // Usage stops counting once stopped.
    const later = (await stack.request('GET', `/usage/${owner.address}`, { wallet: owner })).json.usage;
    assert.equal(later.agents.find((a: any) => a.id === id).uptime_ms, row.uptime_ms);
    assert.equal((await stack.request('GET', `/usage/${owner.address}`, { wallet: stranger })).status, 403);
  });

  it('of 10 concurrent spawns from one wallet exactly one is 201, nine are 409 with its id', async () => {
    const w = await stack.newWallet(100_000);
    const rs = await Promise.all(
      Array.from({ length: 10 }, () => stack.request('POST', '/spawn', { wallet: w, body: { agent_type: 'gw-echo' } })),
    );
    const won = rs.filter((r) => r.status === 201);
    const lost = rs.filter((r) => r.status === 409);
    assert.equal(won.length, 1, rs.map((r) => `${r.status}:${r.json.error?.code ?? ''}`).join(','));
    assert.equal(lost.length, 9, rs.map((r) => `${r.status}:${r.json.error?.code ?? ''}`).join(','));
    for (const l of lost) assert.equal(l.json.error.agent_id, won[0].json.agent.id);
    const s = await stack.request('POST', `/stop/${won[0].json.agent.id}`, { wallet: w });
    assert.ok(['stopping', 'stopped'].includes(s.json.agent?.status), JSON.stringify(s));
    await waitForStatus(stack, w, won[0].json.agent.id, ['stopped']);
  });

  it('the tier follows a token transfer on the chain (after the cache TTL); too small a tier names both', async () => {
    const w = await stack.newWallet(100_000);
    const small = await stack.request('POST', '/spawn', { wallet: w, body: { agent_type: 'gw-big' } });
    assert.equal(small.status, 403);
    assert.equal(small.json.error.code, 'TIER_TOO_SMALL');
    assert.match(small.json.error.message, /"basic"/);
    assert.match(small.json.error.message, /"gw-big"/);
    const whale = await stack.newWallet(1_000_000);
    await stack.chain.transfer(Uint8Array.from(whale.keypairBytes), w.address, 400_000);
    await new Promise((r) => setTimeout(r, 1000)); // the harness's cache TTL is 500 ms
    const big = await stack.request('POST', '/spawn', { wallet: w, body: { agent_type: 'gw-big' } });
    assert.equal(big.status, 201, JSON.stringify(big.json));
    assert.equal(big.json.agent.tier, 'standard');
    assert.deepEqual(big.json.tier_config, { min: 500_000, cores: 2, memory: 2048 });
    assert.equal((await stack.nodeClient.getVm(big.json.agent.id))?.vcpus, 2);
    const s = await stack.request('POST', `/stop/${big.json.agent.id}`, { wallet: w });
    assert.ok(['stopping', 'stopped'].includes(s.json.agent?.status), JSON.stringify(s));
    await waitForStatus(stack, w, big.json.agent.id, ['stopped']);
  });

  it('signatures: replayed, forged, expired, future, wrong-wallet and malformed are all 401', async () => {
    const w = await stack.newWallet(100_000);
    const h = w.headers();
    const path = `/usage/${w.address}`;
    const get = (headers: Record<string, string>) => stack.request('GET', path, { headers });
    assert.equal((await get(h)).status, 200);
    const replay = await get(h);
    assert.equal(replay.status, 401);
    assert.equal(replay.json.error.code, 'SIGNATURE_REPLAYED');
    const other = new TestWallet();
    const cases: [string, Record<string, string>, string][] = [
      ['forged', { ...w.headers(), 'x-signature': other.headers()['x-signature'] }, 'INVALID_SIGNATURE'],
      ['expired', w.headers({ ts: Date.now() - 6 * 60_000 }), 'SIGNATURE_EXPIRED'],
      ['future', w.headers({ ts: Date.now() + 6 * 60_000 }), 'SIGNATURE_FROM_FUTURE'],
      ['wrong wallet', { ...other.headers(), 'x-wallet': w.address }, 'INVALID_SIGNATURE'],
      ['malformed base58', { ...w.headers(), 'x-signature': '0OIl'.repeat(22) }, 'BAD_SIGNATURE_ENCODING'],
      ['short signature', { ...w.headers(), 'x-signature': encodeBase58(new Uint8Array(63).fill(1)) }, 'BAD_SIGNATURE_ENCODING'],
      ['bad wallet', { ...w.headers(), 'x-wallet': 'abc' }, 'BAD_WALLET'],
      ['missing', {}, 'MISSING_SIGNATURE'],
    ];
    for (const [name, headers, code] of cases) {
      const r = await get(headers);
      assert.equal(r.status, 401, name);
      assert.equal(r.json.error.code, code, name);
    }
    for (const form of ['cli', 'v0', 'v1'] as const) {
      assert.equal((await get(w.headers({ form, encoding: 'base64' }))).status, 200, `off-chain ${form}`);
    }
  });

  it('bad requests: oversized 413, malformed JSON 400, unknown type 400, insufficient balance 403', async () => {
    const w = await stack.newWallet(100_000);
    const big = await stack.request('POST', '/spawn', { wallet: w, body: { agent_type: 'gw-echo', env: { X: 'x'.repeat(20_000) } } });
    assert.equal(big.status, 413);
    const bad = await stack.request('POST', '/spawn', { wallet: w, body: '{"agent_type":' });
    assert.equal(bad.status, 400);
    assert.equal(bad.json.error.code, 'MALFORMED_JSON');
    const unknown = await stack.request('POST', '/spawn', { wallet: w, body: { agent_type: 'no-such-image' } });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json.error.code, 'UNKNOWN_AGENT_TYPE');
    const extra = await stack.request('POST', '/spawn', { wallet: w, body: { agent_type: 'gw-echo', cores: 64 } });
    assert.equal(extra.status, 400);
    const poor = await stack.newWallet(99_999);
    const p = await stack.request('POST', '/spawn', { wallet: poor, body: { agent_type: 'gw-echo' } });
    assert.equal(p.status, 403);
    assert.equal(p.json.error.code, 'INSUFFICIENT_BALANCE');
    assert.equal(await stack.gateway.store.getWalletLock(w.address), null);
    assert.equal((await stack.nodeClient.listVms()).length, 0, 'no VM left behind by refused spawns');
  });

  it('chain RPC down: 503 CHAIN_UNAVAILABLE, never a guessed tier', async () => {
    const w = await stack.newWallet(100_000);
    await stack.chain.stop();
    const r = await stack.request('POST', '/spawn', { wallet: w, body: { agent_type: 'gw-echo' } });
    assert.equal(r.status, 503);
    assert.equal(r.json.error.code, 'CHAIN_UNAVAILABLE');
    assert.equal(await stack.gateway.store.getWalletLock(w.address), null);
  });
});
