import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, lstat, mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { ImageManifest } from '@romulus/shared';
import { OciFormatError } from './resolve.ts';

const run = promisify(execFile);

/**
 * Makes a flattened container root bootable as a Romulus VM: copies /opt/romulus (static init, Node with
 * its own glibc loader and libraries, the guest agent) out of the base image, so the guest side is the
 * exact one the builders ship, whatever distro the container uses; creates the mount points init needs on
 * the read-only root; writes /etc/romulus/image.json. Paths inside the container root are checked so a
 * symlink planted by the image (e.g. /etc -> /host/etc) cannot make us write outside it.
 */

/** Mount points init (packages/guest/init/init.c) and the guest agent expect on the read-only base. */
const MOUNT_POINTS: [string, number][] = [
  ['dev', 0o755],
  ['proc', 0o555],
  ['sys', 0o555],
  ['run', 0o755],
  ['tmp', 0o1777],
  ['opt', 0o755],
  ['etc', 0o755],
];

/** Refuses a path under `root` whose existing components include a symlink. */
async function assertNoSymlink(root: string, rel: string): Promise<string> {
  let cur = root;
  for (const part of rel.split('/')) {
    cur = path.join(cur, part);
    const st = await lstat(cur).catch(() => null);
    if (!st) break;
    if (st.isSymbolicLink()) throw new OciFormatError(`/${rel} in the image goes through a symlink; refusing to write there`);
  }
  return path.join(root, rel);
}

/** Copies /opt/romulus out of an ext4 image file without mounting it (debugfs keeps modes and owners). */
export async function copyRuntimeFromBase(root: string, baseRootfs: string): Promise<void> {
  if (!existsSync(baseRootfs)) {
    throw new OciFormatError(`base image ${baseRootfs} not found: build it first (node --import tsx packages/images/src/cli.ts build --images base)`);
  }
  const opt = await assertNoSymlink(root, 'opt');
  await rm(path.join(opt, 'romulus'), { recursive: true, force: true });
  await mkdir(opt, { recursive: true });
  const { stderr } = await run('debugfs', ['-R', `rdump /opt/romulus ${opt}`, baseRootfs], { maxBuffer: 16 << 20 });
  const node = path.join(opt, 'romulus', 'node', 'bin', 'node');
  const agent = path.join(opt, 'romulus', 'guest-agent.js');
  if (!existsSync(node) || !existsSync(agent)) {
    throw new OciFormatError(`base image ${baseRootfs} lacks /opt/romulus/node/bin/node or guest-agent.js (${stderr.trim().slice(0, 200)})`);
  }
}

export async function prepareRoot(root: string, manifest: ImageManifest): Promise<void> {
  for (const [rel, mode] of MOUNT_POINTS) {
    const p = path.join(root, rel);
    const st = await lstat(p).catch(() => null);
    if (st) continue; // keep what the image has (a symlinked /run resolves inside the guest, not here)
    await mkdir(p);
    await chmod(p, mode);
  }
  const etcRomulus = await assertNoSymlink(root, 'etc/romulus');
  await mkdir(etcRomulus, { recursive: true });
  await writeFile(await assertNoSymlink(root, 'etc/romulus/image.json'), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o644 });
  // Images built FROM scratch often have no user database; the guest agent resolves `user` through it.
  const passwd = await assertNoSymlink(root, 'etc/passwd');
  if (!existsSync(passwd)) await writeFile(passwd, 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n', { mode: 0o644 });
  const group = await assertNoSymlink(root, 'etc/group');
  if (!existsSync(group)) await writeFile(group, 'root:x:0:\nnogroup:x:65534:\n', { mode: 0o644 });
}
