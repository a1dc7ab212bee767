import { spawn } from 'node:child_process';
import { constants } from 'node:os';

export interface ExecOptions {
  argv: string[];
  timeoutMs: number;
  uid?: number;
  gid?: number;
  env: Record<string, string>;
  cwd?: string;
  /** Bytes kept per stream; the rest is dropped and a marker appended. */
  maxOutputBytes?: number;
}
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Exit code reported when the command ran out of time (as coreutils `timeout` does). */
export const EXEC_TIMEOUT_CODE = 124;
/** Exit code reported when the command could not be started (as shells do for "not found"). */
export const EXEC_SPAWN_FAILED_CODE = 127;

/**
 * Runs one command for the host (`exec`), in its own process group so a timeout kills everything it
 * started. Output is capped so a chatty command cannot exhaust the agent's memory or the channel.
 */
export function runExec(opts: ExecOptions): Promise<ExecResult> {
  const cap = opts.maxOutputBytes ?? 1024 * 1024;
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(opts.argv[0], opts.argv.slice(1), {
        uid: opts.uid,
        gid: opts.gid,
        env: opts.env,
        cwd: opts.cwd,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    } catch (e) {
      resolve({ code: EXEC_SPAWN_FAILED_CODE, stdout: '', stderr: String((e as Error).message) });
      return;
    }
    const out = new CappedBuffer(cap);
    const err = new CappedBuffer(cap);
    child.stdout.on('data', (d: Buffer) => out.add(d));
    child.stderr.on('data', (d: Buffer) => err.add(d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid, 'SIGKILL');
    }, Math.max(1, opts.timeoutMs));
    let spawnError: Error | null = null;
    child.once('error', (e) => { spawnError = e; });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (spawnError && child.pid === undefined) {
        resolve({ code: EXEC_SPAWN_FAILED_CODE, stdout: '', stderr: spawnError.message });
        return;
      }
      // Whatever the command left running in its group goes too.
      killGroup(child.pid, 'SIGKILL');
      if (timedOut) {
        resolve({ code: EXEC_TIMEOUT_CODE, stdout: out.text(), stderr: err.text() + `\n[timed out after ${opts.timeoutMs} ms]` });
      } else {
        resolve({ code: code ?? 128 + signalNumber(signal), stdout: out.text(), stderr: err.text() });
      }
    });
  });
}

export function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // group already gone
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? ((constants.signals as Record<string, number>)[signal] ?? 0) : 0;
}

class CappedBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  private dropped = 0;
  constructor(private readonly cap: number) {}
  add(d: Buffer): void {
    const room = this.cap - this.size;
    if (room <= 0) {
      this.dropped += d.length;
      return;
    }
    const part = d.length > room ? d.subarray(0, room) : d;
    this.chunks.push(part);
    this.size += part.length;
    this.dropped += d.length - part.length;
  }
  text(): string {
    const s = Buffer.concat(this.chunks).toString('utf8');
    return this.dropped ? `${s}\n[${this.dropped} bytes truncated]` : s;
  }
}
