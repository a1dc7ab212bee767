import type { Accel } from '@romulus/shared';

/*
 * Port changes by the vmm owner (tell the node-daemon engineer):
 *   - VmLaunchSpec.guestIp (optional): the VM's IP; firecracker's TCP channel needs it (else parsed from ip=).
 *   - VmLaunchSpec.cgroup: now optional overrides; the driver always places the VMM in its own cgroup
 *     (limits default to vcpus cores and memoryMib + VMM overhead for the accelerator) unless the driver
 *     was built with cgroups disabled.
 *   - VmmProbeResult.usable: false when the driver cannot run VMs here at all (firecracker without KVM).
 *   - VmmDriver.close(): stops the driver's housekeeping timer (console log cap); VMs keep running.
 *   - stop(): does NOT ask the guest itself beyond what the VMM can do (qemu: QMP system_reset, which
 *     with -no-reboot ends QEMU; firecracker: SendCtrlAltDel). Ask the guest over the channel first.
 */

/**
 * The VMM driver port. The VM manager (core) speaks only to this; `qemu` and `firecracker` adapters
 * implement it, and one shared suite (driver-suite.ts) runs against every adapter that can run here.
 *
 * A driver knows how to turn a fully-resolved VmLaunchSpec into a running VMM process and how to find,
 * stop and kill it again, including after the node daemon itself restarted (adopt). It knows nothing
 * about images, IP allocation, nftables, stores or the HTTP API.
 */
export interface VmLaunchSpec {
  id: string;
  vcpus: number;
  memoryMib: number;
  /** Guest kernel (ELF vmlinux; qemu may also take a bzImage). */
  kernelPath: string;
  /** Complete kernel command line (the manager builds it: console, root, init, ip=, romulus.*). Never secrets. */
  kernelCmdline: string;
  /** Read-only base root filesystem (raw ext4), attached first (/dev/vda), read-only. */
  rootfsPath: string;
  /** Per-VM writable disk (raw ext4), attached second (/dev/vdb). */
  diskPath: string;
  /** Host TAP device (already created and enslaved to the bridge by the network layer), or none. */
  tap?: { name: string; mac: string };
  /** Per-VM directory the driver owns for its sockets, pid file, console log and launch record. */
  stateDir: string;
  /**
   * Overrides for the VMM process's own cgroup limits (set up by the driver through ./cgroups.ts).
   * Default: cpuQuotaCores = vcpus, memoryLimitMib = memoryMib + the accelerator's VMM overhead allowance.
   */
  cgroup?: { cpuQuotaCores?: number; memoryLimitMib?: number };
  /** The VM's IP (the one in the cmdline's ip=). Firecracker's TCP channel connects to it. */
  guestIp?: string;
}

/** How the node reaches the guest agent of a VM. */
export type ChannelEndpoint =
  | { kind: 'unix'; path: string } /* qemu virtio-serial chardev; node connects, QEMU is the server */
  | { kind: 'tcp'; host: string; port: number; key: string }; /* firecracker: guest agent on the VM's IP */

export interface RunningVm {
  id: string;
  pid: number;
  /** Process start time (from /proc/<pid>/stat) so a recycled pid is never mistaken for our VMM. */
  pidStartTime: string;
  accel: Accel;
  channel: ChannelEndpoint;
  consoleLogPath: string;
  /** Wall-clock ms when the VMM process was spawned and when the driver saw it up (API/QMP answering). */
  spawnedAt: number;
  vmmUpAt: number;
}

export interface VmmProbeResult {
  /** False when this driver cannot run VMs on this host at all (firecracker without working KVM). */
  usable: boolean;
  accel: Accel;
  /** Why KVM is not used, when it is not (shown in logs, health, capacity and metrics). */
  reason?: string;
  vmmVersion: string;
}

export interface VmmDriver {
  readonly name: 'qemu' | 'firecracker';
  /** Is the VMM binary present and runnable? (no VM is started) */
  available(): Promise<boolean>;
  /**
   * Decide the accelerator by behaviour, not by /dev/kvm's presence: a short probe boot under KVM; on
   * failure or timeout fall back to TCG (qemu) or report unusable (firecracker, KVM-only). Cached.
   */
  probe(kernelPath: string): Promise<VmmProbeResult>;
  /** Start the VMM detached from the daemon (it must survive a daemon restart). Idempotent per stateDir. */
  start(spec: VmLaunchSpec): Promise<RunningVm>;
  /** Re-attach to a VMM started earlier from its stateDir; null if its process is gone. */
  adopt(stateDir: string): Promise<RunningVm | null>;
  /** Is the VMM process still alive (same pid and start time)? */
  isAlive(vm: RunningVm): boolean;
  /** Ask the guest to power off (ACPI/ctrl-alt-del/SendCtrlAltDel), wait up to timeoutMs, then kill. */
  stop(vm: RunningVm, timeoutMs: number): Promise<void>;
  /** SIGKILL the VMM and release everything the driver created in stateDir (sockets, pid file, cgroup). */
  kill(vm: RunningVm): Promise<void>;
  /** Optional: snapshot/restore (firecracker: /snapshot/create + /snapshot/load; qemu: migrate to file). */
  snapshot?(vm: RunningVm, dir: string): Promise<void>;
  restore?(spec: VmLaunchSpec, dir: string): Promise<RunningVm>;
  /** Stop the driver's own housekeeping (timers). Running VMs are left alone. */
  close(): void;
}
