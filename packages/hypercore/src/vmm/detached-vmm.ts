import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createLogger, type Logger } from '@romulus/shared';
import { detectCgroups, VmCgroup, type CgroupLayout } from './cgroups.ts';
import { runtimeDirOf, setTapOwner, VmmConfinement, type ConfineOptions } from './confine.ts';
import { ConsoleLogCapper } from './console-log.ts';
import { KeyedLock } from './keyed-lock.ts';
import { readLaunchRecord } from './launch-record.ts';
import { isProcessAlive, killAndWait, waitForExit } from './proc.ts';
import type { RunningVm, VmLaunchSpec } from './types.ts';

/**
 * What every driver of a VMM that runs as a detached process (qemu, firecracker) does the same way: the
 * VMM outlives the node daemon, its launch record in the state dir lets a restarted daemon re-attach
 * (adopt), liveness is pid + process start time (a recycled pid is never ours), stop asks the guest to go
 * down and kills on timeout, kill releases the runtime files and the VMM's cgroup. Subclasses say how to ask
 * their VMM for an exit and which runtime files it leaves.
 */
/** Options every detached-VMM driver takes. */
export interface DetachedVmmOptions {
  /** Put each VMM in its own cgroup (default: yes when a cgroup v1/v2 layout is found). */
  cgroups?: boolean;
  cgroupRoot?: string;
  cgroupParent?: string;
  pidsMax?: number;
  consoleLogMaxBytes?: number;
  probeTimeoutMs?: number;
  /** Run each VMM unprivileged in a jail of its own (confine.ts); default on when the daemon is root. */
  confine?: ConfineOptions;
  log?: Logger;
}

export abstract class DetachedVmmDriver {
  abstract readonly name: 'qemu' | 'firecracker';
  protected readonly log: Logger;
  protected readonly capper: ConsoleLogCapper;
  private readonly cgroupLayout: CgroupLayout | null;
  /** Null when VMMs run as the daemon's own user (not root, or confinement disabled). */
  protected readonly confinement: VmmConfinement | null;
  /** Serialises start/restore/adopt per state dir within this process. */
  protected readonly perStateDir = new KeyedLock();

  constructor(private readonly common: DetachedVmmOptions, logName: string) {
    this.log = common.log ?? createLogger(logName);
    this.cgroupLayout = common.cgroups === false ? null : detectCgroups(common.cgroupRoot ?? '/sys/fs/cgroup');
    if (common.cgroups === true && !this.cgroupLayout) throw new Error('cgroups requested but no cgroup v1/v2 layout found');
    this.capper = new ConsoleLogCapper(common.consoleLogMaxBytes ?? 1024 * 1024);
    this.confinement = VmmConfinement.enabled(common.confine) ? new VmmConfinement(common.confine) : null;
  }

  protected cgroupFor(id: string): VmCgroup | null {
    return this.cgroupLayout ? new VmCgroup(this.cgroupLayout, this.common.cgroupParent ?? 'romulus', id) : null;
  }
  /**
   * Get a VMM's runtime dir ready and, when confined, its jail: the files it writes are handed to its uid,
   * its TAP too. Returns the launcher argv for spawnDetached (undefined: not confined).
   */
  protected prepareLaunch(spec: VmLaunchSpec, o: { readOnlyFiles: string[]; writableFiles: string[]; devices: string[] }): string[] | undefined {
    if (!this.confinement) {
      mkdirSync(runtimeDirOf(spec.stateDir), { recursive: true, mode: 0o700 });
      return undefined;
    }
    const plan = this.confinement.prepare(spec.stateDir, o);
    if (spec.tap) setTapOwner(spec.tap.name, plan.identity);
    this.log.debug({ id: spec.id, uid: plan.identity.uid }, 'VMM confined');
    return this.confinement.launcherArgv(plan);
  }

  /** Sockets and pid files the VMM leaves in its state dir. */
  protected abstract runtimeFiles(stateDir: string): string[];
  /** Ask the VMM to end the guest (QMP reset, ctrl-alt-del); throws when the request could not be sent. */
  protected abstract requestExit(vm: RunningVm, timeoutMs: number): Promise<void>;
  /** What an adopted VM needs that is not on disk (firecracker: its channel key). */
  protected completeAdopted(vm: RunningVm): RunningVm {
    return vm;
  }

  async adopt(stateDir: string): Promise<RunningVm | null> {
    // A start in progress in this process is not a crashed one: leave its VMM alone.
    if (this.perStateDir.busy(stateDir)) return null;
    return this.adoptRecord(stateDir);
  }

  protected async adoptRecord(stateDir: string): Promise<RunningVm | null> {
    const rec = readLaunchRecord(stateDir);
    if (!rec || rec.driver !== this.name) return null;
    if (rec.phase === 'spawned' && isProcessAlive(rec.vm.pid, rec.vm.pidStartTime)) {
      // Started by a daemon that died before the VM was up: never adopt a half-started VM.
      this.log.warn({ stateDir, pid: rec.vm.pid }, 'killing a VMM whose start never completed');
      await killAndWait(rec.vm.pid, rec.vm.pidStartTime);
    }
    if (!isProcessAlive(rec.vm.pid, rec.vm.pidStartTime)) {
      // Its VMM is gone: release what it left (sockets, cgroup) so nothing outlives it.
      await this.release(stateDir, rec.cgroup ? this.cgroupFor(rec.cgroup) : null);
      return null;
    }
    this.capper.track(rec.vm.consoleLogPath);
    return this.completeAdopted(rec.vm);
  }

  isAlive(vm: RunningVm): boolean {
    return isProcessAlive(vm.pid, vm.pidStartTime);
  }

  async stop(vm: RunningVm, timeoutMs: number): Promise<void> {
    if (this.isAlive(vm)) {
      let requested = false;
      try {
        await this.requestExit(vm, timeoutMs);
        requested = true;
      } catch (e) {
        this.log.warn({ id: vm.id, err: (e as Error).message }, 'could not ask the VMM to end the guest; killing');
      }
      if (requested && !(await waitForExit(vm.pid, vm.pidStartTime, timeoutMs))) {
        this.log.warn({ id: vm.id, pid: vm.pid }, 'VMM did not exit after the exit request; SIGKILL');
      }
    }
    await this.kill(vm);
  }

  async kill(vm: RunningVm): Promise<void> {
    if (!(await killAndWait(vm.pid, vm.pidStartTime))) throw new Error(`VMM pid ${vm.pid} survived SIGKILL`);
    const stateDir = this.stateDirOf(vm);
    const rec = readLaunchRecord(stateDir);
    await this.release(stateDir, this.cgroupFor(rec?.cgroup ?? vm.id));
    this.capper.untrack(vm.consoleLogPath);
  }

  close(): void {
    this.capper.close();
  }

  /** The state dir is where the console log lives (the only path every RunningVm carries). */
  protected stateDirOf(vm: RunningVm): string {
    return path.dirname(vm.consoleLogPath);
  }

  protected removeRuntimeFiles(stateDir: string): void {
    for (const f of this.runtimeFiles(stateDir)) rmSync(f, { force: true });
  }

  protected async release(stateDir: string, cg: VmCgroup | null): Promise<void> {
    this.removeRuntimeFiles(stateDir);
    await cg?.remove();
    if (this.confinement) {
      // The disk and console log go back to root, the uid is free for another VM (after the VMM is gone).
      const rec = readLaunchRecord(stateDir);
      this.confinement.release(stateDir, rec ? [rec.spec.diskPath, rec.vm.consoleLogPath] : []);
    }
  }
}
