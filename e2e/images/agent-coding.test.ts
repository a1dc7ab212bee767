import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitForStatus } from '../gateway/helpers.ts';
import { startStack, type Stack } from '../harness/stack.ts';
import { DEFAULT_TIERS } from '@romulus/shared';
import { AGENT_BOOT_TIMEOUT_MS, SLOW_BOOT_LIFECYCLE, SLOW_BOOT_NODE, asAgent, assertAgentRootfs, assertGuestShape, guestMemory, vmExec } from './helpers.ts';

/**
 * agent-coding on a real VM (basic tier): git, python3 and tsc run as the agent user, a TypeScript file
 * compiles and runs in the workspace, and the workspace is on the VM's own disk (the overlay root whose
 * upper layer is the per-VM disk), not on the shared read-only base. One VM for everything.
 */
let stack: Stack | undefined;

before(async () => {
  stack = await startStack({ requireImages: ['agent-coding'], gateway: { lifecycle: SLOW_BOOT_LIFECYCLE }, node: SLOW_BOOT_NODE });
});
after(async () => {
  await stack?.close();
});

describe('agent-coding on a real VM', { timeout: 40 * 60_000 }, () => {
  let id = '';

  it('spawns and becomes ready', async (t) => {
    const s = stack!;
    const owner = await s.newWallet(100_000);
    const r = await s.request('POST', '/spawn', { wallet: owner, body: { agent_type: 'coding' } });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    id = r.json.agent.id;
    const running = await waitForStatus(s, owner, id, ['running', 'failed'], AGENT_BOOT_TIMEOUT_MS);
    assert.equal(running.status, 'running', JSON.stringify(running));
    const vm = await s.nodeClient.getVm(id);
    t.diagnostic(`boot to ready (${vm?.accel}): ${((running.ready_at - running.spawned_at) / 1000).toFixed(1)} s`);
  });

  it('git, python3 and tsc run as the agent user', async () => {
    const s = stack!;
    const git = await vmExec(s, id, asAgent('git --version'));
    assert.equal(git.code, 0, git.stderr);
    assert.match(git.stdout, /^git version \d+\.\d+/);
    const py = await vmExec(s, id, asAgent('python3 -c "import sys; print(6 * 7, sys.version_info[0])"'));
    assert.equal(py.stdout.trim(), '42 3', py.stderr);
    const tsc = await vmExec(s, id, asAgent('tsc --version'), { timeoutMs: 300_000 });
    assert.equal(tsc.stdout.trim(), 'Version 5.9.3', tsc.stderr);
    const who = await vmExec(s, id, asAgent('id -un; gcc --version | head -1'));
    assert.match(who.stdout, /^agent\ngcc /);
  });

  it('compiles and runs TypeScript in the workspace, which lives on the VM disk', async () => {
    const s = stack!;
    const script = [
      'set -e',
      'cd /home/agent/workspace',
      'mkdir -p demo && cd demo',
      'git init -q . && git config user.email a@b && git config user.name agent',
      "printf 'const add = (a: number, b: number): number => a + b;\\nconsole.log(`sum=${add(20, 22)}`);\\n' > main.ts",
      'tsc --target es2022 --module nodenext --strict main.ts',
      'node main.js',
      'git add -A && git commit -qm init && git log --oneline | wc -l',
    ].join('\n');
    const r = await vmExec(s, id, asAgent(script), { timeoutMs: 600_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['sum=42', '1']);
    const fs = await vmExec(s, id, ['stat', '-f', '-c', '%T', '/home/agent/workspace/demo']);
    assert.equal(fs.stdout.trim(), 'overlayfs', 'the workspace is on the overlay root (upper layer = the VM disk)');
    const owner = await vmExec(s, id, ['stat', '-c', '%U', '/home/agent/workspace/demo/main.js']);
    assert.equal(owner.stdout.trim(), 'agent');
  });

  it('has the basic tier vCPUs and memory, and the rootfs its recipe pins; reports its idle memory', async (t) => {
    await assertGuestShape(stack!, id, { vcpus: DEFAULT_TIERS.basic.cores, memoryMib: DEFAULT_TIERS.basic.memory });
    await assertAgentRootfs(stack!, id, 'agent-coding');
    const m = await guestMemory(stack!, id);
    t.diagnostic(`idle: ${JSON.stringify({ ...m, raw: undefined })}`);
  });
});
