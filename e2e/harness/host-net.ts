import { execFileSync } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { overlaps, parseCidr } from '../../packages/hypercore/src/network/cidr.ts';
import { nftTableFor, tapPrefixFor } from '../../packages/hypercore/src/network/names.ts';

/**
 * Host networking for the e2e suites (DEVELOPING.md, network discipline): unique `rt`-prefixed names, a
 * random /24 in 10.200.0.0/14 that overlaps no host address or route, checks on what a node left on the
 * host, and a last-resort sweep of what the node should have removed itself.
 */
export { tapPrefixFor as tapPrefixOf };

export function uniqueSuffix(): string {
  return randomBytes(3).toString('hex');
}

/** Host IPv4 addresses and routes, as CIDRs. */
function hostCidrs(): ReturnType<typeof parseCidr>[] {
  const addrs = (JSON.parse(execFileSync('ip', ['-j', '-4', 'addr', 'show'], { encoding: 'utf8' })) as { addr_info: { local: string; prefixlen: number }[] }[])
    .flatMap((l) => l.addr_info)
    .map((a) => `${a.local}/${a.prefixlen}`);
  const routes = (JSON.parse(execFileSync('ip', ['-j', '-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' })) as { dst: string }[])
    .map((r) => r.dst)
    .filter((d) => /^[\d.]+(\/\d+)?$/.test(d))
    .map((d) => (d.includes('/') ? d : `${d}/32`));
  return [...addrs, ...routes].map((c) => {
    const [ip, p] = c.split('/');
    const n = ip.split('.').reduce((a, x) => a * 256 + Number(x), 0);
    const mask = Number(p) === 0 ? 0 : (0xffffffff << (32 - Number(p))) >>> 0;
    const b = (n & mask) >>> 0;
    return parseCidr(`${[b >>> 24, (b >>> 16) & 255, (b >>> 8) & 255, b & 255].join('.')}/${p}`);
  });
}

export function pickFreeSubnet(): string {
  const used = hostCidrs();
  for (let i = 0; i < 200; i++) {
    const subnet = `10.${200 + randomInt(4)}.${randomInt(256)}.0/24`;
    const cand = parseCidr(subnet);
    if (!used.some((u) => overlaps(u, cand))) return subnet;
  }
  throw new Error('no free /24 in 10.200.0.0/14');
}

export function pickTestNetwork(): { bridge: string; nodeId: string; subnet: string } {
  const suffix = uniqueSuffix();
  return { bridge: `rt${suffix}`, nodeId: `rt${suffix}`, subnet: pickFreeSubnet() };
}

export function linkExists(name: string): boolean {
  try {
    execFileSync('ip', ['link', 'show', 'dev', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function linksWithPrefix(prefix: string): string[] {
  return (JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as { ifname: string }[])
    .map((l) => l.ifname)
    .filter((n) => n.startsWith(prefix));
}

function tryRun(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return '';
  }
}

export function nftTables(): string {
  return tryRun('nft', ['list', 'tables']);
}

export function nftSetElements(table: string, set: string): string {
  return tryRun('nft', ['list', 'set', 'bridge', table, set]);
}

/** Pids whose command line mentions `marker` (a test's unique temp dir): VMMs its stack started. */
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

/** Kills processes started from `marker`, deletes the bridge, the node's TAPs and nft tables. Returns what it found. */
export function sweepLeftovers(opts: { marker: string; bridge: string; nodeId: string }): string[] {
  const found: string[] = [];
  for (const pid of pidsMentioning(opts.marker)) {
    found.push(`process ${pid}`);
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const link of [...linksWithPrefix(tapPrefixFor(opts.nodeId)), opts.bridge]) {
    if (!linkExists(link)) continue;
    found.push(`link ${link}`);
    tryRun('ip', ['link', 'del', 'dev', link]);
  }
  const table = nftTableFor(opts.nodeId);
  for (const m of nftTables().matchAll(/^table (\w+) (\w+)$/gm)) {
    if (m[2] === table || m[2].startsWith(`${table}_`)) {
      found.push(`nft table ${m[1]} ${m[2]}`);
      tryRun('nft', ['delete', 'table', m[1], m[2]]);
    }
  }
  return found;
}

/** Why the VM suites cannot run yet, or undefined when the kernel and the base image are installed. */
export function imagesMissing(imagesDir: string, kernel: string): string | undefined {
  if (!existsSync(kernel)) return `guest kernel missing at ${kernel} (run scripts/setup.sh)`;
  if (!existsSync(`${imagesDir}/base/rootfs.ext4`)) return `base image missing in ${imagesDir} (run scripts/setup.sh)`;
  return undefined;
}
