import type { AgentState } from '@romulus/shared';

/**
 * The gateway's store port. Adapters: SQLite (embedded single-node default) and Redis (multi-gateway; keys
 * are Redis Cluster compatible: every multi-key operation touches keys of one hash slot). Both pass the
 * same conformance suite (conformance.ts). All gateway state lives here, so any replica can serve any
 * request and a restart loses nothing. Times are ms since epoch. Invalid records or patches throw
 * StoreError('invalid'). close() is idempotent; calls after close reject.
 */
export interface AgentRecord {
  id: string;
  wallet: string;
  agentType: string;
  image: string;
  tier: string;
  cores: number;
  memoryMib: number;
  nodeId: string;
  state: AgentState;
  reason?: string;
  /** SHA-256 (hex) of the agent's access token; the token itself is never stored. */
  accessTokenHash: string;
  /** Guest IP and port the ingress proxies to (known once the node assigned them). */
  target?: { host: string; port: number };
  spawnedAt: number;
  readyAt?: number;
  stoppedAt?: number;
  /** Usage: closed running intervals summed, plus the open one when runningSince is set. */
  runningSince?: number;
  uptimeMs: number;
}

/** A key present with value `undefined` removes that optional field (reason, target, readyAt, stoppedAt,
 *  runningSince); undefined for a required field is ignored. */
export type AgentPatch = Partial<Omit<AgentRecord, 'id' | 'wallet' | 'spawnedAt' | 'accessTokenHash'>>;

export type LockResult = { acquired: true } | { acquired: false; holder: string };

export interface Store {
  readonly kind: 'sqlite' | 'redis';

  /** Replay protection: true the first time a signature is seen; false for every later call within ttl. */
  claimSignature(signature: string, ttlMs: number): Promise<boolean>;

  /**
   * One active agent per wallet, atomically across replicas: acquire succeeds for exactly one caller;
   * the others learn the holder's agent id. The agent that already holds the lock acquires it again (a
   * retried spawn step is harmless).
   */
  acquireWalletLock(wallet: string, agentId: string): Promise<LockResult>;
  /** Releases only if `agentId` still holds it (a stale release never frees someone else's lock). */
  releaseWalletLock(wallet: string, agentId: string): Promise<void>;
  getWalletLock(wallet: string): Promise<string | null>;

  /**
   * Inserts a new agent and counts a spawn for its wallet, atomically. Safe to retry: the same id for the
   * same wallet is a no-op (counted once); the same id for another wallet throws StoreError('conflict').
   */
  createAgent(rec: AgentRecord): Promise<void>;
  getAgent(id: string): Promise<AgentRecord | null>;
  /**
   * Applies `patch` if the agent exists and (when given) its state is one of `ifStateIn`; returns the new
   * record, or null if nothing was applied. Usage bookkeeping rides on this: setting runningSince opens an
   * interval; the adapter folds a closed interval into uptimeMs when `closeRunningAt` is given. The fold
   * comes first, then the patch applies, so one call can close an interval and open a new one.
   */
  updateAgent(id: string, patch: AgentPatch, opts?: { ifStateIn?: AgentState[]; closeRunningAt?: number }): Promise<AgentRecord | null>;
  listAgentsByWallet(wallet: string): Promise<AgentRecord[]>;
  /** Agents in any of these states (the reconciler's view). */
  listAgentsInStates(states: AgentState[]): Promise<AgentRecord[]>;
  /** Spawns ever counted for the wallet. */
  getSpawnCount(wallet: string): Promise<number>;

  close(): Promise<void>;
}
