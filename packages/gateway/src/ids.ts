import { randomBytes } from 'node:crypto';

/**
 * Agent ids: `<12 hex of spawn ms>-<12 random hex>`, lowercase and DNS-safe (a URL label and a valid node
 * VM id). The time prefix lets the gateway tell a stale wallet lock whose holder never got a record (crash
 * between lock and insert) from one a concurrent spawn is still filling in.
 */
export const AGENT_ID_PATTERN = '^[a-f0-9]{12}-[a-f0-9]{12}$';
const AGENT_ID_RE = new RegExp(AGENT_ID_PATTERN);

export function newAgentId(now = Date.now()): string {
  return `${now.toString(16).padStart(12, '0').slice(-12)}-${randomBytes(6).toString('hex')}`;
}

export function isAgentId(s: string): boolean {
  return AGENT_ID_RE.test(s);
}

/** The spawn time encoded in an agent id (ms), or null. */
export function agentIdTime(id: string): number | null {
  return isAgentId(id) ? parseInt(id.slice(0, 12), 16) : null;
}
