import { createHash } from 'node:crypto';

/**
 * Host-side names derived from ids, so every piece a VM owns can be found again from its id alone (and
 * pieces that match the node's prefix but no VM are orphans). Linux interface names are at most 15 chars.
 */
const IFNAMSIZ = 15;

function hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** Per-node TAP prefix, e.g. "rt3fa9" (unique per node id so two nodes on one host never collide). */
export function tapPrefixFor(nodeId: string): string {
  return `rt${hex(`node:${nodeId}`).slice(0, 4)}`;
}

export function tapNameFor(tapPrefix: string, vmId: string): string {
  const name = `${tapPrefix}${hex(`vm:${vmId}`)}`.slice(0, IFNAMSIZ);
  if (tapPrefix.length > 9) throw new Error('TAP prefix must be at most 9 characters');
  return name;
}

/** Locally administered unicast MAC derived from the VM id (02:xx:...). */
export function macFor(vmId: string): string {
  const h = hex(`mac:${vmId}`);
  const bytes = ['02', h.slice(0, 2), h.slice(2, 4), h.slice(4, 6), h.slice(6, 8), h.slice(8, 10)];
  return bytes.join(':');
}

/** nftables table name for a node: letters, digits and underscores only. */
export function nftTableFor(nodeId: string): string {
  return `romulus_${nodeId.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 40)}`;
}
