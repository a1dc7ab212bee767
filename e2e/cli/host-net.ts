import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';

/**
 * Unique host-network names for one test run (DEVELOPING.md, network discipline): a bridge named `rt` +
 * random suffix and a random /24 inside 10.200.0.0/14 that no host address or route already uses.
 */
export function pickTestNetwork(): { bridge: string; nodeId: string; subnet: string } {
  const suffix = randomBytes(3).toString('hex');
  const used = execFileSync('ip', ['-4', '-o', 'addr'], { encoding: 'utf8' }) + execFileSync('ip', ['-4', 'route'], { encoding: 'utf8' });
  for (let i = 0; i < 100; i++) {
    const prefix = `10.${200 + randomInt(4)}.${randomInt(256)}.`;
    if (!used.includes(prefix)) return { bridge: `rt${suffix}`, nodeId: `rt${suffix}`, subnet: `${prefix}0/24` };
  }
  throw new Error('no free /24 in 10.200.0.0/14');
}

export function linkExists(name: string): boolean {
  try {
    execFileSync('ip', ['link', 'show', 'dev', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Removes the bridge and any TAP still named after it; used only in after() when the stack failed to. */
export function removeLinksWithPrefix(prefix: string): void {
  const out = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' });
  for (const m of out.matchAll(/^\d+: ([^:@]+)[:@]/gm)) {
    if (m[1].startsWith(prefix)) {
      try {
        execFileSync('ip', ['link', 'del', 'dev', m[1]], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    }
  }
}

export function nftTables(): string {
  try {
    return execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' });
  } catch {
    return '';
  }
}
