import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { AGENT_STATES } from '@romulus/shared';

/**
 * The Lua scripts behind every compound Redis operation. Each one declares all its keys in KEYS and all
 * of them share one hash slot, so they run atomically on a single Redis and on Redis Cluster alike.
 */

export interface Script {
  lua: string;
  sha: string;
}

function script(lua: string): Script {
  return { lua, sha: createHash('sha1').update(lua).digest('hex') };
}

/** KEYS[1] lock. ARGV[1] agent id. Returns {1, holder} if acquired (or already held by ARGV[1]), else {0, holder}. */
export const ACQUIRE_LOCK = script(`
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1])
  return {1, ARGV[1]}
end
if holder == ARGV[1] then return {1, holder} end
return {0, holder}
`);

/** KEYS[1] lock. ARGV[1] agent id. Compare-and-delete: a stale release never frees another agent's lock. */
export const RELEASE_LOCK = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

/**
 * KEYS[1] agent hash, KEYS[2] the index set of the record's state. ARGV[1] agent id, ARGV[2..] field/value
 * pairs. Inserts unless the agent exists; returns the existing record's wallet, or false when inserted.
 */
export const INSERT_AGENT = script(`
local wallet = redis.call('HGET', KEYS[1], 'wallet')
if wallet then return wallet end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('SADD', KEYS[2], ARGV[1])
return false
`);

/** KEYS[1] wallet's agent set, KEYS[2] wallet's spawn counter. ARGV[1] agent id. Counts each id once. */
export const INDEX_SPAWN = script(`
if redis.call('SADD', KEYS[1], ARGV[1]) == 1 then redis.call('INCR', KEYS[2]) end
return 1
`);

const stateKeyIndex = AGENT_STATES.map((s, i) => `['${s}'] = ${i + 2}`).join(', ');

/**
 * The conditional update with usage folding, mirroring record.ts applyPatch.
 * KEYS[1] agent hash, KEYS[2..] state index sets in AGENT_STATES order.
 * ARGV[1] id, ARGV[2] allowed states ("," separated) or "*", ARGV[3] closeRunningAt or "",
 * ARGV[4] n = number of fields to set, then n field/value pairs, then the fields to delete.
 * Returns the new hash as a flat field/value array, or false when nothing was applied.
 */
export const UPDATE_AGENT = script(`
local stateKey = { ${stateKeyIndex} }
local old = redis.call('HGET', KEYS[1], 'state')
if not old then return false end
if ARGV[2] ~= '*' then
  local allowed = false
  for s in string.gmatch(ARGV[2], '[^,]+') do
    if s == old then allowed = true end
  end
  if not allowed then return false end
end
if ARGV[3] ~= '' then
  local since = redis.call('HGET', KEYS[1], 'runningSince')
  if since then
    local uptime = tonumber(redis.call('HGET', KEYS[1], 'uptimeMs'))
    local interval = tonumber(ARGV[3]) - tonumber(since)
    if interval > 0 then uptime = uptime + interval end
    -- %.0f: Lua 5.1's tostring would switch to exponent notation past 14 digits
    redis.call('HSET', KEYS[1], 'uptimeMs', string.format('%.0f', uptime))
    redis.call('HDEL', KEYS[1], 'runningSince')
  end
end
local n = tonumber(ARGV[4])
for i = 5 + 2 * n, #ARGV do redis.call('HDEL', KEYS[1], ARGV[i]) end
if n > 0 then redis.call('HSET', KEYS[1], unpack(ARGV, 5, 4 + 2 * n)) end
local new = redis.call('HGET', KEYS[1], 'state')
if new ~= old then
  redis.call('SREM', KEYS[stateKey[old]], ARGV[1])
  redis.call('SADD', KEYS[stateKey[new]], ARGV[1])
end
return redis.call('HGETALL', KEYS[1])
`);

/** EVALSHA, falling back to EVAL once when the server has not cached the script (restart, new node). */
export async function runScript(client: Redis | Cluster, s: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
  try {
    return await client.evalsha(s.sha, keys.length, ...keys, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return await client.eval(s.lua, keys.length, ...keys, ...args);
  }
}
