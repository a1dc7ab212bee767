import { mkdtemp, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import * as tar from 'tar';
import { OciFormatError } from './resolve.ts';

/**
 * An image source on disk: an OCI layout / docker-save directory is used in place; a tarball (docker save,
 * `oci-archive`, optionally gzip-compressed) is unpacked into a scratch directory under `scratchParent`
 * first. `close()` removes whatever was unpacked, also after a failure.
 */
export interface OpenedSource {
  dir: string;
  close(): Promise<void>;
}

export async function openSource(input: string, scratchParent: string): Promise<OpenedSource> {
  const st = await stat(input).catch(() => null);
  if (!st) throw new OciFormatError(`${input} does not exist`);
  if (st.isDirectory()) return { dir: path.resolve(input), close: async () => {} };
  if (!st.isFile()) throw new OciFormatError(`${input} is neither a directory nor a file`);
  const dir = await mkdtemp(path.join(scratchParent, 'oci-archive-'));
  const close = () => rm(dir, { recursive: true, force: true });
  try {
    const problems: string[] = [];
    // The outer archive holds only JSON files and blobs: no owners or modes worth keeping.
    await tar.x({
      file: input,
      cwd: dir,
      preservePaths: false,
      preserveOwner: false,
      onwarn: (code, message) => problems.push(`${code}: ${String(message)}`),
    });
    if (problems.length) throw new OciFormatError(`cannot unpack ${input}: ${problems.slice(0, 3).join('; ')}`);
  } catch (err) {
    await close();
    if (err instanceof OciFormatError) throw err;
    throw new OciFormatError(`cannot unpack ${input}: ${(err as Error).message}`);
  }
  return { dir, close };
}
