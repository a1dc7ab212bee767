import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CMDLINE, GUEST_TCP_PORT } from '@romulus/shared';
import { vmmOverheadMib } from './cgroups.ts';
import { DetachedVmmDriver, type DetachedVmmOptions } from './detached-vmm.ts';
import { fcCall, fcRequest } from './firecracker-api.ts';
import { writeLaunchRecord } from './launch-record.ts';
import { isProcessAlive, killAndWait, sleep } from './proc.ts';
import { fileSha256, watchProbeBoot } from './probe.ts';
import { spawnDetached, tailFile } from './spawn.ts';
import type { RunningVm, VmLaunchSpec, VmmDriver, VmmProbeResult } from './types.ts';
import { validateLaunchSpec } from './validate-spec.ts';

export interface FirecrackerDriverOptions extends DetachedVmmOptions {
  firecrackerBinary?: string;
  /** The KVM device whose presence is the first (not sufficient) condition; the probe boot decides. */
  kvmDevice?: string;
  startTimeoutMs?: number;
  /**
   * The channel key of a VM, for adopt after a daemon restart (the key is never written to disk by the
   * driver; the manager derives it, e.g. HMAC(node secret, vm id)). Without it adopt returns key ''.
   */
  channelKeyFor?: (vmId: string) => string;
}

export function firecrackerPaths(stateDir: string) {
  return {
    apiSocket: path.join(stateDir, 'fc.sock'),
    consoleLog: path.join(stateDir, 'console.log'), // Firecracker's stdout carries the guest serial console
    stderrLog: path.join(stateDir, 'fc.err'),
    vmmLog: path.join(stateDir, 'fc.log'),
  };
}

/** `key=value` from a kernel cmdline. */
export function cmdlineValue(cmdline: string, key: string): string | undefined {
  for (const tok of cmdline.split(/\s+/)) if (tok.startsWith(`${key}=`)) return tok.slice(key.length + 1);
  return undefined;
}

/** The client IP of the kernel's `ip=<client>:<server>:<gw>:<netmask>:<host>:<dev>:<autoconf>`. */
export function guestIpFromCmdline(cmdline: string): string | undefined {
  const ip = cmdlineValue(cmdline, 'ip')?.split(':')[0];
  return ip && /^\d{1,3}(\.\d{1,3}){3}$/.test(ip) ? ip : undefined;
}

const probeMemo = new Map<string, VmmProbeResult>();

/**
 * The firecracker adapter of the VMM port, over Firecracker's HTTP API on a unix socket
 * (spec: firecracker-api-v1.16.1.yaml beside this file). KVM-only: without working KVM it reports
 * itself unusable. The guest channel is TCP to the VM's IP (no vsock from Node in the guest), keyed
 * by `romulus.chkey` which travels in the boot args over the API socket, never in argv.
 */
export class FirecrackerDriver extends DetachedVmmDriver implements VmmDriver {
  readonly name = 'firecracker' as const;
  private readonly binary: string;

  constructor(private readonly o: FirecrackerDriverOptions = {}) {
    super(o, 'vmm-firecracker');
    this.binary = o.firecrackerBinary ?? 'firecracker';
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
      return await watchProbeBoot(this.binary, ['--no-api', '--config-file', config, '--id', 'romulus-probe'], this.o.probeTimeoutMs ?? 8000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }


  private channelFor(spec: VmLaunchSpec) {
    const host = spec.guestIp ?? guestIpFromCmdline(spec.kernelCmdline);
    if (!host) throw new Error(`VM ${spec.id}: firecracker's guest channel is TCP and needs the VM's IP (guestIp or ip= in the cmdline)`);
    const key = cmdlineValue(spec.kernelCmdline, CMDLINE.channelKey);
    if (!key || !/^[0-9a-f]{32,}$/i.test(key)) throw new Error(`VM ${spec.id}: firecracker needs ${CMDLINE.channelKey}=<hex> in the cmdline`);
    return { kind: 'tcp' as const, host, port: GUEST_TCP_PORT, key };
  }

  /** Spawn a bare firecracker process on its API socket (in its cgroup) and wait for the API to answer. */
  private async spawnVmm(spec: VmLaunchSpec) {
    const p = firecrackerPaths(spec.stateDir);
    mkdirSync(spec.stateDir, { recursive: true, mode: 0o700 });
    rmSync(p.apiSocket, { force: true });
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
      id: spec.id, pid: proc.pid, pidStartTime: proc.startTime, accel: 'kvm', channel: { kind: 'unix', path: '' },
      consoleLogPath: p.consoleLog, spawnedAt: proc.spawnedAt, vmmUpAt: 0,
    };
    writeLaunchRecord(spec.stateDir, { driver: 'firecracker', phase: 'spawned', vm: provisional, spec, ownedPaths: [p.apiSocket], cgroup: cg?.name ?? null });
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
    writeLaunchRecord(spec.stateDir, { driver: 'firecracker', phase: 'running', vm, spec, ownedPaths: [s.p.apiSocket], cgroup: s.cg?.name ?? null });
    this.capper.track(s.p.consoleLog);
    return vm;
  }

