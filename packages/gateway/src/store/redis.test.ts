import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Cluster, Redis } from 'ioredis';
import { runStoreConformance } from './conformance.ts';
import { createStore } from './create.ts';
import { StoreUnavailableError } from './errors.ts';
import { INSERT_AGENT, runScript } from './redis-scripts.ts';
import { RedisStore } from './redis.ts';
import { startRedisCluster, startRedisServer, type RunningRedis } from './testing/redis-servers.ts';

// Each namespace is a key prefix; two stores on one namespace are two client connections to one keyspace.
describe('redis (single redis-server)', () => {
  let server: RunningRedis;
  before(async () => {
    server = await startRedisServer();
  });
  after(async () => {
    await server?.stop();
  });

  runStoreConformance('redis', async (ns) => {
    const s = new RedisStore({ url: server.url, prefix: `t:${ns}:` });
    await s.ready();
    return s;
  });

  describe('redis specifics', () => {
    it('completes an interrupted createAgent when it is retried (step 1 done, step 2 lost)', async () => {
      const store = new RedisStore({ url: server.url, prefix: 't:retry:' });
      const raw = new Redis(server.url);
      try {
        const rec = { id: 'ag-r', wallet: 'w-r', agentType: 'chat', image: 'i', tier: 'basic', cores: 1, memoryMib: 1024, nodeId: 'n', state: 'starting' as const, accessTokenHash: 'h', spawnedAt: 5, uptimeMs: 0 };
        // Only the first step: the record and its state index, as if the gateway died right after it.
        await runScript(raw, INSERT_AGENT, ['t:retry:{agents}:agent:ag-r', 't:retry:{agents}:state:starting'], ['ag-r', ...Object.entries(rec).flatMap(([k, v]) => [k, String(v)])]);
        assert.equal(await store.getSpawnCount('w-r'), 0);
        assert.deepEqual(await store.listAgentsByWallet('w-r'), []);
        await store.createAgent(rec);
        assert.equal(await store.getSpawnCount('w-r'), 1);
        assert.deepEqual(await store.listAgentsByWallet('w-r'), [rec]);
      } finally {
        raw.disconnect();
        await store.close();
      }
    });

    it('moves an agent between state index sets (the old set loses it) and keeps the key layout', async () => {
      const store = new RedisStore({ url: server.url, prefix: 't:idx:' });
      const raw = new Redis(server.url);
      try {
        const rec = { id: 'ag-i', wallet: 'w-i', agentType: 'chat', image: 'i', tier: 'basic', cores: 1, memoryMib: 1024, nodeId: 'n', state: 'starting' as const, accessTokenHash: 'h', spawnedAt: 5, uptimeMs: 0 };
        await store.createAgent(rec);
        await store.acquireWalletLock('w-i', 'ag-i');
        await store.claimSignature('sig-i', 60_000);
        assert.deepEqual(
          (await raw.keys('t:idx:*')).sort(),
          ['t:idx:sig:{sig-i}', 't:idx:{agents}:agent:ag-i', 't:idx:{agents}:state:starting', 't:idx:{w:w-i}:agents', 't:idx:{w:w-i}:lock', 't:idx:{w:w-i}:spawns'].sort(),
        );
        await store.updateAgent('ag-i', { state: 'running' });
        assert.deepEqual(await raw.smembers('t:idx:{agents}:state:starting'), []);
        assert.deepEqual(await raw.smembers('t:idx:{agents}:state:running'), ['ag-i']);
        const ttl = await raw.pttl('t:idx:sig:{sig-i}');
        assert.ok(ttl > 0 && ttl <= 60_000, `signature key expires (pttl ${ttl})`);
      } finally {
        raw.disconnect();
        await store.close();
      }
    });

    it('keeps working after the server forgot its scripts (NOSCRIPT falls back to EVAL)', async () => {
      const store = new RedisStore({ url: server.url, prefix: 't:flush:' });
      const raw = new Redis(server.url);
      try {
        assert.deepEqual(await store.acquireWalletLock('w', 'a1'), { acquired: true });
        await raw.script('FLUSH');
        assert.deepEqual(await store.acquireWalletLock('w', 'a2'), { acquired: false, holder: 'a1' });
      } finally {
        raw.disconnect();
        await store.close();
      }
    });

    it('rejects calls (never hangs or crashes) while its server is down, and recovers when it is back', async () => {
      const own = await startRedisServer();
      const errors: Error[] = [];
      let back: RunningRedis | undefined;
      const store = new RedisStore({ url: own.url, prefix: 't:down:', onError: (e) => errors.push(e) });
      try {
        await store.ready();
        assert.equal(await store.claimSignature('before', 60_000), true);
        await own.stop();
        // Killed server: every call fails with the one typed outage error, whatever ioredis threw.
        await assert.rejects(store.claimSignature('during', 60_000), StoreUnavailableError);
        await assert.rejects(store.acquireWalletLock('w', 'a'), StoreUnavailableError);
        await assert.rejects(store.listAgentsInStates(['running']), StoreUnavailableError);
        assert.ok(errors.length > 0, 'connection errors were reported to onError');
        back = await startRedisServer(Number(new URL(own.url).port));
        let recovered = false;
        for (let i = 0; i < 100 && !recovered; i++) {
          recovered = await store.claimSignature(`after-${i}`, 60_000).catch(() => false);
          if (!recovered) await sleep(200);
        }
        assert.equal(recovered, true, 'the same store works again once the server is back');
      } finally {
        await store.close();
        await back?.stop();
      }
    });

    it('createStore validates config, connects, and fails fast on a dead server', async () => {
      const s = await createStore({ kind: 'redis', url: server.url, prefix: 't:create:' });
      assert.equal(s.kind, 'redis');
      assert.equal(await s.claimSignature('x', 1000), true);
      await s.close();
      await assert.rejects(createStore({ kind: 'redis', url: '' }));
      await assert.rejects(createStore({ kind: 'redis', url: server.url, prefix: 'bad{prefix}' }));
      const dead = new URL(server.url);
      dead.port = String(Number(dead.port) === 65535 ? 1 : Number(dead.port) + 1); // nothing listens there (loopback)
      await assert.rejects(createStore({ kind: 'redis', url: dead.toString() }));
    });
  });
});

describe('redis cluster (3 masters on loopback)', () => {
  let cluster: RunningRedis;
  before(async () => {
    cluster = await startRedisCluster();
  });
  after(async () => {
    await cluster?.stop();
  });

  it('really is a cluster that refuses cross-slot commands (so the suite below proves the key layout)', async () => {
    const c = new Cluster(cluster.nodes.map((n) => ({ host: '127.0.0.1', port: Number(n.split(':')[1]) })));
    try {
      await assert.rejects(c.mget('{a}x', '{b}y'), /CROSSSLOT/);
      assert.equal(Object.keys(await c.nodes('master')).length, 3);
    } finally {
      c.disconnect();
    }
  });

  runStoreConformance('redis-cluster', async (ns) => {
    const s = (await createStore({ kind: 'redis-cluster', nodes: cluster.nodes, prefix: `t:${ns}:` })) as RedisStore;
    return s;
  });
});
