import { existsSync } from 'node:fs';
import path from 'node:path';
import { CMDLINE } from '@romulus/shared';
import type { VmLaunchSpec } from './types.ts';

/** What one VMM accepts beyond the common rules (checked before anything is spawned). */
export interface VmmLimits {
  maxVcpus: number;
  /** Firecracker refuses an instance id with `_` (DESIGN.md §8). */
  idUnderscore: boolean;
}
export const QEMU_LIMITS: VmmLimits = { maxVcpus: 64, idUnderscore: true };
export const FIRECRACKER_LIMITS: VmmLimits = { maxVcpus: 32, idUnderscore: false };

/** Cmdline keys only a driver may set: the guest channel is the driver's. */
const DRIVER_KEYS = [CMDLINE.channel];

/**
 * Defence in depth: the manager validates API input, the driver refuses specs that would misbehave.
 * `requireDisk: false` for a restore that does not read spec.diskPath (qemu writes it from the snapshot,
 * firecracker's snapshot remembers its own drive paths).
 */
export function validateLaunchSpec(spec: VmLaunchSpec, limits: VmmLimits, o: { requireDisk?: boolean } = {}): void {
  const bad = (m: string) => {
    throw new Error(`invalid VM launch spec: ${m}`);
  };
  const id = limits.idUnderscore ? /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/ : /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/;
  if (!id.test(spec.id)) bad(`id ${JSON.stringify(spec.id)}${!limits.idUnderscore && spec.id.includes('_') ? ' (this VMM refuses `_` in ids)' : ''}`);
  if (!Number.isInteger(spec.vcpus) || spec.vcpus < 1 || spec.vcpus > limits.maxVcpus) bad(`vcpus ${spec.vcpus} (1-${limits.maxVcpus})`);
  if (!Number.isInteger(spec.memoryMib) || spec.memoryMib < 64 || spec.memoryMib > 1024 * 1024) bad(`memoryMib ${spec.memoryMib}`);
  const files: [string, string][] = [['kernelPath', spec.kernelPath], ['rootfsPath', spec.rootfsPath]];
  if (o.requireDisk !== false) files.push(['diskPath', spec.diskPath]);
  for (const [k, p] of files) {
    if (!path.isAbsolute(p)) bad(`${k} must be absolute`);
    if (!existsSync(p)) bad(`${k} ${p} does not exist`);
  }
  if (!path.isAbsolute(spec.stateDir)) bad('stateDir must be absolute');
  if (/[\n\0]/.test(spec.kernelCmdline)) bad('kernelCmdline has control characters');
  for (const k of DRIVER_KEYS) if (spec.kernelCmdline.split(/\s+/).some((w) => w.startsWith(`${k}=`))) bad(`kernelCmdline sets ${k}, which only the driver may`);
  if (spec.tap) {
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(spec.tap.name)) bad(`tap name ${spec.tap.name}`);
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(spec.tap.mac)) bad(`mac ${spec.tap.mac}`);
  }
}

/**
 * The TAP must exist before the VMM starts: as root Firecracker silently creates a missing one, and the VM
 * then has no network. `sysClassNet` is for tests.
 */
export function assertTapExists(spec: VmLaunchSpec, sysClassNet = '/sys/class/net'): void {
  if (spec.tap && !existsSync(path.join(sysClassNet, spec.tap.name))) {
    throw new Error(`invalid VM launch spec: TAP ${spec.tap.name} does not exist (the network layer creates it before the VMM starts)`);
  }
}
