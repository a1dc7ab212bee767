import { AGENT_STATES, type AgentState } from '@romulus/shared';
import { StoreError } from './errors.ts';
import type { AgentPatch, AgentRecord } from './types.ts';

/**
 * AgentRecord rules shared by both adapters: validation (nothing malformed is ever persisted), the pure
 * patch semantics (SQLite applies them in JS inside a transaction; Redis mirrors them in Lua and the
 * conformance suite holds both to the same behaviour), and the flat string-map codec Redis hashes use.
 */

const STRING_FIELDS = ['id', 'wallet', 'agentType', 'image', 'tier', 'nodeId', 'accessTokenHash'] as const;
const INT_FIELDS = ['cores', 'memoryMib', 'spawnedAt', 'uptimeMs'] as const;
const OPTIONAL_INT_FIELDS = ['readyAt', 'stoppedAt', 'runningSince'] as const;
/** Optional fields a patch may remove by passing `undefined`. */
const CLEARABLE = new Set<string>(['reason', 'target', ...OPTIONAL_INT_FIELDS]);
const PATCHABLE = new Set<string>(['agentType', 'image', 'tier', 'nodeId', 'cores', 'memoryMib', 'state', 'uptimeMs', 'reason', 'target', ...OPTIONAL_INT_FIELDS]);
const STATES = new Set<string>(AGENT_STATES);
const MAX_STRING = 4096;

function invalid(msg: string): never {
  throw new StoreError('invalid', msg);
}

function checkString(name: string, v: unknown, allowEmpty = false): string {
  if (typeof v !== 'string' || (!allowEmpty && v.length === 0) || v.length > MAX_STRING) invalid(`${name} must be a non-empty string of at most ${MAX_STRING} chars`);
  return v;
}

function checkInt(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) invalid(`${name} must be a non-negative safe integer`);
  return v;
}

function checkState(v: unknown): AgentState {
  if (typeof v !== 'string' || !STATES.has(v)) invalid(`state must be one of ${AGENT_STATES.join(', ')}`);
  return v as AgentState;
}

function checkTarget(v: unknown): { host: string; port: number } {
  const t = v as { host?: unknown; port?: unknown } | null;
  if (typeof t !== 'object' || t === null) invalid('target must be { host, port }');
  const port = checkInt('target.port', t.port);
  if (port < 1 || port > 65535) invalid('target.port must be 1..65535');
  return { host: checkString('target.host', t.host), port };
}

export function checkStates(states: readonly unknown[]): AgentState[] {
  if (!Array.isArray(states)) invalid('states must be an array');
  return states.map(checkState);
}

export function checkKey(name: string, v: unknown): string {
  return checkString(name, v);
}

/** Returns a clean copy (no extra keys, absent optionals absent) or throws StoreError('invalid'). */
export function validateRecord(rec: AgentRecord): AgentRecord {
  if (typeof rec !== 'object' || rec === null) invalid('record must be an object');
  const out: Record<string, unknown> = {};
  for (const f of STRING_FIELDS) out[f] = checkString(f, rec[f]);
  for (const f of INT_FIELDS) out[f] = checkInt(f, rec[f]);
  out.state = checkState(rec.state);
  if (rec.reason !== undefined) out.reason = checkString('reason', rec.reason, true);
  if (rec.target !== undefined) out.target = checkTarget(rec.target);
  for (const f of OPTIONAL_INT_FIELDS) if (rec[f] !== undefined) out[f] = checkInt(f, rec[f]);
  return out as unknown as AgentRecord;
}

/** Validated patch: `set` holds new values, `unset` the optional fields to remove. */
export interface NormalizedPatch {
  set: AgentPatch;
  unset: string[];
}

export function normalizePatch(patch: AgentPatch): NormalizedPatch {
  if (typeof patch !== 'object' || patch === null) invalid('patch must be an object');
  const set: Record<string, unknown> = {};
  const unset: string[] = [];
  for (const [k, v] of Object.entries(patch)) {
    if (!PATCHABLE.has(k)) invalid(`field ${k} cannot be patched`);
    if (v === undefined) {
      if (CLEARABLE.has(k)) unset.push(k);
      continue;
    }
    if (k === 'state') set[k] = checkState(v);
    else if (k === 'target') set[k] = checkTarget(v);
    else if (k === 'reason') set[k] = checkString(k, v, true);
    else if (k === 'agentType' || k === 'image' || k === 'tier' || k === 'nodeId') set[k] = checkString(k, v);
    else set[k] = checkInt(k, v);
  }
  return { set: set as AgentPatch, unset };
}

export function checkCloseRunningAt(v: unknown): number | undefined {
  return v === undefined ? undefined : checkInt('closeRunningAt', v);
}

/**
 * The patch semantics, as a pure function: fold the open running interval (if any) into uptimeMs at
 * `closeRunningAt`, then apply the patch. Negative intervals (clock skew between replicas) count as zero.
 */
export function applyPatch(rec: AgentRecord, p: NormalizedPatch, closeRunningAt?: number): AgentRecord {
  const out: Record<string, unknown> = { ...rec };
  if (closeRunningAt !== undefined && rec.runningSince !== undefined) {
    out.uptimeMs = rec.uptimeMs + Math.max(0, closeRunningAt - rec.runningSince);
    delete out.runningSince;
  }
  for (const k of p.unset) delete out[k];
  Object.assign(out, p.set);
  return out as unknown as AgentRecord;
}

/** Redis hash encoding: one field per scalar, target split in two, absent optionals have no field. */
export function recordToHash(rec: AgentRecord): Record<string, string> {
  const h: Record<string, string> = {};
  for (const f of STRING_FIELDS) h[f] = rec[f];
  for (const f of INT_FIELDS) h[f] = String(rec[f]);
  h.state = rec.state;
  if (rec.reason !== undefined) h.reason = rec.reason;
  if (rec.target !== undefined) {
    h.targetHost = rec.target.host;
    h.targetPort = String(rec.target.port);
  }
  for (const f of OPTIONAL_INT_FIELDS) if (rec[f] !== undefined) h[f] = String(rec[f]);
  return h;
}

export function hashToRecord(h: Record<string, string>): AgentRecord {
  const rec: Record<string, unknown> = {};
  for (const f of STRING_FIELDS) rec[f] = h[f];
  for (const f of INT_FIELDS) rec[f] = Number(h[f]);
  rec.state = h.state;
  if (h.reason !== undefined) rec.reason = h.reason;
  if (h.targetHost !== undefined) rec.target = { host: h.targetHost, port: Number(h.targetPort) };
  for (const f of OPTIONAL_INT_FIELDS) if (h[f] !== undefined) rec[f] = Number(h[f]);
  return rec as unknown as AgentRecord;
}

/** The patch in hash-field space, for the Lua update script. */
export function patchToHashOps(p: NormalizedPatch): { set: [string, string][]; unset: string[] } {
  const set: [string, string][] = [];
  const unset: string[] = [];
  for (const k of p.unset) {
    if (k === 'target') unset.push('targetHost', 'targetPort');
    else unset.push(k);
  }
  for (const [k, v] of Object.entries(p.set)) {
    if (k === 'target') {
      const t = v as { host: string; port: number };
      set.push(['targetHost', t.host], ['targetPort', String(t.port)]);
    } else set.push([k, String(v)]);
  }
  return { set, unset };
}

/** Deterministic listing order for both adapters. */
export function bySpawnOrder(a: AgentRecord, b: AgentRecord): number {
  return a.spawnedAt - b.spawnedAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
