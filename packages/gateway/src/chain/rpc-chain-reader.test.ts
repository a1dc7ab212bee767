/**
 * RpcChainReader against the real local chain (LiteSVM behind JSON-RPC over loopback HTTP), with real
 * SPL Token / Token-2022 transactions.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateKeyPairSigner } from '@solana/kit';
import { startLocalChain, type LocalChainHandle } from '@romulus/chain';
import { BalanceCache } from './balance-cache.ts';
import { RpcChainReader, InvalidOwnerError } from './rpc-chain-reader.ts';
import { ChainUnavailableError } from './types.ts';

const cleanups: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function newChain(opts: { token2022?: boolean } = {}): Promise<LocalChainHandle> {
  const dir = mkdtempSync(path.join(tmpdir(), 'romulus-reader-'));
  const chain = await startLocalChain({ stateDir: dir, ...opts });
  cleanups.push(async () => {
    await chain.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return chain;
}

/** A wallet whose 64-byte secret (Solana CLI keypair layout) the test can hand to transfer(). */
async function walletWithSecret() {
  const signer = await generateKeyPairSigner(true);
  const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', signer.keyPair.privateKey));
  const pub = new Uint8Array(await crypto.subtle.exportKey('raw', signer.keyPair.publicKey));
  return { address: signer.address as string, secret: new Uint8Array([...pkcs8.slice(-32), ...pub]) };
}

const M = 1_000_000n;

describe('RpcChainReader on the local chain (Token program)', async () => {
  const chain = await newChain();
  const reader = new RpcChainReader({ rpcUrl: chain.url, mint: chain.mint, timeoutMs: 10_000 });

  test('a funded wallet reads its exact raw amount and the mint decimals', async () => {
    const w = await generateKeyPairSigner();
    await chain.fund(w.address, 123_456);
    assert.deepEqual(await reader.getTokenBalance(w.address), { raw: 123_456n * M, decimals: 6 });
  });

  test('fractional holdings stay exact in raw units', async () => {
    const w = await generateKeyPairSigner();
    await chain.fund(w.address, '0.000001');
    await chain.fund(w.address, '99999.999999');
    assert.equal((await reader.getTokenBalance(w.address)).raw, 100_000n * M);
  });

  test('balances are summed over all of the owner\'s token accounts', async () => {
    const w = await generateKeyPairSigner();
    await chain.fund(w.address, 60_000);
    await chain.createSecondTokenAccount(w.address, 50_000);
    assert.equal((await reader.getTokenBalance(w.address)).raw, 110_000n * M);
  });

  test('a wallet with no token account reads 0 (decimals from the mint)', async () => {
    const w = await generateKeyPairSigner();
    assert.deepEqual(await new RpcChainReader({ rpcUrl: chain.url, mint: chain.mint }).getTokenBalance(w.address), { raw: 0n, decimals: 6 });
  });

  test('a transfer moves the balance between wallets', async () => {
    const from = await walletWithSecret();
    const to = await generateKeyPairSigner();
    await chain.fund(from.address, 600_000);
    await chain.transfer(from.secret, to.address, 550_000);
    assert.equal((await reader.getTokenBalance(from.address)).raw, 50_000n * M);
    assert.equal((await reader.getTokenBalance(to.address)).raw, 550_000n * M);
  });

  test('an invalid owner is refused before any RPC call', async () => {
    await assert.rejects(reader.getTokenBalance('not-a-wallet'), InvalidOwnerError);
  });

  test('a mint the RPC does not know is an RPC error -> ChainUnavailableError', async () => {
    const bogusMint = await generateKeyPairSigner();
    const r = new RpcChainReader({ rpcUrl: chain.url, mint: bogusMint.address });
    await assert.rejects(r.getTokenBalance(bogusMint.address), ChainUnavailableError);
  });
});

