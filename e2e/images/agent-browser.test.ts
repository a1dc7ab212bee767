import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { waitForStatus } from '../gateway/helpers.ts';
import { startStack, type Stack } from '../harness/stack.ts';
import { DEFAULT_TIERS } from '@romulus/shared';
import {
  AGENT_BOOT_TIMEOUT_MS,
  SLOW_BOOT_LIFECYCLE,
  SLOW_BOOT_NODE,
  asAgent,
  assertAgentRootfs,
  assertGuestShape,
  guestMemory,
  vmExec,
  BROWSER_PAGE_TITLE,
  BROWSER_TITLE_SCRIPT,
} from './helpers.ts';

/**
 * agent-browser on a real VM (standard tier: 2 vCPUs, 2048 MiB): Debian's Chromium, driven by
 * playwright-core inside the VM as the agent user, loads a page served inside the VM and returns its
 * title. A basic-tier wallet is refused at spawn with a clear error (the image needs 2048 MiB).
 */
let stack: Stack | undefined;

before(async () => {
  stack = await startStack({ requireImages: ['agent-browser'], gateway: { lifecycle: SLOW_BOOT_LIFECYCLE }, node: SLOW_BOOT_NODE });
});
after(async () => {
  await stack?.close();
});

describe('agent-browser on a real VM', { timeout: 50 * 60_000 }, () => {
  let id = '';

  it('a basic-tier wallet is refused: the image needs more than the tier', async () => {
    const s = stack!;
    const small = await s.newWallet(100_000);
    const r = await s.request('POST', '/spawn', { wallet: small, body: { agent_type: 'browser' } });
    assert.equal(r.status, 403, JSON.stringify(r.json));
    assert.match(r.json.error.message, /basic/);
    assert.match(r.json.error.message, /2048/);
  });

  it('spawns in the standard tier and becomes ready', async (t) => {
    const s = stack!;
    const owner = await s.newWallet(500_000);
    const r = await s.request('POST', '/spawn', { wallet: owner, body: { agent_type: 'browser' } });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.equal(r.json.agent.tier, 'standard');
    id = r.json.agent.id;
    const running = await waitForStatus(s, owner, id, ['running', 'failed'], AGENT_BOOT_TIMEOUT_MS);
    assert.equal(running.status, 'running', JSON.stringify(running));
    const vm = await s.nodeClient.getVm(id);
    t.diagnostic(`boot to ready (${vm?.accel}): ${((running.ready_at - running.spawned_at) / 1000).toFixed(1)} s`);
  });

  it('Chromium via playwright-core loads a page served inside the VM and returns its title', async () => {
    const s = stack!;
    const r = await vmExec(s, id, asAgent(BROWSER_TITLE_SCRIPT), { timeoutMs: 600_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), BROWSER_PAGE_TITLE);
  });

  it('has the standard tier vCPUs and memory, and the rootfs its recipe pins; reports its idle memory', async (t) => {
    await assertGuestShape(stack!, id, { vcpus: DEFAULT_TIERS.standard.cores, memoryMib: DEFAULT_TIERS.standard.memory });
    await assertAgentRootfs(stack!, id, 'agent-browser');
    const m = await guestMemory(stack!, id);
    t.diagnostic(`idle: ${JSON.stringify({ ...m, raw: undefined })}`);
  });
});
