export type { AgentPatch, AgentRecord, LockResult, Store } from './types.ts';
export { StoreError, StoreUnavailableError, type StoreErrorCode } from './errors.ts';
export { SqliteStore, type SqliteStoreOptions } from './sqlite.ts';
export { RedisStore, type RedisStoreOptions } from './redis.ts';
export { createStore, StoreConfigSchema, type StoreConfig } from './create.ts';
export { runStoreConformance, type MakeStore } from './conformance.ts';
