/**
 * CLI start-up latency: wall time of whole `romulus <command>` processes, median and p95, for the bundle
 * (what `romulus` on the PATH runs: packages/cli/bin/romulus.mjs, rebuilt first if stale) next to the
 * TypeScript sources through tsx (what every command cost before the bundles).
 * `PATH` is bin/romulus (the shell launcher setup links into /usr/local/bin), `bundle` its node part alone.
 *   `romulus wallet`   reads the keypair, prints the address (no network)
 *   `romulus --help`   commander only
 *   `romulus tiers`    one HTTP round trip to a real gateway (started here on loopback, SQLite store,
 *                      in-memory node; tiers reads neither the node nor the chain)
 *   node --import tsx bench/cli.ts [runs per measurement, default 10]
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { startGateway } from '@romulus/gateway';
import { FakeNode, testImage } from '@romulus/gateway/testing';
import { createLogger } from '@romulus/shared';
import { KeypairSigner } from '@romulus/sdk';
import { writeNewKeypair } from '../packages/cli/src/commands/keygen.ts';
// @ts-expect-error: plain JavaScript module without type declarations
import { ensureBundle } from '../scripts/bundle.mjs';

const RUNS = Number(process.argv[2] ?? 10);
const ROOT = path.resolve(import.meta.dirname, '..');
const run = promisify(execFile);

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

async function timeCommand(file: string, argv: string[], env: NodeJS.ProcessEnv): Promise<{ median: number; p95: number }> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await run(file, argv, { env, cwd: ROOT });
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { median: quantile(times, 0.5), p95: quantile(times, 0.95) };
}

const dir = mkdtempSync(path.join(tmpdir(), 'romulus-bench-cli-'));
const node = await new FakeNode([testImage('base')]).start();
const gateway = await startGateway(
  {
    listen: { host: '127.0.0.1', port: 0 },
    node: { url: node.url, token: node.token, id: node.nodeId },
    store: { kind: 'sqlite', path: path.join(dir, 'gateway.db') },
    chain: { rpcUrl: 'http://127.0.0.1:9', mint: KeypairSigner.generate().publicKey },
    logLevel: 'warn',
  },
  { log: createLogger('bench-cli', { level: 'warn' }) },
);
try {
  const keypair = path.join(dir, 'id.json');
  writeNewKeypair(keypair, KeypairSigner.generate());
  const env = { ...process.env, HOME: dir, ROMULUS_DATA_DIR: path.join(dir, 'data'), ROMULUS_KEYPAIR: keypair, ROMULUS_GATEWAY: gateway.url };
  const bundleStart = performance.now();
  await ensureBundle('romulus');
  console.log(`bundle ready in ${(performance.now() - bundleStart).toFixed(0)} ms (node ${process.version}, ${RUNS} runs each)`);
  const variants: [string, string, string[]][] = [
    ['PATH', path.join(ROOT, 'bin/romulus'), []], // what `romulus` on the PATH runs: the shell launcher, then the bundle
    ['bundle', process.execPath, [path.join(ROOT, 'packages/cli/bin/romulus.mjs')]],
    ['tsx', process.execPath, ['--import', 'tsx', path.join(ROOT, 'packages/cli/src/main.ts')]],
  ];
  for (const command of [['wallet'], ['--help'], ['tiers']]) {
    for (const [variant, file, argv] of variants) {
      const r = await timeCommand(file, [...argv, ...command], env);
      console.log(`romulus ${command.join(' ').padEnd(7)} ${variant.padEnd(6)} median ${r.median.toFixed(0).padStart(5)} ms   p95 ${r.p95.toFixed(0).padStart(5)} ms`);
    }
  }
} finally {
  await gateway.close();
  await node.close();
  rmSync(dir, { recursive: true, force: true });
}
