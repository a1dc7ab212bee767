/**
 * One contender process for sqlite-multiprocess.test.ts: opens its own SqliteStore on the shared file,
 * waits for the start signal (a line on stdin, so all contenders race together), then tries to claim
 * every signature, acquire every wallet's lock and spawn agents, and prints what it won as JSON.
 *   node --import tsx sqlite-contender.ts <db file> <name> <count>
 */
import { once } from 'node:events';
import { SqliteStore } from '../sqlite.ts';

const [file, name, countArg] = process.argv.slice(2);
const count = Number(countArg);
const store = new SqliteStore({ path: file, busyTimeoutMs: 60_000 });
process.stdout.write('ready\n');
await once(process.stdin, 'data');
process.stdin.destroy(); // the start signal is all we read; an open stdin would keep the process alive

const sigs: string[] = [];
const locks: string[] = [];
for (let i = 0; i < count; i++) {
  if (await store.claimSignature(`sig-${i}`, 600_000)) sigs.push(`sig-${i}`);
  const r = await store.acquireWalletLock(`wallet-${i}`, `${name}-${i}`);
  if (r.acquired) locks.push(`wallet-${i}`);
  await store.createAgent({
    id: `${name}-${i}`,
    wallet: 'shared-wallet',
    agentType: 'chat',
    image: 'agent-chat',
    tier: 'basic',
    cores: 1,
    memoryMib: 1024,
    nodeId: 'node-1',
    state: 'running',
    accessTokenHash: 'h',
    spawnedAt: i,
    uptimeMs: 0,
  });
}
await store.close();
process.stdout.write(JSON.stringify({ sigs, locks }) + '\n');
