/**
 * The CLI in-process (run() with captured output) against a stand-in gateway on a real loopback listener
 * that checks the Ed25519 signatures. The real gateway, chain and VMs are in e2e/cli.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { errorBody } from '@romulus/shared';
import { decodeBase58, KeypairSigner } from '@romulus/sdk';
import { run } from './program.ts';
import { EXIT } from './io.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'romulus-cli-'));
const keyFile = path.join(dir, 'id.json');
let app: FastifyInstance;
let gateway: string;
let lastSpawnBody: unknown;

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    env: { HOME: dir, ROMULUS_DATA_DIR: path.join(dir, 'data'), ...env },
  });
  return { code, stdout, stderr };
}

function signedWallet(headers: Record<string, unknown>): string | null {
  const { 'x-wallet': w, 'x-signature': s, 'x-timestamp': ts } = headers as Record<string, string>;
  if (!w || !s || !ts) return null;
  const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), decodeBase58(w)!]), format: 'der', type: 'spki' });
  return verify(null, Buffer.from(`romulus:${ts}`), key, decodeBase58(s)!) ? w : null;
}

before(async () => {
  app = Fastify();
  app.post('/spawn', async (req, reply) => {
    const wallet = signedWallet(req.headers);
    if (!wallet) return reply.status(401).send(errorBody('INVALID_SIGNATURE', 'bad signature'));
    lastSpawnBody = req.body;
    if ((req.body as { agent_type: string }).agent_type === 'busy') {
      return reply.status(409).send(errorBody('AGENT_EXISTS', 'wallet already has an active agent', { agent_id: 'ag-old' }));
    }
    return reply.status(201).send({
      success: true,
      agent: { id: 'ag-new', url: 'http://ag-new.localhost:8080', wallet, tier: 'basic', spawned_at: 1, agent_type: 'base', status: 'starting', access_token: 'tok-123' },
      tier_config: { min: 100000, cores: 1, memory: 1024 },
    });
  });
  app.get('/status/:id', async (req) => ({
    success: true,
    agent: { id: 'ag-new', status: 'running', url: 'http://ag-new.localhost:8080', agent_type: 'base', spawned_at: 1, ready_at: 2, wallet: signedWallet(req.headers) ?? undefined },
  }));
  app.get('/tiers', async () => ({
    success: true,
    tiers: { pro: { min: 1000000, cores: 4, memory: 4096 }, basic: { min: 100000, cores: 1, memory: 1024 } },
    agent_types: [{ name: 'chat', image: 'agent-chat', min_cores: 1, min_memory: 1024 }],
  }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  gateway = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
});
after(async () => {
  await app.close();
  rmSync(dir, { recursive: true, force: true });
});

test('keygen writes a 0600 Solana keypair, refuses to overwrite it, and wallet prints its address', async () => {
  const r = await cli(['--json', 'keygen', '--out', keyFile]);
  assert.equal(r.code, EXIT.OK);
  const out = JSON.parse(r.stdout);
  assert.equal(statSync(keyFile).mode & 0o777, 0o600);
  assert.equal(KeypairSigner.fromFile(keyFile).publicKey, out.wallet);
  const before = readFileSync(keyFile, 'utf8');
  const again = await cli(['keygen', '--out', keyFile]);
  assert.equal(again.code, EXIT.FAILED);
  assert.match(again.stderr, /already exists; refusing to overwrite/);
  assert.equal(readFileSync(keyFile, 'utf8'), before);
  const w = await cli(['--keypair', keyFile, 'wallet']);
  assert.equal(w.stdout.trim(), out.wallet);
});

test('spawn sends secrets from flags and the environment, prints the token once, waits for running', async () => {
  const r = await cli(['--gateway', gateway, '--keypair', keyFile, 'spawn', 'base', '--secret', 'A=x=y', '--secret-env', 'MODEL_KEY', '--env', 'MODE=fast', '--wait'], {
    MODEL_KEY: 'sk-from-env',
  });
  assert.equal(r.code, EXIT.OK, r.stderr);
  assert.deepEqual(lastSpawnBody, { agent_type: 'base', secrets: { A: 'x=y', MODEL_KEY: 'sk-from-env' }, env: { MODE: 'fast' } });
  assert.equal(r.stdout.split('tok-123').length - 1, 2, 'token shown in the token line and the curl hint only');
  assert.match(r.stdout, /shown only this once/);
  assert.match(r.stdout, /Agent ag-new is running/);
  assert.doesNotMatch(r.stdout + r.stderr, /sk-from-env/);
});

test('spawn --json prints the spawn response with the final status', async () => {
  const r = await cli(['--gateway', gateway, '--keypair', keyFile, '--json', 'spawn', 'base', '--wait']);
  assert.equal(r.code, EXIT.OK);
  const out = JSON.parse(r.stdout);
  assert.equal(out.success, true);
  assert.equal(out.agent.access_token, 'tok-123');
  assert.equal(out.agent.status, 'running');
  assert.equal(out.tier_config.cores, 1);
});

test('a 409 names the existing agent and exits 1; --json prints the envelope', async () => {
  const human = await cli(['--gateway', gateway, '--keypair', keyFile, 'spawn', 'busy']);
  assert.equal(human.code, EXIT.FAILED);
  assert.match(human.stderr, /AGENT_EXISTS/);
  assert.match(human.stderr, /ag-old/);
  const json = await cli(['--gateway', gateway, '--keypair', keyFile, 'spawn', 'busy', '--json']);
  assert.equal(json.code, EXIT.FAILED);
  assert.deepEqual(JSON.parse(json.stdout).error, { code: 'AGENT_EXISTS', message: 'wallet already has an active agent', status: 409, agent_id: 'ag-old' });
});

test('bad arguments exit 2 without echoing secret values', async () => {
  const noEq = await cli(['--gateway', gateway, '--keypair', keyFile, 'spawn', 'base', '--secret', 'sk-live-123456']);
  assert.equal(noEq.code, EXIT.USAGE);
  assert.doesNotMatch(noEq.stderr, /sk-live/);
  const unset = await cli(['--gateway', gateway, '--keypair', keyFile, 'spawn', 'base', '--secret-env', 'NOT_SET_ANYWHERE']);
  assert.equal(unset.code, EXIT.USAGE);
  assert.match(unset.stderr, /NOT_SET_ANYWHERE is not set/);
  const noKey = await cli(['--gateway', gateway, '--keypair', path.join(dir, 'none.json'), 'spawn', 'base']);
  assert.equal(noKey.code, EXIT.USAGE);
  assert.match(noKey.stderr, /romulus keygen/);
  const unknown = await cli(['frobnicate']);
  assert.equal(unknown.code, EXIT.USAGE);
});

test('tiers prints a table sorted by holdings; an unreachable gateway exits 3', async () => {
  const r = await cli(['--gateway', gateway, 'tiers']);
  assert.equal(r.code, EXIT.OK);
  const lines = r.stdout.split('\n');
  assert.match(lines[1], /^basic\s+100,000\s+1\s+1024 MiB/);
  assert.match(lines[2], /^pro\s+1,000,000\s+4\s+4096 MiB/);
  const dead = await cli(['--gateway', 'http://127.0.0.1:9', '--json', 'tiers']);
  assert.equal(dead.code, EXIT.UNREACHABLE);
  assert.equal(JSON.parse(dead.stdout).error.code, 'UNREACHABLE');
});

test('status uses the gateway from ROMULUS_GATEWAY', async () => {
  const r = await cli(['--keypair', keyFile, 'status', 'ag-new'], { ROMULUS_GATEWAY: gateway });
  assert.equal(r.code, EXIT.OK, r.stderr);
  assert.match(r.stdout, /status:\s+running/);
});
