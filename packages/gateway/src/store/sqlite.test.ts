import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { runStoreConformance } from './conformance.ts';
import { StoreError, StoreUnavailableError } from './errors.ts';
import { SCHEMA_VERSION } from './sqlite-schema.ts';
import { SqliteStore } from './sqlite.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'romulus-sqlite-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// One file per namespace; two stores opened on one namespace are two connections to one file.
runStoreConformance('sqlite', async (ns) => new SqliteStore({ path: path.join(dir, `${ns}.db`) }));

describe('sqlite specifics', () => {
  it('uses WAL and records the schema version; reopening does not migrate again', async () => {
    const file = path.join(dir, 'schema.db');
    const s1 = new SqliteStore({ path: file });
    await s1.createAgent({ id: 'a1', wallet: 'w1', agentType: 'chat', image: 'i', tier: 'basic', cores: 1, memoryMib: 1024, nodeId: 'n', state: 'running', accessTokenHash: 'h', spawnedAt: 1, uptimeMs: 0 });
    await s1.close();
    const s2 = new SqliteStore({ path: file });
    assert.equal((await s2.getAgent('a1'))?.wallet, 'w1');
    await s2.close();
    const db = new Database(file, { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
    } finally {
      db.close();
    }
  });

  it('refuses a file from a newer schema', async () => {
    const file = path.join(dir, 'newer.db');
    const db = new Database(file);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    assert.throws(() => new SqliteStore({ path: file }), /newer than this gateway knows/);
  });

  it('a database locked past the busy timeout is StoreUnavailableError; caller mistakes stay StoreError', async () => {
    const file = path.join(dir, 'busy.db');
    const store = new SqliteStore({ path: file, busyTimeoutMs: 0 });
    const holder = new Database(file);
    try {
      holder.exec('BEGIN IMMEDIATE'); // another process holds the write lock
      await assert.rejects(store.claimSignature('s', 60_000), (e: unknown) => e instanceof StoreUnavailableError && e.backendCode === 'SQLITE_BUSY');
      await assert.rejects(store.acquireWalletLock('w', 'a'), StoreUnavailableError);
      await assert.rejects(store.claimSignature('s', -1), StoreError);
      holder.exec('ROLLBACK');
      assert.equal(await store.claimSignature('s', 60_000), true, 'serves again once the lock is gone');
    } finally {
      holder.close();
      await store.close();
    }
  });

  it('purges expired signatures opportunistically', async () => {
    const file = path.join(dir, 'purge.db');
    const store = new SqliteStore({ path: file, purgeEveryClaims: 3 });
    const count = () => {
      const db = new Database(file, { readonly: true });
      try {
        return (db.prepare('SELECT count(*) AS n FROM seen_signatures').get() as { n: number }).n;
      } finally {
        db.close();
      }
    };
    try {
      await store.claimSignature('short-1', 1);
      await store.claimSignature('short-2', 1);
      // Wait until both are certainly expired by the store's own clock.
      const until = Date.now() + 5;
      while (Date.now() < until) await new Promise((r) => setTimeout(r, 5));
      assert.equal(count(), 2);
      await store.claimSignature('long-1', 60_000); // third claim triggers the purge
      assert.equal(count(), 1);
    } finally {
      await store.close();
    }
  });
});
