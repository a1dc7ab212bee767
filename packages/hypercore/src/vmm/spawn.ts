import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { cgroupExecArgv } from './cgroups.ts';
import { pidStartTime } from './proc.ts';

/**
 * Start a VMM detached from the node daemon: its own session (setsid), stdio to files, unref'd, so it
 * keeps running when the daemon restarts. It goes through the `sh -c` prelude that sets umask 077 and
 * joins the VM's cgroup(s) before exec'ing the VMM, so the pid we get is the VMM's pid. A `launcher`
 * (confine.ts: unshare + jail + setpriv) runs between the two, as root, and execs too.
 */
export interface DetachedProcess {
  pid: number;
  startTime: string;
  spawnedAt: number;
}

export function spawnDetached(
  binary: string,
  args: string[],
  o: { procsFiles: string[]; stdoutPath: string; stderrPath: string; launcher?: string[] },
): DetachedProcess {
  const out = openSync(o.stdoutPath, 'a', 0o600);
  const err = openSync(o.stderrPath, 'w', 0o600);
  const spawnedAt = Date.now();
  try {
    const child = spawn('/bin/sh', cgroupExecArgv(o.procsFiles, [...(o.launcher ?? []), binary, ...args]), {
      detached: true,
      stdio: ['ignore', out, err],
      env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' }, // never pass the daemon's env (tokens)
    });
    child.on('error', () => {}); // surfaced below as a missing pid
    child.unref();
    if (!child.pid) throw new Error(`could not spawn ${binary}`);
    const startTime = pidStartTime(child.pid);
    if (!startTime) throw new Error(`${binary} exited at once (see ${o.stderrPath})`);
    return { pid: child.pid, startTime, spawnedAt };
  } finally {
    closeSync(out);
    closeSync(err);
  }
}

export function tailFile(p: string, maxChars = 2000): string {
  try {
    const s = readFileSync(p, 'utf8');
    return s.slice(-maxChars).trim();
  } catch {
    return '';
  }
}
