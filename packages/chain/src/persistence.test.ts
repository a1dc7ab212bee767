/**
 * Restart safety of the local chain: balances, mint and owner index survive a stop/start on the same
 * state dir; a transaction signed before the restart cannot be replayed after it; one state dir has one
 * server at a time. Also the Token-2022 jsonParsed shape.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { address, createSolanaRpc, generateKeyPairSigner, lamports, type Base64EncodedWireTransaction } from '@solana/kit';
import { startLocalChain, type LocalChainHandle } from './local-chain-server.ts';
import { signAndEncode, transferInstructions } from './transactions.ts';
import { TOKEN_2022_PROGRAM } from './programs.ts';

const dirs: string[] = [];
const running: LocalChainHandle[] = [];
after(async () => {
  for (const c of running) await c.stop();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = mkdtempSync(path.join(tmpdir(), 'romulus-chain-persist-'));
  dirs.push(d);
  return d;
}
async function start(stateDir: string, opts: { token2022?: boolean } = {}) {
  const c = await startLocalChain({ stateDir, ...opts });
  running.push(c);
  return c;
}

test('balances and the owner index survive a restart; pre-restart transactions cannot be replayed', async () => {
  const dir = tempDir();
  const first = await start(dir);
  const alice = await generateKeyPairSigner();
  const bob = await generateKeyPairSigner();
  await first.fund(alice.address, 1000);
  await first.createSecondTokenAccount(alice.address, 5);
  let rpc = createSolanaRpc(first.url);
  await rpc.requestAirdrop(alice.address, lamports(1_000_000_000n)).send();
  // signed now, sent only after the restart
  const { value: lifetime } = await rpc.getLatestBlockhash().send();
  const ixs = await transferInstructions({ feePayer: alice, from: alice, to: bob.address, mint: first.mint, tokenProgram: first.tokenProgram, decimals: first.decimals, raw: 1n });
  const wire = Buffer.from(await signAndEncode(alice, lifetime, ixs)).toString('base64') as Base64EncodedWireTransaction;
  const slotBefore = await rpc.getSlot().send();
  await first.stop();

  const second = await start(dir);
  assert.equal(second.mint, first.mint);
  assert.equal(second.balance(alice.address), 1005n * 1_000_000n);
  rpc = createSolanaRpc(second.url);
  assert.ok((await rpc.getSlot().send()) >= slotBefore, 'slots do not go back');
  assert.equal((await rpc.getBalance(alice.address).send()).value, 1_000_000_000n);
  const accounts = await rpc.getTokenAccountsByOwner(alice.address, { mint: address(second.mint) }, { encoding: 'jsonParsed' }).send();
  assert.equal(accounts.value.length, 2);
  await assert.rejects(rpc.sendTransaction(wire, { encoding: 'base64' }).send(), 'a blockhash from before the restart is not recent');
  assert.equal(second.balance(bob.address), 0n);
});

test('a second server on the same state dir is refused', async () => {
  const dir = tempDir();
  await start(dir);
  await assert.rejects(startLocalChain({ stateDir: dir }), /already running/);
});

test('a state dir keeps its mint kind: reopening a Token mint as Token-2022 is refused', async () => {
  const dir = tempDir();
  const c = await start(dir);
  await c.stop();
  await assert.rejects(startLocalChain({ stateDir: dir, token2022: true }), /already holds mint/);
});

test('Token-2022: jsonParsed says spl-token-2022 and lists the ATA\'s immutableOwner extension', async () => {
  const c = await start(tempDir(), { token2022: true });
  const w = await generateKeyPairSigner();
  const { tokenAccount } = await c.fund(w.address, 42);
  const rpc = createSolanaRpc(c.url);
  const r = await rpc.getTokenAccountsByOwner(w.address, { mint: address(c.mint) }, { encoding: 'jsonParsed' }).send();
  assert.equal(r.value.length, 1);
  assert.equal(r.value[0].pubkey, tokenAccount);
  assert.equal(r.value[0].account.owner, TOKEN_2022_PROGRAM);
  const data = r.value[0].account.data as any;
  assert.equal(data.program, 'spl-token-2022');
  assert.equal(data.parsed.info.tokenAmount.amount, '42000000');
  assert.deepEqual(data.parsed.info.extensions, [{ extension: 'immutableOwner' }]);
  const byProgram = await rpc.getTokenAccountsByOwner(w.address, { programId: address(TOKEN_2022_PROGRAM) }, { encoding: 'base64' }).send();
  assert.equal(byProgram.value.length, 1);
  const supply = await rpc.getTokenSupply(address(c.mint)).send();
  assert.equal(supply.value.amount, '42000000');
});
