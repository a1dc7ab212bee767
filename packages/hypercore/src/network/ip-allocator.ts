import { type Cidr, cidrSize, intToIp, ipToInt, contains } from './cidr.ts';

/**
 * Hands out one address per VM from the node's subnet. Network (.0), gateway (.1, the bridge) and broadcast
 * are never handed out. Pure: the caller persists `leases()` and restores them with `restore()`.
 */
export class IpAllocator {
  private readonly byIp = new Map<string, string>();

  constructor(private readonly subnet: Cidr) {
    if (subnet.prefix > 29) throw new Error('VM subnet must be /29 or larger');
  }

  /** Same VM id always gets its existing lease back (idempotent). */
  allocate(vmId: string): string {
    const existing = this.ipOf(vmId);
    if (existing) return existing;
    const size = cidrSize(this.subnet);
    for (let off = 2; off < size - 1; off++) {
      const ip = intToIp(this.subnet.base + off);
      if (!this.byIp.has(ip)) {
        this.byIp.set(ip, vmId);
        return ip;
      }
    }
    throw new Error(`no free address left in the VM subnet (${size - 3} addresses, all leased)`);
  }

  release(vmId: string): boolean {
    const ip = this.ipOf(vmId);
    if (!ip) return false;
    this.byIp.delete(ip);
    return true;
  }

  ipOf(vmId: string): string | undefined {
    for (const [ip, id] of this.byIp) if (id === vmId) return ip;
    return undefined;
  }

  leases(): Record<string, string> {
    return Object.fromEntries(this.byIp);
  }

  /** Re-load persisted leases; entries outside the subnet (config changed) are dropped and returned. */
  restore(leases: Record<string, string>): string[] {
    const dropped: string[] = [];
    for (const [ip, id] of Object.entries(leases)) {
      const n = ipToInt(ip);
      const off = n - this.subnet.base;
      if (!contains(this.subnet, n) || off < 2 || off >= cidrSize(this.subnet) - 1) dropped.push(ip);
      else this.byIp.set(ip, id);
    }
    return dropped;
  }

  get free(): number {
    return cidrSize(this.subnet) - 3 - this.byIp.size;
  }
}
