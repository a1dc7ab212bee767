import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { StoreError } from './errors.ts';
import type { AgentRecord, Store } from './types.ts';

/**
 * Opens a store on a namespace. Two calls with the same namespace must give two independent instances
 * (connections) on the same backing data; different namespaces must not see each other's data.
 */
export type MakeStore = (namespace: string) => Promise<Store>;

const uid = (p: string) => `${p}-${randomBytes(6).toString('hex')}`;
// Realistic epoch-ms values: 13 digits, past where naive float formatting would switch to exponents.
const T0 = 1_764_000_000_123;

function fullRecord(over: Partial<AgentRecord> = {}): AgentRecord {
  return {
    id: uid('ag'),
    wallet: uid('w'),
    agentType: 'chat',
    image: 'agent-chat',
    tier: 'standard',
    cores: 2,
    memoryMib: 2048,
    nodeId: 'node-1',
    state: 'running',
    reason: 'a reason with ünïcode, commas, and "quotes"',
    accessTokenHash: 'ab'.repeat(32),
    target: { host: '10.200.3.7', port: 18789 },
    spawnedAt: T0,
    readyAt: T0 + 4_321,
    stoppedAt: T0 + 9_999,
    runningSince: T0 + 4_321,
    uptimeMs: 77,
    ...over,
  };
}

function minimalRecord(over: Partial<AgentRecord> = {}): AgentRecord {
  return {
    id: uid('ag'),
    wallet: uid('w'),
    agentType: 'coding',
    image: 'agent-coding',
    tier: 'basic',
    cores: 1,
    memoryMib: 1024,
    nodeId: 'node-1',
    state: 'starting',
    accessTokenHash: 'cd'.repeat(32),
    spawnedAt: T0,
    uptimeMs: 0,
    ...over,
  };
}

const ids = (rs: AgentRecord[]) => rs.map((r) => r.id).sort();
const isInvalid = (e: unknown) => e instanceof StoreError && e.code === 'invalid';

