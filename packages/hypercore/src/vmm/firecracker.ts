import { execFileSync } from 'node:child_process';
import { constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CMDLINE, GUEST_VSOCK_PORT } from '@romulus/shared';
import { vmmOverheadMib } from './cgroups.ts';
import { DetachedVmmDriver, type DetachedVmmOptions } from './detached-vmm.ts';
import { fcCall, fcRequest } from './firecracker-api.ts';
import { JAIL_PATHS, jailerArgv, jailLayout, prepareJail, type JailLayout } from './firecracker-jailer.ts';
import { setTapOwner } from './confine.ts';
import { writeLaunchRecord } from './launch-record.ts';
import { isProcessAlive, killAndWait, sleep } from './proc.ts';
import { fileSha256, watchProbeBoot } from './probe.ts';
import { spawnDetached, tailFile } from './spawn.ts';
import type { RunningVm, VmLaunchSpec, VmmDriver, VmmProbeResult } from './types.ts';
import { assertTapExists, FIRECRACKER_LIMITS, validateLaunchSpec } from './validate-spec.ts';

export interface FirecrackerDriverOptions extends DetachedVmmOptions {
  /** Default: $ROMULUS_FIRECRACKER, else `firecracker` on PATH (operators install it from its releases). */
  firecrackerBinary?: string;
  /** The KVM device whose presence is the first (not sufficient) condition; the probe boot decides. */
  kvmDevice?: string;
  startTimeoutMs?: number;
  /**
   * Firecracker's jailer (firecracker-jailer.ts). Default: $ROMULUS_JAILER; unset: Firecracker runs as the
   * daemon's user (the driver warns when that is root). Needs VMM confinement on (the uid range).
   */
  jailerBinary?: string;
}

/** The binary the driver runs when none is configured: the environment's, else the one on PATH. */
export function defaultFirecrackerBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env.ROMULUS_FIRECRACKER || 'firecracker';
}

/** The guest's vsock context id: any value >= 3 works, each VM has its own device (and host socket). */
const GUEST_CID = 3;

/** Where the VMM's files are on the host (`host`) and how Firecracker's API is told them (`api`). */
interface FcLayout {
  host: ReturnType<typeof firecrackerPaths>;
  api: { apiSocket: string; vsockSocket: string; vmmLog: string; kernel: (p: string) => string; rootfs: (p: string) => string; disk: (p: string) => string; snapshotDir: string | null };
  jail: JailLayout | null;
}

export function firecrackerPaths(stateDir: string) {
  return {
    apiSocket: path.join(stateDir, 'fc.sock'),
    /** Host side of the VM's vsock device: the guest channel (see ChannelEndpoint 'vsock'). */
    vsockSocket: path.join(stateDir, 'vsock.sock'),
    consoleLog: path.join(stateDir, 'console.log'), // Firecracker's stdout carries the guest serial console
    stderrLog: path.join(stateDir, 'fc.err'),
    vmmLog: path.join(stateDir, 'fc.log'),
  };
}

const probeMemo = new Map<string, VmmProbeResult>();

/**
 * The firecracker adapter of the VMM port, over Firecracker's HTTP API on a unix socket
 * (spec: firecracker-api-v1.16.1.yaml beside this file). KVM-only: without working KVM it reports
 * itself unusable. The guest channel is the VM's vsock device: only the host reaches it through the unix
 * socket in the state dir, so it needs no key (a key in the boot args would end up in GET /vm/config and
 * in every snapshot). In the guest, init accepts on the vsock port and relays to the agent.
 */
export class FirecrackerDriver extends DetachedVmmDriver implements VmmDriver {
  readonly name = 'firecracker' as const;
  private readonly binary: string;
  private readonly jailer: string | null;

