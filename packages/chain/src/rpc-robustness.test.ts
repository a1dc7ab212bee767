/**
 * No request may crash the chain process. LiteSVM's native code aborts the process on some malformed
 * transactions, so this throws truncated, bit-flipped, padded and random transactions (and junk params)
 * at every method and checks the server still answers and no state changed.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createSolanaRpc, generateKeyPairSigner, lamports, type KeyPairSigner } from '@solana/kit';
import { startLocalChain, type LocalChainHandle } from './local-chain-server.ts';
import { signAndEncode, transferInstructions } from './transactions.ts';
import { METHODS } from './rpc-methods.ts';

let dir: string;
let chain: LocalChainHandle;
let alice: KeyPairSigner;
let good: Uint8Array;

async function call(method: string, params: unknown) {
  const res = await fetch(chain.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }) });
  assert.equal(res.status, 200);
  return res.json() as Promise<{ result?: unknown; error?: { code: number; message: string } }>;
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'romulus-chain-robust-'));
  chain = await startLocalChain({ stateDir: dir });
  alice = await generateKeyPairSigner();
  await chain.fund(alice.address, 10);
  const rpc = createSolanaRpc(chain.url);
  await rpc.requestAirdrop(alice.address, lamports(1_000_000_000n)).send();
  const { value } = await rpc.getLatestBlockhash().send();
  const ixs = await transferInstructions({ feePayer: alice, from: alice, to: alice.address, mint: chain.mint, tokenProgram: chain.tokenProgram, decimals: 6, raw: 1n });
  good = await signAndEncode(alice, value, ixs);
});
after(async () => {
  await chain?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function mutate(i: number): Uint8Array {
  switch (i % 4) {
    case 0:
      return randomBytes(1 + randomInt(1300));
    case 1:
      return good.slice(0, 1 + randomInt(good.length - 1));
    case 2: {
      const b = good.slice();
      for (let f = 0; f <= i % 3; f++) b[65 + randomInt(b.length - 65)] ^= 1 + randomInt(255);
      return b;
    }
    default:
      return new Uint8Array([...good, ...randomBytes(1 + randomInt(40))]);
  }
}

test('malformed transactions get JSON-RPC errors, never a crash', async () => {
  const balance = chain.balance(alice.address);
  for (let i = 0; i < 400; i++) {
    const wire = Buffer.from(mutate(i)).toString('base64');
    const sent = await call('sendTransaction', [wire, { encoding: 'base64' }]);
    assert.ok(sent.error, `mutated transaction ${i} must not be accepted`);
    const simulated = await call('simulateTransaction', [wire, { encoding: 'base64', sigVerify: i % 2 === 0 }]);
    assert.ok(simulated.error || simulated.result);
  }
  assert.equal(chain.balance(alice.address), balance);
  assert.equal((await call('getHealth', [])).result, 'ok');
});

test('junk params on every method get -32602 or a result, never a crash', async () => {
  const junk: unknown[] = [null, 1, 'x', [null], [1e30], [{}], [[]], [alice.address, { mint: 5 }], [alice.address, { encoding: 'base58' }], [[alice.address], { dataSlice: { offset: -1, length: 2 } }], [['x'.repeat(100)]], [alice.address, 1e30], ['!!!'], [alice.address, { programId: alice.address }], [-1], [2 ** 53]];
  for (const method of Object.keys(METHODS)) {
    for (const params of junk) {
      const r = await call(method, params);
      if (r.error) assert.ok([-32602, -32002, -32003, -32401].includes(r.error.code), `${method} ${JSON.stringify(params)} -> ${JSON.stringify(r.error)}`);
    }
  }
  assert.equal((await call('getHealth', [])).result, 'ok');
});
