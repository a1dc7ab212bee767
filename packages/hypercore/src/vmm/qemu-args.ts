import path from 'node:path';
import { CMDLINE, GUEST_CHANNEL_NAME, type Accel } from '@romulus/shared';
import type { VmLaunchSpec } from './types.ts';

/** Files the qemu driver keeps in a VM's state dir. */
export function qemuPaths(stateDir: string) {
  return {
    qmpSocket: path.join(stateDir, 'qmp.sock'),
    agentSocket: path.join(stateDir, 'agent.sock'),
    consoleLog: path.join(stateDir, 'console.log'),
    pidFile: path.join(stateDir, 'qemu.pid'),
    stdoutLog: path.join(stateDir, 'qemu.out'),
    stderrLog: path.join(stateDir, 'qemu.err'),
  };
}
export type QemuPaths = ReturnType<typeof qemuPaths>;

/**
 * The microvm machine as measured on this project's hosts (DESIGN.md §2): under TCG the kernel needs the
 * PIT to calibrate its TSC, the RTC on halves time-to-init (0.77 s vs 1.78 s), and with acpi=off QEMU
 * appends the virtio_mmio.device= entries to the kernel command line itself.
 */
export const MICROVM_MACHINE = 'microvm,acpi=off,pit=on,rtc=on,isa-serial=on,x-option-roms=off';

/**
 * TCG translation-cache size in MiB. QEMU 7.2 defaults to 1 GiB per VM for system emulation; a small
 * cache trims ≈15 MB of PSS per VM (DESIGN.md) at some cost in re-translation for big workloads.
 */
export const DEFAULT_TB_SIZE_MIB = 64;

/** Values go inside QEMU's comma-separated option syntax, where ',' must be doubled. */
export function qemuOptValue(v: string): string {
  return v.replaceAll(',', ',,');
}

/**
 * The machine every QEMU of the project runs: microvm, no defaults, seccomp sandbox, the accelerator, vCPUs
 * and memory. Shared by the VM launch below and the accelerator probe (probe.ts), so the probe tests the
 * configuration VMs really get.
 */
export function qemuMachineArgs(accel: Accel, vcpus: number, memoryMib: number, tbSizeMib = DEFAULT_TB_SIZE_MIB): string[] {
  return [
    '-M', MICROVM_MACHINE,
    '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
    // seccomp: no obsolete syscalls, no setuid/privilege changes, no scheduler/resource control. spawn
    // stays allowed because snapshot/restore stream through an `exec:` migration URI.
    '-sandbox', 'on,obsolete=deny,elevateprivileges=deny,resourcecontrol=deny',
    ...(accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', `tcg,tb-size=${tbSizeMib}`, '-cpu', 'max']),
    '-smp', String(vcpus),
    '-m', `${memoryMib}M`,
  ];
}

/**
 * The production QEMU command line of a VM (the qemu driver's, and the guest e2e suite boots exactly this).
 * The guest channel is a virtio-serial port: the driver tells the guest so on the kernel command line.
 */
export function buildQemuArgs(spec: VmLaunchSpec, accel: Accel, p: QemuPaths, tbSizeMib = DEFAULT_TB_SIZE_MIB): string[] {
  const o = qemuOptValue;
  const args = [
    '-name', `romulus-${spec.id}`,
    ...qemuMachineArgs(accel, spec.vcpus, spec.memoryMib, tbSizeMib),
    '-kernel', spec.kernelPath,
    '-append', `${spec.kernelCmdline} ${CMDLINE.channel}=virtio`,
    // Order matters: the first virtio-blk becomes /dev/vda (read-only base), the second /dev/vdb.
    '-drive', `id=rootfs,file=${o(spec.rootfsPath)},format=raw,if=none,readonly=on`,
    '-device', 'virtio-blk-device,drive=rootfs',
    '-drive', `id=disk,file=${o(spec.diskPath)},format=raw,if=none,discard=unmap`,
    '-device', 'virtio-blk-device,drive=disk',
  ];
  if (spec.tap) {
    args.push(
      '-netdev', `tap,id=net0,ifname=${o(spec.tap.name)},script=no,downscript=no`,
      '-device', `virtio-net-device,netdev=net0,mac=${spec.tap.mac}`,
    );
  }
  args.push(
    '-device', 'virtio-serial-device',
    '-chardev', `socket,id=agent,path=${o(p.agentSocket)},server=on,wait=off`,
    '-device', `virtserialport,chardev=agent,name=${GUEST_CHANNEL_NAME}`,
    // append=on opens with O_APPEND, so the driver can cap the log by truncating it under QEMU's feet.
    '-chardev', `file,id=console,path=${o(p.consoleLog)},append=on`,
    '-serial', 'chardev:console',
    '-qmp', `unix:${o(p.qmpSocket)},server=on,wait=off`,
    '-pidfile', p.pidFile,
  );
  return args;
}
