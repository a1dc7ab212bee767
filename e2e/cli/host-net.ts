import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Checks on what the stack created on the host (network names, nftables, processes). Picking the test
 * network and the last-resort sweep come from e2e/harness/host-net.ts.
 */
export function linkExists(name: string): boolean {
  try {
    execFileSync('ip', ['link', 'show', 'dev', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function nftTables(): string {
  try {
    return execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });
  } catch {
    return '';
  }
}

/** The node's TAP prefix for a node id (packages/hypercore/src/network/names.ts: tapPrefixFor). */
export function tapPrefixOf(nodeId: string): string {
  return `rt${createHash('sha256').update(`node:${nodeId}`).digest('hex').slice(0, 4)}`;
}

/** Pids whose command line mentions `marker` (our unique temp dir): VMMs our stack started. */
export function pidsMentioning(marker: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(marker)) pids.push(Number(name));
    } catch {
      /* exited meanwhile */
    }
  }
  return pids;
}
