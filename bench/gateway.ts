/**
 * Gateway benchmark. Prints:
 *  1. raw Ed25519 verify rate (node:crypto, cached KeyObject) on this core, in this run;
 *  2. GET /status/:id requests per second against a gateway pinned to one core (taskset), over loopback
 *     with keep-alive connections:
 *       - public path: unsigned (routing, validation, store read, serialisation);
 *       - owner path: signed. Signatures are single-use (replay protection), so N distinct header sets
 *         with distinct timestamps are signed before the clock starts; each request then costs one
 *         Ed25519 verify plus one replay-set insert in the store (SQLite);
 *  3. spawn API overhead: time to the 201 of POST /spawn (auth, balance from the local chain through the
 *     cache, image check, wallet lock, record, node create call), excluding the guest boot; median and p95.
 *     With a real node (kernel + base image built) the node's create call is included; otherwise a
 *     stand-in node (FakeNode over loopback HTTP) answers and the output says so.
 *
 *   node --import tsx bench/gateway.ts            (ROMULUS_BENCH_N=10000 to change the request count)
 */
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger, imagesDir, kernelPath } from '@romulus/shared';
import { startGateway } from '@romulus/gateway';
import { FakeNode, TestWallet, testImage } from '@romulus/gateway/testing';
import { SqliteStore } from '../packages/gateway/src/store/sqlite.ts';

const N = Number(process.env.ROMULUS_BENCH_N ?? 10_000);
const CONCURRENCY = 16;

if (process.argv[2] === '--serve') await serve(process.argv[3]);
else await main();

/** Child mode: one gateway on the given SQLite file, stand-in node and chain (the status path touches neither). */
async function serve(dbPath: string): Promise<void> {
  const store = new SqliteStore({ path: dbPath });
  const node = await new FakeNode([testImage('base')]).start();
  const gw = await startGateway(
    {
      listen: { host: '127.0.0.1', port: 0 },
      node: { url: node.url, token: node.token, id: node.nodeId },
      chain: { rpcUrl: 'http://127.0.0.1:9', mint: '11111111111111111111111111111111' },
      limits: { bodyLimitBytes: 16384, perIp: { burst: 1e9, perSec: 1e9 }, perWallet: { burst: 1e9, perSec: 1e9 } },
      lifecycle: { reconcileIntervalMs: 3_600_000, missingVmGraceMs: 3_600_000, startTimeoutMs: 600_000, nodeTimeoutMs: 1000 },
      logLevel: 'error',
    },
    {
      store,
      log: createLogger('bench-gw', { level: 'error' }),
      balances: { lookup: async () => ({ raw: 0n, decimals: 0, whole: 0n, fetchedAt: Date.now(), stale: false }) },
    },
  );
  process.send!({ port: gw.port });
  process.on('message', async () => {
    await gw.close();
    await node.close();
    await store.close();
    process.exit(0);
  });
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

function ed25519VerifyRate(): number {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const key = createPublicKey({ key: publicKey.export({ format: 'jwk' }), format: 'jwk' });
  const msg = Buffer.from(`romulus:${Date.now()}`);
  const sig = sign(null, msg, privateKey);
  for (let i = 0; i < 500; i++) verify(null, msg, key, sig);
  const n = 20_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) if (!verify(null, msg, key, sig)) throw new Error('verify failed');
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** Closed-loop load: CONCURRENCY keep-alive connections, each sending its next request when the last answered. */
async function load(port: number, requests: { path: string; headers: Record<string, string> }[]): Promise<{ rps: number; errors: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let next = 0;
  let errors = 0;
  const one = (r: { path: string; headers: Record<string, string> }) =>
    new Promise<void>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, path: r.path, headers: r.headers, agent }, (res) => {
        if (res.statusCode !== 200) errors++;
        res.resume();
        res.on('end', resolve);
      });
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end();
    });
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < requests.length) await one(requests[next++]);
    }),
  );
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  agent.destroy();
  return { rps: requests.length / secs, errors };
}

