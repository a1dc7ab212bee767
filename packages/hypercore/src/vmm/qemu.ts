import { chmodSync, constants, copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { cacheDir as defaultCacheDir, type Accel } from '@romulus/shared';
import { vmmOverheadMib } from './cgroups.ts';
import { runtimeDirOf } from './confine.ts';
import { receiveMigration, sendMigration } from './confine-migration.ts';
import { DetachedVmmDriver, type DetachedVmmOptions } from './detached-vmm.ts';
import { readLaunchRecord, writeLaunchRecord, type LaunchRecord } from './launch-record.ts';
import { isProcessAlive, killAndWait, sleep } from './proc.ts';
import { probeQemuAccel } from './probe.ts';
import { buildQemuArgs, DEFAULT_TB_SIZE_MIB, qemuPaths, type QemuPaths } from './qemu-args.ts';
import { QmpClient } from './qmp.ts';
import { spawnDetached, tailFile } from './spawn.ts';
import type { RunningVm, VmLaunchSpec, VmmDriver, VmmProbeResult } from './types.ts';
import { assertTapExists, QEMU_LIMITS, validateLaunchSpec } from './validate-spec.ts';

export interface QemuDriverOptions extends DetachedVmmOptions {
  qemuBinary?: string;
  /** 'auto' (default) probes; 'kvm'/'tcg' force an accelerator (tests, operators who know better). */
  accel?: Accel | 'auto';
  cacheDir?: string;
  tbSizeMib?: number;
  /** How long QEMU may take to answer QMP after spawn. */
  startTimeoutMs?: number;
}

/**
 * The qemu adapter of the VMM port: QEMU's microvm machine, direct kernel boot, virtio-mmio devices,
 * the guest channel on a virtio-serial port behind a unix socket, QMP for liveness and stop.
 */
export class QemuDriver extends DetachedVmmDriver implements VmmDriver {
  readonly name = 'qemu' as const;
  private readonly binary: string;

  constructor(private readonly o: QemuDriverOptions = {}) {
    super(o, 'vmm-qemu');
    this.binary = o.qemuBinary ?? 'qemu-system-x86_64';
  }

  async available(): Promise<boolean> {
    try {
      execFileSync(this.binary, ['--version'], { stdio: 'ignore', timeout: 10_000 });
      return true;
    } catch {
      return false;
    }
  }

  async probe(kernelPath: string): Promise<VmmProbeResult> {
    const forced = this.o.accel;
    if (forced === 'kvm' || forced === 'tcg') {
      return { usable: true, accel: forced, vmmVersion: 'qemu', ...(forced === 'tcg' ? { reason: 'TCG forced by configuration' } : {}) };
    }
    const r = await probeQemuAccel({
      qemuBinary: this.binary,
      kernelPath,
      cacheDir: this.o.cacheDir ?? defaultCacheDir(),
      timeoutMs: this.o.probeTimeoutMs ?? 8000,
      log: this.log,
    });
    return { usable: r.usable, accel: r.accel, vmmVersion: r.vmmVersion, ...(r.reason ? { reason: r.reason } : {}) };
  }


  async start(spec: VmLaunchSpec): Promise<RunningVm> {
    validateLaunchSpec(spec, QEMU_LIMITS);
    return this.perStateDir.run(spec.stateDir, () => this.startLocked(spec));
  }

  private async startLocked(spec: VmLaunchSpec): Promise<RunningVm> {
    const existing = await this.adoptRecord(spec.stateDir);
    if (existing) return existing; // idempotent: this stateDir already has a live VMM
    assertTapExists(spec); // as root QEMU would create a missing TAP that is on no bridge
    const { accel } = await this.probe(spec.kernelPath);
    return this.launch(spec, accel, [], async () => {});
  }

  /**
   * Spawn QEMU for spec in its cgroup, wait for QMP, run `onQmp` (restore uses it to load the state),
   * record the launch. Any failure kills the process and releases sockets and cgroup before throwing.
   */
  private async launch(spec: VmLaunchSpec, accel: Accel, extraArgs: string[], onQmp: (qmp: QmpClient) => Promise<void>): Promise<RunningVm> {
    mkdirSync(spec.stateDir, { recursive: true, mode: 0o700 });
    const p = this.paths(spec.stateDir);
    this.removeRuntimeFiles(spec.stateDir);
    writeFileSync(p.consoleLog, '', { mode: 0o600 }); // a fresh console per boot; QEMU appends
    const launcher = this.prepareLaunch(spec, {
      readOnlyFiles: [spec.kernelPath, spec.rootfsPath],
      writableFiles: [spec.diskPath, p.consoleLog],
      devices: [...(accel === 'kvm' ? ['/dev/kvm'] : []), ...(spec.tap ? ['/dev/net/tun'] : [])],
    });

    const cg = this.cgroupFor(spec.id);
    cg?.create({
      cpuQuotaCores: spec.cgroup?.cpuQuotaCores ?? spec.vcpus,
      memoryLimitBytes: (spec.cgroup?.memoryLimitMib ?? spec.memoryMib + vmmOverheadMib(accel)) * 1024 * 1024,
      pidsMax: this.o.pidsMax ?? 256,
    });
    let proc;
    try {
      proc = spawnDetached(this.binary, [...buildQemuArgs(spec, accel, p, this.o.tbSizeMib ?? DEFAULT_TB_SIZE_MIB), ...extraArgs], {
        procsFiles: cg?.procsFiles() ?? [],
        stdoutPath: p.stdoutLog,
        stderrPath: p.stderrLog,
        launcher,
      });
    } catch (e) {
      await cg?.remove();
      this.confinement?.release(spec.stateDir, [spec.diskPath, p.consoleLog]);
      throw e;
    }
    const vm: RunningVm = {
      id: spec.id,
      pid: proc.pid,
      pidStartTime: proc.startTime,
      accel,
      channel: { kind: 'unix', path: p.agentSocket },
      consoleLogPath: p.consoleLog,
      spawnedAt: proc.spawnedAt,
      vmmUpAt: 0,
    };
    const record: LaunchRecord = {
      driver: 'qemu',
      phase: 'spawned',
      vm,
      spec,
      ownedPaths: [p.qmpSocket, p.agentSocket, p.pidFile],
      cgroup: cg?.name ?? null,
    };
    writeLaunchRecord(spec.stateDir, record); // before any wait: a daemon crash from here on leaves a findable process
    try {
      const qmp = await QmpClient.waitFor(p.qmpSocket, this.o.startTimeoutMs ?? 30_000, () => isProcessAlive(proc.pid, proc.startTime));
      vm.vmmUpAt = Date.now();
      try {
        await onQmp(qmp);
      } finally {
        qmp.close();
      }
    } catch (e) {
      await killAndWait(proc.pid, proc.startTime);
      await this.release(spec.stateDir, cg);
      const why = tailFile(p.stderrLog) || tailFile(p.consoleLog);
      throw new Error(`qemu for VM ${spec.id} did not start: ${(e as Error).message}${why ? `: ${why}` : ''}`);
    }
    // umask 077 already did; be explicit, the channel carries secrets. (A confined QEMU's socket is its
    // own, in a dir only its uid can enter: never chmod through a path it could have made a symlink.)
    if (!this.confinement) chmodSync(p.agentSocket, 0o600);
    writeLaunchRecord(spec.stateDir, { ...record, phase: 'running' });
    this.capper.track(p.consoleLog);
    this.log.info({ id: spec.id, pid: vm.pid, accel, vmmUpMs: vm.vmmUpAt - vm.spawnedAt }, 'qemu VMM up');
    return vm;
  }

  /**
   * Snapshot a running VM into dir: pause, migrate its full state to dir/vmstate, copy its disk (the
   * memory image is only consistent with the disk as it was at that instant), write dir/snapshot.json,
   * resume. QEMU 7.2 has no file: migration URI: the stream goes over a unix socket in the VM's runtime
   * dir to the daemon, which writes the file (a confined QEMU cannot reach dir, and spawns no shell).
   */
  async snapshot(vm: RunningVm, dir: string): Promise<void> {
    assertAbsolute(dir);
    const stateDir = this.stateDirOf(vm);
    const rec = readLaunchRecord(this.stateDirOf(vm));
    if (!rec || !this.isAlive(vm)) throw new Error(`VM ${vm.id} is not running`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const qmp = await QmpClient.connect(this.paths(stateDir).qmpSocket);
    try {
      await qmp.execute('stop');
      try {
        const sock = path.join(runtimeDirOf(stateDir), 'migrate-out.sock');
        const sink = await receiveMigration(sock, path.join(dir, 'vmstate'), this.confinement?.lookup(stateDir) ?? null);
        try {
          await qmp.execute('migrate', { uri: `unix:${sock}` });
          await waitForMigration(qmp, 300_000);
          await sink.done;
        } finally {
          sink.close();
        }
        copyFileSync(rec.spec.diskPath, path.join(dir, 'disk.ext4'), constants.COPYFILE_FICLONE);
        const meta: QemuSnapshotMeta = { vcpus: rec.spec.vcpus, memoryMib: rec.spec.memoryMib, accel: vm.accel, kernelPath: rec.spec.kernelPath, rootfsPath: rec.spec.rootfsPath, takenAt: Date.now() };
        writeFileSync(path.join(dir, 'snapshot.json'), JSON.stringify(meta, null, 2), { mode: 0o600 });
      } finally {
        await qmp.execute('cont');
      }
    } finally {
      qmp.close();
    }
  }

  /**
   * A new VMM resumed from a snapshot: the VM's disk becomes a copy of the snapshot's disk, QEMU starts
   * paused with `-incoming defer`, loads dir/vmstate, then runs. The machine (vCPUs, memory, accelerator,
   * kernel, base rootfs) must be the snapshot's. The guest resumes with the snapshotted identity: the
   * manager re-delivers identity, time and secrets over the channel afterwards.
   */
  async restore(spec: VmLaunchSpec, dir: string): Promise<RunningVm> {
    validateLaunchSpec(spec, QEMU_LIMITS, { requireDisk: false });
    assertAbsolute(dir);
    return this.perStateDir.run(spec.stateDir, async () => {
      const existing = await this.adoptRecord(spec.stateDir);
      if (existing) return existing;
      assertTapExists(spec);
      const meta = JSON.parse(readFileSync(path.join(dir, 'snapshot.json'), 'utf8')) as QemuSnapshotMeta;
      if (meta.vcpus !== spec.vcpus || meta.memoryMib !== spec.memoryMib || meta.rootfsPath !== spec.rootfsPath) {
        throw new Error(`snapshot in ${dir} is of a ${meta.vcpus} vCPU / ${meta.memoryMib} MiB VM on ${meta.rootfsPath}; cannot restore as ${spec.vcpus} / ${spec.memoryMib} on ${spec.rootfsPath}`);
      }
      copyFileSync(path.join(dir, 'disk.ext4'), spec.diskPath, constants.COPYFILE_FICLONE);
      return this.launch(spec, meta.accel, ['-S', '-incoming', 'defer'], async (qmp) => {
        // QEMU listens (as the VM's uid, in its runtime dir) once the command returns; the daemon feeds it.
        const sock = path.join(runtimeDirOf(spec.stateDir), 'migrate-in.sock');
        await qmp.execute('migrate-incoming', { uri: `unix:${sock}` });
        await sendMigration(sock, path.join(dir, 'vmstate'));
        await waitForMigration(qmp, 300_000);
        await qmp.execute('cont');
      });
    });
  }

  /**
   * QEMU's files: logs in the state dir, sockets and pid file in the runtime dir (confine.ts), the only
   * directory a confined QEMU may create files in.
   */
  private paths(stateDir: string): QemuPaths {
    const run = runtimeDirOf(stateDir);
    return { ...qemuPaths(stateDir), qmpSocket: path.join(run, 'qmp.sock'), agentSocket: path.join(run, 'agent.sock'), pidFile: path.join(run, 'qemu.pid') };
  }

  protected runtimeFiles(stateDir: string): string[] {
    const p = this.paths(stateDir);
    return [p.qmpSocket, p.agentSocket, p.pidFile];
  }

  /** microvm with acpi=off has no power button; with -no-reboot a guest reset makes QEMU exit. */
  protected async requestExit(vm: RunningVm, timeoutMs: number): Promise<void> {
    const qmp = await QmpClient.connect(this.paths(this.stateDirOf(vm)).qmpSocket, Math.min(timeoutMs, 5000));
    try {
      await qmp.execute('system_reset');
    } finally {
      qmp.close();
    }
  }
}

export interface QemuSnapshotMeta {
  vcpus: number;
  memoryMib: number;
  accel: Accel;
  kernelPath: string;
  rootfsPath: string;
  takenAt: number;
}

function assertAbsolute(p: string): void {
  if (!path.isAbsolute(p)) throw new Error(`snapshot dir must be an absolute path: ${p}`);
}

/** Poll query-migrate (every 50 ms) until the migration completed; throw on failure or timeout. */
async function waitForMigration(qmp: QmpClient, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = (await qmp.execute('query-migrate')) as { status?: string; 'error-desc'?: string };
    if (st.status === 'completed') return;
    if (st.status === 'failed' || st.status === 'cancelled') throw new Error(`migration ${st.status}: ${st['error-desc'] ?? ''}`);
    if (Date.now() > deadline) throw new Error(`migration not done within ${timeoutMs} ms (status ${st.status})`);
    await sleep(50);
  }
}
