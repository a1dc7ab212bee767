import type { AgentStatus, UsageFigures } from '@romulus/shared';
import type { AgentRecord } from '../store/types.ts';

/** Uptime so far: closed running intervals plus the open one while running. */
export function uptimeOf(a: AgentRecord, now: number): number {
  return a.uptimeMs + (a.runningSince !== undefined && a.runningSince !== null ? Math.max(0, now - a.runningSince) : 0);
}

export function usageOf(a: AgentRecord, now: number): UsageFigures {
  const uptime = uptimeOf(a, now);
  return { spawn_count: 1, uptime_ms: uptime, vcpu_seconds: (uptime / 1000) * a.cores, mib_seconds: (uptime / 1000) * a.memoryMib };
}

/** What anyone may see about an agent. */
export function publicView(a: AgentRecord, url: string): AgentStatus {
  return { id: a.id, status: a.state, url, agent_type: a.agentType, spawned_at: a.spawnedAt };
}

/** What the owner sees. */
export function ownerView(a: AgentRecord, url: string, now: number): AgentStatus {
  const v: AgentStatus = {
    ...publicView(a, url),
    tier: a.tier,
    wallet: a.wallet,
    cores: a.cores,
    memory: a.memoryMib,
    uptime_ms: uptimeOf(a, now),
  };
  if (a.readyAt) v.ready_at = a.readyAt;
  if (a.stoppedAt) v.stopped_at = a.stoppedAt;
  if (a.reason) v.reason = a.reason;
  return v;
}
