/**
 * One process of the SQLite exit stress (sqlite-exit.test.ts, scripts/sqlite-exit-stress.ts): opens a
 * SqliteStore, runs every kind of statement (cached ones, and ad-hoc ones left to the garbage collector
 * as listAgentsInStates makes them), then leaves the way a gateway can leave. better-sqlite3 12 on Node 24
 * aborted at exit when a Statement was finalized during environment teardown, so each mode ends with
 * statements still reachable or pending finalization:
 *   close     store.close(), then the event loop drains (a normal exit)
 *   open      no close: the process ends with the database and its statements open
 *   signal    SIGTERM arrives while statements run in a loop; its handler calls process.exit(0)
 *   worker    the store lives in a worker thread, which the main thread terminates mid-work
 * Prints `ready` once the store works; exits 0 when nothing went wrong.
 *   node sqlite-exit-child.{ts,mjs} <db file> <mode>
 */
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { SqliteStore } from '../sqlite.ts';

const MODES = ['close', 'open', 'signal', 'worker'] as const;
type Mode = (typeof MODES)[number];

let seq = 0;
async function work(store: SqliteStore, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    const n = seq++;
    const id = `a-${process.pid}-${n}`;
    await store.claimSignature(`sig-${process.pid}-${n}`, 60_000);
    await store.acquireWalletLock(`w-${n % 7}`, id);
    await store.createAgent({
      id, wallet: `w-${n % 7}`, agentType: 'chat', image: 'agent-chat', tier: 'basic', cores: 1, memoryMib: 512,
      nodeId: 'node-1', state: 'starting', accessTokenHash: 'h', spawnedAt: n, uptimeMs: 0,
    });
    await store.updateAgent(id, { state: 'running' }, { ifStateIn: ['starting'] });
    await store.listAgentsInStates(['running', 'starting']); // a fresh Statement each call, never closed by us
    await store.listAgentsByWallet(`w-${n % 7}`);
    await store.releaseWalletLock(`w-${n % 7}`, id);
  }
}

function workForever(store: SqliteStore): void {
  const step = (): void => void work(store, 1).then(() => setImmediate(step));
  step();
}

async function main(file: string, mode: Mode): Promise<void> {
  if (mode === 'worker') {
    const worker = new Worker(new URL(import.meta.url), { workerData: { file } });
    await new Promise<void>((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    });
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 20)));
    await worker.terminate();
    process.stdout.write('ready\n');
    return;
  }
  const store = new SqliteStore({ path: file, busyTimeoutMs: 30_000 });
  await work(store, 20);
  if (mode === 'signal') {
    process.once('SIGTERM', () => process.exit(0));
    workForever(store);
    process.stdout.write('ready\n');
    return; // the parent sends SIGTERM
  }
  process.stdout.write('ready\n');
  if (mode === 'close') await store.close();
}

if (isMainThread) {
  const [file, mode] = process.argv.slice(2);
  if (!file || !MODES.includes(mode as Mode)) {
    process.stderr.write(`usage: sqlite-exit-child <db file> <${MODES.join('|')}>\n`);
    process.exit(2);
  }
  await main(file, mode as Mode);
} else {
  const store = new SqliteStore({ path: (workerData as { file: string }).file, busyTimeoutMs: 30_000 });
  await work(store, 5);
  parentPort!.postMessage('ready');
  workForever(store);
}
