import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Packs a directory into a raw ext4 image with `mkfs.ext4 -d` (no mount, no loop device). Sized from the
 * tree: its disk usage plus 20% and 32 MiB of slack, and enough inodes for every file with room to spare.
 * No journal: the base image is attached read-only and never written.
 */
export async function treeUsage(dir: string): Promise<{ kib: number; inodes: number }> {
  const du = await run('du', ['-sxk', dir], { maxBuffer: 1 << 20 });
  const kib = Number(du.stdout.split(/\s+/)[0]);
  const find = await run('find', [dir, '-xdev', '-printf', '.'], { maxBuffer: 1 << 30 });
  return { kib, inodes: find.stdout.length };
}

export async function packExt4(dir: string, out: string, label: string): Promise<{ sizeBytes: number }> {
  const { kib, inodes } = await treeUsage(dir);
  const sizeKib = Math.ceil((kib * 1.2 + 32 * 1024) / 4) * 4;
  const inodeCount = Math.ceil(inodes * 1.25) + 1024;
  await rm(out, { force: true });
  try {
    await run(
      'mkfs.ext4',
      ['-q', '-F', '-t', 'ext4', '-O', '^has_journal', '-m', '0', '-N', String(inodeCount), '-L', label.slice(0, 16), '-d', dir, out, `${sizeKib}k`],
      { maxBuffer: 16 << 20 },
    );
  } catch (err) {
    await rm(out, { force: true });
    throw new Error(`mkfs.ext4 failed: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim().slice(0, 400)}`);
  }
  return { sizeBytes: sizeKib * 1024 };
}
