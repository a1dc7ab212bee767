/**
 * The `romulus` CLI end to end, as a user runs it: every step is the CLI as a subprocess against the real
 * single-node stack that `romulus up` starts (LiteSVM chain, node daemon with real QEMU microVMs on a
 * test bridge, gateway with SQLite), with real Ed25519 signatures from a keypair the CLI generated.
 *
 *   keygen → up → chain fund (basic tier) → tiers → spawn base --wait → status → agent URL (refused without the token,
 *   answered with it) → stop → usage (one spawn, uptime > 0) → down (bridge, TAPs, nft table, VMMs gone)
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { imagesDir, kernelPath } from '@romulus/shared';
import { agentFetch } from '@romulus/sdk';
import { linkExists, nftTables, pickTestNetwork, pidsMentioning, sweepLeftovers, tapPrefixOf } from '../harness/host-net.ts';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '..', '..');
const ROMULUS = path.join(ROOT, 'bin', 'romulus');
// TCG boots are slow and the machine is shared: generous limits, never thresholds.
const BOOT_TIMEOUT_S = 900;

const tmp = mkdtempSync(path.join(tmpdir(), 'romulus-e2e-cli-'));
const dataDir = path.join(tmp, 'data');
const net = pickTestNetwork();
const env: NodeJS.ProcessEnv = {
  ...process.env,
  HOME: tmp, // keygen's default ~/.config/solana/id.json lands in the temp dir
  ROMULUS_DATA_DIR: dataDir,
  ROMULUS_IMAGES_DIR: imagesDir(),
  ROMULUS_KERNEL: kernelPath(),
  ROMULUS_GATEWAY: '',
  ROMULUS_KEYPAIR: '',
};
delete env.ROMULUS_GATEWAY;
delete env.ROMULUS_KEYPAIR;

let up: ChildProcess | undefined;
let upExit: Promise<number | null> | undefined;
let upOutput = '';
let stack: { gateway: { url: string }; node: { url: string }; chain: { url: string; mint: string } };
let wallet: string;
let agent: { id: string; url: string; access_token: string };

async function romulus(args: string[], opts: { allowFail?: boolean; env?: NodeJS.ProcessEnv } = {}): Promise<{ code: number; stdout: string; stderr: string; json: any }> {
  try {
    const r = await run(ROMULUS, args, { env: { ...env, ...opts.env }, cwd: ROOT, timeout: (BOOT_TIMEOUT_S + 120) * 1000, maxBuffer: 16 << 20 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr, json: parseJson(r.stdout) };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (!opts.allowFail) throw new Error(`romulus ${args.join(' ')} failed (${e.code}):\n${e.stdout}\n${e.stderr}`);
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '', json: parseJson(e.stdout ?? '') };
  }
}

function parseJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

before(async () => {
  assert.equal(process.getuid?.(), 0, 'this suite runs as root (the node creates a bridge, TAPs, nftables rules, cgroups)');
  assert.ok(existsSync(kernelPath()), `no guest kernel at ${kernelPath()}: run scripts/setup.sh first`);
  assert.ok(existsSync(path.join(imagesDir(), 'base', 'rootfs.ext4')), `no base image in ${imagesDir()}: run scripts/setup.sh first`);
});

after(async () => {
  if (up && up.exitCode === null && up.signalCode === null) {
    up.kill('SIGTERM');
    const exited = await Promise.race([upExit, new Promise((r) => setTimeout(() => r('timeout'), 180_000))]);
    if (exited === 'timeout') up.kill('SIGKILL');
  }
  const leftovers = sweepLeftovers({ marker: tmp, bridge: net.bridge, nodeId: net.nodeId });
  rmSync(tmp, { recursive: true, force: true });
  if (leftovers.length) console.error(`e2e/cli: cleaned up after the stack: ${leftovers.join(', ')}`);
});

test('keygen creates the default wallet keypair (mode 0600)', async () => {
  const r = await romulus(['keygen', '--json']);
  wallet = r.json.wallet;
  assert.match(wallet, /^[1-9A-HJ-NP-Za-km-z]{32,44}$/);
  assert.equal(r.json.keypair, path.join(tmp, '.config', 'solana', 'id.json'));
  const again = await romulus(['keygen'], { allowFail: true });
  assert.equal(again.code, 1);
  assert.equal((await romulus(['wallet'])).stdout.trim(), wallet);
});

/** Starts `romulus up` as a subprocess and resolves with its --json summary once the stack is ready. */
async function startUp(): Promise<any> {
  upOutput = '';
  up = spawn(
    ROMULUS,
    ['up', '--json', '--gateway-port', '0', '--node-port', '0', '--chain-port', '0', '--bridge', net.bridge, '--subnet', net.subnet, '--node-id', net.nodeId, '--log-level', 'debug'],
    { env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const child = up;
  upExit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  child.stderr!.on('data', (c: Buffer) => void (upOutput += c.toString()));
  return new Promise<any>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const parsed = parseJson(out);
      if (parsed) resolve(parsed);
    });
    void upExit!.then((code) => reject(new Error(`romulus up exited (${code}) before it was ready:\n${out}\n${upOutput}`)));
  });
}

