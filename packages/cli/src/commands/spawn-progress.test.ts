import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AgentStatus } from '@romulus/sdk';
import { SpawnProgress, waitingFor } from './spawn-progress.ts';

const at = (status: string, phase?: string): AgentStatus => ({ id: 'ag-1', status, url: 'http://x', agent_type: 'base', spawned_at: 0, ...(phase ? { phase } : {}) });

test('a line per step with the time since spawn and the previous step, a reminder after a quiet stretch', () => {
  const lines: string[] = [];
  const p = new SpawnProgress((l) => lines.push(l.trim()), 1_000, 30_000);
  p.seen(at('starting', 'booting'), 2_000);
  p.seen(at('starting', 'booting'), 10_000); // no news, no reminder yet
  p.seen(at('starting', 'booting'), 32_000);
  p.seen(at('starting', 'starting-workload'), 40_500);
  p.seen(at('starting', 'awaiting-ready'), 41_000);
  p.seen(at('running'), 43_000);
  assert.deepEqual(lines, [
    '[  1.0s] VM booting',
    '[ 31.0s] still VM booting (30.0s so far)',
    '[ 39.5s] guest up, starting the workload; VM booting took 38.5s',
    '[ 40.0s] workload started, waiting for readiness; guest up, starting the workload took 0.5s',
    '[ 42.0s] running; workload started, waiting for readiness took 2.0s',
  ]);
});

test('without a phase (a node that did not answer) the status itself is shown', () => {
  assert.equal(waitingFor(at('starting')), 'starting');
  assert.equal(waitingFor(at('starting', 'preparing')), 'preparing the VM (disk, network)');
  assert.equal(waitingFor(at('running', 'booting')), 'running');
});
