import { Cluster, Redis, ReplyError } from 'ioredis';
import { AGENT_STATES, type AgentState } from '@romulus/shared';
import { StoreError, StoreUnavailableError } from './errors.ts';
import { bySpawnOrder, checkCloseRunningAt, checkKey, checkStates, hashToRecord, normalizePatch, patchToHashOps, recordToHash, validateRecord } from './record.ts';
import { ACQUIRE_LOCK, INDEX_SPAWN, INSERT_AGENT, RELEASE_LOCK, UPDATE_AGENT, runScript } from './redis-scripts.ts';
import type { AgentPatch, AgentRecord, LockResult, Store } from './types.ts';

/**
 * Redis adapter, for a single redis-server or Redis Cluster (ioredis Cluster).
 *
 * Key layout and hash slots ({...} is the hash tag that picks the slot):
 *   <p>sig:{<signature>}           replay marker, SET NX PX ttl (one key per signature: spreads over slots)
 *   <p>{w:<wallet>}:lock           the wallet's lock (agent id), SET by Lua, compare-and-delete by Lua
 *   <p>{w:<wallet>}:agents         set of the wallet's agent ids
 *   <p>{w:<wallet>}:spawns         the wallet's spawn counter
 *   <p>{agents}:agent:<id>         agent record (hash)
 *   <p>{agents}:state:<state>      set of agent ids per state (the reconciler's index)
 *
 * Why the agent hashes share the {agents} slot with the state index, instead of a slot per agent: a state
 * change must move the id between state sets in the same atomic step that changes the record, or a crash
 * between the two leaves an agent the reconciler never sees. Lua scripts can only touch keys of one slot
 * on Cluster, so the record and its index live together. The cost is that all agent records sit on one
 * shard: measured 536 bytes per record hash (MEMORY USAGE), ~1 KB per agent with all indexes, so a
 * million agents is ~0.6 GB on that shard; the hot paths that do scale out are the per-request ones
 * (signatures: one slot each; wallet locks: one slot per wallet).
 */
export interface RedisStoreOptions {
  /** redis://host:port[/db] for a single server. */
  url?: string;
  /** Redis Cluster seed nodes ("host:port" or { host, port }). */
  clusterNodes?: (string | { host: string; port: number })[];
  /** Key prefix (no braces), e.g. to give each test its own keyspace. Default "romulus:". */
  prefix?: string;
  /** Backend errors (connection loss etc.) are reported here; the failing calls reject as well. */
  onError?: (err: Error) => void;
}

type Client = Redis | Cluster;

function parseNode(n: string | { host: string; port: number }): { host: string; port: number } {
  if (typeof n !== 'string') return n;
  const i = n.lastIndexOf(':');
  const port = Number(n.slice(i + 1));
  if (i <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new StoreError('invalid', `cluster node must be host:port, got ${n}`);
  return { host: n.slice(0, i), port };
}

/** Error replies that mean the server or cluster cannot serve now (the reply's first word is its code). */
const OUTAGE_REPLIES = new Set(['CLUSTERDOWN', 'LOADING', 'TRYAGAIN', 'MASTERDOWN', 'READONLY', 'BUSY', 'MISCONF', 'NOREPLICAS']);

/**
 * Redis failures in the store's terms: connection-level errors (refused, closed, retries exhausted, no
 * cluster node reachable) and outage replies become StoreUnavailableError; other error replies are bugs
 * (a script error, a wrong type) and pass through unchanged.
 */
function classify(err: unknown): unknown {
  // Our own errors, and programming errors inside the call, are not outages.
  if (err instanceof StoreError || err instanceof StoreUnavailableError || err instanceof TypeError || err instanceof RangeError) return err;
  if (err instanceof ReplyError) {
    const code = String((err as Error).message).split(' ', 1)[0];
    return OUTAGE_REPLIES.has(code) ? new StoreUnavailableError(`redis: ${(err as Error).message}`, code, { cause: err }) : err;
  }
  const e = err as { name?: string; code?: string; message?: string };
  return new StoreUnavailableError(`redis: ${e.message ?? String(err)}`, e.code ?? e.name, { cause: err });
}

async function backend<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw classify(err);
  }
}

