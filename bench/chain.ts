/**
 * Local chain benchmark: start time (fresh state dir = mint created; restart = state reloaded), fund
 * latency (in-process, and over the admin JSON-RPC like `romulus chain fund`), and the gateway's balance
 * read: getTokenAccountsByOwner through @solana/kit over loopback HTTP (median, p95), raw and through
 * RpcChainReader. Uses temp state dirs and removes them.
 *   node --import tsx bench/chain.ts [calls per read measurement, default 200]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { address, createSolanaRpc, generateKeyPairSigner } from '@solana/kit';
import { startLocalChain, stateFiles } from '../packages/chain/src/index.ts';
import { RpcChainReader } from '../packages/gateway/src/chain/index.ts';

const N = Number(process.argv[2] ?? 200);
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
const fmt = (ms: number) => `${ms.toFixed(2)} ms`;

async function measure(n: number, op: (i: number) => Promise<unknown>) {
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await op(i);
    lat.push(performance.now() - t);
  }
  lat.sort((a, b) => a - b);
  return { median: quantile(lat, 0.5), p95: quantile(lat, 0.95), n };
}
const line = (name: string, r: { median: number; p95: number; n: number }) => console.log(`${name.padEnd(52)} median ${fmt(r.median).padStart(10)}   p95 ${fmt(r.p95).padStart(10)}   (n=${r.n})`);

const dirs: string[] = [];
try {
  // start times
  const fresh: number[] = [];
  const restart: number[] = [];
  for (let i = 0; i < 5; i++) {
    const dir = mkdtempSync(path.join(tmpdir(), 'romulus-bench-chain-'));
    dirs.push(dir);
    let t = performance.now();
    let c = await startLocalChain({ stateDir: dir });
    fresh.push(performance.now() - t);
    await c.fund((await generateKeyPairSigner()).address, 1);
    await c.stop();
    t = performance.now();
    c = await startLocalChain({ stateDir: dir });
    restart.push(performance.now() - t);
    await c.stop();
  }
  fresh.sort((a, b) => a - b);
  restart.sort((a, b) => a - b);
  console.log(`start, fresh state dir (LiteSVM + mint created)        median ${fmt(quantile(fresh, 0.5))}   max ${fmt(fresh[fresh.length - 1])}   (n=5)`);
  console.log(`start, existing state dir (state reloaded)             median ${fmt(quantile(restart, 0.5))}   max ${fmt(restart[restart.length - 1])}   (n=5)`);

  const dir = mkdtempSync(path.join(tmpdir(), 'romulus-bench-chain-'));
  dirs.push(dir);
  const chain = await startLocalChain({ stateDir: dir });
  const token = readFileSync(stateFiles(dir).adminToken, 'utf8');
  const wallets = await Promise.all(Array.from({ length: 50 }, () => generateKeyPairSigner()));
  line('fund, in-process (new ATA + mintTo, signed)', await measure(50, (i) => chain.fund(wallets[i].address, 100_000)));
  line('fund, admin JSON-RPC romulus_fund (existing ATA)', await measure(50, (i) =>
    fetch(chain.url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify({ jsonrpc: '2.0', id: i, method: 'romulus_fund', params: [wallets[i].address, '1'] }) }).then((r) => r.json()),
  ));
  const owner = wallets[0].address;
  await chain.createSecondTokenAccount(owner, 5);
  const rpc = createSolanaRpc(chain.url);
  const mint = address(chain.mint);
  // warm-up, then measure
  for (let i = 0; i < 20; i++) await rpc.getTokenAccountsByOwner(owner, { mint }, { commitment: 'confirmed', encoding: 'jsonParsed' }).send();
  line('getTokenAccountsByOwner via @solana/kit (2 accounts)', await measure(N, () => rpc.getTokenAccountsByOwner(owner, { mint }, { commitment: 'confirmed', encoding: 'jsonParsed' }).send()));
  const reader = new RpcChainReader({ rpcUrl: chain.url, mint: chain.mint });
  line('RpcChainReader.getTokenBalance (gateway cache miss)', await measure(N, () => reader.getTokenBalance(owner)));
  console.log(`slot after run: ${await rpc.getSlot().send()}, accounts persisted: ${JSON.parse(readFileSync(stateFiles(dir).state, 'utf8')).accounts.length}`);
  await chain.stop();
} finally {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