/** Files under `dir` whose bytes contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const hits: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) hits.push(...filesContaining(p, needle));
    else if (st.isFile() && readFileSync(p).includes(needle)) hits.push(p);
  }
  return hits;
}

/** What the node created on the host is gone. */
async function assertHostClean(): Promise<void> {
  assert.ok(!existsSync(path.join(dataDir, 'stack.json')), 'stack.json removed');
  assert.ok(!linkExists(net.bridge), 'bridge removed');
  const taps = (await run('ip', ['-o', 'link'])).stdout.split('\n').filter((l) => l.includes(`: ${tapPrefixOf(net.nodeId)}`));
  assert.deepEqual(taps, [], 'no TAP left');
  assert.ok(!nftTables().includes(`romulus_${net.nodeId}`), 'nftables table removed');
  assert.deepEqual(pidsMentioning(tmp), [], 'no VMM process left');
}

test('up starts chain, node and gateway and reports where they are', async () => {
  const summary = await startUp();
  assert.equal(summary.success, true);
  stack = summary.stack;
  assert.match(stack.gateway.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(['kvm', 'tcg'].includes(summary.node.accel));
  const file = JSON.parse(readFileSync(path.join(dataDir, 'stack.json'), 'utf8'));
  assert.deepEqual(file.gateway, stack.gateway);
  const stackText = readFileSync(path.join(dataDir, 'stack.json'), 'utf8');
  const nodeToken = readFileSync(path.join(dataDir, 'node', 'token'), 'utf8').trim();
  assert.ok(!stackText.includes(nodeToken), 'the stack file holds no token');
  assert.ok(linkExists(net.bridge), 'the node created its bridge');
  // A second `up` on the same data dir refuses rather than forking the ledger.
  const second = await romulus(['up'], { allowFail: true });
  assert.equal(second.code, 1);
  assert.match(second.stderr, /already running/);
});

// The basic tier (1 vCPU, 1024 MiB): the lightest VM, kind to a shared TCG machine.
test('chain fund tops the wallet up on the local chain', async () => {
  const r = await romulus(['--json', 'chain', 'fund', '100000']);
  assert.equal(r.json.wallet, wallet);
  const b = await romulus(['--json', 'chain', 'balance']);
  assert.equal(b.json.balance, '100000');
});

test('tiers lists the tiers and the agent types', async () => {
  const r = await romulus(['--json', 'tiers']);
  assert.equal(r.json.tiers.pro.min, 1_000_000);
  assert.ok(Array.isArray(r.json.agent_types));
  const human = await romulus(['tiers']);
  assert.match(human.stdout, /^pro\s+1,000,000\s+4\s+4096 MiB$/m);
});

// A model key as a user passes it: read from the environment by --secret-env, never on the command line.
const SECRET = `sk-e2e-${randomBytes(12).toString('hex')}`;

test('spawn base --wait brings an agent to running', async () => {
  const r = await romulus(['--json', 'spawn', 'base', '--secret-env', 'E2E_MODEL_KEY', '--wait', '--timeout', String(BOOT_TIMEOUT_S)], {
    env: { E2E_MODEL_KEY: SECRET },
  });
  assert.equal(r.json.success, true);
  assert.equal(r.json.agent.status, 'running');
  assert.equal(r.json.agent.wallet, wallet);
  assert.equal(r.json.agent.tier, 'basic');
  assert.equal(r.json.tier_config.cores, 1);
  assert.ok(r.json.agent.access_token.length >= 16);
  agent = r.json.agent;
  // One active agent per wallet: a second spawn names the first.
  const again = await romulus(['--json', 'spawn', 'base'], { allowFail: true });
  assert.equal(again.code, 1);
  assert.equal(again.json.error.status, 409);
  assert.equal(again.json.error.agent_id, agent.id);
});

test('status shows the owner the full view', async () => {
  const r = await romulus(['--json', 'status', agent.id]);
  assert.equal(r.json.agent.status, 'running');
  assert.equal(r.json.agent.wallet, wallet);
  const pub = await romulus(['--json', 'status', agent.id, '--public']);
  assert.equal(pub.json.agent.wallet, undefined);
  const human = await romulus(['status', agent.id]);
  assert.match(human.stdout, /status:\s+running/);
});

test('the agent URL refuses requests without the token and answers with it', async () => {
  const url = new URL(agent.url);
  assert.equal(url.hostname, `${agent.id}.localhost`);
  assert.equal(url.port, new URL(stack.gateway.url).port);
  const anonymous = await agentFetch(agent.url, '', '/');
  assert.equal(anonymous.status, 401);
  const wrong = await agentFetch(agent.url, 'not-the-token', '/');
  assert.equal(wrong.status, 401);
  // The base image's workload describes the VM it runs in: the basic tier's 1 vCPU and 1024 MiB.
  const owner = await agentFetch(agent.url, agent.access_token, '/hello?from=cli');
  assert.equal(owner.status, 200, owner.text().slice(0, 300));
  const vm = owner.json<{ path: string; nproc: number; memTotal: number; uid: number }>();
  assert.equal(vm.path, '/hello?from=cli');
  assert.equal(vm.nproc, 1);
  assert.ok(vm.memTotal > 768 * 2 ** 20 && vm.memTotal <= 1024 * 2 ** 20, `guest memory ${vm.memTotal}`);
  assert.notEqual(vm.uid, 0, 'the workload runs unprivileged');
});

test('stop stops the agent; usage shows one spawn with uptime', async () => {
  // Stop is asynchronous; --wait follows it to the end.
  const r = await romulus(['--json', 'stop', '--wait', agent.id]);
  assert.equal(r.json.agent.status, 'stopped');
  assert.equal((await romulus(['--json', 'status', agent.id])).json.agent.status, 'stopped');
  const u = await romulus(['--json', 'usage']);
  assert.equal(u.json.usage.wallet, wallet);
  assert.equal(u.json.usage.totals.spawn_count, 1);
  assert.ok(u.json.usage.totals.uptime_ms > 0);
  assert.ok(u.json.usage.totals.vcpu_seconds > 0);
  assert.equal(u.json.usage.agents[0].id, agent.id);
  const human = await romulus(['usage']);
  assert.match(human.stdout, /spawns:\s+1/);
});

test('spawn --wait says what it waits for, with elapsed times, until running', async (t) => {
  const r = await romulus(['spawn', 'base', '--wait', '--timeout', String(BOOT_TIMEOUT_S)]);
  const id = /^Spawned agent (\S+)/m.exec(r.stdout)?.[1];
  assert.ok(id, r.stdout);
  assert.match(r.stdout, new RegExp(`Agent ${id} is running`));
  // Each line: [elapsed] what it waits for; the node's phases, as many as the polls caught (a boot can be
  // quicker than one poll), then running with the time the last step took.
  const lines = r.stderr.split('\n').filter((l) => /^\s+\[\s*[\d.hms]+\] /.test(l));
  assert.ok(lines.length >= 1, r.stderr);
  t.diagnostic(`progress: ${lines.map((l) => l.trim()).join(' | ')}`);
  assert.match(lines.at(-1)!, /\] running; .+ took /);
  for (const l of lines.slice(0, -1)) assert.match(l, /\] (still )?(preparing the VM|VM booting|guest up, starting the workload|workload started, waiting for readiness|starting)/, l);
  await romulus(['--json', 'stop', id]);
  let status = '';
  for (let i = 0; i < 120 && status !== 'stopped'; i++) {
    status = (await romulus(['--json', 'status', id])).json.agent.status;
    if (status !== 'stopped') await new Promise((res) => setTimeout(res, 1000));
  }
  assert.equal(status, 'stopped');
});

