/**
 * `romulus chain fund|balance` in-process against the real local chain (LiteSVM JSON-RPC on loopback), and
 * how the chain client's failures reach the user: not reached, not JSON-RPC, no local chain.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startLocalChain, type LocalChainHandle } from '@romulus/chain';
import { KeypairSigner } from '@romulus/sdk';
import { EXIT } from '../io.ts';
import { run } from '../program.ts';
import { stackDirs } from '../stack/options.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'romulus-cli-chain-'));
const dataDir = path.join(dir, 'data');
let chain: LocalChainHandle;
const wallet = KeypairSigner.generate().publicKey;

async function cli(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await run(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env: { HOME: dir, ROMULUS_DATA_DIR: dataDir } });
  return { code, stdout, stderr, json: stdout ? JSON.parse(stdout) : null };
}

before(async () => {
  chain = await startLocalChain({ stateDir: stackDirs(dataDir).chain });
});
after(async () => {
  await chain?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('fund mints with the admin token from the chain state dir; balance reads it back', async () => {
  const f = await cli(['--json', 'chain', 'fund', wallet, '2.5', '--rpc', chain.url]);
  assert.equal(f.code, EXIT.OK, f.stderr);
  assert.equal(f.json.balance, '2.5');
  const b = await cli(['--json', 'chain', 'balance', wallet, '--rpc', chain.url]);
  assert.equal(b.code, EXIT.OK, b.stderr);
  assert.equal(b.json.balance, '2.5');
});

test('a chain that is not reached is UNREACHABLE; an answer that is not JSON-RPC is CHAIN_RPC', async () => {
  const down = await cli(['--json', 'chain', 'balance', wallet, '--rpc', 'http://127.0.0.1:9']);
  assert.equal(down.code, EXIT.UNREACHABLE);
  assert.equal(JSON.parse(down.stderr || down.stdout).error.code, 'UNREACHABLE');

  const server = http.createServer((_q, s) => s.end('not json'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const bad = await cli(['--json', 'chain', 'balance', wallet, '--rpc', url]);
    assert.equal(bad.code, EXIT.FAILED);
    assert.equal(JSON.parse(bad.stderr || bad.stdout).error.code, 'CHAIN_RPC');
  } finally {
    server.close();
  }
});

test('fund without a local chain state dir is NO_LOCAL_CHAIN', async () => {
  let stdout = '';
  let stderr = '';
  const code = await run(['--json', 'chain', 'fund', wallet, '1', '--rpc', chain.url], {
    stdout: (t) => void (stdout += t),
    stderr: (t) => void (stderr += t),
    env: { HOME: dir, ROMULUS_DATA_DIR: path.join(dir, 'empty') },
  });
  assert.equal(code, EXIT.FAILED);
  assert.equal(JSON.parse(stderr || stdout).error.code, 'NO_LOCAL_CHAIN');
});