describe('RpcChainReader on a Token-2022 mint', async () => {
  const chain = await newChain({ token2022: true });
  const reader = new RpcChainReader({ rpcUrl: chain.url, mint: chain.mint });

  test('funded and second accounts are found through the mint\'s program and summed', async () => {
    assert.equal(chain.tokenProgram, 'TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb');
    const w = await generateKeyPairSigner();
    await chain.fund(w.address, 500_000);
    await chain.createSecondTokenAccount(w.address, 1);
    assert.deepEqual(await reader.getTokenBalance(w.address), { raw: 500_001n * M, decimals: 6 });
  });
});

describe('restart and outages', () => {
  test('a restarted chain keeps balances; while it is down reads fail as ChainUnavailableError', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'romulus-reader-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    let chain = await startLocalChain({ stateDir: dir });
    const port = chain.port;
    const w = await generateKeyPairSigner();
    const other = await walletWithSecret();
    await chain.fund(w.address, 700_000);
    await chain.fund(other.address, 10);
    await chain.transfer(other.secret, w.address, 3);
    const mint = chain.mint;
    const reader = new RpcChainReader({ rpcUrl: chain.url, mint, timeoutMs: 10_000 });
    assert.equal((await reader.getTokenBalance(w.address)).raw, 700_003n * M);

    let t = 0;
    const cache = new BalanceCache(reader, { ttlMs: 30_000, maxStaleMs: 60_000, now: () => t });
    assert.equal((await cache.get(w.address)).stale, false);

    await chain.stop();
    await assert.rejects(reader.getTokenBalance(w.address), ChainUnavailableError);
    t = 31_000;
    const stale = await cache.get(w.address);
    assert.equal(stale.stale, true, 'cache serves the last value, marked stale');
    assert.equal(stale.whole, 700_003n);
    t = 61_000;
    await assert.rejects(cache.get(w.address), ChainUnavailableError, 'beyond maxStale: unavailable, not a guess');

    chain = await startLocalChain({ stateDir: dir, port });
    cleanups.push(() => chain.stop());
    assert.equal(chain.mint, mint, 'same mint after restart');
    assert.equal((await reader.getTokenBalance(w.address)).raw, 700_003n * M);
    assert.equal((await reader.getTokenBalance(other.address)).raw, 7n * M);
    // the chain still works after restart: new transfers and funding land
    await chain.transfer(other.secret, w.address, 7);
    await chain.fund(w.address, 1);
    assert.equal((await reader.getTokenBalance(w.address)).raw, 700_011n * M);
    assert.equal((await reader.getTokenBalance(other.address)).raw, 0n);
  });

  test('nothing listening on the port -> ChainUnavailableError', async () => {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as AddressInfo).port;
    await new Promise((r) => s.close(r)); // the port is now closed
    const w = await generateKeyPairSigner();
    const reader = new RpcChainReader({ rpcUrl: `http://127.0.0.1:${port}`, mint: w.address });
    await assert.rejects(reader.getTokenBalance(w.address), ChainUnavailableError);
  });

  test('an RPC that never answers -> ChainUnavailableError after the request timeout', async () => {
    const hanging: Server = createServer(() => {}); // accepts, never responds
    await new Promise<void>((r) => hanging.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => { hanging.closeAllConnections(); hanging.close(() => r()); }));
    const w = await generateKeyPairSigner();
    const reader = new RpcChainReader({ rpcUrl: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`, mint: w.address, timeoutMs: 300 });
    await assert.rejects(reader.getTokenBalance(w.address), (e: unknown) => e instanceof ChainUnavailableError && /timed out/.test(e.message));
  });

  test('an RPC answering garbage -> ChainUnavailableError', async () => {
    const liar: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: 0, result: { context: { slot: 1 }, value: [{ pubkey: 'x', account: { data: { parsed: { info: { tokenAmount: { amount: 'lots', decimals: 6 } } } } } }] } }));
    });
    await new Promise<void>((r) => liar.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => { liar.closeAllConnections(); liar.close(() => r()); }));
    const w = await generateKeyPairSigner();
    const reader = new RpcChainReader({ rpcUrl: `http://127.0.0.1:${(liar.address() as AddressInfo).port}`, mint: w.address });
    await assert.rejects(reader.getTokenBalance(w.address), ChainUnavailableError);
  });
});
