/**
 * The SDK and the CLI against the real gateway (startGateway: real HTTP, real SQLite, real Ed25519 auth
 * with replay protection, real ingress) and the real local chain (LiteSVM JSON-RPC, real balances). Only
 * the node is an in-memory stand-in whose "VMs" are running at once and whose agent port is a loopback
 * HTTP server: this suite pins the client ↔ gateway contract without booting VMs (e2e/cli does that).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { startLocalChain, type LocalChainHandle } from '@romulus/chain';
import { newAgentId, startGateway, type Gateway } from '@romulus/gateway';
import { FakeNode, testImage } from '@romulus/gateway/testing';
import { createLogger } from '@romulus/shared';
import { agentFetch, KeypairSigner, RomulusApiError, RomulusClient } from '@romulus/sdk';
import { run } from './program.ts';
import { writeNewKeypair } from './commands/keygen.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'romulus-contract-'));
let chain: LocalChainHandle;
let gateway: Gateway;
let agentServer: http.Server;
const seenByAgent: { host?: string; authorization?: string }[] = [];
let node: FakeNode;
const alice = KeypairSigner.generate();
const bob = KeypairSigner.generate();
const aliceFile = path.join(dir, 'alice.json');

async function cli(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await run(['--gateway', gateway.url, '--keypair', aliceFile, ...args], {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    env: { HOME: dir, ROMULUS_DATA_DIR: path.join(dir, 'data') },
  });
  return { code, stdout, stderr, json: (() => { try { return JSON.parse(stdout); } catch { return undefined; } })() };
}

before(async () => {
  writeNewKeypair(aliceFile, alice);
  agentServer = http.createServer((req, res) => {
    seenByAgent.push({ host: req.headers.host, authorization: req.headers.authorization });
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`hello from the agent at ${req.url}`);
  });
  await new Promise<void>((r) => agentServer.listen(0, '127.0.0.1', () => r()));
  chain = await startLocalChain({ stateDir: path.join(dir, 'chain') });
  node = await new FakeNode([testImage('base')], {
    boot: 'auto',
    agent: () => ({ ip: '127.0.0.1', port: (agentServer.address() as AddressInfo).port }),
  }).start();
  gateway = await startGateway(
    {
      listen: { host: '127.0.0.1', port: 0 },
      node: { url: node.url, token: node.token, id: node.nodeId },
      store: { kind: 'sqlite', path: path.join(dir, 'gateway.db') },
      chain: { rpcUrl: chain.url, mint: chain.mint, ttlMs: 0, insufficientTtlMs: 0 },
      logLevel: 'warn',
    },
    { log: createLogger('contract', { level: 'warn' }) },
  );
});

after(async () => {
  await gateway?.close();
  await chain?.stop();
  await node?.close();
  await new Promise<void>((r) => agentServer.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

test('an unfunded wallet is refused with 403 and the CLI hints at chain fund', async () => {
  const client = new RomulusClient({ baseUrl: gateway.url, signer: alice });
  await assert.rejects(client.spawn({ agent_type: 'base' }), (e: unknown) => e instanceof RomulusApiError && e.status === 403);
  const r = await cli(['spawn', 'base']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /chain fund/);
});

test('SDK: spawn, 409 with the agent id, status views, agent URL, stop, usage', async () => {
  await chain.fund(alice.publicKey, 100_000);
  const client = new RomulusClient({ baseUrl: gateway.url, signer: alice });
  const res = await client.spawn({ agent_type: 'base', secrets: { MODEL_KEY: 'sk-contract' } });
  assert.equal(res.agent.wallet, alice.publicKey);
  assert.equal(res.agent.tier, 'basic');
  assert.deepEqual(res.tier_config, { min: 100_000, cores: 1, memory: 1024 });
  await assert.rejects(client.spawn({ agent_type: 'base' }), (e: unknown) => e instanceof RomulusApiError && e.status === 409 && e.agentId === res.agent.id);

  const running = await client.waitForStatus(res.agent.id, 'running', { timeoutMs: 30_000, intervalMs: 50 });
  assert.equal(running.wallet, alice.publicKey);
  const publicView = await new RomulusClient({ baseUrl: gateway.url }).status(res.agent.id);
  assert.equal(publicView.wallet, undefined);
  const bobView = await new RomulusClient({ baseUrl: gateway.url, signer: bob }).status(res.agent.id);
  assert.equal(bobView.wallet, undefined);
  await assert.rejects(new RomulusClient({ baseUrl: gateway.url, signer: bob }).stop(res.agent.id), (e: unknown) => e instanceof RomulusApiError && e.status === 403);

  assert.equal((await agentFetch(res.agent.url, '', '/x')).status, 401);
  const ok = await agentFetch(res.agent.url, res.agent.access_token, '/x');
  assert.equal(ok.status, 200);
  assert.equal(ok.text(), 'hello from the agent at /x');
  assert.equal(seenByAgent.length, 1, 'the refused request never reached the agent');

  const stopped = await client.stop(res.agent.id);
  assert.ok(['stopping', 'stopped'].includes(stopped.status));
  await client.waitForStatus(res.agent.id, 'stopped', { timeoutMs: 30_000, intervalMs: 50 });
  const usage = await client.usage();
  assert.equal(usage.totals.spawn_count, 1);
  assert.ok(usage.totals.uptime_ms >= 0);
  assert.equal(usage.agents[0].id, res.agent.id);
  await assert.rejects(new RomulusClient({ baseUrl: gateway.url, signer: bob }).usage(alice.publicKey), (e: unknown) => e instanceof RomulusApiError && e.status === 403);
  const health = await client.health();
  assert.ok(['ok', 'degraded'].includes(health.status));
});

test('CLI: tiers, spawn --wait --json, status, stop, usage against the real gateway', async () => {
  const tiers = await cli(['--json', 'tiers']);
  assert.equal(tiers.code, 0, tiers.stderr);
  assert.equal(tiers.json.tiers.basic.min, 100_000);
  assert.deepEqual(tiers.json.agent_types.map((t: { name: string }) => t.name).includes('base'), true);

  const spawned = await cli(['--json', 'spawn', 'base', '--wait', '--env', 'MODE=x']);
  assert.equal(spawned.code, 0, spawned.stdout + spawned.stderr);
  assert.equal(spawned.json.agent.status, 'running');
  const id = spawned.json.agent.id as string;

  const status = await cli(['status', id]);
  assert.equal(status.code, 0);
  assert.match(status.stdout, /tier:\s+basic \(1 cores, 1024 MiB\)/);

  const stop = await cli(['--json', 'stop', id]);
  assert.equal(stop.code, 0);
  const again = await cli(['--json', 'stop', id]);
  assert.equal(again.code, 0, 'stop is idempotent');

  const usage = await cli(['usage']);
  assert.equal(usage.code, 0);
  assert.match(usage.stdout, /spawns:\s+2/);

  const missing = await cli(['--json', 'status', newAgentId()]);
  assert.equal(missing.code, 1);
  assert.equal(missing.json.error.status, 404);
  const malformed = await cli(['--json', 'status', 'not an id']);
  assert.equal(malformed.code, 1);
  assert.equal(malformed.json.error.status, 400);
});