  constructor(private readonly o: FirecrackerDriverOptions = {}) {
    super(o, 'vmm-firecracker');
    this.binary = o.firecrackerBinary ?? defaultFirecrackerBinary();
    this.jailer = o.jailerBinary ?? (process.env.ROMULUS_JAILER || null);
    if (this.jailer && !this.confinement) throw new Error('jailerBinary needs VMM confinement (a root daemon with confinement on)');
    if (!this.jailer && this.confinement) this.log.warn('no jailer configured (driverOptions.jailerBinary / ROMULUS_JAILER): Firecracker VMMs run as root');
  }

  /** Paths for the VM in stateDir: plain files in the state dir, or inside its jail. */
  private layout(stateDir: string, id: string): FcLayout {
    const host = firecrackerPaths(stateDir);
    if (!this.jailer) {
      const same = (p: string) => p;
      return { host, api: { apiSocket: host.apiSocket, vsockSocket: host.vsockSocket, vmmLog: host.vmmLog, kernel: same, rootfs: same, disk: same, snapshotDir: null }, jail: null };
    }
    const jail = jailLayout(stateDir, id, this.binary);
    return {
      host: { ...host, apiSocket: jail.host(JAIL_PATHS.apiSocket), vsockSocket: jail.host(JAIL_PATHS.vsockSocket), vmmLog: jail.host(JAIL_PATHS.vmmLog) },
      api: { apiSocket: JAIL_PATHS.apiSocket, vsockSocket: JAIL_PATHS.vsockSocket, vmmLog: JAIL_PATHS.vmmLog, kernel: () => JAIL_PATHS.kernel, rootfs: () => JAIL_PATHS.rootfs, disk: () => JAIL_PATHS.disk, snapshotDir: JAIL_PATHS.snapshotDir },
      jail,
    };
  }

  private version(): string | null {
    try {
      const out = execFileSync(this.binary, ['--version'], { encoding: 'utf8', timeout: 10_000 });
      return /v?(\d+\.\d+\.\d+)/.exec(out)?.[1] ?? out.split('\n')[0].trim();
    } catch {
      return null;
    }
  }

  async available(): Promise<boolean> {
    return this.version() !== null;
  }

  async probe(kernelPath: string): Promise<VmmProbeResult> {
    const version = this.version();
    if (!version) return { usable: false, accel: 'kvm', reason: `firecracker binary ${this.binary} not found or not runnable`, vmmVersion: 'none' };
    const kvm = this.o.kvmDevice ?? '/dev/kvm';
    const vmmVersion = `firecracker ${version}`;
    if (!existsSync(kvm)) return { usable: false, accel: 'kvm', reason: `firecracker needs KVM and ${kvm} does not exist`, vmmVersion };
    const key = `${version}|${await fileSha256(kernelPath)}`;
    const hit = probeMemo.get(key);
    if (hit) return hit;
    const outcome = await this.probeBoot(kernelPath);
    const r: VmmProbeResult = outcome.ok
      ? { usable: true, accel: 'kvm', vmmVersion }
      : { usable: false, accel: 'kvm', reason: `firecracker needs working KVM: ${outcome.reason}`, vmmVersion };
    if (!r.usable) this.log.warn({ reason: r.reason }, 'FIRECRACKER UNUSABLE on this host');
    probeMemo.set(key, r);
    return r;
  }

