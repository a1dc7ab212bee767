/**
 * PubSub on the local chain through @solana/kit's own subscriptions client: sendAndConfirmTransaction
 * completes, account and slot notifications arrive, errors have JSON-RPC codes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  address,
  appendTransactionMessageInstructions,
  createSolanaRpc,
  createSolanaRpcSubscriptions,
  createTransactionMessage,
  generateKeyPairSigner,
  getBase64EncodedWireTransaction,
  getSignatureFromTransaction,
  lamports,
  pipe,
  sendAndConfirmTransactionFactory,
  setTransactionMessageFeePayerSigner,
  setTransactionMessageLifetimeUsingBlockhash,
  signTransactionMessageWithSigners,
} from '@solana/kit';
import WebSocket from 'ws';
import { startLocalChain, type LocalChainHandle } from './local-chain-server.ts';
import { associatedTokenAddress, transferInstructions } from './transactions.ts';

let dir: string;
let chain: LocalChainHandle;

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'romulus-chain-ws-'));
  chain = await startLocalChain({ stateDir: dir });
});
after(async () => {
  await chain?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('kit sendAndConfirmTransaction confirms a token transfer; accountNotifications report the new balance', { timeout: 120_000 }, async () => {
  const rpc = createSolanaRpc(chain.url);
  const rpcSubscriptions = createSolanaRpcSubscriptions(chain.wsUrl);
  const alice = await generateKeyPairSigner();
  const bob = await generateKeyPairSigner();
  await chain.fund(alice.address, 100);
  await rpc.requestAirdrop(alice.address, lamports(1_000_000_000n)).send();
  const bobAta = await associatedTokenAddress(bob.address, chain.mint, chain.tokenProgram);

  const abort = new AbortController();
  const notifications = await rpcSubscriptions.accountNotifications(bobAta, { encoding: 'jsonParsed', commitment: 'confirmed' }).subscribe({ abortSignal: abort.signal });
  const firstNotification = (async () => {
    for await (const n of notifications) return n;
  })();

  const { value: lifetime } = await rpc.getLatestBlockhash().send();
  const ixs = await transferInstructions({ feePayer: alice, from: alice, to: bob.address, mint: chain.mint, tokenProgram: chain.tokenProgram, decimals: chain.decimals, raw: 42_000_000n });
  const tx = await pipe(
    createTransactionMessage({ version: 0 }),
    (m) => setTransactionMessageFeePayerSigner(alice, m),
    (m) => setTransactionMessageLifetimeUsingBlockhash(lifetime, m),
    (m) => appendTransactionMessageInstructions(ixs, m),
    (m) => signTransactionMessageWithSigners(m),
  );
  await sendAndConfirmTransactionFactory({ rpc, rpcSubscriptions })(tx as any, { commitment: 'confirmed' });
  assert.equal(chain.balance(bob.address), 42_000_000n);

  const n = await firstNotification;
  abort.abort();
  assert.equal((n!.value.data as any).parsed.info.tokenAmount.amount, '42000000');
  assert.equal(n!.value.owner, chain.tokenProgram);
});

test('slot notifications follow processed transactions', { timeout: 120_000 }, async () => {
  const rpcSubscriptions = createSolanaRpcSubscriptions(chain.wsUrl);
  const abort = new AbortController();
  const slots = await rpcSubscriptions.slotNotifications().subscribe({ abortSignal: abort.signal });
  const before = await createSolanaRpc(chain.url).getSlot().send();
  const next = (async () => {
    for await (const s of slots) return s;
  })();
  await chain.fund((await generateKeyPairSigner()).address, 1);
  const s = await next;
  abort.abort();
  assert.equal(s!.slot, before);
  assert.equal(s!.parent, before - 1n);
});

test('a signature subscription is notified when that transaction is processed, with its error', { timeout: 120_000 }, async () => {
  const rpc = createSolanaRpc(chain.url);
  const alice = await generateKeyPairSigner();
  await rpc.requestAirdrop(alice.address, lamports(1_000_000_000n)).send();
  const { value: lifetime } = await rpc.getLatestBlockhash().send();
  // a transfer alice cannot cover (she holds no tokens), sent without preflight so it lands as failed
  const ixs = await transferInstructions({ feePayer: alice, from: alice, to: alice.address, mint: chain.mint, tokenProgram: chain.tokenProgram, decimals: chain.decimals, raw: 1n });
  const tx = await pipe(
    createTransactionMessage({ version: 0 }),
    (m) => setTransactionMessageFeePayerSigner(alice, m),
    (m) => setTransactionMessageLifetimeUsingBlockhash(lifetime, m),
    (m) => appendTransactionMessageInstructions(ixs, m),
    (m) => signTransactionMessageWithSigners(m),
  );
  const signature = getSignatureFromTransaction(tx);
  const abort = new AbortController();
  const sub = await createSolanaRpcSubscriptions(chain.wsUrl).signatureNotifications(signature, { commitment: 'confirmed' }).subscribe({ abortSignal: abort.signal });
  const first = (async () => {
    for await (const n of sub) return n;
  })();
  assert.equal(await rpc.sendTransaction(getBase64EncodedWireTransaction(tx), { encoding: 'base64', skipPreflight: true }).send(), signature);
  const n = await first;
  abort.abort();
  assert.ok(n!.value.err, 'the failed transaction reports its error');
});

test('websocket errors: unknown method, bad params, bad unsubscribe, parse error', { timeout: 120_000 }, async () => {
  const ws = new WebSocket(chain.wsUrl);
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  const ask = (payload: string) =>
    new Promise<any>((resolve) => {
      ws.once('message', (m) => resolve(JSON.parse(String(m))));
      ws.send(payload);
    });
  assert.equal((await ask(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'blockSubscribe', params: [] }))).error.code, -32601);
  assert.equal((await ask(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'accountSubscribe', params: ['nope'] }))).error.code, -32602);
  assert.equal((await ask(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'slotUnsubscribe', params: [987654] }))).error.code, -32602);
  assert.equal((await ask('{nope')).error.code, -32700);
  const sub = await ask(JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'slotSubscribe', params: [] }));
  assert.equal(typeof sub.result, 'number');
  assert.equal((await ask(JSON.stringify({ jsonrpc: '2.0', id: 5, method: 'slotUnsubscribe', params: [sub.result] }))).result, true);
  ws.close();
  assert.ok(address(chain.mint));
});
