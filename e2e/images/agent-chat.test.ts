import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { agentRequest, waitForStatus } from '../gateway/helpers.ts';
import { startStack, type Stack } from '../harness/stack.ts';
import { DEFAULT_TIERS } from '@romulus/shared';
import {
  AGENT_BOOT_TIMEOUT_MS,
  SLOW_BOOT_LIFECYCLE,
  SLOW_BOOT_NODE,
  assertAgentRootfs,
  assertGuestShape,
  captureOutput,
  envHashScript,
  filesContaining,
  guestMemory,
  vmExec,
} from './helpers.ts';

/**
 * agent-chat (OpenClaw) on a real VM in the basic tier (1 vCPU, 1024 MiB), spawned through the gateway
 * with a model key as a secret: boots to ready (/readyz), answers through the agent URL with the access
 * token (which is also OpenClaw's own gateway token) and refuses without it, has the key in its
 * environment, and the key is nowhere on the host's disk or in its logs. Memory figures from inside the
 * guest are printed. One VM for all assertions: TCG boots of OpenClaw take minutes.
 */
const output = captureOutput();
const modelKey = `sk-ant-romulus-e2e-${randomBytes(16).toString('hex')}`;
let stack: Stack | undefined;

before(async () => {
  stack = await startStack({
    requireImages: ['agent-chat'],
    // OpenClaw under TCG on a shared 2-core host can take well over the default 10 min to get ready.
    gateway: { ingress: { passTokenToAgent: true }, lifecycle: SLOW_BOOT_LIFECYCLE },
    node: SLOW_BOOT_NODE,
  });
});
after(async () => {
  await stack?.close();
  output.stop();
});

describe('agent-chat on a real VM', { timeout: 40 * 60_000 }, () => {
  let id = '';
  let token = '';

  it('spawns in the basic tier and becomes ready', async (t) => {
    const s = stack!;
    const owner = await s.newWallet(100_000);
    const r = await s.request('POST', '/spawn', { wallet: owner, body: { agent_type: 'chat', secrets: { ANTHROPIC_API_KEY: modelKey } } });
    assert.equal(r.status, 201, JSON.stringify(r.json));
    assert.equal(r.json.agent.tier, 'basic');
    id = r.json.agent.id;
    token = r.json.agent.access_token;
    // While it boots, sample the guest's memory once a minute (how start-up uses RAM and zram under TCG).
    const sampler = setInterval(() => {
      guestMemory(s, id)
        .then((m) => t.diagnostic(`starting: ${JSON.stringify({ ...m, raw: undefined })}`))
        .catch(() => {});
    }, 60_000);
    const running = await waitForStatus(s, owner, id, ['running', 'failed'], AGENT_BOOT_TIMEOUT_MS).finally(() => clearInterval(sampler));
    assert.equal(running.status, 'running', JSON.stringify(running));
    const vm = await s.nodeClient.getVm(id);
    assert.equal(vm?.memoryMib, DEFAULT_TIERS.basic.memory);
    assert.equal(vm?.vcpus, DEFAULT_TIERS.basic.cores);
    t.diagnostic(`boot to ready (${vm?.accel}): ${((running.ready_at - running.spawned_at) / 1000).toFixed(1)} s; timings ${JSON.stringify(vm?.timings)}`);
  });

  it("answers through the agent URL with the token, and refuses without (ingress and OpenClaw's own auth)", async () => {
    const s = stack!;
    const auth = { authorization: `Bearer ${token}` };
    const ready = await agentRequest(s, id, '/readyz', auth);
    assert.equal(ready.status, 200, ready.body);
    const models = await agentRequest(s, id, '/v1/models', auth);
    assert.equal(models.status, 200, models.body);
    assert.match(models.body, /"openclaw/, "OpenClaw's OpenAI-compatible model list");
    assert.equal((await agentRequest(s, id, '/v1/models')).status, 401);
    assert.equal((await agentRequest(s, id, '/v1/models', { authorization: 'Bearer wrong-token' })).status, 401);
    // Past the ingress, OpenClaw checks the token itself (defence in depth).
    const inside = await vmExec(s, id, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:18789/v1/models']);
    assert.equal(inside.stdout, '401');
  });

  it('runs OpenClaw as the unprivileged agent user with the model key in its environment', async () => {
    const s = stack!;
    const hash = await vmExec(s, id, envHashScript('[o]penclaw-gateway', 'ANTHROPIC_API_KEY'));
    assert.equal(hash.stdout.trim(), createHash('sha256').update(modelKey).digest('hex'));
    // Every OpenClaw process (gateway and its workers) runs as uid 1000, none as root.
    const uid = await vmExec(s, id, ['sh', '-c', "for p in /proc/[0-9]*; do [ $p = /proc/$$ ] && continue; if grep -q '[o]penclaw' $p/cmdline 2>/dev/null; then sed -n 's/^Uid:[[:space:]]*\\([0-9]*\\).*/\\1/p' $p/status; fi; done | sort -u"]);
    assert.equal(uid.stdout.trim(), '1000', `OpenClaw runs as uid 1000 only, got ${JSON.stringify(uid.stdout)}`);
  });

  it('fits the basic tier: its vCPUs and memory in the guest, the rootfs its recipe pins, zram swap on, memory measured', async (t) => {
    const s = stack!;
    await assertGuestShape(s, id, { vcpus: DEFAULT_TIERS.basic.cores, memoryMib: DEFAULT_TIERS.basic.memory });
    await assertAgentRootfs(s, id, 'agent-chat');
    const swaps = await vmExec(s, id, ['cat', '/proc/swaps']);
    assert.match(swaps.stdout, /\/dev\/zram0/, 'compressed swap is active');
    const atReady = await guestMemory(s, id);
    t.diagnostic(`at ready: ${JSON.stringify({ ...atReady, raw: undefined })}`);
    // Idle a while (OpenClaw finishes its start-up work after /readyz), then measure again.
    await new Promise((r) => setTimeout(r, 90_000));
    const idle = await guestMemory(s, id);
    t.diagnostic(`idle: ${JSON.stringify({ ...idle, raw: undefined })}`);
    const zram = await vmExec(s, id, ['sh', '-c', 'cat /sys/block/zram0/mm_stat 2>/dev/null || true']);
    t.diagnostic(`zram mm_stat (orig compr mem_used ...): ${zram.stdout.trim()}`);
    const still = await agentRequest(s, id, '/readyz', { authorization: `Bearer ${token}` });
    assert.equal(still.status, 200, 'still serving after idling in 1024 MiB');
    assert.equal((await s.nodeClient.getVm(id))?.state, 'running');
  });

  it('the model key is nowhere on the host disk or in its logs', async () => {
    const s = stack!;
    assert.deepEqual(filesContaining(s.dir, modelKey), [], 'not in the node/gateway/chain state, VM dirs or console logs');
    assert.equal(output.text().includes(modelKey), false, 'not in the node or gateway logs');
  });
});