  /** Boot the kernel with no disk (`--no-api --config-file`) and watch the console, as the qemu probe does. */
  private async probeBoot(kernelPath: string): Promise<{ ok: boolean; reason?: string }> {
    const dir = mkdtempSync(path.join(tmpdir(), 'romulus-fc-probe-'));
    const config = path.join(dir, 'config.json');
    writeFileSync(
      config,
      JSON.stringify({
        'boot-source': { kernel_image_path: kernelPath, boot_args: 'console=ttyS0 reboot=k panic=-1 pci=off root=/dev/nonexistent' },
        drives: [],
        'machine-config': { vcpu_count: 1, mem_size_mib: 128 },
      }),
    );
    try {
      return await watchProbeBoot('firecracker', this.binary, ['--no-api', '--config-file', config, '--id', 'romulus-probe'], this.o.probeTimeoutMs ?? 8000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }


  private channelFor(spec: VmLaunchSpec): RunningVm['channel'] {
    return { kind: 'vsock', path: this.layout(spec.stateDir, spec.id).host.vsockSocket, port: GUEST_VSOCK_PORT };
  }

  /** Spawn a bare firecracker process on its API socket (in its cgroup) and wait for the API to answer. */
  private async spawnVmm(spec: VmLaunchSpec) {
    const L = this.layout(spec.stateDir, spec.id);
    const p = L.host;
    mkdirSync(spec.stateDir, { recursive: true, mode: 0o700 });
    rmSync(p.apiSocket, { force: true });
    rmSync(p.vsockSocket, { force: true }); // Firecracker binds it and fails on a stale one
    writeFileSync(p.consoleLog, '', { mode: 0o600 });
    let argv = ['--api-sock', p.apiSocket, '--id', spec.id];
    let binary = this.binary;
    if (L.jail && this.confinement) {
      const disk = existsSync(spec.diskPath) ? spec.diskPath : null;
      const { identity } = this.confinement.prepare(spec.stateDir, { readOnlyFiles: [spec.kernelPath, spec.rootfsPath], writableFiles: disk ? [disk] : [], devices: [] });
      prepareJail(L.jail, identity, { kernel: spec.kernelPath, rootfs: spec.rootfsPath, disk });
      if (spec.tap) setTapOwner(spec.tap.name, identity);
      argv = jailerArgv(this.binary, spec.id, identity, L.jail);
      binary = this.jailer!;
    } else {
      writeFileSync(p.vmmLog, '', { mode: 0o600 }); // Firecracker's logger opens an existing file
    }
    const cg = this.cgroupFor(spec.id);
    cg?.create({
      cpuQuotaCores: spec.cgroup?.cpuQuotaCores ?? spec.vcpus,
      memoryLimitBytes: (spec.cgroup?.memoryLimitMib ?? spec.memoryMib + vmmOverheadMib('kvm')) * 1024 * 1024,
      pidsMax: this.o.pidsMax ?? 128,
    });
    let proc;
    try {
      proc = spawnDetached(binary, argv, {
        procsFiles: cg?.procsFiles() ?? [],
        stdoutPath: p.consoleLog,
        stderrPath: p.stderrLog,
      });
    } catch (e) {
      await cg?.remove();
      if (L.jail) this.confinement?.release(spec.stateDir, [spec.diskPath]);
      throw e;
    }
    // Recorded before any wait, so a daemon that dies from here on leaves a findable process (adopt kills it).
    const provisional: RunningVm = {
      id: spec.id, pid: proc.pid, pidStartTime: proc.startTime, accel: 'kvm', channel: this.channelFor(spec),
      consoleLogPath: p.consoleLog, spawnedAt: proc.spawnedAt, vmmUpAt: 0,
    };
    writeLaunchRecord(spec.stateDir, { driver: 'firecracker', phase: 'spawned', vm: provisional, spec, ownedPaths: [p.apiSocket, p.vsockSocket], cgroup: cg?.name ?? null });
    const deadline = Date.now() + (this.o.startTimeoutMs ?? 15_000);
    let lastErr = '';
    for (;;) {
      if (!isProcessAlive(proc.pid, proc.startTime)) {
        lastErr = 'firecracker exited';
        break;
      }
      try {
        const a = await fcRequest(p.apiSocket, 'GET', '/', undefined, 2000);
        if (a.status === 200) return { p, api: L.api, cg, proc, vmmUpAt: Date.now() };
        lastErr = `GET / -> ${a.status}`;
      } catch (e) {
        lastErr = (e as Error).message;
      }
      if (Date.now() > deadline) break;
      await sleep(25);
    }
    await killAndWait(proc.pid, proc.startTime);
    await this.release(spec.stateDir, cg);
    throw new Error(`firecracker for VM ${spec.id} did not come up: ${lastErr}: ${tailFile(p.stderrLog) || tailFile(p.consoleLog)}`);
  }

  private async finishStart(spec: VmLaunchSpec, s: Awaited<ReturnType<FirecrackerDriver['spawnVmm']>>, channel: RunningVm['channel']) {
    const vm: RunningVm = {
      id: spec.id,
      pid: s.proc.pid,
      pidStartTime: s.proc.startTime,
      accel: 'kvm',
      channel,
      consoleLogPath: s.p.consoleLog,
      spawnedAt: s.proc.spawnedAt,
      vmmUpAt: s.vmmUpAt,
    };
    writeLaunchRecord(spec.stateDir, { driver: 'firecracker', phase: 'running', vm, spec, ownedPaths: [s.p.apiSocket, s.p.vsockSocket], cgroup: s.cg?.name ?? null });
    this.capper.track(s.p.consoleLog);
    return vm;
  }

  private async requireUsable(kernelPath: string): Promise<void> {
    const r = await this.probe(kernelPath);
    if (!r.usable) throw new Error(r.reason ?? 'firecracker is not usable on this host');
  }

  async start(spec: VmLaunchSpec): Promise<RunningVm> {
    validateLaunchSpec(spec, FIRECRACKER_LIMITS);
    return this.perStateDir.run(spec.stateDir, () => this.startLocked(spec));
  }

  private async startLocked(spec: VmLaunchSpec): Promise<RunningVm> {
    const existing = await this.adoptRecord(spec.stateDir);
    if (existing) return existing;
    assertTapExists(spec);
    const channel = this.channelFor(spec);
    await this.requireUsable(spec.kernelPath);
    const s = await this.spawnVmm(spec);
    const sock = s.p.apiSocket;
    try {
      await fcCall(sock, 'PUT', '/logger', { log_path: s.api.vmmLog, level: 'Warning', show_level: true, show_log_origin: false });
      await fcCall(sock, 'PUT', '/boot-source', { kernel_image_path: s.api.kernel(spec.kernelPath), boot_args: `${spec.kernelCmdline} ${CMDLINE.channel}=vsock` });
      await fcCall(sock, 'PUT', '/drives/rootfs', { drive_id: 'rootfs', path_on_host: s.api.rootfs(spec.rootfsPath), is_root_device: true, is_read_only: true });
      await fcCall(sock, 'PUT', '/drives/disk', { drive_id: 'disk', path_on_host: s.api.disk(spec.diskPath), is_root_device: false, is_read_only: false });
      await fcCall(sock, 'PUT', '/machine-config', { vcpu_count: spec.vcpus, mem_size_mib: spec.memoryMib });
      await fcCall(sock, 'PUT', '/vsock', { guest_cid: GUEST_CID, uds_path: s.api.vsockSocket });
      if (spec.tap) {
        await fcCall(sock, 'PUT', '/network-interfaces/eth0', { iface_id: 'eth0', host_dev_name: spec.tap.name, guest_mac: spec.tap.mac });
      }
      await fcCall(sock, 'PUT', '/actions', { action_type: 'InstanceStart' });
    } catch (e) {
      await killAndWait(s.proc.pid, s.proc.startTime);
      await this.release(spec.stateDir, s.cg);
      throw e;
    }
    const vm = await this.finishStart(spec, s, channel);
    this.log.info({ id: spec.id, pid: vm.pid, vmmUpMs: vm.vmmUpAt - vm.spawnedAt }, 'firecracker VM started');
    return vm;
  }

  /** Full snapshot of a running VM into dir (vmstate + memory); the VM is resumed afterwards either way. */
  async snapshot(vm: RunningVm, dir: string): Promise<void> {
    const L = this.layout(this.stateDirOf(vm), vm.id);
    const sock = L.host.apiSocket;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // A jailed Firecracker writes into its own root; the daemon moves the files out.
    const out = L.api.snapshotDir ?? dir;
    await fcCall(sock, 'PATCH', '/vm', { state: 'Paused' });
    try {
      await fcCall(sock, 'PUT', '/snapshot/create', {
        snapshot_type: 'Full',
        snapshot_path: path.join(out, 'vmstate'),
        mem_file_path: path.join(out, 'memory'),
      });
    } finally {
      await fcCall(sock, 'PATCH', '/vm', { state: 'Resumed' });
    }
    if (L.jail) for (const f of ['vmstate', 'memory']) moveFile(L.jail.host(path.join(out, f)), path.join(dir, f));
  }

  /**
   * A new VMM from a snapshot. The snapshot remembers its drive paths, so spec's disks must be at the
   * paths the snapshotted VM used (operators use per-VM mount namespaces / the jailer for this), and
   * spec.diskPath is not read; the TAP and the vsock socket are overridden to spec's.
   */
  async restore(spec: VmLaunchSpec, dir: string): Promise<RunningVm> {
    validateLaunchSpec(spec, FIRECRACKER_LIMITS, { requireDisk: false });
    return this.perStateDir.run(spec.stateDir, () => this.restoreLocked(spec, dir));
  }

  private async restoreLocked(spec: VmLaunchSpec, dir: string): Promise<RunningVm> {
    const existing = await this.adoptRecord(spec.stateDir);
    if (existing) return existing;
    assertTapExists(spec);
    const channel = this.channelFor(spec);
    await this.requireUsable(spec.kernelPath);
    const s = await this.spawnVmm(spec);
    try {
      let from = dir;
      const jail = this.layout(spec.stateDir, spec.id).jail;
      if (jail && s.api.snapshotDir) {
        from = s.api.snapshotDir;
        for (const f of ['vmstate', 'memory']) copyFileSync(path.join(dir, f), jail.host(path.join(from, f)), constants.COPYFILE_FICLONE);
      }
      await fcCall(s.p.apiSocket, 'PUT', '/logger', { log_path: s.api.vmmLog, level: 'Warning' });
      await fcCall(s.p.apiSocket, 'PUT', '/snapshot/load', {
        snapshot_path: path.join(from, 'vmstate'),
        mem_backend: { backend_type: 'File', backend_path: path.join(from, 'memory') },
        resume_vm: true,
        vsock_override: { uds_path: s.api.vsockSocket },
        ...(spec.tap ? { network_overrides: [{ iface_id: 'eth0', host_dev_name: spec.tap.name }] } : {}),
      });
    } catch (e) {
      await killAndWait(s.proc.pid, s.proc.startTime);
      await this.release(spec.stateDir, s.cg);
      throw e;
    }
    return this.finishStart(spec, s, channel);
  }

  /** The sockets; with the jailer its whole chroot base (sockets, links to the images, log). */
  protected runtimeFiles(stateDir: string): string[] {
    const p = firecrackerPaths(stateDir);
    return this.jailer ? [p.apiSocket, p.vsockSocket, path.join(stateDir, 'jail')] : [p.apiSocket, p.vsockSocket];
  }

  protected removeRuntimeFiles(stateDir: string): void {
    for (const f of this.runtimeFiles(stateDir)) rmSync(f, { recursive: true, force: true });
  }

  /** The guest sees ctrl-alt-del on its i8042 and reboots; Firecracker exits on the guest's reset. */
  protected async requestExit(vm: RunningVm): Promise<void> {
    await fcCall(this.layout(this.stateDirOf(vm), vm.id).host.apiSocket, 'PUT', '/actions', { action_type: 'SendCtrlAltDel' });
  }
}

/** Rename, or copy + remove when dir is on another filesystem. */
function moveFile(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
    copyFileSync(from, to);
    rmSync(from, { force: true });
  }
}
