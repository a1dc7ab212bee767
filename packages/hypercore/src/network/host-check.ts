import { runCommand, type RunCommand } from '../exec.ts';
import { type Cidr, cidrToString, overlaps, parseCidr } from './cidr.ts';

interface AddrInfo {
  ifname: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}
interface RouteInfo {
  dst: string;
  dev?: string;
}

/**
 * Refuses a VM subnet that overlaps an address or route already on the host (other than our own bridge,
 * which a restarted node finds already set up). Returns the conflicts as human text.
 */
export async function subnetConflicts(subnet: Cidr, ownBridge: string, run: RunCommand = runCommand): Promise<string[]> {
  const conflicts: string[] = [];
  const addrs = JSON.parse((await run(['ip', '-j', '-4', 'addr', 'show'])).stdout || '[]') as AddrInfo[];
  for (const link of addrs) {
    if (link.ifname === ownBridge) continue;
    for (const a of link.addr_info ?? []) {
      if (a.family !== 'inet') continue;
      const net = parseCidr(`${maskedBase(a.local, a.prefixlen)}/${a.prefixlen}`);
      if (overlaps(net, subnet)) conflicts.push(`address ${a.local}/${a.prefixlen} on ${link.ifname}`);
    }
  }
  const routes = JSON.parse((await run(['ip', '-j', '-4', 'route', 'show', 'table', 'all'])).stdout || '[]') as RouteInfo[];
  for (const r of routes) {
    if (r.dev === ownBridge || r.dst === 'default' || !/^[\d.]+(\/\d+)?$/.test(r.dst)) continue;
    const dst = r.dst.includes('/') ? r.dst : `${r.dst}/32`;
    let net: Cidr;
    try {
      net = parseCidr(`${maskedBase(dst.split('/')[0], Number(dst.split('/')[1]))}/${dst.split('/')[1]}`);
    } catch {
      continue;
    }
    // Routes covering the whole v4 space or broadcast/local entries of other links count as overlaps too,
    // except the default route (which overlaps everything by definition).
    if (overlaps(net, subnet)) conflicts.push(`route ${r.dst}${r.dev ? ` dev ${r.dev}` : ''}`);
  }
  return [...new Set(conflicts)].map((c) => `${cidrToString(subnet)} overlaps ${c}`);
}

function maskedBase(ip: string, prefix: number): string {
  const n = ip.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const b = (n & mask) >>> 0;
  return [b >>> 24, (b >>> 16) & 255, (b >>> 8) & 255, b & 255].join('.');
}
