import type Database from 'better-sqlite3';

/**
 * The SQLite schema as ordered migrations; PRAGMA user_version records how many ran. Migrations only ever
 * get appended. They run inside one BEGIN IMMEDIATE transaction that re-reads user_version, so several
 * gateway processes opening a fresh file at once migrate it exactly once.
 */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE seen_signatures (
    signature  TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX seen_signatures_expiry ON seen_signatures (expires_at);

  CREATE TABLE wallet_locks (
    wallet      TEXT PRIMARY KEY,
    agent_id    TEXT NOT NULL,
    acquired_at INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE agents (
    id                TEXT PRIMARY KEY,
    wallet            TEXT NOT NULL,
    agent_type        TEXT NOT NULL,
    image             TEXT NOT NULL,
    tier              TEXT NOT NULL,
    cores             INTEGER NOT NULL,
    memory_mib        INTEGER NOT NULL,
    node_id           TEXT NOT NULL,
    state             TEXT NOT NULL,
    reason            TEXT,
    access_token_hash TEXT NOT NULL,
    target_host       TEXT,
    target_port       INTEGER,
    spawned_at        INTEGER NOT NULL,
    ready_at          INTEGER,
    stopped_at        INTEGER,
    running_since     INTEGER,
    uptime_ms         INTEGER NOT NULL
  );
  CREATE INDEX agents_by_wallet ON agents (wallet, spawned_at);
  CREATE INDEX agents_by_state ON agents (state);

  CREATE TABLE wallet_spawns (
    wallet TEXT PRIMARY KEY,
    count  INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function migrate(db: Database.Database): void {
  db.transaction(() => {
    const current = db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      throw new Error(`store schema version ${current} is newer than this gateway knows (${MIGRATIONS.length}); upgrade the gateway`);
    }
    for (let v = current; v < MIGRATIONS.length; v++) db.exec(MIGRATIONS[v]);
    // user_version cannot be bound as a parameter; the value is our own integer.
    if (current !== MIGRATIONS.length) db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}