let leftRunning: string;
let mint: string;

test('down stops every agent, then the stack, and removes what the node created', async () => {
  mint = stack.chain.mint;
  const r = await romulus(['--json', 'spawn', 'base']);
  leftRunning = r.json.agent.id;
  const d = await romulus(['--json', 'down', '--timeout', '300']);
  assert.equal(d.json.success, true);
  assert.equal(await upExit, 0, upOutput);
  await assertHostClean();
  const leaks = filesContaining(tmp, SECRET);
  assert.deepEqual(leaks, [], 'the secret is on no file of the stack (state, store, logs)');
  const again = await romulus(['--json', 'down']);
  assert.equal(again.json.running, false);
});

test('a second up reuses the data dir: same mint, balance, node token; the agent left at down is stopped', async () => {
  const token = readFileSync(path.join(dataDir, 'node', 'token'), 'utf8');
  const summary = await startUp();
  stack = summary.stack;
  assert.equal(stack.chain.mint, mint);
  assert.equal(readFileSync(path.join(dataDir, 'node', 'token'), 'utf8'), token);
  assert.equal((await romulus(['--json', 'chain', 'balance'])).json.balance, '100000');
  const s = await romulus(['--json', 'status', leftRunning]);
  assert.equal(s.json.agent.status, 'stopped');
  const u = await romulus(['--json', 'usage']);
  assert.equal(u.json.usage.totals.spawn_count, 3);
  up!.kill('SIGINT'); // Ctrl-C
  assert.equal(await upExit, 0, upOutput);
  await assertHostClean();
});
