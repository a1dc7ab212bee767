import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { overlaps, parseCidr } from '../../packages/hypercore/src/network/cidr.ts';

/**
 * Host-network helpers for the node e2e suite (DESIGN.md section 3): unique names (`rt` + random suffix),
 * a random /24 inside 10.200.0.0/14 that overlaps no host address or route, and a sweep that removes
 * everything with those names even when a test failed half-way.
 */
export function uniqueSuffix(): string {
  return randomBytes(3).toString('hex');
}

export function pickFreeSubnet(): string {
  const used = [
    ...(JSON.parse(execFileSync('ip', ['-j', '-4', 'addr', 'show'], { encoding: 'utf8' })) as { addr_info: { local: string; prefixlen: number }[] }[])
      .flatMap((l) => l.addr_info)
      .map((a) => `${a.local}/${a.prefixlen}`),
    ...(JSON.parse(execFileSync('ip', ['-j', '-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' })) as { dst: string }[])
      .map((r) => r.dst)
      .filter((d) => /^[\d.]+(\/\d+)?$/.test(d))
      .map((d) => (d.includes('/') ? d : `${d}/32`)),
  ].map((c) => {
    const [ip, p] = c.split('/');
    const n = ip.split('.').reduce((a, x) => a * 256 + Number(x), 0);
    const mask = Number(p) === 0 ? 0 : (0xffffffff << (32 - Number(p))) >>> 0;
    const b = (n & mask) >>> 0;
    return parseCidr(`${[b >>> 24, (b >>> 16) & 255, (b >>> 8) & 255, b & 255].join('.')}/${p}`);
  });
  for (let i = 0; i < 200; i++) {
    const second = 200 + Math.floor(Math.random() * 4);
    const third = Math.floor(Math.random() * 256);
    const cand = parseCidr(`10.${second}.${third}.0/24`);
    if (!used.some((u) => overlaps(u, cand))) return `10.${second}.${third}.0/24`;
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

export function linksWithPrefix(prefix: string): string[] {
  return (JSON.parse(execFileSync('ip', ['-j', 'link', 'show'], { encoding: 'utf8' })) as { ifname: string }[])
    .map((l) => l.ifname)
    .filter((n) => n.startsWith(prefix));
}

export function nftSetElements(table: string, set: string): string {
  try {
    return execFileSync('nft', ['list', 'set', 'bridge', table, set], { encoding: 'utf8' });
  } catch {
    return '';
  }
}

/** PIDs of processes whose command line mentions `needle` (our state dir): leftover VMMs. */
export function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(needle)) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}

/** Last-resort cleanup: kill our VMMs, drop our nft tables, TAPs and bridge. */
export function sweepHost(o: { stateDir: string; table: string; tapPrefix: string; bridge: string }): void {
  for (const pid of processesMentioning(o.stateDir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const fam of ['bridge', 'inet']) {
    try {
      execFileSync('nft', ['delete', 'table', fam, o.table], { stdio: 'ignore' });
    } catch {
      /* not there */
    }
  }
  for (const l of [...linksWithPrefix(o.tapPrefix), o.bridge]) {
    if (linkExists(l)) execFileSync('ip', ['link', 'del', 'dev', l]);
  }
}

export function imagesPresent(imagesDir: string, kernel: string): string | undefined {
  if (!existsSync(kernel)) return `guest kernel missing at ${kernel} (run scripts/setup.sh)`;
  if (!existsSync(`${imagesDir}/base/rootfs.ext4`)) return `base image missing in ${imagesDir} (run scripts/setup.sh)`;
  return undefined;
}
