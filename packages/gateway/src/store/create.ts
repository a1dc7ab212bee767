import { z } from 'zod';
import { RedisStore } from './redis.ts';
import { SqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

const ClusterNode = z.union([z.string().min(1), z.object({ host: z.string().min(1), port: z.number().int().min(1).max(65535) })]);

export const StoreConfigSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('sqlite'), path: z.string().min(1) }),
  z.object({ kind: z.literal('redis'), url: z.string().min(1), prefix: z.string().optional() }),
  z.object({ kind: z.literal('redis-cluster'), nodes: z.array(ClusterNode).min(1), prefix: z.string().optional() }),
]);
export type StoreConfig = z.input<typeof StoreConfigSchema>;

/**
 * Opens the configured store. Redis stores are checked with a PING before returning, so a wrong URL fails
 * at start-up rather than on the first request.
 */
export async function createStore(config: StoreConfig, opts: { onError?: (err: Error) => void } = {}): Promise<Store> {
  const c = StoreConfigSchema.parse(config);
  if (c.kind === 'sqlite') return new SqliteStore({ path: c.path });
  const store =
    c.kind === 'redis'
      ? new RedisStore({ url: c.url, prefix: c.prefix, onError: opts.onError })
      : new RedisStore({ clusterNodes: c.nodes, prefix: c.prefix, onError: opts.onError });
  try {
    await store.ready();
  } catch (err) {
    await store.close();
    throw err;
  }
  return store;
}
