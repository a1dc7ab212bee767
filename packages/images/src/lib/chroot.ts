import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { run } from './run.ts';
import { pidAlive } from '@romulus/shared';

/**
 * A root tree prepared for running build steps in it with chroot: a fresh proc, a private /dev (tmpfs
 * with the few nodes tools need; the host's /dev is never bound in, so removing the tree can never touch
 * it) and the host's resolv.conf for the duration (steps may download from the registries). `close()`
 * undoes all of it; `assertNothingMounted` guards every removal of a work tree.
 */
export class ChrootSession {
  private mounted: string[] = [];
  private savedResolv: string | null = null;
  private buildCa = false;

  constructor(readonly root: string) {}

  async open(): Promise<void> {
    const proc = path.join(this.root, 'proc');
    const dev = path.join(this.root, 'dev');
    mkdirSync(proc, { recursive: true });
    mkdirSync(dev, { recursive: true });
    await run('mount', ['-t', 'proc', 'proc', proc]);
    this.mounted.push(proc);
    await run('mount', ['-t', 'tmpfs', '-o', 'mode=0755,size=16m', 'romulus-build-dev', dev]);
    this.mounted.push(dev);
    for (const [name, major, minor] of [['null', 1, 3], ['zero', 1, 5], ['full', 1, 7], ['random', 1, 8], ['urandom', 1, 9], ['tty', 5, 0]] as const) {
      await run('mknod', ['-m', '666', path.join(dev, name), 'c', String(major), String(minor)]);
    }
    mkdirSync(path.join(dev, 'shm'), { mode: 0o1777 });
    mkdirSync(path.join(dev, 'pts'));
    await run('ln', ['-s', '/proc/self/fd', path.join(dev, 'fd')]);
    const resolv = path.join(this.root, 'etc', 'resolv.conf');
    this.savedResolv = existsSync(resolv) ? readFileSync(resolv, 'utf8') : '';
    rmSync(resolv, { force: true });
    copyFileSync('/etc/resolv.conf', resolv);
    // The build host's trusted CAs, for the build only (hosts behind a TLS-inspecting proxy need its CA
    // for the npm registry): in /run of the tree, which init mounts over with a tmpfs, removed at close.
    const hostCa = process.env.NODE_EXTRA_CA_CERTS && existsSync(process.env.NODE_EXTRA_CA_CERTS) ? process.env.NODE_EXTRA_CA_CERTS : HOST_CA_BUNDLE;
    if (existsSync(hostCa)) {
      mkdirSync(path.join(this.root, 'run'), { recursive: true });
      copyFileSync(hostCa, path.join(this.root, BUILD_CA.slice(1)));
      this.buildCa = true;
    }
  }

  /** Runs `sh -ec script` inside the root; output lines go to onLine. */
  exec(script: string, onLine?: (l: string) => void, env: Record<string, string> = {}): Promise<string> {
    return run('chroot', [this.root, '/bin/sh', '-ec', script], {
      onLine,
      env: {
        PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
        HOME: '/root',
        LANG: 'C.UTF-8',
        DEBIAN_FRONTEND: 'noninteractive',
        ...(this.buildCa ? { NODE_EXTRA_CA_CERTS: BUILD_CA } : {}),
        ...env,
      },
    });
  }

  async close(): Promise<void> {
    if (this.buildCa) {
      rmSync(path.join(this.root, BUILD_CA.slice(1)), { force: true });
      this.buildCa = false;
    }
    if (this.savedResolv !== null) {
      // The image gets no resolver of the build host: the node decides the guest's network.
      writeFileSync(path.join(this.root, 'etc', 'resolv.conf'), '');
      this.savedResolv = null;
    }
    for (const m of this.mounted.reverse()) {
      await run('umount', [m]).catch(() => run('umount', ['-l', m]));
    }
    this.mounted = [];
    assertNothingMounted(this.root);
  }
}

const HOST_CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const BUILD_CA = '/run/romulus-build-ca.crt';

/** Throws if anything is mounted at or below dir (so an rm -rf cannot reach into a mount). */
export function assertNothingMounted(dir: string): void {
  const inside = mountsUnder(dir);
  if (inside.length) throw new Error(`still mounted under ${path.resolve(dir)}: ${inside.join(', ')}`);
}

/**
 * Work trees of builds that died (killed mid-build: their finally never ran) are named <image>-<pid>:
 * unmount whatever they left mounted, deepest first, then remove them.
 */
export async function cleanStaleWorkDirs(workRoot: string): Promise<void> {
  let entries: string[];
  try {
    entries = readdirSync(workRoot);
  } catch {
    return;
  }
  for (const name of entries) {
    const m = /-(\d+)$/.exec(name);
    if (!m || pidAlive(Number(m[1]))) continue;
    const dir = path.join(workRoot, name);
    for (const mnt of mountsUnder(dir).sort((a, b) => b.length - a.length)) {
      await run('umount', ['-l', mnt]).catch(() => {});
    }
    assertNothingMounted(dir);
    rmSync(dir, { recursive: true, force: true });
    console.log(`[build] removed the work tree of a dead build: ${dir}`);
  }
}

function mountsUnder(dir: string): string[] {
  const abs = path.resolve(dir);
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m)
    .map((m) => m.replace(/\\040/g, ' '))
    .filter((m) => m === abs || m.startsWith(abs + '/'));
}

