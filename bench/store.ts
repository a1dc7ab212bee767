/**
 * Gateway store benchmark: per-operation latency (median, p95) and sequential ops/s of claimSignature,
 * acquireWalletLock and releaseWalletLock on SQLite (temp file, WAL) and Redis (a real redis-server on
 * loopback, and a real 3-master Redis Cluster), all in one run; plus Redis throughput with many calls in
 * flight (what a busy gateway process sees). Starts and removes everything it uses.
 *   node --import tsx bench/store.ts [ops per measurement, default 2000]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { RedisStore, SqliteStore, type Store } from '../packages/gateway/src/store/index.ts';
import { startRedisCluster, startRedisServer, type RunningRedis } from '../packages/gateway/src/store/testing/redis-servers.ts';

const N = Number(process.argv[2] ?? 2000);
const IN_FLIGHT = 32;

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function timeEach(n: number, op: (i: number) => Promise<unknown>): Promise<{ median: number; p95: number; opsPerSec: number }> {
  const lat: number[] = [];
  const start = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await op(i);
    lat.push(performance.now() - t);
  }
  const total = performance.now() - start;
  lat.sort((a, b) => a - b);
  return { median: quantile(lat, 0.5), p95: quantile(lat, 0.95), opsPerSec: (n / total) * 1000 };
}

async function throughput(n: number, op: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < n) await op(next++);
    }),
  );
  return (n / (performance.now() - start)) * 1000;
}

const rows: string[] = [];
function report(adapter: string, op: string, r: { median: number; p95: number; opsPerSec: number }) {
  rows.push(`${adapter.padEnd(14)} ${op.padEnd(18)} median ${r.median.toFixed(3).padStart(7)} ms   p95 ${r.p95.toFixed(3).padStart(7)} ms   ${Math.round(r.opsPerSec).toString().padStart(6)} ops/s sequential`);
}

async function benchStore(adapter: string, store: Store, concurrent: boolean) {
  const run = `${Date.now()}`;
  // Warm-up: prepared statements, script cache, connections.
  for (let i = 0; i < 50; i++) await store.claimSignature(`warm-${run}-${i}`, 60_000);
  report(adapter, 'claimSignature', await timeEach(N, (i) => store.claimSignature(`sig-${run}-${i}`, 60_000)));
  report(adapter, 'acquireWalletLock', await timeEach(N, (i) => store.acquireWalletLock(`w-${run}-${i}`, `ag-${i}`)));
  report(adapter, 'releaseWalletLock', await timeEach(N, (i) => store.releaseWalletLock(`w-${run}-${i}`, `ag-${i}`)));
  if (concurrent) {
    const c = await throughput(N, (i) => store.claimSignature(`csig-${run}-${i}`, 60_000));
    const l = await throughput(N, async (i) => {
      await store.acquireWalletLock(`cw-${run}-${i}`, `ag-${i}`);
      await store.releaseWalletLock(`cw-${run}-${i}`, `ag-${i}`);
    });
    rows.push(`${adapter.padEnd(14)} ${IN_FLIGHT} in flight: claimSignature ${Math.round(c)} ops/s, acquire+release ${Math.round(l)} pairs/s`);
  }
}

const dir = mkdtempSync(path.join(tmpdir(), 'romulus-bench-store-'));
const servers: RunningRedis[] = [];
try {
  const sqlite = new SqliteStore({ path: path.join(dir, 'bench.db') });
  await benchStore('sqlite', sqlite, false);
  await sqlite.close();

  const single = await startRedisServer();
  servers.push(single);
  const redis = new RedisStore({ url: single.url });
  await redis.ready();
  await benchStore('redis', redis, true);
  await redis.close();

  const cluster = await startRedisCluster();
  servers.push(cluster);
  const clustered = new RedisStore({ clusterNodes: cluster.nodes });
  await clustered.ready();
  await benchStore('redis-cluster', clustered, true);
  await clustered.close();

  console.log(`store benchmark: ${N} ops per row, one client process, servers on loopback, SQLite file in ${tmpdir()}`);
  for (const r of rows) console.log(r);
} finally {
  for (const s of servers) await s.stop();
  rmSync(dir, { recursive: true, force: true });
}