export class RedisStore implements Store {
  readonly kind = 'redis' as const;
  private readonly client: Client;
  private readonly p: string;
  private closed = false;

  constructor(opts: RedisStoreOptions) {
    const prefix = opts.prefix ?? 'romulus:';
    if (/[{}]/.test(prefix)) throw new StoreError('invalid', 'redis key prefix must not contain braces (they pick hash slots)');
    this.p = prefix;
    // Bounded waits during an outage: reconnect at most 1 s apart and fail a queued call after two failed
    // reconnects, so a request sees an error (the gateway answers 503) within seconds instead of hanging.
    const common = { maxRetriesPerRequest: 2, connectTimeout: 5_000, retryStrategy: (times: number) => Math.min(times * 100, 1_000) };
    if (opts.clusterNodes?.length) {
      this.client = new Cluster(opts.clusterNodes.map(parseNode), { redisOptions: common, scaleReads: 'master' });
    } else if (opts.url) {
      this.client = new Redis(opts.url, common);
    } else {
      throw new StoreError('invalid', 'RedisStore needs url or clusterNodes');
    }
    // Without a listener ioredis prints every reconnect error to stderr; commands still reject on their own.
    this.client.on('error', (err: Error) => opts.onError?.(err));
  }

  /** Resolves once the server (or every cluster slot) answers; rejects after connect errors. */
  async ready(): Promise<void> {
    await backend(() => this.client.ping());
  }

  private sigKey(sig: string) {
    return `${this.p}sig:{${sig}}`;
  }
  private walletKey(wallet: string, what: 'lock' | 'agents' | 'spawns') {
    return `${this.p}{w:${wallet}}:${what}`;
  }
  private agentKey(id: string) {
    return `${this.p}{agents}:agent:${id}`;
  }
  private stateKey(state: AgentState) {
    return `${this.p}{agents}:state:${state}`;
  }

  private open(): void {
    if (this.closed) throw new Error('store is closed');
  }

