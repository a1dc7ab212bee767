import { CMDLINE } from '@romulus/shared';

export interface CmdlineParams {
  vmId: string;
  ip: string;
  gateway: string;
  netmask: string;
  hostname: string;
  nowMs: number;
  channel: 'virtio' | 'tcp';
  /** TCP channel only (Firecracker: the cmdline travels over its API socket, not argv). */
  channelKey?: string;
}

const SAFE = /^[A-Za-z0-9._:-]+$/;

/**
 * The guest boot contract's kernel command line (docs/DEVELOPING.md). Never carries a secret: on qemu it
 * is visible in the host's process list. Values are checked so nothing can inject extra parameters.
 */
export function buildCmdline(p: CmdlineParams): string {
  for (const [k, v] of Object.entries({ id: p.vmId, ip: p.ip, gateway: p.gateway, netmask: p.netmask, hostname: p.hostname })) {
    if (!SAFE.test(v)) throw new Error(`unsafe value for kernel cmdline ${k}: ${JSON.stringify(v)}`);
  }
  if (p.channel === 'tcp' && !/^[0-9a-f]{32,128}$/.test(p.channelKey ?? '')) throw new Error('tcp channel needs a hex channel key');
  if (p.channel === 'virtio' && p.channelKey) throw new Error('the channel key must not go on a virtio cmdline (it is visible in ps)');
  const parts = [
    'console=ttyS0',
    'reboot=k',
    'panic=-1',
    'root=/dev/vda',
    'ro',
    'rootfstype=ext4',
    'init=/opt/romulus/init',
    `ip=${p.ip}::${p.gateway}:${p.netmask}:${p.hostname}:eth0:off`,
    `${CMDLINE.vmId}=${p.vmId}`,
    `${CMDLINE.time}=${Math.floor(p.nowMs)}`,
    `${CMDLINE.disk}=/dev/vdb`,
    `${CMDLINE.channel}=${p.channel}`,
  ];
  if (p.channel === 'tcp') parts.push(`${CMDLINE.channelKey}=${p.channelKey}`);
  return parts.join(' ');
}

/** Hostname for a VM: its id (already restricted to [a-z0-9-]), at most 63 chars. */
export function hostnameFor(vmId: string): string {
  return vmId.slice(0, 63);
}
