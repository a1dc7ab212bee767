import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { RunningVm, VmLaunchSpec } from './types.ts';

/**
 * launch.json in the VM's state dir: what a driver needs to re-attach to a VMM after the node daemon
 * restarted (adopt). Written atomically (tmp + rename) with mode 0600. Holds no secrets: neither the spec
 * nor the channel endpoint carries one.
 */
export const LAUNCH_RECORD = 'launch.json';

export interface LaunchRecord {
  driver: 'qemu' | 'firecracker';
  /**
   * 'spawned': the process exists but the driver had not finished bringing the VM up (QMP, API
   * configuration, snapshot load) when this was written; a daemon that died in between finds the
   * process through this record, and adopt kills it instead of adopting a half-started VM.
   * 'running': start or restore completed.
   */
  phase: 'spawned' | 'running';
  vm: RunningVm;
  spec: VmLaunchSpec;
  /** Paths of everything the driver created in stateDir that must go when the VM goes. */
  ownedPaths: string[];
  /** Cgroup name under the driver's parent cgroup (null when cgroups are disabled). */
  cgroup: string | null;
}

export function writeLaunchRecord(stateDir: string, rec: LaunchRecord): void {
  const file = path.join(stateDir, LAUNCH_RECORD);
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(rec, null, 2), { mode: 0o600 });
  renameSync(tmp, file);
}

export function readLaunchRecord(stateDir: string): LaunchRecord | null {
  try {
    const rec = JSON.parse(readFileSync(path.join(stateDir, LAUNCH_RECORD), 'utf8')) as LaunchRecord;
    if (!rec?.vm || typeof rec.vm.pid !== 'number' || typeof rec.vm.pidStartTime !== 'string') return null;
    return rec;
  } catch {
    return null;
  }
}
