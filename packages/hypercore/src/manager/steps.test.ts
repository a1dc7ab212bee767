import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runPlan, StepFailed, type Step } from './steps.ts';

function world() {
  const have = new Set<string>();
  const log: string[] = [];
  const step = (name: string, fail = false): Step => ({
    name,
    shouldDo: () => !have.has(name),
    do: async () => {
      log.push(`do ${name}`);
      if (fail) throw new Error(`${name} broke`);
      have.add(name);
    },
    undo: async () => {
      log.push(`undo ${name}`);
      have.delete(name);
    },
  });
  return { have, log, step };
}

test('a plan skips what is done and is idempotent', async () => {
  const w = world();
  await runPlan([w.step('a'), w.step('b')]);
  await runPlan([w.step('a'), w.step('b')]);
  assert.deepEqual(w.log, ['do a', 'do b']);
});

test('a failing step rolls back the earlier ones in reverse and names itself', async () => {
  const w = world();
  w.have.add('pre'); // done by an earlier run: not ours to undo
  await assert.rejects(runPlan([w.step('pre'), w.step('a'), w.step('b'), w.step('c', true), w.step('d')]), (e: unknown) => {
    assert.ok(e instanceof StepFailed);
    assert.equal(e.step, 'c');
    assert.match(e.message, /c broke/);
    return true;
  });
  assert.deepEqual(w.log, ['do a', 'do b', 'do c', 'undo c', 'undo b', 'undo a']);
  assert.deepEqual([...w.have], ['pre']);
});

test('abort stops before the next step and rolls back', async () => {
  const w = world();
  const ac = new AbortController();
  const stepA = w.step('a');
  const inner = stepA.do;
  stepA.do = async () => {
    await inner();
    ac.abort(new Error('stop requested'));
  };
  await assert.rejects(runPlan([stepA, w.step('b')], { signal: ac.signal }), /b: stop requested/);
  assert.deepEqual(w.log, ['do a', 'undo a']);
});
