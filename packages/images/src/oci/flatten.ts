import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, open, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import * as tar from 'tar';
import { OciFormatError, type LayerRef } from './resolve.ts';

/**
 * Applies image layers, bottom first, onto one directory the way a container runtime's overlay would
 * present them:
 *   - `<dir>/.wh.<name>` deletes <name> of the lower layers;
 *   - `<dir>/.wh..wh..opq` hides everything the lower layers had in <dir> (the layer's own entries stay);
 *   - an entry replaces whatever a lower layer had at its path (a file over a directory removes the directory).
 * Each layer is read twice: a first pass lists it (and checks its digests) and applies its whiteouts to the
 * lower layers only; the second pass extracts it without the whiteout markers. Extraction refuses absolute
 * paths, `..` and writing through symlinks (node-tar), so a hostile layer cannot touch the host.
 */

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

type Compression = 'gzip' | 'none';

async function sniffCompression(file: string): Promise<Compression> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    if (bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return 'gzip';
    if (bytesRead === 4 && buf.readUInt32LE(0) === 0xfd2fb528) {
      throw new OciFormatError(`${path.basename(file)} is zstd-compressed; re-save the image with gzip or uncompressed layers`);
    }
    return 'none';
  } finally {
    await fh.close();
  }
}

/** Normalises a tar entry path to a relative path inside the root, or null when it names the root itself. */
export function normaliseEntryPath(p: string): string | null {
  const parts: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw new OciFormatError(`layer entry leaves the root: ${p}`);
    parts.push(part);
  }
  return parts.length ? parts.join('/') : null;
}

/**
 * The absolute path of `rel` under `root`, checking that no parent component is a symlink (so deleting
 * it cannot reach outside the root). The last component may be a symlink: removing it removes the link.
 */
async function safeTarget(root: string, rel: string): Promise<string> {
  const parts = rel.split('/');
  let cur = root;
  for (let i = 0; i < parts.length - 1; i++) {
    cur = path.join(cur, parts[i]);
    const st = await lstat(cur).catch(() => null);
    if (!st) return path.join(root, rel); // parent missing: nothing below it exists either
    if (st.isSymbolicLink()) throw new OciFormatError(`layer path ${rel} goes through a symlink (${parts.slice(0, i + 1).join('/')})`);
    if (!st.isDirectory()) return path.join(root, rel);
  }
  return path.join(root, rel);
}

interface LayerPlan {
  /** Paths (relative) deleted by `.wh.<name>` markers. */
  whiteouts: string[];
  /** Directories (relative, '' = root) whose lower contents are hidden. */
  opaqueDirs: string[];
  /** Paths of non-directory entries (a lower directory there must go first). */
  nonDirs: string[];
  diffId: string;
  digest: string | null;
}

function sha256Tap(hash: ReturnType<typeof createHash>): Transform {
  return new Transform({
    transform(chunk, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
}

/** First pass: lists the layer, collecting whiteouts, and hashes it (as stored and uncompressed). */
async function planLayer(layer: LayerRef, compression: Compression): Promise<LayerPlan> {
  const plan: LayerPlan = { whiteouts: [], opaqueDirs: [], nonDirs: [], diffId: '', digest: null };
  const stored = createHash('sha256');
  const uncompressed = createHash('sha256');
  const parser = new tar.Parser({
    onReadEntry: (entry) => {
      const rel = normaliseEntryPath(entry.path);
      entry.resume();
      if (rel === null) return;
      const base = path.posix.basename(rel);
      const dir = path.posix.dirname(rel);
      const parent = dir === '.' ? '' : dir;
      if (base === OPAQUE_MARKER) plan.opaqueDirs.push(parent);
      else if (base.startsWith(WHITEOUT_PREFIX)) {
        const name = base.slice(WHITEOUT_PREFIX.length);
        if (!name || name === '.' || name === '..') throw new OciFormatError(`malformed whiteout ${entry.path}`);
        plan.whiteouts.push(parent ? `${parent}/${name}` : name);
      } else if (entry.type !== 'Directory') plan.nonDirs.push(rel);
    },
  });
  const stages: NodeJS.ReadWriteStream[] = [sha256Tap(stored)];
  if (compression === 'gzip') stages.push(createGunzip());
  stages.push(sha256Tap(uncompressed));
  const streams: (NodeJS.ReadableStream | NodeJS.WritableStream | NodeJS.ReadWriteStream)[] = [createReadStream(layer.file), ...stages, parser as unknown as NodeJS.WritableStream];
  await pipeline(streams);
  plan.digest = `sha256:${stored.digest('hex')}`;
  plan.diffId = `sha256:${uncompressed.digest('hex')}`;
  return plan;
}

async function emptyDir(dir: string): Promise<void> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const name of names) await rm(path.join(dir, name), { recursive: true, force: true });
}

/** Applies one layer onto `root` (which holds the layers below it). */
export async function applyLayer(root: string, layer: LayerRef): Promise<void> {
  const compression = await sniffCompression(layer.file);
  const plan = await planLayer(layer, compression);
  if (layer.digest?.startsWith('sha256:') && layer.digest !== plan.digest) {
    throw new OciFormatError(`layer ${path.basename(layer.file)}: digest mismatch (expected ${layer.digest}, got ${plan.digest})`);
  }
  if (layer.diffId && layer.diffId !== plan.diffId) {
    throw new OciFormatError(`layer ${path.basename(layer.file)}: diff_id mismatch (expected ${layer.diffId}, got ${plan.diffId})`);
  }
  // Whiteouts and opaque markers hide lower-layer content only, so they go before this layer's entries.
  for (const dir of plan.opaqueDirs) {
    const target = dir ? await safeTarget(root, dir) : root;
    const st = await lstat(target).catch(() => null);
    if (st?.isDirectory()) await emptyDir(target);
  }
  for (const rel of plan.whiteouts) await rm(await safeTarget(root, rel), { recursive: true, force: true });
  for (const rel of plan.nonDirs) {
    const target = await safeTarget(root, rel);
    const st = await lstat(target).catch(() => null);
    if (st?.isDirectory()) await rm(target, { recursive: true, force: true });
  }
  // Device nodes cannot be created by node-tar and are not needed (init mounts devtmpfs): skipped with a
  // note. Any other problem (a symlink in the way, a bad header) fails the import instead of leaving holes.
  const problems: string[] = [];
  await tar.x({
    file: layer.file,
    cwd: root,
    strict: false,
    onwarn: (code, message) => {
      if (code !== 'TAR_ENTRY_UNSUPPORTED') problems.push(`${code}: ${String(message)}`);
    },
    preservePaths: false,
    preserveOwner: true,
    chmod: true,
    processUmask: 0,
    // Hard links in layers point at paths of the same image; unlink-before-write keeps them from writing
    // through an existing hard link into a lower layer's file shared elsewhere.
    unlink: true,
    filter: (p) => {
      const rel = normaliseEntryPath(p);
      return rel === null || !path.posix.basename(rel).startsWith(WHITEOUT_PREFIX);
    },
  });
  if (problems.length) {
    throw new OciFormatError(`layer ${path.basename(layer.file)} could not be applied: ${problems.slice(0, 3).join('; ')}`);
  }
}

/** Applies all layers in order. `onLayer` reports progress (index is 1-based). */
export async function flattenLayers(root: string, layers: LayerRef[], onLayer?: (index: number, total: number) => void): Promise<void> {
  for (let i = 0; i < layers.length; i++) {
    await applyLayer(root, layers[i]);
    onLayer?.(i + 1, layers.length);
  }
}
