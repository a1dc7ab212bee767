import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GUEST_ERROR_CODES, VM_FAILURE_CODES, type GuestErrorCode } from '@romulus/shared';
import { configureFailure, endsConfigure, failureOf, STEP_FAILURES, VmFailure } from './vm-failure.ts';

test('each guest error code either ends a configure (with the VM failure it stands for) or does not', () => {
  const table: Record<GuestErrorCode, string | null> = {
    MALFORMED_MESSAGE: null,
    UNKNOWN_MESSAGE: null,
    BAD_MESSAGE: null,
    SET_CLOCK_FAILED: null,
    BAD_CONFIGURE: 'CONFIGURE_REFUSED',
    ALREADY_CONFIGURED: 'CONFIGURE_REFUSED',
    WORKLOAD_START_FAILED: 'WORKLOAD_START_FAILED',
  };
  assert.deepEqual(Object.keys(table).sort(), [...GUEST_ERROR_CODES].sort(), 'the table covers every code');
  for (const code of GUEST_ERROR_CODES) {
    const expected = table[code];
    assert.equal(endsConfigure(code), expected !== null, code);
    if (expected) {
      const f = configureFailure(code, 'the text');
      assert.equal(f.code, expected, code);
      assert.match(f.message, /the text/);
    }
  }
  assert.equal(endsConfigure('bad configure: hostname'), false, 'a message is not a code');
  assert.equal(endsConfigure(undefined), false);
});

test('a VmFailure keeps its code and sentence; anything else is its step failure', () => {
  assert.deepEqual(failureOf('configure', new VmFailure('READY_TIMEOUT', 'workload was not ready within 5s')), {
    code: 'READY_TIMEOUT',
    reason: 'workload was not ready within 5s',
  });
  assert.deepEqual(failureOf('tap', new Error('EPERM')), { code: 'HOST_SETUP_FAILED', reason: 'could not create the TAP device: EPERM' });
  assert.deepEqual(failureOf('start-vmm', 'boom'), { code: 'VMM_START_FAILED', reason: 'the VMM failed to start: boom' });
  assert.deepEqual(failureOf('no-such-step', new Error('x')), { code: 'INTERNAL', reason: 'no-such-step: x' });
  for (const { code } of Object.values(STEP_FAILURES)) assert.ok(VM_FAILURE_CODES.includes(code));
});
