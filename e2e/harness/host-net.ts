import { execFileSync } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * Host networking for one test stack (DEVELOPING.md, network discipline): a unique `rt`-prefixed bridge
 * and node id, a random /24 in 10.200.0.0/14 that no host address or route overlaps, and a last-resort
 * sweep of what the node should have removed itself.
 */
export function pickTestNetwork(): { bridge: string; nodeId: string; subnet: string } {
  const suffix = randomBytes(3).toString('hex');
  const used = execFileSync('ip', ['-4', '-o', 'addr'], { encoding: 'utf8' }) + execFileSync('ip', ['-4', 'route'], { encoding: 'utf8' });
  for (let i = 0; i < 200; i++) {
    const prefix = `10.${200 + randomInt(4)}.${randomInt(256)}.`;
    if (!used.includes(prefix)) return { bridge: `rt${suffix}`, nodeId: `rt${suffix}`, subnet: `${prefix}0/24` };
  }
  throw new Error('no free /24 in 10.200.0.0/14');
}

/** The node's TAP prefix for a node id (mirrors packages/hypercore/src/network/names.ts). */
function tapPrefixOf(nodeId: string): string {
  return `rt${createHash('sha256').update(`node:${nodeId}`).digest('hex').slice(0, 4)}`;
}

function tryRun(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

/** Kills processes started from `marker` (our temp dir), deletes our links and nft table. Returns what it found. */
export function sweepLeftovers(opts: { marker: string; bridge: string; nodeId: string }): string[] {
  const found: string[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (cmd.includes(opts.marker)) {
      found.push(`process ${name}`);
      try {
        process.kill(Number(name), 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  const links = tryRun('ip', ['-o', 'link']);
  for (const m of links.matchAll(/^\d+: ([^:@]+)[:@]/gm)) {
    if (m[1] === opts.bridge || m[1].startsWith(tapPrefixOf(opts.nodeId))) {
      found.push(`link ${m[1]}`);
      tryRun('ip', ['link', 'del', 'dev', m[1]]);
    }
  }
  const table = `romulus_${opts.nodeId.replace(/[^A-Za-z0-9_]/g, '_')}`;
  for (const m of tryRun('nft', ['list', 'tables']).matchAll(/^table (\w+) (\w+)$/gm)) {
    if (m[2] === table || m[2].startsWith(`${table}_`)) {
      found.push(`nft table ${m[1]} ${m[2]}`);
      tryRun('nft', ['delete', 'table', m[1], m[2]]);
    }
  }
  return found;
}