export function runStoreConformance(name: string, makeStore: MakeStore): void {
  describe(`store conformance: ${name}`, () => {
    const opened: Store[] = [];
    const open = async (ns: string) => {
      const s = await makeStore(ns);
      opened.push(s);
      return s;
    };
    /** Two instances on one fresh namespace. */
    const pair = async () => {
      const ns = uid('ns');
      return [await open(ns), await open(ns)] as const;
    };
    after(async () => {
      for (const s of opened) await s.close().catch(() => {});
    });

    describe('claimSignature', () => {
      it('is true the first time and false afterwards, also from another instance', async () => {
        const [a, b] = await pair();
        const sig = uid('sig');
        assert.equal(await a.claimSignature(sig, 60_000), true);
        assert.equal(await a.claimSignature(sig, 60_000), false);
        assert.equal(await b.claimSignature(sig, 60_000), false);
      });

      it('keeps signatures independent', async () => {
        const [a] = await pair();
        const s1 = uid('sig');
        const s2 = uid('sig');
        assert.equal(await a.claimSignature(s1, 60_000), true);
        assert.equal(await a.claimSignature(s2, 60_000), true);
        assert.equal(await a.claimSignature(s1, 60_000), false);
        assert.equal(await a.claimSignature(s2, 60_000), false);
      });

      it('lets exactly one of many concurrent claims win', async () => {
        const [a, b] = await pair();
        const sig = uid('sig');
        const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).claimSignature(sig, 60_000)));
        assert.equal(results.filter(Boolean).length, 1);
      });

      it('forgets a signature after its ttl', async () => {
        const [a] = await pair();
        const sig = uid('sig');
        assert.equal(await a.claimSignature(sig, 200), true);
        // Poll rather than assert a deadline: the machine is shared and timers are late under load.
        let again = false;
        for (let i = 0; i < 100 && !again; i++) {
          await sleep(200);
          again = await a.claimSignature(sig, 60_000);
        }
        assert.equal(again, true, 'claim succeeds again once the ttl passed');
        assert.equal(await a.claimSignature(sig, 60_000), false, 'and the new claim holds');
      });

      it('rejects an empty signature or a bad ttl', async () => {
        const [a] = await pair();
        await assert.rejects(a.claimSignature('', 1000), isInvalid);
        await assert.rejects(a.claimSignature(uid('sig'), 0), isInvalid);
        await assert.rejects(a.claimSignature(uid('sig'), 1.5), isInvalid);
      });
    });

    describe('wallet lock', () => {
      it('grants exactly one of 20 concurrent acquires across two instances; the rest see the holder', async () => {
        const [a, b] = await pair();
        const wallet = uid('w');
        const agents = Array.from({ length: 20 }, () => uid('ag'));
        const results = await Promise.all(agents.map((id, i) => (i % 2 ? a : b).acquireWalletLock(wallet, id)));
        const winners = agents.filter((_, i) => results[i].acquired);
        assert.equal(winners.length, 1);
        for (const r of results) if (!r.acquired) assert.equal(r.holder, winners[0]);
        assert.equal(await a.getWalletLock(wallet), winners[0]);
        assert.equal(await b.getWalletLock(wallet), winners[0]);
      });

      it('is free (null) for an unknown wallet and independent per wallet', async () => {
        const [a] = await pair();
        const w1 = uid('w');
        const w2 = uid('w');
        assert.equal(await a.getWalletLock(w1), null);
        assert.deepEqual(await a.acquireWalletLock(w1, 'ag-1'), { acquired: true });
        assert.deepEqual(await a.acquireWalletLock(w2, 'ag-2'), { acquired: true });
        assert.equal(await a.getWalletLock(w2), 'ag-2');
      });

      it('re-acquire by the holder succeeds; release by a non-holder does nothing', async () => {
        const [a, b] = await pair();
        const wallet = uid('w');
        assert.deepEqual(await a.acquireWalletLock(wallet, 'ag-1'), { acquired: true });
        assert.deepEqual(await b.acquireWalletLock(wallet, 'ag-1'), { acquired: true });
        await b.releaseWalletLock(wallet, 'ag-2');
        assert.equal(await a.getWalletLock(wallet), 'ag-1');
        assert.deepEqual(await b.acquireWalletLock(wallet, 'ag-2'), { acquired: false, holder: 'ag-1' });
      });

      it('release then re-acquire by another agent works, across instances', async () => {
        const [a, b] = await pair();
        const wallet = uid('w');
        assert.deepEqual(await a.acquireWalletLock(wallet, 'ag-1'), { acquired: true });
        await b.releaseWalletLock(wallet, 'ag-1');
        assert.equal(await a.getWalletLock(wallet), null);
        await b.releaseWalletLock(wallet, 'ag-1'); // releasing a free lock is harmless
        assert.deepEqual(await a.acquireWalletLock(wallet, 'ag-2'), { acquired: true });
        assert.equal(await b.getWalletLock(wallet), 'ag-2');
      });
    });

    describe('agents', () => {
      it('round-trips every field of a full record', async () => {
        const [a, b] = await pair();
        const rec = fullRecord();
        await a.createAgent(rec);
        assert.deepEqual(await a.getAgent(rec.id), rec);
        assert.deepEqual(await b.getAgent(rec.id), rec, 'visible to the other instance');
      });

      it('keeps absent optional fields absent', async () => {
        const [a] = await pair();
        const rec = minimalRecord();
        await a.createAgent(rec);
        const got = await a.getAgent(rec.id);
        assert.deepEqual(got, rec);
        for (const k of ['reason', 'target', 'readyAt', 'stoppedAt', 'runningSince']) assert.equal(Object.hasOwn(got!, k), false, `${k} absent`);
      });

      it('returns null for an unknown agent', async () => {
        const [a] = await pair();
        assert.equal(await a.getAgent(uid('ag')), null);
      });

      it('counts a spawn per created agent, once per id even when createAgent is retried', async () => {
        const [a, b] = await pair();
        const wallet = uid('w');
        assert.equal(await a.getSpawnCount(wallet), 0);
        const r1 = minimalRecord({ wallet });
        await a.createAgent(r1);
        await b.createAgent(r1); // retry of the same spawn
        await a.createAgent(minimalRecord({ wallet }));
        await b.createAgent(minimalRecord({ wallet }));
        assert.equal(await a.getSpawnCount(wallet), 3);
        assert.equal(await b.getSpawnCount(wallet), 3);
        assert.equal((await a.listAgentsByWallet(wallet)).length, 3);
      });

      it('refuses an existing id for another wallet, and leaves the record alone', async () => {
        const [a] = await pair();
        const rec = minimalRecord();
        await a.createAgent(rec);
        const other = { ...rec, wallet: uid('w') };
        await assert.rejects(a.createAgent(other), (e: unknown) => e instanceof StoreError && e.code === 'conflict');
        assert.deepEqual(await a.getAgent(rec.id), rec);
        assert.equal(await a.getSpawnCount(other.wallet), 0);
      });

      it('refuses invalid records and persists nothing', async () => {
        const [a] = await pair();
        const bad: unknown[] = [
          { ...minimalRecord(), cores: -1 },
          { ...minimalRecord(), state: 'bogus' },
          { ...minimalRecord(), id: '' },
          { ...minimalRecord(), spawnedAt: 1.5 },
          { ...minimalRecord(), target: { host: 'h', port: 70000 } },
        ];
        for (const rec of bad) {
          await assert.rejects(a.createAgent(rec as AgentRecord), isInvalid);
          const r = rec as AgentRecord;
          if (r.id) assert.equal(await a.getAgent(r.id), null);
          assert.equal(await a.getSpawnCount(r.wallet), 0);
        }
      });

      it('counts concurrent spawns of one wallet from two instances exactly', async () => {
        const [a, b] = await pair();
        const wallet = uid('w');
        await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 2 ? a : b).createAgent(minimalRecord({ wallet, spawnedAt: T0 + i }))));
        assert.equal(await a.getSpawnCount(wallet), 12);
        assert.equal((await b.listAgentsByWallet(wallet)).length, 12);
      });
    });

    describe('updateAgent', () => {
      it('applies a patch unconditionally and returns the new record', async () => {
        const [a, b] = await pair();
        const rec = minimalRecord();
        await a.createAgent(rec);
        const next = await a.updateAgent(rec.id, { state: 'running', readyAt: T0 + 5, target: { host: '10.200.0.2', port: 8080 } });
        const expected = { ...rec, state: 'running' as const, readyAt: T0 + 5, target: { host: '10.200.0.2', port: 8080 } };
        assert.deepEqual(next, expected);
        assert.deepEqual(await b.getAgent(rec.id), expected);
      });

      it('applies with ifStateIn when the state matches, and not otherwise', async () => {
        const [a] = await pair();
        const rec = minimalRecord({ state: 'running' });
        await a.createAgent(rec);
        assert.equal(await a.updateAgent(rec.id, { state: 'failed', reason: 'x' }, { ifStateIn: ['starting', 'stopping'] }), null);
        assert.deepEqual(await a.getAgent(rec.id), rec, 'unchanged');
        assert.equal(await a.updateAgent(rec.id, { state: 'failed' }, { ifStateIn: [] }), null, 'empty allow-list matches nothing');
        const next = await a.updateAgent(rec.id, { state: 'stopping' }, { ifStateIn: ['starting', 'running'] });
        assert.equal(next?.state, 'stopping');
        assert.equal((await a.getAgent(rec.id))?.state, 'stopping');
      });

      it('returns null for an unknown agent and creates nothing', async () => {
        const [a] = await pair();
        const id = uid('ag');
        assert.equal(await a.updateAgent(id, { state: 'failed' }), null);
        assert.equal(await a.getAgent(id), null);
        assert.deepEqual(await a.listAgentsInStates(['failed']), []);
      });

      it('removes optional fields given as undefined, ignores undefined required ones', async () => {
        const [a] = await pair();
        const rec = fullRecord();
        await a.createAgent(rec);
        const next = await a.updateAgent(rec.id, { reason: undefined, target: undefined, stoppedAt: undefined, tier: undefined });
        const { reason: _r, target: _t, stoppedAt: _s, ...rest } = rec;
        assert.deepEqual(next, rest);
        assert.deepEqual(await a.getAgent(rec.id), rest);
      });

      it('refuses invalid patches without changing the record', async () => {
        const [a] = await pair();
        const rec = minimalRecord();
        await a.createAgent(rec);
        await assert.rejects(a.updateAgent(rec.id, { state: 'nope' as never }), isInvalid);
        await assert.rejects(a.updateAgent(rec.id, { cores: -2 }), isInvalid);
        await assert.rejects(a.updateAgent(rec.id, { wallet: 'other' } as never), isInvalid);
        await assert.rejects(a.updateAgent(rec.id, {}, { ifStateIn: ['weird' as never] }), isInvalid);
        assert.deepEqual(await a.getAgent(rec.id), rec);
      });

      it('lets exactly one of concurrent conditional transitions win, across instances', async () => {
        const [a, b] = await pair();
        const rec = minimalRecord({ state: 'running' });
        await a.createAgent(rec);
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => (i % 2 ? a : b).updateAgent(rec.id, { state: i % 3 ? 'stopping' : 'failed', reason: `r${i}` }, { ifStateIn: ['running'] })),
        );
        const applied = results.filter((r) => r !== null);
        assert.equal(applied.length, 1);
        assert.deepEqual(await a.getAgent(rec.id), applied[0]);
      });
    });

    describe('usage intervals (closeRunningAt)', () => {
      it('folds two running intervals into uptimeMs and clears runningSince', async () => {
        const [a, b] = await pair();
        const rec = minimalRecord({ state: 'starting' });
        await a.createAgent(rec);
        await a.updateAgent(rec.id, { state: 'running', runningSince: T0 + 1_000 });
        let r = await b.updateAgent(rec.id, { state: 'stopped' }, { closeRunningAt: T0 + 3_500 });
        assert.equal(r?.uptimeMs, 2_500);
        assert.equal(Object.hasOwn(r!, 'runningSince'), false);
        await a.updateAgent(rec.id, { state: 'running', runningSince: T0 + 10_000 });
        r = await b.updateAgent(rec.id, { state: 'stopped', stoppedAt: T0 + 10_600 }, { closeRunningAt: T0 + 10_600 });
        assert.equal(r?.uptimeMs, 3_100);
        assert.deepEqual(await a.getAgent(rec.id), r);
      });

      it('does nothing without an open interval, counts a negative interval as zero', async () => {
        const [a] = await pair();
        const rec = minimalRecord({ uptimeMs: 40 });
        await a.createAgent(rec);
        assert.equal((await a.updateAgent(rec.id, {}, { closeRunningAt: T0 + 99 }))?.uptimeMs, 40);
        await a.updateAgent(rec.id, { runningSince: T0 + 500 });
        const r = await a.updateAgent(rec.id, {}, { closeRunningAt: T0 + 100 });
        assert.equal(r?.uptimeMs, 40);
        assert.equal(Object.hasOwn(r!, 'runningSince'), false);
      });

      it('closes and reopens in one call (fold first, then the patch)', async () => {
        const [a] = await pair();
        const rec = minimalRecord({ state: 'running', runningSince: T0 });
        await a.createAgent(rec);
        const r = await a.updateAgent(rec.id, { runningSince: T0 + 700 }, { closeRunningAt: T0 + 700 });
        assert.equal(r?.uptimeMs, 700);
        assert.equal(r?.runningSince, T0 + 700);
      });

      it('does not fold when the state condition fails', async () => {
        const [a] = await pair();
        const rec = minimalRecord({ state: 'running', runningSince: T0 });
        await a.createAgent(rec);
        assert.equal(await a.updateAgent(rec.id, { state: 'stopped' }, { ifStateIn: ['stopping'], closeRunningAt: T0 + 5_000 }), null);
        assert.deepEqual(await a.getAgent(rec.id), rec);
      });

      it('keeps large sums exact', async () => {
        const [a] = await pair();
        const big = 2 ** 52; // far beyond any real uptime, still a safe integer
        const rec = minimalRecord({ state: 'running', runningSince: T0, uptimeMs: big });
        await a.createAgent(rec);
        const r = await a.updateAgent(rec.id, {}, { closeRunningAt: T0 + 123_457 });
        assert.equal(r?.uptimeMs, big + 123_457);
      });
    });

    describe('listings', () => {
      it('lists a wallet’s agents in spawn order, and only that wallet’s', async () => {
        const [a, b] = await pair();
        const wallet = uid('w');
        const r2 = minimalRecord({ wallet, spawnedAt: T0 + 2 });
        const r1 = minimalRecord({ wallet, spawnedAt: T0 + 1 });
        await a.createAgent(r2);
        await b.createAgent(r1);
        await a.createAgent(minimalRecord());
        assert.deepEqual(await a.listAgentsByWallet(wallet), [r1, r2]);
        await b.updateAgent(r1.id, { state: 'failed', reason: 'vm gone' });
        const listed = await a.listAgentsByWallet(wallet);
        assert.equal(listed[0].state, 'failed');
        assert.equal(listed[0].reason, 'vm gone');
        assert.deepEqual(await a.listAgentsByWallet(uid('w')), []);
      });

      it('lists agents by state and follows state changes', async () => {
        const [a, b] = await pair();
        const starting = minimalRecord({ state: 'starting' });
        const running = minimalRecord({ state: 'running', spawnedAt: T0 + 1 });
        const stopped = minimalRecord({ state: 'stopped', spawnedAt: T0 + 2 });
        for (const r of [starting, running, stopped]) await a.createAgent(r);
        assert.deepEqual(ids(await b.listAgentsInStates(['starting', 'running'])), ids([starting, running]));
        assert.deepEqual(ids(await b.listAgentsInStates(['stopped'])), [stopped.id]);
        assert.deepEqual(await b.listAgentsInStates([]), []);

        await b.updateAgent(starting.id, { state: 'running' });
        assert.deepEqual(await a.listAgentsInStates(['starting']), [], 'left the old state');
        assert.deepEqual(ids(await a.listAgentsInStates(['running'])), ids([starting, running]));
        await a.updateAgent(running.id, { state: 'failed' }, { ifStateIn: ['running'] });
        assert.deepEqual(ids(await a.listAgentsInStates(['running'])), [starting.id]);
        assert.deepEqual(ids(await a.listAgentsInStates(['failed', 'failed'])), [running.id]);
        assert.deepEqual(ids(await a.listAgentsInStates(['starting', 'running', 'stopping', 'stopped', 'failed'])), ids([starting, running, stopped]));
      });
    });

    describe('close', () => {
      it('is idempotent, later calls reject, and other instances keep working', async () => {
        const [a, b] = await pair();
        const rec = minimalRecord();
        await a.createAgent(rec);
        await a.close();
        await a.close();
        await assert.rejects(a.getAgent(rec.id));
        await assert.rejects(a.claimSignature(uid('sig'), 1000));
        assert.deepEqual(await b.getAgent(rec.id), rec);
      });
    });
  });
}