  private async requireUsable(kernelPath: string): Promise<void> {
    const r = await this.probe(kernelPath);
    if (!r.usable) throw new Error(r.reason ?? 'firecracker is not usable on this host');
  }

  async start(spec: VmLaunchSpec): Promise<RunningVm> {
    validateLaunchSpec(spec);
    return this.perStateDir.run(spec.stateDir, () => this.startLocked(spec));
  }

  private async startLocked(spec: VmLaunchSpec): Promise<RunningVm> {
    const existing = await this.adoptRecord(spec.stateDir);
    if (existing) return existing;
    const channel = this.channelFor(spec);
    await this.requireUsable(spec.kernelPath);
    const s = await this.spawnVmm(spec);
    const sock = s.p.apiSocket;
    try {
      await fcCall(sock, 'PUT', '/logger', { log_path: s.p.vmmLog, level: 'Warning', show_level: true, show_log_origin: false });
      await fcCall(sock, 'PUT', '/boot-source', { kernel_image_path: spec.kernelPath, boot_args: spec.kernelCmdline });
      await fcCall(sock, 'PUT', '/drives/rootfs', { drive_id: 'rootfs', path_on_host: spec.rootfsPath, is_root_device: true, is_read_only: true });
      await fcCall(sock, 'PUT', '/drives/disk', { drive_id: 'disk', path_on_host: spec.diskPath, is_root_device: false, is_read_only: false });
      await fcCall(sock, 'PUT', '/machine-config', { vcpu_count: spec.vcpus, mem_size_mib: spec.memoryMib });
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
   * paths the snapshotted VM used (operators use per-VM mount namespaces / the jailer for this); the TAP
   * is overridden to spec's.
   */
  async restore(spec: VmLaunchSpec, dir: string): Promise<RunningVm> {
    validateLaunchSpec(spec);
    return this.perStateDir.run(spec.stateDir, () => this.restoreLocked(spec, dir));
  }

  private async restoreLocked(spec: VmLaunchSpec, dir: string): Promise<RunningVm> {
    const existing = await this.adoptRecord(spec.stateDir);
    if (existing) return existing;
    const channel = this.channelFor(spec);
    await this.requireUsable(spec.kernelPath);
    const s = await this.spawnVmm(spec);
    try {
      await fcCall(s.p.apiSocket, 'PUT', '/logger', { log_path: s.p.vmmLog, level: 'Warning' });
      await fcCall(s.p.apiSocket, 'PUT', '/snapshot/load', {
        snapshot_path: path.join(dir, 'vmstate'),
        mem_backend: { backend_type: 'File', backend_path: path.join(dir, 'memory') },
        resume_vm: true,
        ...(spec.tap ? { network_overrides: [{ iface_id: 'eth0', host_dev_name: spec.tap.name }] } : {}),
      });
    } catch (e) {
      await killAndWait(s.proc.pid, s.proc.startTime);
      await this.release(spec.stateDir, s.cg);
      throw e;
    }
    return this.finishStart(spec, s, channel);
  }

  protected completeAdopted(vm: RunningVm): RunningVm {
    // The channel key is never written to disk: the manager derives it again (channelKeyFor).
    if (vm.channel.kind === 'tcp') vm.channel = { ...vm.channel, key: this.o.channelKeyFor?.(vm.id) ?? '' };
    return vm;
  }

  protected runtimeFiles(stateDir: string): string[] {
    return [firecrackerPaths(stateDir).apiSocket];
  }

  /** The guest sees ctrl-alt-del on its i8042 and reboots; Firecracker exits on the guest's reset. */
  protected async requestExit(vm: RunningVm): Promise<void> {
    await fcCall(firecrackerPaths(this.stateDirOf(vm)).apiSocket, 'PUT', '/actions', { action_type: 'SendCtrlAltDel' });
  }
}
