import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sleep } from './proc.ts';

/**
 * One cgroup per VMM process with CPU, memory and pids limits, on cgroup v2 (unified) or v1 (one
 * hierarchy per controller, as on this machine). Layout:
 *   v2: <root>/<parent>/<name>/{cpu.max,memory.max,memory.swap.max,pids.max,cgroup.procs}
 *   v1: <root>/cpu/<parent>/<name>/{cpu.cfs_period_us,cpu.cfs_quota_us,cgroup.procs}
 *       <root>/memory/<parent>/<name>/{memory.limit_in_bytes,cgroup.procs}
 *       <root>/pids/<parent>/<name>/{pids.max,cgroup.procs}
 * The VMM is placed race-free: it is spawned through `sh -c` that writes its own pid ($$) into every
 * cgroup.procs and then execs the VMM (same pid), so not one page of guest RAM is allocated outside it.
 */
export type CgroupVersion = 'v1' | 'v2';

export interface CgroupLayout {
  version: CgroupVersion;
  /** Mount root, normally /sys/fs/cgroup. */
  root: string;
}

export interface CgroupLimits {
  cpuQuotaCores: number;
  memoryLimitBytes: number;
  pidsMax: number;
}

/** The few file operations the cgroup code needs; the real ones by default, a fake root in unit tests. */
export interface CgroupFs {
  exists(p: string): boolean;
  mkdir(p: string): void;
  write(p: string, value: string): void;
  read(p: string): string;
  /** Remove an (empty) cgroup directory; on cgroupfs rmdir works with the control files present. */
  rmdir(p: string): void;
}

export const realCgroupFs: CgroupFs = {
  exists: (p) => existsSync(p),
  mkdir: (p) => mkdirSync(p, { recursive: true }),
  write: (p, v) => writeFileSync(p, v),
  read: (p) => readFileSync(p, 'utf8'),
  rmdir: (p) => rmdirSync(p),
};

export const CPU_PERIOD_US = 100_000;
export const V1_CONTROLLERS = ['cpu', 'memory', 'pids'] as const;

/** v2 if the root itself is a cgroup2 mount (has cgroup.controllers); v1 if it holds per-controller dirs. */
export function detectCgroups(root = '/sys/fs/cgroup', fs: CgroupFs = realCgroupFs): CgroupLayout | null {
  if (fs.exists(path.join(root, 'cgroup.controllers'))) return { version: 'v2', root };
  if (V1_CONTROLLERS.every((c) => fs.exists(path.join(root, c, 'cgroup.procs')))) return { version: 'v1', root };
  return null;
}

/** VMM memory beyond guest RAM: TCG keeps a translation cache and softmmu tables, KVM needs little. */
export function vmmOverheadMib(accel: 'kvm' | 'tcg'): number {
  return accel === 'tcg' ? 256 : 64;
}

/** Cgroup names come from VM ids; keep them to a safe alphabet so they can never escape the parent. */
export function assertCgroupName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(name) || name.includes('..')) {
    throw new Error(`invalid cgroup name ${JSON.stringify(name)}`);
  }
}

export class VmCgroup {
  constructor(
    readonly layout: CgroupLayout,
    readonly parent: string,
    readonly name: string,
    private readonly fs: CgroupFs = realCgroupFs,
  ) {
    assertCgroupName(name);
    for (const part of parent.split('/')) assertCgroupName(part);
  }

  /** The cgroup's directories: one on v2, one per controller on v1. */
  dirs(): string[] {
    const { root, version } = this.layout;
    if (version === 'v2') return [path.join(root, this.parent, this.name)];
    return V1_CONTROLLERS.map((c) => path.join(root, c, this.parent, this.name));
  }

  procsFiles(): string[] {
    return this.dirs().map((d) => path.join(d, 'cgroup.procs'));
  }

