import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitForStatus } from '../gateway/helpers.ts';
import type { DerivedImage } from '../harness/images.ts';
import { startStack, type Stack } from '../harness/stack.ts';
import { DEFAULT_TIERS } from '@romulus/shared';
import {
  AGENT_BOOT_TIMEOUT_MS,
  SLOW_BOOT_LIFECYCLE,
  SLOW_BOOT_NODE,
  assertAgentRootfs,
  assertGuestShape,
  guestMemory,
  vmExec,
  BROWSER_PAGE_TITLE,
  BROWSER_TITLE_SCRIPT,
} from './helpers.ts';

/**
 * The tools of agent-coding and agent-browser on real VMs, independent of OpenClaw's (slow, under TCG)
 * start: the same root filesystems with the workload replaced by an idle process run as `agent`, so exec
 * "as the workload user" is the agent user. agent-coding.test.ts / agent-browser.test.ts check the same
 * with OpenClaw running.
 */
const idle = (from: string, minMemoryMib: number): DerivedImage => ({
  name: `${from}-tools`,
  from,
  patch: { command: ['/bin/sleep', 'infinity'], readiness: { type: 'none' }, agentPort: 0, user: 'agent', workdir: '/home/agent/workspace', minMemoryMib },
});

let stack: Stack | undefined;
before(async () => {
  stack = await startStack({
    requireImages: ['agent-coding', 'agent-browser'],
    derivedImages: [idle('agent-coding', 1024), idle('agent-browser', 2048)],
    gateway: { lifecycle: SLOW_BOOT_LIFECYCLE },
    node: SLOW_BOOT_NODE,
  });
});
after(async () => {
  await stack?.close();
});

async function spawn(agentType: string, tokens: number): Promise<string> {
  const s = stack!;
  const owner = await s.newWallet(tokens);
  const r = await s.request('POST', '/spawn', { wallet: owner, body: { agent_type: agentType } });
  assert.equal(r.status, 201, JSON.stringify(r.json));
  const running = await waitForStatus(s, owner, r.json.agent.id, ['running', 'failed'], AGENT_BOOT_TIMEOUT_MS);
  assert.equal(running.status, 'running', JSON.stringify(running));
  return r.json.agent.id;
}

const sh = (script: string) => ['sh', '-c', script];

describe('agent image tools on real VMs', { timeout: 40 * 60_000 }, () => {
  it('agent-coding: git, python3, gcc and tsc run as the agent user; TypeScript compiles in the workspace', async (t) => {
    const s = stack!;
    const id = await spawn('agent-coding-tools', 100_000);
    await assertGuestShape(s, id, { vcpus: DEFAULT_TIERS.basic.cores, memoryMib: DEFAULT_TIERS.basic.memory });
    await assertAgentRootfs(s, id, 'agent-coding');
    const as = { asWorkloadUser: true, timeoutMs: 300_000 };
    const who = await vmExec(s, id, sh('id -un; git --version; python3 -c "print(6 * 7)"; gcc --version | head -1'), as);
    assert.equal(who.code, 0, who.stderr);
    const [user, git, py, gcc] = who.stdout.trim().split('\n');
    assert.equal(user, 'agent');
    assert.match(git, /^git version \d+\./);
    assert.equal(py, '42');
    assert.match(gcc, /^gcc /);
    const tsc = await vmExec(s, id, ['tsc', '--version'], as);
    assert.equal(tsc.stdout.trim(), 'Version 5.9.3', tsc.stderr);
    const build = await vmExec(
      s,
      id,
      sh(
        [
          'set -e',
          'mkdir -p /home/agent/workspace/demo && cd /home/agent/workspace/demo',
          "printf 'const add = (a: number, b: number): number => a + b;\\nconsole.log(`sum=${add(20, 22)}`);\\n' > main.ts",
          'tsc --target es2022 --module nodenext --strict main.ts',
          'node main.js',
          'git init -q . && git -c user.email=a@b -c user.name=agent commit -qm init --allow-empty && git log --oneline | wc -l',
          'stat -f -c %T . && stat -c %U main.js',
        ].join('\n'),
      ),
      { asWorkloadUser: true, timeoutMs: 600_000 },
    );
    assert.equal(build.code, 0, build.stderr);
    assert.deepEqual(build.stdout.trim().split('\n'), ['sum=42', '1', 'overlayfs', 'agent'], 'compiled, ran, committed; workspace on the overlay root (VM disk) owned by agent');
    const m = await guestMemory(s, id);
    t.diagnostic(`agent-coding (idle workload) guest memory: ${JSON.stringify({ ...m, raw: undefined })}`);
  });

  it('agent-browser: Chromium via playwright-core loads a page served inside the VM and returns its title', async (t) => {
    const s = stack!;
    const id = await spawn('agent-browser-tools', 500_000);
    await assertGuestShape(s, id, { vcpus: DEFAULT_TIERS.standard.cores, memoryMib: DEFAULT_TIERS.standard.memory });
    await assertAgentRootfs(s, id, 'agent-browser');
    const r = await vmExec(s, id, sh(BROWSER_TITLE_SCRIPT), { asWorkloadUser: true, timeoutMs: 600_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), BROWSER_PAGE_TITLE);
    const m = await guestMemory(s, id);
    t.diagnostic(`agent-browser (idle workload) guest memory: ${JSON.stringify({ ...m, raw: undefined })}`);
  });
});