  async claimSignature(signature: string, ttlMs: number): Promise<boolean> {
    this.open();
    checkKey('signature', signature);
    if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0) throw new StoreError('invalid', 'ttlMs must be a positive integer');
    return (await backend(() => this.client.set(this.sigKey(signature), '1', 'PX', ttlMs, 'NX'))) === 'OK';
  }

  async acquireWalletLock(wallet: string, agentId: string): Promise<LockResult> {
    this.open();
    checkKey('wallet', wallet);
    checkKey('agentId', agentId);
    const [ok, holder] = (await backend(() => runScript(this.client, ACQUIRE_LOCK, [this.walletKey(wallet, 'lock')], [agentId]))) as [number, string];
    return ok === 1 ? { acquired: true } : { acquired: false, holder };
  }

  async releaseWalletLock(wallet: string, agentId: string): Promise<void> {
    this.open();
    checkKey('wallet', wallet);
    checkKey('agentId', agentId);
    await backend(() => runScript(this.client, RELEASE_LOCK, [this.walletKey(wallet, 'lock')], [agentId]));
  }

  async getWalletLock(wallet: string): Promise<string | null> {
    this.open();
    checkKey('wallet', wallet);
    return await backend(() => this.client.get(this.walletKey(wallet, 'lock')));
  }

  /**
   * Two slots, two atomic steps, in this order:
   *   1. the agent hash + its state index entry ({agents} slot): the record exists before anything points
   *      at it, so the wallet index never names a missing agent, and the reconciler sees it at once;
   *   2. the wallet's agent set + spawn counter ({w:<wallet>} slot): the counter moves only when SADD adds
   *      the id, so the step is idempotent.
   * A crash between 1 and 2 leaves a record the wallet index misses (and a spawn not yet counted); calling
   * createAgent again with the same record skips step 1 (the record exists for this wallet) and completes 2.
   */
  async createAgent(rec: AgentRecord): Promise<void> {
    this.open();
    const clean = validateRecord(rec);
    const fields = Object.entries(recordToHash(clean)).flat();
    const existingWallet = (await backend(() => runScript(this.client, INSERT_AGENT, [this.agentKey(clean.id), this.stateKey(clean.state)], [clean.id, ...fields]))) as string | null;
    if (existingWallet !== null && existingWallet !== clean.wallet) throw new StoreError('conflict', `agent ${clean.id} already exists for another wallet`);
    await backend(() => runScript(this.client, INDEX_SPAWN, [this.walletKey(clean.wallet, 'agents'), this.walletKey(clean.wallet, 'spawns')], [clean.id]));
  }

  async getAgent(id: string): Promise<AgentRecord | null> {
    this.open();
    checkKey('id', id);
    const h = await backend(() => this.client.hgetall(this.agentKey(id)));
    return Object.keys(h).length ? hashToRecord(h) : null;
  }

  async updateAgent(id: string, patch: AgentPatch, opts: { ifStateIn?: AgentState[]; closeRunningAt?: number } = {}): Promise<AgentRecord | null> {
    this.open();
    checkKey('id', id);
    const ops = patchToHashOps(normalizePatch(patch));
    const allowed = opts.ifStateIn ? checkStates(opts.ifStateIn) : undefined;
    const closeAt = checkCloseRunningAt(opts.closeRunningAt);
    // An empty allow-list matches nothing; "," can never equal a state, so the script applies nothing.
    const allowArg = allowed === undefined ? '*' : allowed.length ? allowed.join(',') : ',';
    const keys = [this.agentKey(id), ...AGENT_STATES.map((s) => this.stateKey(s))];
    const args = [id, allowArg, closeAt === undefined ? '' : String(closeAt), String(ops.set.length), ...ops.set.flat(), ...ops.unset];
    const flat = (await backend(() => runScript(this.client, UPDATE_AGENT, keys, args))) as string[] | null;
    if (!flat) return null;
    const h: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) h[flat[i]] = flat[i + 1];
    return hashToRecord(h);
  }

  /** Reads the records for ids (all in the {agents} slot, so one pipeline to one node). */
  private async loadAgents(ids: string[]): Promise<AgentRecord[]> {
    if (ids.length === 0) return [];
    const pipe = this.client.pipeline();
    for (const id of ids) pipe.hgetall(this.agentKey(id));
    const results = (await backend(() => pipe.exec())) ?? [];
    const out: AgentRecord[] = [];
    for (const [err, h] of results) {
      if (err) throw classify(err);
      if (h && Object.keys(h as object).length) out.push(hashToRecord(h as Record<string, string>));
    }
    return out;
  }

  async listAgentsByWallet(wallet: string): Promise<AgentRecord[]> {
    this.open();
    checkKey('wallet', wallet);
    const ids = await backend(() => this.client.smembers(this.walletKey(wallet, 'agents')));
    return (await this.loadAgents(ids)).filter((r) => r.wallet === wallet).sort(bySpawnOrder);
  }

  async listAgentsInStates(states: AgentState[]): Promise<AgentRecord[]> {
    this.open();
    const wanted = new Set(checkStates(states));
    if (wanted.size === 0) return [];
    const ids = await backend(() => this.client.sunion(...[...wanted].map((s) => this.stateKey(s))));
    // A record may change state between the two reads; keep only what is still in a wanted state.
    return (await this.loadAgents(ids)).filter((r) => wanted.has(r.state)).sort(bySpawnOrder);
  }

  async getSpawnCount(wallet: string): Promise<number> {
    this.open();
    checkKey('wallet', wallet);
    return Number((await backend(() => this.client.get(this.walletKey(wallet, 'spawns')))) ?? 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await this.client.quit();
    } catch {
      this.client.disconnect(); // server already gone: drop the socket without waiting
    }
  }
}
