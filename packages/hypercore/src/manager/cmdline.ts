import { CMDLINE } from '@romulus/shared';

export interface CmdlineParams {
  vmId: string;
  hostname: string;
  nowMs: number;
  /** The kernel configures eth0 statically (ip=); without it the guest has no network configuration. */
  net?: { ip: string; gateway: string; netmask: string; dns?: string };
  /** false: no romulus.disk, init puts the root overlay's upper layer on a tmpfs (probe boots). */
  disk?: boolean;
}

const SAFE = /^[A-Za-z0-9._:-]+$/;

/**
 * The guest boot contract's kernel command line (docs/DEVELOPING.md), the one builder the manager, the VMM
 * driver suite and the guest e2e suite use. Never carries a secret (on qemu it is visible in the host's
 * process list, on firecracker it lands in GET /vm/config and in snapshots) and says nothing about the
 * guest channel: the VMM driver owns the channel and adds what its guest needs. Values are checked so
 * nothing can inject extra parameters.
 */
export function buildCmdline(p: CmdlineParams): string {
  const values: Record<string, string> = { id: p.vmId, hostname: p.hostname, ...p.net };
  for (const [k, v] of Object.entries(values)) {
    if (!SAFE.test(v)) throw new Error(`unsafe value for kernel cmdline ${k}: ${JSON.stringify(v)}`);
  }
  const parts = ['console=ttyS0', 'reboot=k', 'panic=-1', 'root=/dev/vda', 'ro', 'rootfstype=ext4', 'init=/opt/romulus/init'];
  if (p.net) {
    const n = p.net;
    parts.push(`ip=${n.ip}::${n.gateway}:${n.netmask}:${p.hostname}:eth0:off${n.dns ? `:${n.dns}` : ''}`);
  }
  parts.push(`${CMDLINE.vmId}=${p.vmId}`, `${CMDLINE.time}=${Math.floor(p.nowMs)}`);
  if (p.disk !== false) parts.push(`${CMDLINE.disk}=/dev/vdb`);
  return parts.join(' ');
}

/** Hostname for a VM: its id (already restricted to [a-z0-9-]), at most 63 chars. */
export function hostnameFor(vmId: string): string {
  return vmId.slice(0, 63);
}
