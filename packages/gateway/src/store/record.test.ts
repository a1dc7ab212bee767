import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StoreError } from './errors.ts';
import { applyPatch, hashToRecord, normalizePatch, patchToHashOps, recordToHash, validateRecord } from './record.ts';
import type { AgentRecord } from './types.ts';

const base: AgentRecord = {
  id: 'a',
  wallet: 'w',
  agentType: 'chat',
  image: 'agent-chat',
  tier: 'basic',
  cores: 1,
  memoryMib: 1024,
  nodeId: 'n',
  state: 'running',
  accessTokenHash: 'h',
  spawnedAt: 1_764_000_000_123,
  uptimeMs: 10,
};

describe('record rules', () => {
  it('validateRecord drops unknown keys and keeps absent optionals absent', () => {
    const clean = validateRecord({ ...base, extra: 'x', reason: undefined } as AgentRecord);
    assert.deepEqual(clean, base);
    assert.equal(Object.hasOwn(clean, 'reason'), false);
  });

  it('validateRecord refuses non-integers, negatives, unknown states and bad targets', () => {
    for (const bad of [{ cores: 1.5 }, { uptimeMs: -1 }, { state: 'gone' }, { target: { host: '', port: 1 } }, { spawnedAt: Number.MAX_SAFE_INTEGER + 2 }, { wallet: 7 }]) {
      assert.throws(() => validateRecord({ ...base, ...bad } as unknown as AgentRecord), (e: unknown) => e instanceof StoreError && e.code === 'invalid', JSON.stringify(bad));
    }
  });

  it('hash codec round-trips a full record exactly', () => {
    const full: AgentRecord = { ...base, reason: '', target: { host: '10.200.1.2', port: 65535 }, readyAt: 2, stoppedAt: 3, runningSince: 4 };
    assert.deepEqual(hashToRecord(recordToHash(full)), full);
    assert.deepEqual(hashToRecord(recordToHash(base)), base);
  });

  it('applyPatch folds first, then unsets and sets', () => {
    const open = { ...base, runningSince: 1000, reason: 'x' };
    const p = normalizePatch({ state: 'stopped', reason: undefined, runningSince: 5000 });
    assert.deepEqual(applyPatch(open, p, 1600), { ...base, state: 'stopped', uptimeMs: 610, runningSince: 5000 });
    assert.deepEqual(applyPatch(open, normalizePatch({}), undefined), open, 'no close, no change');
  });

  it('patchToHashOps splits target into its two hash fields', () => {
    assert.deepEqual(patchToHashOps(normalizePatch({ target: { host: 'h', port: 2 } })), { set: [['targetHost', 'h'], ['targetPort', '2']], unset: [] });
    assert.deepEqual(patchToHashOps(normalizePatch({ target: undefined })), { set: [], unset: ['targetHost', 'targetPort'] });
  });
});