  /** Create the cgroup (idempotent) and write its limits. */
  create(limits: CgroupLimits): void {
    const quota = Math.max(1000, Math.round(limits.cpuQuotaCores * CPU_PERIOD_US));
    const mem = String(Math.floor(limits.memoryLimitBytes));
    const pids = String(limits.pidsMax);
    if (this.layout.version === 'v2') {
      this.enableV2Controllers();
      const dir = this.dirs()[0];
      this.fs.mkdir(dir);
      this.fs.write(path.join(dir, 'cpu.max'), `${quota} ${CPU_PERIOD_US}`);
      this.fs.write(path.join(dir, 'memory.max'), mem);
      // Guest RAM must not be pushed to host swap behind the guest's back.
      if (this.fs.exists(path.join(dir, 'memory.swap.max'))) this.fs.write(path.join(dir, 'memory.swap.max'), '0');
      this.fs.write(path.join(dir, 'pids.max'), pids);
      return;
    }
    const [cpuDir, memDir, pidsDir] = this.dirs();
    for (const d of [cpuDir, memDir, pidsDir]) this.fs.mkdir(d);
    this.fs.write(path.join(cpuDir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
    this.fs.write(path.join(cpuDir, 'cpu.cfs_quota_us'), String(quota));
    this.fs.write(path.join(memDir, 'memory.limit_in_bytes'), mem);
    this.fs.write(path.join(pidsDir, 'pids.max'), pids);
  }

  /** v2 only lets a child use a controller its parent enabled in cgroup.subtree_control. */
  private enableV2Controllers(): void {
    let dir = this.layout.root;
    for (const part of this.parent.split('/')) {
      const ctl = path.join(dir, 'cgroup.subtree_control');
      const enabled = this.fs.exists(ctl) ? this.fs.read(ctl) : '';
      const missing = ['cpu', 'memory', 'pids'].filter((c) => !enabled.split(/\s+/).includes(c));
      if (missing.length) this.fs.write(ctl, missing.map((c) => `+${c}`).join(' '));
      dir = path.join(dir, part);
      this.fs.mkdir(dir);
    }
    const ctl = path.join(dir, 'cgroup.subtree_control');
    const enabled = this.fs.exists(ctl) ? this.fs.read(ctl) : '';
    const missing = ['cpu', 'memory', 'pids'].filter((c) => !enabled.split(/\s+/).includes(c));
    if (missing.length) this.fs.write(ctl, missing.map((c) => `+${c}`).join(' '));
  }

  exists(): boolean {
    return this.dirs().some((d) => this.fs.exists(d));
  }

  /** Pids currently in the cgroup (union over the v1 hierarchies). */
  pids(): number[] {
    const out = new Set<number>();
    for (const f of this.procsFiles()) {
      if (!this.fs.exists(f)) continue;
      for (const line of this.fs.read(f).split('\n')) if (line.trim()) out.add(Number(line));
    }
    return [...out];
  }

  /** Read a limit file back (for tests and status): e.g. readLimit('memory', 'memory.limit_in_bytes'). */
  readFile(controller: 'cpu' | 'memory' | 'pids', file: string): string {
    const dir = this.layout.version === 'v2' ? this.dirs()[0] : path.join(this.layout.root, controller, this.parent, this.name);
    return this.fs.read(path.join(dir, file)).trim();
  }

  /**
   * Remove the cgroup. The kernel refuses (EBUSY) while an exiting task is still listed, so retry briefly.
   * Idempotent: a missing cgroup is fine.
   */
  async remove(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const dir of this.dirs()) {
      for (;;) {
        if (!this.fs.exists(dir)) break;
        try {
          this.fs.rmdir(dir);
          break;
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') break;
          if (Date.now() >= deadline) throw new Error(`cannot remove cgroup ${dir}: ${code}`);
          await sleep(50);
        }
      }
    }
  }
}

/**
 * The `sh -c` prelude that moves the shell itself into the cgroup, then execs the VMM with the same pid.
 * umask 077 first, so every socket, pid file and log the VMM creates is private to root (0600).
 * Paths are passed as positional parameters (never interpolated into the script).
 * Usage: spawn('/bin/sh', ['-c', script, 'romulus-vmm', ...procsFiles, '--', binary, ...args]).
 */
export const CGROUP_EXEC_SCRIPT =
  'umask 077; while [ "$1" != "--" ]; do echo $$ > "$1" || exit 97; shift; done; shift; exec "$@"';

export function cgroupExecArgv(procsFiles: string[], argv: string[]): string[] {
  return ['-c', CGROUP_EXEC_SCRIPT, 'romulus-vmm', ...procsFiles, '--', ...argv];
}

/** Remove the (empty) parent cgroup, e.g. a test's own parent. Never touches a parent that still has children. */
export function removeCgroupParent(layout: CgroupLayout, parent: string, fs: CgroupFs = realCgroupFs): void {
  for (const part of parent.split('/')) assertCgroupName(part);
  const dirs = layout.version === 'v2' ? [path.join(layout.root, parent)] : V1_CONTROLLERS.map((c) => path.join(layout.root, c, parent));
  for (const d of dirs) {
    try {
      fs.rmdir(d);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'EBUSY' && code !== 'ENOTEMPTY') throw e;
    }
  }
}