async function statusBench(dir: string): Promise<void> {
  const owner = new TestWallet();
  const dbPath = path.join(dir, 'bench.db');
  const store = new SqliteStore({ path: dbPath });
  const id = '0190000000aa-000000000001';
  await store.createAgent({
    id, wallet: owner.address, agentType: 'base', image: 'base', tier: 'basic', cores: 1, memoryMib: 1024, nodeId: 'n',
    state: 'running', accessTokenHash: '0'.repeat(64), spawnedAt: Date.now(), runningSince: Date.now(), uptimeMs: 0,
  });
  await store.close();

  const child: ChildProcess = spawnChild('taskset', ['-c', '0', process.execPath, '--import', 'tsx', import.meta.filename, '--serve', dbPath], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.once('message', (m: any) => resolve(m.port));
      child.once('exit', (code) => reject(new Error(`gateway child exited ${code}`)));
    });
    const warm = Array.from({ length: 2000 }, () => ({ path: `/status/${id}`, headers: {} }));
    await load(port, warm);
    const pub = await load(port, Array.from({ length: N }, () => ({ path: `/status/${id}`, headers: {} })));
    const signed = Array.from({ length: N }, () => ({ path: `/status/${id}`, headers: owner.headers() }));
    const own = await load(port, signed);
    console.log(`status, public view (unsigned):        ${pub.rps.toFixed(0)} req/s on one core (${N} requests, ${CONCURRENCY} keep-alive connections, errors ${pub.errors})`);
    console.log(`status, owner view (signed, verified,
  signature claimed in SQLite):          ${own.rps.toFixed(0)} req/s on one core (${N} distinct pre-signed requests, errors ${own.errors})`);
  } finally {
    child.send?.('stop');
    await new Promise((r) => {
      const k = setTimeout(() => { child.kill('SIGKILL'); r(null); }, 5000);
      child.once('exit', () => { clearTimeout(k); r(null); });
    });
  }
}

async function spawnBench(dir: string, realNode: boolean): Promise<void> {
  const runs = Number(process.env.ROMULUS_BENCH_SPAWNS ?? 20);
  const times: number[] = [];
  if (realNode) {
    const { startStack } = await import('../e2e/harness/stack.ts');
    const { waitForStatus } = await import('../e2e/gateway/helpers.ts');
    const stack = await startStack({});
    try {
      const w = await stack.newWallet(100_000);
      for (let i = 0; i < runs; i++) {
        const body = JSON.stringify({ agent_type: 'base' });
        const headers = { ...w.headers(), 'content-type': 'application/json' };
        const t0 = process.hrtime.bigint();
        const r = await fetch(`${stack.gateway.url}/spawn`, { method: 'POST', headers, body });
        const json: any = await r.json();
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (r.status !== 201) throw new Error(`spawn ${r.status}: ${JSON.stringify(json)}`);
        // Stop right away (outside the timed part): the benchmark is about the API path, not the boot.
        await stack.request('POST', `/stop/${json.agent.id}`, { wallet: w });
        // Stop is asynchronous: the wallet's lock is free once the agent is stopped.
        await waitForStatus(stack, w, json.agent.id, ['stopped']);
      }
    } finally {
      await stack.close();
    }
  } else {
    const store = new SqliteStore({ path: path.join(dir, 'spawn.db') });
    const node = await new FakeNode([testImage('base')]).start();
    const gw = await startGateway(
      {
        listen: { host: '127.0.0.1', port: 0 },
        node: { url: node.url, token: node.token, id: node.nodeId },
        chain: { rpcUrl: 'http://127.0.0.1:9', mint: '11111111111111111111111111111111' },
        logLevel: 'error',
      },
      { store, log: createLogger('bench', { level: 'error' }), balances: { lookup: async () => ({ raw: 100_000n, decimals: 0, whole: 100_000n, fetchedAt: Date.now(), stale: false }) } },
    );
    try {
      for (let i = 0; i < runs; i++) {
        const w = new TestWallet();
        const t0 = process.hrtime.bigint();
        const r = await fetch(`${gw.url}/spawn`, { method: 'POST', headers: { ...w.headers(), 'content-type': 'application/json' }, body: '{"agent_type":"base"}' });
        await r.json();
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        if (r.status !== 201) throw new Error(`spawn ${r.status}`);
      }
    } finally {
      await gw.close();
      await store.close();
      await node.close();
    }
  }
  times.sort((a, b) => a - b);
  console.log(
    `spawn API overhead (time to 201, no boot): median ${pct(times, 50).toFixed(1)} ms, p95 ${pct(times, 95).toFixed(1)} ms over ${runs} spawns ` +
      (realNode
        ? '(real local chain + real node create call, SQLite store)'
        : '(gateway alone: stand-in node over loopback, in-process balance, SQLite store)'),
  );
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'romulus-bench-gw-'));
  try {
    console.log(`Ed25519 verify (node:crypto, cached KeyObject): ${ed25519VerifyRate().toFixed(0)} verifies/s on one core`);
    await statusBench(dir);
    // The gateway's own share (stand-in node answering over loopback), then the whole path with a real node.
    await spawnBench(dir, false);
    if (existsSync(path.join(imagesDir(), 'base', 'rootfs.ext4')) && existsSync(kernelPath())) await spawnBench(dir, true);
    else console.log('spawn API overhead with a real node: skipped, kernel or base image not built (scripts/setup.sh)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
