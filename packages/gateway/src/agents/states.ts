import type { AgentRecord } from '../store/types.ts';

/** States an agent never leaves: its wallet lock is free and its VM is (or is being) removed. */
export const TERMINAL_AGENT_STATES = ['stopped', 'failed'] as const satisfies readonly AgentRecord['state'][];

export function isTerminal(state: string): boolean {
  return (TERMINAL_AGENT_STATES as readonly string[]).includes(state);
}
