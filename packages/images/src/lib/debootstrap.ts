import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { cacheDir } from '@romulus/shared';
import { hashParts } from './hash.ts';
import { withLock } from './lock.ts';
import { elapsed, stage } from './progress.ts';
import { run } from './run.ts';

export const DEBIAN_MIRROR = process.env.ROMULUS_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';

/**
 * A Debian root filesystem as a tarball from `mmdebstrap --variant=minbase <suite> --include=<debs>`,
 * cached under <cache>/debootstrap/<hash>.tar by (suite, packages, mirror, mmdebstrap version).
 */
export async function debootstrapTarball(suite: string, debs: string[]): Promise<{ tarball: string; hash: string; cached: boolean }> {
  let version = 'unknown';
  try {
    version = execFileSync('mmdebstrap', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('mmdebstrap is not installed (scripts/install-system.sh)');
  }
  const options = [
    '--variant=minbase',
    `--include=${debs.join(',')}`,
    '--aptopt=Acquire::Check-Valid-Until "false"',
    '--aptopt=APT::Install-Recommends "false"',
    // Documentation and translations are dead weight in a VM image (kept: copyright files).
    '--dpkgopt=path-exclude=/usr/share/man/*',
    '--dpkgopt=path-exclude=/usr/share/doc/*',
    '--dpkgopt=path-include=/usr/share/doc/*/copyright',
    '--dpkgopt=path-exclude=/usr/share/locale/*',
    '--dpkgopt=path-exclude=/usr/share/info/*',
  ];
  const hash = hashParts('minbase', suite, options.join(' '), DEBIAN_MIRROR, version).slice(0, 16);
  const dir = path.join(cacheDir(), 'debootstrap');
  const tarball = path.join(dir, `${suite}-${hash}.tar`);
  return withLock(path.join(dir, `${hash}.lock`), 'debootstrap', async () => {
    if (existsSync(tarball)) {
      stage('debootstrap', `cached ${suite} + [${debs.join(' ')}] (${hash})`);
      return { tarball, hash, cached: true };
    }
    mkdirSync(dir, { recursive: true });
    const started = Date.now();
    stage('debootstrap', `mmdebstrap --variant=minbase ${suite} + [${debs.join(' ')}]`);
    const tmp = `${tarball}.tmp-${process.pid}.tar`;
    rmSync(tmp, { force: true });
    let last = 0;
    try {
      await run(
        'mmdebstrap',
        [...options, suite, tmp, DEBIAN_MIRROR],
        {
          // mmdebstrap's "I: ..." lines are its stages: show them, at most one every few seconds.
          onLine: (l) => {
            if (l.startsWith('I: ') && Date.now() - last > 3000) {
              last = Date.now();
              stage('debootstrap', l.slice(3), started);
            }
          },
        },
      );
      renameSync(tmp, tarball);
    } finally {
      rmSync(tmp, { force: true });
    }
    stage('debootstrap', `done: ${(statSync(tarball).size / 1048576).toFixed(0)} MiB tarball in ${elapsed(started)}`);
    return { tarball, hash, cached: false };
  });
}
