import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startRedisServer, type RunningRedis } from '../../packages/gateway/src/store/testing/redis-servers.ts';
import { startStack, type Stack } from '../harness/stack.ts';
import { ECHO_IMAGE, waitForStatus } from './helpers.ts';

/**
 * The same gateway on the Redis store (a real redis-server started here): replay protection, the
 * one-agent-per-wallet lock and usage metering behave as on SQLite, and survive a gateway restart.
 */
let redis: RunningRedis;
let stack: Stack;

before(async () => {
  redis = await startRedisServer();
  stack = await startStack({ store: { kind: 'redis', url: redis.url }, derivedImages: [ECHO_IMAGE] });
});
after(async () => {
  await stack?.close();
  await redis?.stop();
});

describe('gateway e2e on the Redis store', { timeout: 20 * 60_000 }, () => {
  it('uses redis', async () => {
    assert.equal(stack.gateway.store.kind, 'redis');
    assert.equal((await stack.request('GET', '/health')).json.store, 'redis');
  });

  it('replay, lock, usage and restart behave as on SQLite', async () => {
    const w = await stack.newWallet(100_000);
    const h = w.headers();
    const first = await stack.request('GET', `/usage/${w.address}`, { headers: h });
    assert.equal(first.status, 200, JSON.stringify(first));
    const replay = await stack.request('GET', `/usage/${w.address}`, { headers: h });
    assert.equal(replay.json.error?.code, 'SIGNATURE_REPLAYED', JSON.stringify(replay));

    // Each request gets its own timestamp from the wallet (one timestamp is one signature, admitted once).
    const rs = await Promise.all(
      Array.from({ length: 10 }, () => stack.request('POST', '/spawn', { wallet: w, body: { agent_type: 'gw-echo' } })),
    );
    const outcomes = rs.map((r) => `${r.status}:${r.json.error?.code ?? ''}`).join(',');
    const won = rs.filter((r) => r.status === 201);
    assert.equal(won.length, 1, outcomes);
    assert.equal(rs.filter((r) => r.status === 409 && r.json.error.agent_id === won[0].json.agent.id).length, 9, outcomes);
    const id = won[0].json.agent.id;
    await waitForStatus(stack, w, id, ['running']);

    await stack.restartGateway();
    const replayed = await stack.request('GET', `/usage/${w.address}`, { headers: h });
    assert.equal(replayed.json.error?.code, 'SIGNATURE_REPLAYED', `replay set survives restart: ${JSON.stringify(replayed)}`);
    const again = await stack.request('POST', '/spawn', { wallet: w, body: { agent_type: 'gw-echo' } });
    assert.equal(again.json.error?.agent_id, id, `the lock survives restart: ${JSON.stringify(again)}`);

    const s = await stack.request('POST', `/stop/${id}`, { wallet: w });
    assert.ok(['stopping', 'stopped'].includes(s.json.agent?.status), JSON.stringify(s));
    await waitForStatus(stack, w, id, ['stopped']);
    const u = (await stack.request('GET', `/usage/${w.address}`, { wallet: w })).json.usage;
    assert.equal(u.totals.spawn_count, 1, JSON.stringify(u));
    assert.ok(u.totals.uptime_ms > 0, JSON.stringify(u));
    assert.equal(u.totals.vcpu_seconds, u.totals.uptime_ms / 1000);
    assert.equal(await stack.gateway.store.getWalletLock(w.address), null);
  });
});
