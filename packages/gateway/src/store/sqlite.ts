import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { AgentState } from '@romulus/shared';
import { StoreError, StoreUnavailableError } from './errors.ts';
import { applyPatch, bySpawnOrder, checkCloseRunningAt, checkKey, checkStates, normalizePatch, validateRecord } from './record.ts';
import { migrate } from './sqlite-schema.ts';
import type { AgentPatch, AgentRecord, LockResult, Store } from './types.ts';

export interface SqliteStoreOptions {
  path: string;
  /** How long a writer waits for another process's transaction before failing (ms). */
  busyTimeoutMs?: number;
  /** Expired signatures are purged every this many claims (bounded batches, so a claim stays cheap). */
  purgeEveryClaims?: number;
}

interface AgentRow {
  id: string;
  wallet: string;
  agent_type: string;
  image: string;
  tier: string;
  cores: number;
  memory_mib: number;
  node_id: string;
  state: string;
  reason: string | null;
  access_token_hash: string;
  target_host: string | null;
  target_port: number | null;
  spawned_at: number;
  ready_at: number | null;
  stopped_at: number | null;
  running_since: number | null;
  uptime_ms: number;
}

function rowToRecord(r: AgentRow): AgentRecord {
  const rec: AgentRecord = {
    id: r.id,
    wallet: r.wallet,
    agentType: r.agent_type,
    image: r.image,
    tier: r.tier,
    cores: r.cores,
    memoryMib: r.memory_mib,
    nodeId: r.node_id,
    state: r.state as AgentState,
    accessTokenHash: r.access_token_hash,
    spawnedAt: r.spawned_at,
    uptimeMs: r.uptime_ms,
  };
  if (r.reason !== null) rec.reason = r.reason;
  if (r.target_host !== null && r.target_port !== null) rec.target = { host: r.target_host, port: r.target_port };
  if (r.ready_at !== null) rec.readyAt = r.ready_at;
  if (r.stopped_at !== null) rec.stoppedAt = r.stopped_at;
  if (r.running_since !== null) rec.runningSince = r.running_since;
  return rec;
}

function recordToParams(rec: AgentRecord): AgentRow {
  return {
    id: rec.id,
    wallet: rec.wallet,
    agent_type: rec.agentType,
    image: rec.image,
    tier: rec.tier,
    cores: rec.cores,
    memory_mib: rec.memoryMib,
    node_id: rec.nodeId,
    state: rec.state,
    reason: rec.reason ?? null,
    access_token_hash: rec.accessTokenHash,
    target_host: rec.target?.host ?? null,
    target_port: rec.target?.port ?? null,
    spawned_at: rec.spawnedAt,
    ready_at: rec.readyAt ?? null,
    stopped_at: rec.stoppedAt ?? null,
    running_since: rec.runningSince ?? null,
    uptime_ms: rec.uptimeMs,
  };
}

/** SQLite result codes that mean "cannot serve now" (extended codes such as SQLITE_BUSY_SNAPSHOT included). */
const OUTAGE_CODES = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|NOMEM|PROTOCOL)/;

/** Runs one database call; backend failures leave as StoreUnavailableError, everything else unchanged. */
function backend<T>(call: () => T): T {
  try {
    return call();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (err instanceof Database.SqliteError && typeof code === 'string' && OUTAGE_CODES.test(code)) {
      throw new StoreUnavailableError(`sqlite: ${err.message}`, code, { cause: err });
    }
    throw err;
  }
}

const COLUMNS = Object.keys(recordToParams({ id: '', wallet: '', agentType: '', image: '', tier: '', cores: 0, memoryMib: 0, nodeId: '', state: 'starting', accessTokenHash: '', spawnedAt: 0, uptimeMs: 0 }));

