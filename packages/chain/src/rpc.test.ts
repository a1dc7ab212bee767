/**
 * The local chain over real HTTP, read with @solana/kit's own RPC client: every implemented method must
 * parse and answer in mainnet's shapes; JSON-RPC errors carry the right codes.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  address,
  createSolanaRpc,
  generateKeyPairSigner,
  getBase58Decoder,
  getBase64EncodedWireTransaction,
  getTransactionDecoder,
  lamports,
  type Base64EncodedWireTransaction,
  type Rpc,
  type SolanaRpcApi,
} from '@solana/kit';
import { startLocalChain, type LocalChainHandle } from './local-chain-server.ts';
import { stateFiles } from './state-files.ts';
import { signAndEncode, transferInstructions } from './transactions.ts';
import { createKeyPairSignerFromBytes } from '@solana/kit';
import { TOKEN_PROGRAM } from './programs.ts';

let dir: string;
let chain: LocalChainHandle;
let rpc: Rpc<SolanaRpcApi>;

async function rawCall(body: string, headers: Record<string, string> = {}): Promise<{ status: number; json: any; text: string }> {
  const res = await fetch(chain.url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: res.status, json, text };
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'romulus-chain-'));
  chain = await startLocalChain({ stateDir: dir });
  rpc = createSolanaRpc(chain.url);
});
after(async () => {
  await chain?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('standard methods through @solana/kit', () => {
  test('getHealth, getVersion, getSlot, getBlockHeight', async () => {
    assert.equal(await rpc.getHealth().send(), 'ok');
    const v = await rpc.getVersion().send();
    assert.match(v['solana-core'], /^2\./);
    const slot = await rpc.getSlot().send();
    assert.equal(typeof slot, 'bigint');
    assert.ok(slot > 0n);
    assert.equal(await rpc.getBlockHeight().send(), slot);
  });

  test('getLatestBlockhash has context and a lastValidBlockHeight ahead of the slot', async () => {
    const r = await rpc.getLatestBlockhash({ commitment: 'confirmed' }).send();
    assert.equal(typeof r.context.slot, 'bigint');
    assert.match(r.value.blockhash, /^[1-9A-HJ-NP-Za-km-z]{32,44}$/);
    assert.ok(r.value.lastValidBlockHeight > r.context.slot);
    assert.equal((await rpc.isBlockhashValid(r.value.blockhash).send()).value, true);
  });

  test('getGenesisHash, getEpochInfo, getFeeForMessage, getRecentPrioritizationFees', async () => {
    const genesis = await rpc.getGenesisHash().send();
    assert.match(genesis, /^[1-9A-HJ-NP-Za-km-z]{32,44}$/);
    assert.equal(await rpc.getGenesisHash().send(), genesis, 'stable');
    const epoch = await rpc.getEpochInfo().send();
    assert.equal(epoch.absoluteSlot, await rpc.getSlot().send());
    assert.equal(epoch.slotsInEpoch, 432000n);
    const payer = await generateKeyPairSigner();
    const { value: lifetime } = await rpc.getLatestBlockhash().send();
    const wire = await signAndEncode(payer, lifetime, [{ programAddress: address('11111111111111111111111111111111'), accounts: [{ address: payer.address, role: 3 }], data: new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) }]);
    const message = Buffer.from(getTransactionDecoder().decode(wire).messageBytes).toString('base64');
    assert.equal((await rpc.getFeeForMessage(message as any).send()).value, 5000n);
    const fees = await rpc.getRecentPrioritizationFees().send();
    assert.equal(fees[0].prioritizationFee, 0n);
  });

  test('getMinimumBalanceForRentExemption matches mainnet rent for a token account', async () => {
    assert.equal(await rpc.getMinimumBalanceForRentExemption(165n).send(), 2039280n);
  });

  test('requestAirdrop, getBalance and getSignatureStatuses', async () => {
    const w = await generateKeyPairSigner();
    assert.equal((await rpc.getBalance(w.address).send()).value, 0n);
    const sig = await rpc.requestAirdrop(w.address, lamports(2_000_000_000n)).send();
    assert.equal((await rpc.getBalance(w.address, { commitment: 'confirmed' }).send()).value, 2_000_000_000n);
    const st = await rpc.getSignatureStatuses([sig, '1111111111111111111111111111111111111111111111111111111111111111' as any]).send();
    assert.equal(st.value[0]?.err, null);
    assert.equal(st.value[0]?.confirmationStatus, 'finalized');
    assert.deepEqual(st.value[0]?.status, { Ok: null });
    assert.equal(st.value[1], null);
    const toSysvar = await rawCall(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'requestAirdrop', params: ['SysvarRent111111111111111111111111111111111', 1000] }));
    assert.equal(toSysvar.json.error.code, -32603);
    assert.match(toSysvar.json.error.message, /^airdrop failed/);
  });

  test('getAccountInfo: base64, base58, jsonParsed mint, missing account', async () => {
    const mint = address(chain.mint);
    const b64 = await rpc.getAccountInfo(mint, { encoding: 'base64' }).send();
    assert.equal(b64.value?.owner, TOKEN_PROGRAM);
    assert.equal(b64.value?.space, 82n);
    assert.equal(b64.value?.data[1], 'base64');
    assert.equal(Buffer.from(b64.value!.data[0], 'base64').length, 82);
    assert.equal((b64.value as any)?.rentEpoch, 18446744073709551615n, 'u64::MAX survives as a bigint');
    const b58 = await rpc.getAccountInfo(mint, { encoding: 'base58' }).send();
    assert.equal(b58.value?.data[1], 'base58');
    const parsed = await rpc.getAccountInfo(mint, { encoding: 'jsonParsed' }).send();
    const data = parsed.value?.data as any;
    assert.equal(data.program, 'spl-token');
    assert.equal(data.parsed.type, 'mint');
    assert.equal(data.parsed.info.decimals, 6);
    assert.equal(data.parsed.info.mintAuthority, chain.mintAuthority);
    assert.equal(data.parsed.info.isInitialized, true);
    const nobody = await generateKeyPairSigner();
    assert.equal((await rpc.getAccountInfo(nobody.address, { encoding: 'base64' }).send()).value, null);
  });

  test('token accounts: getTokenAccountsByOwner (mint and programId filters, both encodings), getTokenAccountBalance, getTokenSupply, getMultipleAccounts', async () => {
    const owner = await generateKeyPairSigner();
    const supplyBefore = BigInt((await rpc.getTokenSupply(address(chain.mint)).send()).value.amount);
    const { tokenAccount } = await chain.fund(owner.address, '1.5');
    const byMint = await rpc.getTokenAccountsByOwner(owner.address, { mint: address(chain.mint) }, { commitment: 'confirmed', encoding: 'jsonParsed' }).send();
    assert.equal(byMint.value.length, 1);
    assert.equal(byMint.value[0].pubkey, tokenAccount);
    const info = byMint.value[0].account.data.parsed.info;
    assert.equal(byMint.value[0].account.data.program, 'spl-token');
    assert.equal(byMint.value[0].account.data.parsed.type, 'account');
    assert.equal(info.owner, owner.address);
    assert.equal(info.mint, chain.mint);
    assert.equal(info.state, 'initialized');
    assert.equal(info.isNative, false);
    assert.deepEqual(info.tokenAmount, { amount: '1500000', decimals: 6, uiAmount: 1.5, uiAmountString: '1.5' });
    const byProgram = await rpc.getTokenAccountsByOwner(owner.address, { programId: address(TOKEN_PROGRAM) }, { encoding: 'base64' }).send();
    assert.equal(byProgram.value.length, 1);
    assert.equal(Buffer.from(byProgram.value[0].account.data[0], 'base64').length, 165);
    const bal = await rpc.getTokenAccountBalance(address(tokenAccount)).send();
    assert.equal(bal.value.amount, '1500000');
    assert.equal(bal.value.uiAmountString, '1.5');
    const supply = await rpc.getTokenSupply(address(chain.mint)).send();
    assert.equal(BigInt(supply.value.amount) - supplyBefore, 1_500_000n);
    assert.equal(supply.value.decimals, 6);
    const multi = await rpc.getMultipleAccounts([address(tokenAccount), owner.address, address(chain.mint)], { encoding: 'jsonParsed' }).send();
    assert.equal((multi.value[0]?.data as any).parsed.info.tokenAmount.amount, '1500000');
    assert.equal(multi.value[1], null);
    assert.equal((multi.value[2]?.data as any).parsed.type, 'mint');
  });

  test('sendTransaction (base64 and base58), simulateTransaction, and a failing transaction', async () => {
    const alice = await generateKeyPairSigner(true);
    const bob = await generateKeyPairSigner();
    await chain.fund(alice.address, 10);
    await rpc.requestAirdrop(alice.address, lamports(1_000_000_000n)).send();
    const aliceBytes = new Uint8Array([...new Uint8Array(await crypto.subtle.exportKey('pkcs8', alice.keyPair.privateKey)).slice(-32), ...Buffer.from(await crypto.subtle.exportKey('raw', alice.keyPair.publicKey))]);
    const signer = await createKeyPairSignerFromBytes(aliceBytes);
    const build = async (raw: bigint) => {
      const { value } = await rpc.getLatestBlockhash().send();
      const ixs = await transferInstructions({ feePayer: signer, from: signer, to: bob.address, mint: chain.mint, tokenProgram: TOKEN_PROGRAM, decimals: 6, raw });
      return signAndEncode(signer, value, ixs);
    };
    const wire1 = await build(2_000_000n);
    const b64 = Buffer.from(wire1).toString('base64') as Base64EncodedWireTransaction;
    const sim = await rpc.simulateTransaction(b64, { encoding: 'base64', sigVerify: true }).send();
    assert.equal(sim.value.err, null);
    assert.ok(sim.value.logs!.length > 0);
    assert.equal(chain.balance(bob.address), 0n, 'simulation commits nothing');
    const sig1 = await rpc.sendTransaction(b64, { encoding: 'base64', preflightCommitment: 'confirmed' }).send();
    assert.equal(sig1, getBase58Decoder().decode(Object.values(getTransactionDecoder().decode(wire1).signatures)[0]!));
    assert.equal(chain.balance(bob.address), 2_000_000n);
    const wire2 = await build(3_000_000n);
    const sig2 = await rpc.sendTransaction(getBase58Decoder().decode(wire2) as any).send(); // default encoding: base58
    assert.equal(typeof sig2, 'string');
    assert.equal(chain.balance(bob.address), 5_000_000n);
    assert.equal(chain.balance(alice.address), 5_000_000n);
    // more than alice holds: the token program refuses; preflight reports -32002 with the simulation
    const tooMuch = await build(6_000_000n);
    const r = await rawCall(JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'sendTransaction', params: [Buffer.from(tooMuch).toString('base64'), { encoding: 'base64' }] }));
    assert.equal(r.json.error.code, -32002);
    assert.match(r.json.error.message, /^Transaction simulation failed/);
    assert.deepEqual(r.json.error.data.err, { InstructionError: [1, { Custom: 1 }] });
    assert.equal(chain.balance(alice.address), 5_000_000n);
    // without preflight the signature comes back and its status carries the error, nothing moves
    const tooMuchAgain = await build(7_000_000n);
    const skipped = await rawCall(JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'sendTransaction', params: [Buffer.from(tooMuchAgain).toString('base64'), { encoding: 'base64', skipPreflight: true }] }));
    assert.equal(typeof skipped.json.result, 'string');
    const status = await rpc.getSignatureStatuses([skipped.json.result]).send();
    assert.deepEqual(status.value[0]?.err, { InstructionError: [1n, { Custom: 1n }] });
    assert.deepEqual((status.value[0] as any)?.status, { Err: { InstructionError: [1n, { Custom: 1n }] } });
    assert.equal(chain.balance(alice.address), 5_000_000n);
    // sending the same signed transaction twice: the second is a duplicate
    const again = await rawCall(JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'sendTransaction', params: [Buffer.from(wire1).toString('base64'), { encoding: 'base64' }] }));
    assert.equal(again.json.error.code, -32002);
    assert.equal(chain.balance(bob.address), 5_000_000n);
    // kit surfaces the same error as a SolanaError
    await assert.rejects(rpc.sendTransaction(getBase64EncodedWireTransaction(getTransactionDecoder().decode(tooMuch)), { encoding: 'base64' }).send());
  });

  test('a tampered signature is -32003', async () => {
    const alice = await generateKeyPairSigner();
    await rpc.requestAirdrop(alice.address, lamports(1_000_000_000n)).send();
    const { value } = await rpc.getLatestBlockhash().send();
    const bob = await generateKeyPairSigner();
    const wire = await signAndEncode(alice, value, [
      { programAddress: address('11111111111111111111111111111111'), accounts: [{ address: alice.address, role: 3 }, { address: bob.address, role: 1 }], data: new Uint8Array([2, 0, 0, 0, 64, 66, 15, 0, 0, 0, 0, 0]) },
    ]);
    wire[5] ^= 0xff; // inside the first signature
    const r = await rawCall(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'sendTransaction', params: [Buffer.from(wire).toString('base64'), { encoding: 'base64' }] }));
    assert.equal(r.json.error.code, -32003);
    assert.equal((await rpc.getBalance(bob.address).send()).value, 0n);
  });

  test('a transaction with an unknown blockhash is refused', async () => {
    const alice = await generateKeyPairSigner();
    await rpc.requestAirdrop(alice.address, lamports(1_000_000_000n)).send();
    const wire = await signAndEncode(alice, { blockhash: '11111111111111111111111111111111', lastValidBlockHeight: 1n }, [
      { programAddress: address('11111111111111111111111111111111'), accounts: [{ address: alice.address, role: 3 }, { address: alice.address, role: 1 }], data: new Uint8Array([2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]) },
    ]);
    const r = await rawCall(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'sendTransaction', params: [Buffer.from(wire).toString('base64'), { encoding: 'base64' }] }));
    assert.equal(r.json.error.code, -32002);
    assert.equal(r.json.error.data.err, 'BlockhashNotFound');
  });
});

describe('JSON-RPC envelope and errors', () => {
  test('responses carry jsonrpc 2.0, the id, and context with apiVersion', async () => {
    const r = await rawCall(JSON.stringify({ jsonrpc: '2.0', id: 'abc', method: 'getBalance', params: [chain.mintAuthority] }));
    assert.equal(r.json.jsonrpc, '2.0');
    assert.equal(r.json.id, 'abc');
    assert.match(r.json.result.context.apiVersion, /^2\./);
    assert.equal(typeof r.json.result.context.slot, 'number');
  });

  test('unknown method is -32601', async () => {
    const r = await rawCall(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'getFooBar', params: [] }));
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { jsonrpc: '2.0', error: { code: -32601, message: 'Method not found' }, id: 1 });
  });

  test('bad params are -32602', async () => {
    for (const params of [['not-a-pubkey'], [], [chain.mintAuthority, { commitment: 'sometimes' }], [chain.mintAuthority, 5]]) {
      const r = await rawCall(JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'getBalance', params }));
      assert.equal(r.json.error.code, -32602, JSON.stringify(params));
    }
    const noMint = await generateKeyPairSigner();
    const r = await rawCall(JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'getTokenAccountsByOwner', params: [chain.mintAuthority, { mint: noMint.address }, { encoding: 'jsonParsed' }] }));
    assert.deepEqual(r.json.error, { code: -32602, message: 'Invalid param: could not find mint' });
    const notToken = await rawCall(JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'getTokenAccountBalance', params: [chain.mintAuthority] }));
    assert.equal(notToken.json.error.code, -32602);
  });

  test('malformed JSON is -32700 with id null; a non-request is -32600', async () => {
    const r = await rawCall('{"jsonrpc":"2.0",');
    assert.deepEqual(r.json, { jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null });
    const bad = await rawCall(JSON.stringify({ id: 9, method: 'getSlot' }));
    assert.equal(bad.json.error.code, -32600);
    const empty = await rawCall('[]');
    assert.equal(empty.json.error.code, -32600);
  });

  test('batch requests answer each entry in order', async () => {
    const r = await rawCall(JSON.stringify([
      { jsonrpc: '2.0', id: 1, method: 'getHealth' },
      { jsonrpc: '2.0', id: 2, method: 'nope' },
      { jsonrpc: '2.0', id: 3, method: 'getSlot' },
    ]));
    assert.equal(r.json.length, 3);
    assert.equal(r.json[0].result, 'ok');
    assert.equal(r.json[1].error.code, -32601);
    assert.equal(typeof r.json[2].result, 'number');
  });

  test('HTTP-level refusals: wrong method, wrong content type, oversized body', async () => {
    assert.equal((await fetch(chain.url, { method: 'PUT' })).status, 405);
    assert.equal((await fetch(chain.url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '{}' })).status, 415);
    const big = await fetch(chain.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'getHealth', pad: 'x'.repeat(60_000) }) });
    assert.equal(big.status, 413);
    assert.equal(await rpc.getHealth().send(), 'ok', 'still serving');
  });
});

describe('admin methods', () => {
  test('romulus_fund needs the admin token', async () => {
    const w = await generateKeyPairSigner();
    const anon = await rawCall(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'romulus_fund', params: [w.address, '5'] }));
    assert.equal(anon.json.error.code, -32401);
    const wrong = await rawCall(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'romulus_fund', params: [w.address, '5'] }), { authorization: 'Bearer nope' });
    assert.equal(wrong.json.error.code, -32401);
    assert.equal(chain.balance(w.address), 0n);
    const { readFileSync } = await import('node:fs');
    const token = readFileSync(stateFiles(dir).adminToken, 'utf8');
    const ok = await rawCall(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'romulus_fund', params: [w.address, '5'] }), { authorization: `Bearer ${token}` });
    assert.equal(ok.json.result.balance, '5000000');
    const bad = await rawCall(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'romulus_fund', params: [w.address, '-1'] }), { authorization: `Bearer ${token}` });
    assert.equal(bad.json.error.code, -32602);
  });

  test('secret files are private to the owner', () => {
    const f = stateFiles(dir);
    assert.equal(statSync(f.authority).mode & 0o077, 0);
    assert.equal(statSync(f.adminToken).mode & 0o077, 0);
  });
});
