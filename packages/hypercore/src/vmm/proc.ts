import { readFileSync } from 'node:fs';

/**
 * Process identity helpers. A pid alone is not an identity (pids are recycled), so every VMM we track is
 * (pid, start time in clock ticks since boot, field 22 of /proc/<pid>/stat). A zombie counts as dead.
 */
export interface ProcStat {
  state: string;
  startTime: string;
}

export function readProcStat(pid: number): ProcStat | null {
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // comm (field 2) is in parentheses and may contain spaces or ')': split after the last ')'.
  const rest = raw.slice(raw.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field 22 (starttime) is rest[19].
  return { state: rest[0], startTime: rest[19] };
}

export function pidStartTime(pid: number): string | null {
  return readProcStat(pid)?.startTime ?? null;
}

/** Alive = the pid exists, is not a zombie, and started at the recorded time (not a recycled pid). */
export function isProcessAlive(pid: number, startTime: string): boolean {
  const st = readProcStat(pid);
  return st !== null && st.state !== 'Z' && st.state !== 'X' && st.startTime === startTime;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll (every 50 ms, not a busy loop) until the process is gone; true if it exited within timeoutMs. */
export async function waitForExit(pid: number, startTime: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid, startTime)) {
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
  return true;
}

/** SIGKILL the process if it is still ours, then wait for it to be gone. */
export async function killAndWait(pid: number, startTime: string, timeoutMs = 10_000): Promise<boolean> {
  if (!isProcessAlive(pid, startTime)) return true;
  try {
    process.kill(pid, 'SIGKILL');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
  return waitForExit(pid, startTime, timeoutMs);
}

/** Proportional set size of a process in KiB (/proc/<pid>/smaps_rollup), or null if unreadable. */
export function processPssKib(pid: number): number | null {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
