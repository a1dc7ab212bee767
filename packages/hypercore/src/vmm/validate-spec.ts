import { existsSync } from 'node:fs';
import path from 'node:path';
import type { VmLaunchSpec } from './types.ts';

/** Defence in depth: the manager validates API input, the driver refuses specs that would misbehave. */
/** `requireDisk: false` for a restore, which writes the VM's disk from the snapshot. */
export function validateLaunchSpec(spec: VmLaunchSpec, o: { requireDisk?: boolean } = {}): void {
  const bad = (m: string) => {
    throw new Error(`invalid VM launch spec: ${m}`);
  };
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/.test(spec.id)) bad(`id ${JSON.stringify(spec.id)}`);
  if (!Number.isInteger(spec.vcpus) || spec.vcpus < 1 || spec.vcpus > 64) bad(`vcpus ${spec.vcpus}`);
  if (!Number.isInteger(spec.memoryMib) || spec.memoryMib < 64 || spec.memoryMib > 1024 * 1024) bad(`memoryMib ${spec.memoryMib}`);
  for (const [k, p] of [['kernelPath', spec.kernelPath], ['rootfsPath', spec.rootfsPath], ['diskPath', spec.diskPath]] as const) {
    if (!path.isAbsolute(p)) bad(`${k} must be absolute`);
    if (!existsSync(p) && (k !== 'diskPath' || o.requireDisk !== false)) bad(`${k} ${p} does not exist`);
  }
  if (!path.isAbsolute(spec.stateDir)) bad('stateDir must be absolute');
  if (/[\n\0]/.test(spec.kernelCmdline)) bad('kernelCmdline has control characters');
  if (spec.tap) {
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(spec.tap.name)) bad(`tap name ${spec.tap.name}`);
    if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(spec.tap.mac)) bad(`mac ${spec.tap.mac}`);
  }
  if (spec.guestIp !== undefined && !/^\d{1,3}(\.\d{1,3}){3}$/.test(spec.guestIp)) bad(`guestIp ${spec.guestIp}`);
}
