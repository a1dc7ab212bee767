export * from './types.ts';
export { RpcChainReader, InvalidOwnerError, type RpcChainReaderOptions } from './rpc-chain-reader.ts';
export { BalanceCache, type BalanceCacheOptions, type BalanceCacheStats, type BalanceCacheEvent } from './balance-cache.ts';
