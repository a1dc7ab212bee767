/**
 * The romulus-chain CLI as a user runs it: init, a `serve` child process, fund and transfer through the
 * running server (admin RPC and a real signed transfer), balance and info, then offline use after the
 * server stopped.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { generateKeyPairSigner } from '@solana/kit';

const CLI = path.join(import.meta.dirname, 'cli.ts');
const dir = mkdtempSync(path.join(tmpdir(), 'romulus-chain-cli-'));
let server: ChildProcess | null = null;

after(() => {
  if (server && server.exitCode === null) server.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function cli(...args: string[]): { code: number | null; json: any; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, ...args, '--state-dir', dir, '--json'], { encoding: 'utf8', timeout: 120_000 });
  let json: any = null;
  try {
    json = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
  } catch {}
  return { code: r.status, json, stderr: r.stderr };
}

async function walletFile() {
  const signer = await generateKeyPairSigner(true);
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', signer.keyPair.privateKey));
  const pub = new Uint8Array(await crypto.subtle.exportKey('raw', signer.keyPair.publicKey));
  const file = path.join(dir, `${signer.address}.json`);
  writeFileSync(file, JSON.stringify([...pkcs8.slice(-32), ...pub]), { mode: 0o600 });
  return { address: signer.address as string, file };
}

test('init, serve, fund, transfer, balance, info, and offline after stop', async () => {
  const init = cli('init', '--decimals', '6');
  assert.equal(init.code, 0, init.stderr);
  const mint = init.json.mint;
  assert.equal(cli('init').json.mint, mint, 'init is idempotent');

  const alice = await walletFile();
  const bob = await generateKeyPairSigner();

  server = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--port', '0', '--state-dir', dir, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const first = await new Promise<string>((resolve, reject) => {
    // stdout also carries the server's pino log lines (they have a "level"); the CLI's own line has none
    const lines = createInterface({ input: server!.stdout! });
    lines.on('line', (l) => {
      if (!/"level":/.test(l)) resolve(l);
    });
    server!.once('exit', (code) => reject(new Error(`serve exited ${code}`)));
  });
  const served = JSON.parse(first);
  assert.equal(served.mint, mint);
  assert.match(served.url, /^http:\/\/127\.0\.0\.1:\d+$/);

  const funded = cli('fund', alice.address, '250000');
  assert.equal(funded.code, 0, funded.stderr);
  assert.equal(funded.json.via, served.url, 'went through the running server');
  assert.equal(funded.json.balance, '250000000000');

  const moved = cli('transfer', alice.file, bob.address, '100000.5');
  assert.equal(moved.code, 0, moved.stderr);
  assert.equal(moved.json.via, served.url);
  assert.equal(cli('balance', bob.address).json.raw, '100000500000');
  assert.equal(cli('balance', alice.address).json.ui, '149999.5');

  const info = cli('info');
  assert.equal(info.json.url, served.url);
  assert.equal(info.json.mint, mint);

  const tooMuch = cli('transfer', alice.file, bob.address, '999999');
  assert.notEqual(tooMuch.code, 0, 'an overdraft is refused by the token program');
  const badAmount = cli('fund', alice.address, 'lots');
  assert.notEqual(badAmount.code, 0);

  server.kill('SIGTERM');
  await new Promise((r) => server!.once('exit', r));
  assert.equal(cli('info').json.url, null);
  // offline: the state dir is opened directly, balances persisted
  assert.equal(cli('balance', bob.address).json.raw, '100000500000');
  const offline = cli('fund', bob.address, '1');
  assert.equal(offline.code, 0, offline.stderr);
  assert.equal(cli('balance', bob.address).json.raw, '100001500000');
});

test('usage errors exit 2', () => {
  assert.equal(cli('fund', 'only-one-arg').code, 2);
  assert.equal(cli('frobnicate').code, 2);
});