/**
 * The embedded store. WAL lets readers run beside one writer; every write is a BEGIN IMMEDIATE transaction
 * (takes the write lock up front, so a read-then-write never has to be upgraded and cannot deadlock), and
 * busy_timeout makes a second gateway process on the same file wait its turn instead of failing.
 * better-sqlite3 is synchronous: each method finishes its transaction before yielding, so calls within one
 * process are serialized too.
 */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private readonly db: Database.Database;
  private readonly purgeEvery: number;
  private claimsSincePurge = 0;
  private closed = false;
  private readonly q;
  private readonly tx;

  constructor(opts: SqliteStoreOptions) {
    if (opts.path !== ':memory:') mkdirSync(path.dirname(path.resolve(opts.path)), { recursive: true });
    this.db = new Database(opts.path);
    this.purgeEvery = Math.max(1, opts.purgeEveryClaims ?? 256);
    try {
      this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 10_000))}`);
      this.db.pragma('journal_mode = WAL');
      // NORMAL is durable across process crashes in WAL mode; only an OS crash can lose the last commits.
      this.db.pragma('synchronous = NORMAL');
      this.db.pragma('foreign_keys = ON');
      migrate(this.db);
    } catch (err) {
      this.db.close();
      throw err;
    }
    const db = this.db;
    this.q = {
      dropExpiredSig: db.prepare('DELETE FROM seen_signatures WHERE signature = ? AND expires_at <= ?'),
      insertSig: db.prepare('INSERT OR IGNORE INTO seen_signatures (signature, expires_at) VALUES (?, ?)'),
      purgeSigs: db.prepare('DELETE FROM seen_signatures WHERE signature IN (SELECT signature FROM seen_signatures WHERE expires_at <= ? LIMIT 1000)'),
      getLock: db.prepare<[string], { agent_id: string }>('SELECT agent_id FROM wallet_locks WHERE wallet = ?'),
      insertLock: db.prepare('INSERT OR IGNORE INTO wallet_locks (wallet, agent_id, acquired_at) VALUES (?, ?, ?)'),
      deleteLock: db.prepare('DELETE FROM wallet_locks WHERE wallet = ? AND agent_id = ?'),
      getAgent: db.prepare<[string], AgentRow>('SELECT * FROM agents WHERE id = ?'),
      insertAgent: db.prepare(`INSERT INTO agents (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((c) => '@' + c).join(', ')})`),
      updateAgent: db.prepare(`UPDATE agents SET ${COLUMNS.filter((c) => c !== 'id').map((c) => `${c} = @${c}`).join(', ')} WHERE id = @id`),
      bumpSpawns: db.prepare('INSERT INTO wallet_spawns (wallet, count) VALUES (?, 1) ON CONFLICT (wallet) DO UPDATE SET count = count + 1'),
      getSpawns: db.prepare<[string], { count: number }>('SELECT count FROM wallet_spawns WHERE wallet = ?'),
      byWallet: db.prepare<[string], AgentRow>('SELECT * FROM agents WHERE wallet = ? ORDER BY spawned_at, id'),
    };
    this.tx = {
      claim: db.transaction((sig: string, now: number, expiresAt: number): boolean => {
        this.q.dropExpiredSig.run(sig, now);
        return this.q.insertSig.run(sig, expiresAt).changes === 1;
      }),
      acquire: db.transaction((wallet: string, agentId: string, now: number): LockResult => {
        this.q.insertLock.run(wallet, agentId, now);
        const holder = this.q.getLock.get(wallet)!.agent_id;
        return holder === agentId ? { acquired: true } : { acquired: false, holder };
      }),
      create: db.transaction((rec: AgentRecord): void => {
        const existing = this.q.getAgent.get(rec.id);
        if (existing) {
          if (existing.wallet !== rec.wallet) throw new StoreError('conflict', `agent ${rec.id} already exists for another wallet`);
          return; // a retried create: already inserted and counted
        }
        this.q.insertAgent.run(recordToParams(rec));
        this.q.bumpSpawns.run(rec.wallet);
      }),
      update: db.transaction((id: string, patch: ReturnType<typeof normalizePatch>, ifStateIn: Set<string> | undefined, closeAt: number | undefined) => {
        const row = this.q.getAgent.get(id);
        if (!row || (ifStateIn && !ifStateIn.has(row.state))) return null;
        const next = applyPatch(rowToRecord(row), patch, closeAt);
        this.q.updateAgent.run(recordToParams(next));
        return next;
      }),
    };
  }

  private open(): void {
    if (this.closed) throw new Error('store is closed');
  }

  async claimSignature(signature: string, ttlMs: number): Promise<boolean> {
    this.open();
    checkKey('signature', signature);
    if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw new StoreError('invalid', 'ttlMs must be a positive integer');
    const now = Date.now();
    const fresh = backend(() => this.tx.claim.immediate(signature, now, now + ttlMs));
    if (++this.claimsSincePurge >= this.purgeEvery) {
      this.claimsSincePurge = 0;
      backend(() => this.purgeExpiredSignatures(now));
    }
    return fresh;
  }

  /** Deletes up to 1000 expired signatures; returns how many went. Called opportunistically by claims. */
  purgeExpiredSignatures(now = Date.now()): number {
    this.open();
    return this.q.purgeSigs.run(now).changes;
  }

  async acquireWalletLock(wallet: string, agentId: string): Promise<LockResult> {
    this.open();
    checkKey('wallet', wallet);
    checkKey('agentId', agentId);
    return backend(() => this.tx.acquire.immediate(wallet, agentId, Date.now()));
  }

  async releaseWalletLock(wallet: string, agentId: string): Promise<void> {
    this.open();
    checkKey('wallet', wallet);
    checkKey('agentId', agentId);
    backend(() => this.q.deleteLock.run(wallet, agentId)); // compare-and-delete in one statement
  }

  async getWalletLock(wallet: string): Promise<string | null> {
    this.open();
    checkKey('wallet', wallet);
    return backend(() => this.q.getLock.get(wallet))?.agent_id ?? null;
  }

  async createAgent(rec: AgentRecord): Promise<void> {
    this.open();
    const clean = validateRecord(rec);
    backend(() => this.tx.create.immediate(clean));
  }

  async getAgent(id: string): Promise<AgentRecord | null> {
    this.open();
    checkKey('id', id);
    const row = backend(() => this.q.getAgent.get(id));
    return row ? rowToRecord(row) : null;
  }

  async updateAgent(id: string, patch: AgentPatch, opts: { ifStateIn?: AgentState[]; closeRunningAt?: number } = {}): Promise<AgentRecord | null> {
    this.open();
    checkKey('id', id);
    const p = normalizePatch(patch);
    const ifStateIn = opts.ifStateIn ? new Set<string>(checkStates(opts.ifStateIn)) : undefined;
    const closeAt = checkCloseRunningAt(opts.closeRunningAt);
    return backend(() => this.tx.update.immediate(id, p, ifStateIn, closeAt));
  }

  async listAgentsByWallet(wallet: string): Promise<AgentRecord[]> {
    this.open();
    checkKey('wallet', wallet);
    return backend(() => this.q.byWallet.all(wallet)).map(rowToRecord);
  }

  async listAgentsInStates(states: AgentState[]): Promise<AgentRecord[]> {
    this.open();
    const wanted = [...new Set(checkStates(states))];
    if (wanted.length === 0) return [];
    // The state list is validated against AGENT_STATES, so the placeholders are just a count.
    const rows = backend(() => this.db.prepare<string[], AgentRow>(`SELECT * FROM agents WHERE state IN (${wanted.map(() => '?').join(', ')})`).all(...wanted));
    return rows.map(rowToRecord).sort(bySpawnOrder);
  }

  async getSpawnCount(wallet: string): Promise<number> {
    this.open();
    checkKey('wallet', wallet);
    return backend(() => this.q.getSpawns.get(wallet))?.count ?? 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
