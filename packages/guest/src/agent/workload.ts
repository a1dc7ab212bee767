import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdirSync } from 'node:fs';
import { killGroup } from './exec.ts';
import { LineSplitter } from './lines.ts';
import type { UserInfo } from './users.ts';

export interface WorkloadStart {
  command: string[];
  user: UserInfo;
  workdir: string;
  env: Record<string, string>;
  onLog: (stream: 'stdout' | 'stderr', line: string) => void;
  onExit: (code: number | null, signal: string | null) => void;
}

/**
 * The one workload process of a VM: started unprivileged in its own session/process group (so stop
 * reaches everything it spawned), its output forwarded line by line.
 */
export class Workload {
  private child: ChildProcess | null = null;
  private exited = false;
  private exitWaiters: (() => void)[] = [];

  get pid(): number | null {
    return this.child?.pid ?? null;
  }
  get running(): boolean {
    return this.child !== null && !this.exited;
  }

  start(opts: WorkloadStart): number {
    if (this.child) throw new Error('workload already started');
    ensureWorkdir(opts.workdir, opts.user);
    const child = spawn(opts.command[0], opts.command.slice(1), {
      cwd: opts.workdir,
      env: opts.env,
      uid: opts.user.uid,
      gid: opts.user.gid,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const out = new LineSplitter((l) => opts.onLog('stdout', l));
    const err = new LineSplitter((l) => opts.onLog('stderr', l));
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    let reported = false;
    const report = (code: number | null, signal: string | null) => {
      if (reported) return;
      reported = true;
      this.exited = true;
      out.end();
      err.end();
      opts.onExit(code, signal);
      for (const w of this.exitWaiters.splice(0)) w();
    };
    // 'error' without a pid means it never started (e.g. ENOENT): report it as an exit.
    child.once('error', (e) => {
      opts.onLog('stderr', `romulus: cannot start workload: ${e.message}`);
      if (child.pid === undefined) report(127, null);
    });
    child.once('close', (code, signal) => report(code, signal));
    if (child.pid === undefined) return -1;
    return child.pid;
  }

  /** SIGTERM to the whole group, SIGKILL after graceMs; resolves once the process has exited. */
  async stop(graceMs = 5000): Promise<void> {
    if (!this.child || this.exited || this.child.pid === undefined) return;
    const pid = this.child.pid;
    const gone = new Promise<void>((r) => this.exitWaiters.push(r));
    killGroup(pid, 'SIGTERM');
    const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
    killGroup(pid, 'SIGKILL'); // stragglers that ignored SIGTERM after the leader exited
  }
}

function ensureWorkdir(dir: string, user: UserInfo): void {
  if (existsSync(dir)) return;
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  chownSync(dir, user.uid, user.gid);
}
