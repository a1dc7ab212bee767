import type { Accel } from '@romulus/shared';

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
  /**
   * The guest boot contract's kernel command line (manager/cmdline.ts builds it: console, root, init, ip=,
   * romulus.id/time/disk). Never secrets, and nothing about the guest channel: the driver adds what its
   * own channel needs (qemu: virtio-serial, firecracker: vsock).
   */
  kernelCmdline: string;
  /** Read-only base root filesystem (raw ext4), attached first (/dev/vda), read-only. */
  rootfsPath: string;
  /** Per-VM writable disk (raw ext4), attached second (/dev/vdb). A restore may not need it to exist yet. */
  diskPath: string;
  /** Host TAP device (already created and enslaved to the bridge by the network layer; the driver refuses
   *  a TAP that does not exist), or none. */
  tap?: { name: string; mac: string };
  /** Per-VM directory the driver owns for its sockets, pid file, console log and launch record. */
  stateDir: string;
  /**
   * Overrides for the VMM process's own cgroup limits (set up by the driver through ./cgroups.ts).
   * Default: cpuQuotaCores = vcpus, memoryLimitMib = memoryMib + the accelerator's VMM overhead allowance.
   * The driver always gives the VMM a cgroup of its own unless it was built with cgroups disabled.
   */
  cgroup?: { cpuQuotaCores?: number; memoryLimitMib?: number };
}

/**
 * How the node reaches the guest agent of a VM. Both are unix sockets in the VM's state dir (0600, root
 * only) that only the VMM serves, so no key is needed: nothing else can reach the guest's end.
 */
export type ChannelEndpoint =
  /** qemu: a virtio-serial port's chardev; QEMU is the server, the node connects. */
  | { kind: 'unix'; path: string }
  /** firecracker: its vsock device's host socket; the node connects and sends `CONNECT <port>\n`. */
  | { kind: 'vsock'; path: string; port: number };

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
  /**
   * Ask the VMM to end the VM (qemu: QMP system_reset, which with -no-reboot ends QEMU; firecracker:
   * SendCtrlAltDel), wait up to timeoutMs, then kill. It does not ask the guest agent: do that over the
   * channel first for a clean shutdown.
   */
  stop(vm: RunningVm, timeoutMs: number): Promise<void>;
  /** SIGKILL the VMM and release everything the driver created in stateDir (sockets, pid file, cgroup). */
  kill(vm: RunningVm): Promise<void>;
  /** Optional: snapshot/restore (firecracker: /snapshot/create + /snapshot/load; qemu: migrate to file). */
  snapshot?(vm: RunningVm, dir: string): Promise<void>;
  /** A new VMM from a snapshot; spec.diskPath is where the VM's disk is (qemu writes it from the snapshot). */
  restore?(spec: VmLaunchSpec, dir: string): Promise<RunningVm>;
  /** Stop the driver's own housekeeping (the console log cap's timer). Running VMs are left alone. */
  close(): void;
}
