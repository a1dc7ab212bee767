import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CMDLINE, GUEST_VSOCK_PORT } from '@romulus/shared';
import { vmmOverheadMib } from './cgroups.ts';
import { DetachedVmmDriver, type DetachedVmmOptions } from './detached-vmm.ts';
import { fcCall, fcRequest } from './firecracker-api.ts';
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
}

/** The binary the driver runs when none is configured: the environment's, else the one on PATH. */
export function defaultFirecrackerBinary(env: NodeJS.ProcessEnv = process.env): string {
  return env.ROMULUS_FIRECRACKER || 'firecracker';
}

/** The guest's vsock context id: any value >= 3 works, each VM has its own device (and host socket). */
const GUEST_CID = 3;

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

  constructor(private readonly o: FirecrackerDriverOptions = {}) {
    super(o, 'vmm-firecracker');
    this.binary = o.firecrackerBinary ?? defaultFirecrackerBinary();
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
    return { kind: 'vsock', path: firecrackerPaths(spec.stateDir).vsockSocket, port: GUEST_VSOCK_PORT };
  }

  /** Spawn a bare firecracker process on its API socket (in its cgroup) and wait for the API to answer. */
  private async spawnVmm(spec: VmLaunchSpec) {
    const p = firecrackerPaths(spec.stateDir);
    mkdirSync(spec.stateDir, { recursive: true, mode: 0o700 });
    rmSync(p.apiSocket, { force: true });
    rmSync(p.vsockSocket, { force: true }); // Firecracker binds it and fails on a stale one
    writeFileSync(p.consoleLog, '', { mode: 0o600 });
    writeFileSync(p.vmmLog, '', { mode: 0o600 }); // Firecracker's logger opens an existing file
    const cg = this.cgroupFor(spec.id);
    cg?.create({
      cpuQuotaCores: spec.cgroup?.cpuQuotaCores ?? spec.vcpus,
      memoryLimitBytes: (spec.cgroup?.memoryLimitMib ?? spec.memoryMib + vmmOverheadMib('kvm')) * 1024 * 1024,
      pidsMax: this.o.pidsMax ?? 128,
    });
    let proc;
    try {
      proc = spawnDetached(this.binary, ['--api-sock', p.apiSocket, '--id', spec.id], {
        procsFiles: cg?.procsFiles() ?? [],
        stdoutPath: p.consoleLog,
        stderrPath: p.stderrLog,
      });
    } catch (e) {
      await cg?.remove();
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
        if (a.status === 200) return { p, cg, proc, vmmUpAt: Date.now() };
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
      await fcCall(sock, 'PUT', '/logger', { log_path: s.p.vmmLog, level: 'Warning', show_level: true, show_log_origin: false });
      await fcCall(sock, 'PUT', '/boot-source', { kernel_image_path: spec.kernelPath, boot_args: `${spec.kernelCmdline} ${CMDLINE.channel}=vsock` });
      await fcCall(sock, 'PUT', '/drives/rootfs', { drive_id: 'rootfs', path_on_host: spec.rootfsPath, is_root_device: true, is_read_only: true });
      await fcCall(sock, 'PUT', '/drives/disk', { drive_id: 'disk', path_on_host: spec.diskPath, is_root_device: false, is_read_only: false });
      await fcCall(sock, 'PUT', '/machine-config', { vcpu_count: spec.vcpus, mem_size_mib: spec.memoryMib });
      await fcCall(sock, 'PUT', '/vsock', { guest_cid: GUEST_CID, uds_path: s.p.vsockSocket });
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
    const sock = firecrackerPaths(this.stateDirOf(vm)).apiSocket;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    await fcCall(sock, 'PATCH', '/vm', { state: 'Paused' });
    try {
      await fcCall(sock, 'PUT', '/snapshot/create', {
        snapshot_type: 'Full',
        snapshot_path: path.join(dir, 'vmstate'),
        mem_file_path: path.join(dir, 'memory'),
      });
    } finally {
      await fcCall(sock, 'PATCH', '/vm', { state: 'Resumed' });
    }
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
      await fcCall(s.p.apiSocket, 'PUT', '/logger', { log_path: s.p.vmmLog, level: 'Warning' });
      await fcCall(s.p.apiSocket, 'PUT', '/snapshot/load', {
        snapshot_path: path.join(dir, 'vmstate'),
        mem_backend: { backend_type: 'File', backend_path: path.join(dir, 'memory') },
        resume_vm: true,
        vsock_override: { uds_path: s.p.vsockSocket },
        ...(spec.tap ? { network_overrides: [{ iface_id: 'eth0', host_dev_name: spec.tap.name }] } : {}),
      });
    } catch (e) {
      await killAndWait(s.proc.pid, s.proc.startTime);
      await this.release(spec.stateDir, s.cg);
      throw e;
    }
    return this.finishStart(spec, s, channel);
  }

  protected runtimeFiles(stateDir: string): string[] {
    const p = firecrackerPaths(stateDir);
    return [p.apiSocket, p.vsockSocket];
  }

  /** The guest sees ctrl-alt-del on its i8042 and reboots; Firecracker exits on the guest's reset. */
  protected async requestExit(vm: RunningVm): Promise<void> {
    await fcCall(firecrackerPaths(this.stateDirOf(vm)).apiSocket, 'PUT', '/actions', { action_type: 'SendCtrlAltDel' });
  }
}
