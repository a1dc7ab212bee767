import { chownSync, constants, copyFileSync, linkSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { VmmIdentity } from './confine.ts';

/**
 * Firecracker's own jailer (docs/jailer.md of the Firecracker release), where an operator installed it:
 * it makes `<chroot-base>/<exec-file name>/<id>/root`, creates /dev/kvm and /dev/net/tun there, enters new
 * mount (pivot_root) namespace, drops to --uid/--gid and execs firecracker (no --daemonize, no
 * --new-pid-ns: the pid the driver records stays Firecracker's). Everything Firecracker opens must be in
 * that root, so the driver stages its files there (hard links; a copy when the image is on another
 * filesystem) and talks to the API in in-jail paths.
 */
export interface JailLayout {
  /** The chroot on the host. */
  root: string;
  chrootBase: string;
  /** Host path of an in-jail absolute path. */
  host(inJail: string): string;
}

/** In-jail names of what the driver stages: fixed, so a snapshot's remembered drive paths fit any VM. */
export const JAIL_PATHS = {
  apiSocket: '/fc.sock',
  vsockSocket: '/vsock.sock',
  vmmLog: '/fc.log',
  kernel: '/vmlinux',
  rootfs: '/rootfs.ext4',
  disk: '/disk.ext4',
  snapshotDir: '/snapshot',
} as const;

export function jailLayout(stateDir: string, id: string, firecrackerBinary: string): JailLayout {
  const chrootBase = path.join(stateDir, 'jail');
  const root = path.join(chrootBase, path.basename(firecrackerBinary), id, 'root');
  return { root, chrootBase, host: (p) => path.join(root, p) };
}

/** argv for spawnDetached: the jailer with its required options, then Firecracker's own after `--`. */
/** No cgroup options: the spawn prelude already put the jailer (and so Firecracker) in the VM's cgroup. */
export function jailerArgv(firecrackerBinary: string, id: string, who: VmmIdentity, layout: JailLayout): string[] {
  return [
    '--id', id,
    '--exec-file', firecrackerBinary,
    '--uid', String(who.uid),
    '--gid', String(who.gid),
    '--chroot-base-dir', layout.chrootBase,
    '--', '--api-sock', JAIL_PATHS.apiSocket,
  ];
}

/** Put `host` at `inJail` inside the root: a hard link (same inode: the disk stays the VM's one disk). */
export function stage(layout: JailLayout, host: string, inJail: string, o: { copyIfCrossDevice: boolean }): void {
  const at = layout.host(inJail);
  mkdirSync(path.dirname(at), { recursive: true, mode: 0o755 });
  rmSync(at, { force: true });
  try {
    linkSync(host, at);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EXDEV' || !o.copyIfCrossDevice) throw e;
    copyFileSync(host, at, constants.COPYFILE_FICLONE); // read-only images only: a reflink where possible
  }
}

/** A fresh root with the kernel, base rootfs and the VM's disk; the log file Firecracker's logger opens. */
export function prepareJail(layout: JailLayout, who: VmmIdentity, files: { kernel: string; rootfs: string; disk: string | null }): void {
  rmSync(path.dirname(layout.root), { recursive: true, force: true }); // nothing a previous VMM left is trusted
  mkdirSync(layout.root, { recursive: true, mode: 0o755 });
  stage(layout, files.kernel, JAIL_PATHS.kernel, { copyIfCrossDevice: true });
  stage(layout, files.rootfs, JAIL_PATHS.rootfs, { copyIfCrossDevice: true });
  if (files.disk) stage(layout, files.disk, JAIL_PATHS.disk, { copyIfCrossDevice: false });
  writeFileSync(layout.host(JAIL_PATHS.vmmLog), '', { mode: 0o600 });
  chownSync(layout.host(JAIL_PATHS.vmmLog), who.uid, who.gid);
  mkdirSync(layout.host(JAIL_PATHS.snapshotDir), { mode: 0o700 });
  chownSync(layout.host(JAIL_PATHS.snapshotDir), who.uid, who.gid);
}
