import type { AgentStatus } from '@romulus/sdk';
import { duration } from '../output.ts';

/** How `spawn --wait` names what the agent waits for: the gateway's status, and the node's phase of the VM. */
const PHASE_TEXT: Record<string, string> = {
  preparing: 'preparing the VM (disk, network)',
  booting: 'VM booting',
  'starting-workload': 'guest up, starting the workload',
  'awaiting-ready': 'workload started, waiting for readiness',
};

export function waitingFor(s: AgentStatus): string {
  if (s.status === 'starting' && s.phase) return PHASE_TEXT[s.phase] ?? s.phase;
  return s.status;
}

/**
 * Progress lines for `spawn --wait`, from the statuses it polls: one line when what the agent waits for
 * changes (with the time since the spawn and how long the previous step took), and a reminder when a step
 * has gone on for `remindEveryMs` without news, so a slow boot never sits silent for minutes.
 */
export class SpawnProgress {
  private last = '';
  private lastAt = 0;
  private remindedAt = 0;

  constructor(
    private readonly write: (line: string) => void,
    private readonly startedAt: number,
    private readonly remindEveryMs = 30_000,
  ) {}

  seen(s: AgentStatus, now: number): void {
    const what = waitingFor(s);
    const elapsed = duration(now - this.startedAt)!;
    if (what !== this.last) {
      const prev = this.last ? `; ${this.last} took ${duration(now - this.lastAt)}` : '';
      this.write(`  [${elapsed.padStart(6)}] ${what}${prev}\n`);
      this.last = what;
      this.lastAt = this.remindedAt = now;
    } else if (now - this.remindedAt >= this.remindEveryMs) {
      this.write(`  [${elapsed.padStart(6)}] still ${what} (${duration(now - this.lastAt)} so far)\n`);
      this.remindedAt = now;
    }
  }
}
