import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, it } from 'node:test';
import { SqliteStore } from './sqlite.ts';

/**
 * Several gateway processes on one SQLite file: real OS processes racing on a fresh file (migration
 * included), so WAL + BEGIN IMMEDIATE + busy_timeout are what keeps signatures single-use, wallet locks
 * exclusive and spawn counts exact.
 */
const dir = mkdtempSync(path.join(tmpdir(), 'romulus-sqlite-mp-'));
const children: ReturnType<typeof spawn>[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

it('three processes on one file: every signature and lock won exactly once, spawns counted exactly', { timeout: 300_000 }, async () => {
  const file = path.join(dir, 'shared.db');
  const count = 150;
  const contender = path.join(import.meta.dirname, 'testing', 'sqlite-contender.ts');
  const procs = ['p1', 'p2', 'p3'].map((name) => {
    const child = spawn(process.execPath, ['--import', 'tsx', contender, file, name, String(count)], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(child);
    const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    return { child, lines, exited };
  });
  for (const p of procs) assert.equal((await p.lines.next()).value, 'ready');
  for (const p of procs) p.child.stdin!.end('go\n');
  const results = [];
  for (const p of procs) {
    results.push(JSON.parse((await p.lines.next()).value as string) as { sigs: string[]; locks: string[] });
    assert.equal(await p.exited, 0);
  }
  const sigs = results.flatMap((r) => r.sigs);
  const locks = results.flatMap((r) => r.locks);
  assert.equal(sigs.length, count, 'each signature claimed exactly once in total');
  assert.equal(new Set(sigs).size, count);
  assert.equal(locks.length, count, 'each wallet lock granted exactly once in total');
  assert.equal(new Set(locks).size, count);

  const store = new SqliteStore({ path: file });
  try {
    assert.equal(await store.getSpawnCount('shared-wallet'), 3 * count);
    assert.equal((await store.listAgentsByWallet('shared-wallet')).length, 3 * count);
  } finally {
    await store.close();
  }
});
