import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { removeLinksWithPrefix } from './host-net.ts';

/** The node's TAP prefix for a node id (packages/hypercore/src/network/names.ts: tapPrefixFor). */
export function tapPrefixOf(nodeId: string): string {
  return `rt${createHash('sha256').update(`node:${nodeId}`).digest('hex').slice(0, 4)}`;
}

/** Pids whose command line mentions `marker` (our unique temp dir): the VMMs our stack started. */
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

/**
 * Last-resort cleanup when the stack did not clean up after itself (the test failed half-way): kills the
 * processes that run from our temp dir, deletes the bridge, the TAPs and the node's nftables table.
 */
export function forceCleanup(opts: { marker: string; bridge: string; nodeId: string }): string[] {
  const leftovers: string[] = [];
  for (const pid of pidsMentioning(opts.marker)) {
    leftovers.push(`process ${pid}`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
  const tapPrefix = tapPrefixOf(opts.nodeId);
  for (const prefix of [tapPrefix, opts.bridge]) {
    if (new RegExp(`^\\d+: ${prefix}`, 'm').test(links)) leftovers.push(`links ${prefix}*`);
    removeLinksWithPrefix(prefix);
  }
  const table = `romulus_${opts.nodeId.replace(/[^A-Za-z0-9_]/g, '_')}`;
  let tables = '';
  try {
    tables = execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });
  } catch {
    /* no nft */
  }
  for (const m of tables.matchAll(/^table (\w+) (\w+)$/gm)) {
    if (m[2] === table || m[2].startsWith(`${table}_`)) {
      leftovers.push(`nft table ${m[1]} ${m[2]}`);
      try {
        execFileSync('nft', ['delete', 'table', m[1], m[2]]);
      } catch {
        /* gone */
      }
    }
  }
  return leftovers;
}
