import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Value } from 'typebox/value';
import { cacheDir as defaultCacheDir, imagesDir as defaultImagesDir, ImageManifest } from '@romulus/shared';
import { packExt4 } from './ext4.ts';
import { flattenLayers } from './flatten.ts';
import { manifestFromConfig, type ImportOptions } from './image-manifest.ts';
import { OciFormatError, resolveImage } from './resolve.ts';
import { copyRuntimeFromBase, prepareRoot } from './runtime.ts';
import { openSource } from './source.ts';

/**
 * OCI image -> Romulus VM image, registered as <imagesDir>/<name>/{rootfs.ext4,manifest.json} (what the
 * node's image store and so spawn read). Steps: unpack the archive (if a tarball) -> resolve the image ->
 * check the config digest -> apply the layers (whiteouts, opaque dirs, digests checked) -> inject the
 * Romulus runtime from the base image + write /etc/romulus/image.json -> mkfs.ext4 -d -> swap into place
 * atomically. All scratch space is removed on success and on failure; a failed import leaves no image.
 */

export const IMAGE_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
/** Names the builders own: an import must not shadow them. */
export const RESERVED_NAMES = new Set(['kernel', 'base']);

export interface ImportRequest extends ImportOptions {
  input: string;
  imagesDir?: string;
  cacheDir?: string;
  /** The base image whose /opt/romulus is injected (default <imagesDir>/base/rootfs.ext4). */
  baseRootfs?: string;
  /** Replace an existing image of that name (default: refuse). */
  replace?: boolean;
  onProgress?: (message: string) => void;
}

export interface ImportResult {
  manifest: ImageManifest;
  rootfsPath: string;
  format: 'oci-layout' | 'docker-save';
  layers: number;
}

async function sha256File(file: string): Promise<string> {
  return `sha256:${createHash('sha256').update(await readFile(file)).digest('hex')}`;
}

export async function importOciImage(req: ImportRequest): Promise<ImportResult> {
  const say = req.onProgress ?? (() => {});
  if (!IMAGE_NAME.test(req.name) || RESERVED_NAMES.has(req.name)) {
    throw new OciFormatError(`invalid image name "${req.name}": use [a-z0-9][a-z0-9._-]{0,62}, not ${[...RESERVED_NAMES].join('/')}`);
  }
  const imagesDir = req.imagesDir ?? defaultImagesDir();
  const target = path.join(imagesDir, req.name);
  if (existsSync(target) && !req.replace) throw new OciFormatError(`image "${req.name}" already exists (pass --replace to overwrite it)`);
  const baseRootfs = req.baseRootfs ?? path.join(imagesDir, 'base', 'rootfs.ext4');

  const scratchParent = path.join(req.cacheDir ?? defaultCacheDir(), 'oci');
  await mkdir(scratchParent, { recursive: true });
  await mkdir(imagesDir, { recursive: true });
  const work = await mkdtemp(path.join(scratchParent, 'import-'));
  const staging = path.join(imagesDir, `.import-${req.name}-${randomBytes(4).toString('hex')}`);
  let source: Awaited<ReturnType<typeof openSource>> | undefined;
  try {
    say(`reading ${req.input}`);
    source = await openSource(req.input, work);
    const image = await resolveImage(source.dir);
    if (image.configDigest && (await sha256File(image.configFile)) !== image.configDigest) {
      throw new OciFormatError(`image config does not match its digest ${image.configDigest}`);
    }
    say(`${image.format}: ${image.refName ?? image.id}, ${image.layers.length} layer(s)`);
    const root = path.join(work, 'root');
    await mkdir(root, { mode: 0o755 });
    await flattenLayers(root, image.layers, (i, n) => say(`applied layer ${i}/${n}`));

    const contentHash = createHash('sha256')
      .update(JSON.stringify({ image: image.id, name: req.name, minVcpus: req.minVcpus, minMemoryMib: req.minMemoryMib, diskMib: req.diskMib, agentPort: req.agentPort }))
      // The base image's manifest carries its own content hash: a rebuilt base changes the import's hash.
      .update(await readFile(path.join(path.dirname(baseRootfs), 'manifest.json')).catch(() => Buffer.alloc(0)))
      .digest('hex');
    const manifest = manifestFromConfig(image.config, req, image.refName ?? image.id.slice(0, 19));
    manifest.contentHash = `sha256:${contentHash}`;
    manifest.builtAt = new Date().toISOString();

    say('injecting the Romulus init and guest agent');
    await copyRuntimeFromBase(root, baseRootfs);
    await prepareRoot(root, manifest);

    say('packing rootfs.ext4');
    await mkdir(staging);
    const rootfsPath = path.join(staging, 'rootfs.ext4');
    const { sizeBytes } = await packExt4(root, rootfsPath, req.name);
    manifest.sizeBytes = sizeBytes;
    if (!Value.Check(ImageManifest, manifest)) {
      const first = [...Value.Errors(ImageManifest, manifest)][0];
      throw new OciFormatError(`resulting manifest is invalid: ${first ? `${first.instancePath} ${first.message}` : 'unknown'}`);
    }
    await writeFile(path.join(staging, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');

    // Swap into place: the old image (if replacing) moves aside first so the name never points at half an image.
    const old = existsSync(target) ? `${staging}.old` : null;
    if (old) await rename(target, old);
    await rename(staging, target);
    if (old) await rm(old, { recursive: true, force: true });
    say(`registered ${req.name} (${(sizeBytes / 1048576).toFixed(0)} MiB) in ${imagesDir}`);
    return { manifest, rootfsPath: path.join(target, 'rootfs.ext4'), format: image.format, layers: image.layers.length };
  } finally {
    await source?.close().catch(() => {});
    await rm(work, { recursive: true, force: true }).catch(() => {});
    await rm(staging, { recursive: true, force: true }).catch(() => {});
  }
}
