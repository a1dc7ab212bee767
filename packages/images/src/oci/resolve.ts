import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * Finds the image inside an unpacked OCI image layout or `docker save` directory: its config and its layer
 * files in application order (bottom first). Both layouts are read from files only (no registry, no engine).
 *
 *   OCI layout:   oci-layout, index.json -> (image index ->) image manifest -> config + layers, all blobs
 *                 under blobs/<alg>/<hex>
 *   docker save:  manifest.json [{ Config, RepoTags, Layers }] with paths relative to the archive root
 *                 (Docker 25+ writes both; the OCI index is preferred when present)
 */

export interface OciImageConfig {
  architecture?: string;
  os?: string;
  config?: {
    User?: string;
    Env?: string[] | null;
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    ExposedPorts?: Record<string, unknown> | null;
    Labels?: Record<string, string> | null;
  };
  rootfs?: { type: string; diff_ids: string[] };
}

export interface LayerRef {
  /** Absolute path of the layer file (a tar, possibly gzip-compressed). */
  file: string;
  /** Digest of the file as stored (OCI descriptors only), e.g. sha256:<hex>. */
  digest?: string;
  mediaType?: string;
  /** sha256 of the uncompressed tar (the config's rootfs.diff_ids), checked while reading. */
  diffId?: string;
}

export interface ResolvedImage {
  format: 'oci-layout' | 'docker-save';
  /** Digest identifying the image (manifest digest, or the config digest for docker save). */
  id: string;
  config: OciImageConfig;
  configDigest?: string;
  configFile: string;
  layers: LayerRef[];
  /** Tag/ref name found in the archive, if any (e.g. "example/app:1"). */
  refName?: string;
}

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);

export class OciFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OciFormatError';
  }
}

async function readJson<T>(file: string, what: string): Promise<T> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new OciFormatError(`${what} not found (${file})`);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new OciFormatError(`${what} is not valid JSON (${file})`);
  }
}

/** Maps a digest ("sha256:<hex>") to its blob path, refusing anything that is not a plain hex digest. */
export function blobPath(root: string, digest: string): string {
  const m = /^(sha256|sha512):([a-f0-9]{64}|[a-f0-9]{128})$/.exec(digest);
  if (!m) throw new OciFormatError(`unsupported or malformed digest: ${digest}`);
  return path.join(root, 'blobs', m[1], m[2]);
}

/** Joins an archive-relative path from docker's manifest.json, refusing paths that leave the archive. */
function insideArchive(root: string, rel: string): string {
  const p = path.resolve(root, rel);
  if (p !== root && !p.startsWith(root + path.sep)) throw new OciFormatError(`path escapes the archive: ${rel}`);
  return p;
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size?: number;
  platform?: { architecture?: string; os?: string };
  annotations?: Record<string, string>;
}

/** Picks the linux/amd64 entry of an index (or the only entry when there is one). */
function pickManifest(entries: Descriptor[], where: string): Descriptor {
  if (!Array.isArray(entries) || entries.length === 0) throw new OciFormatError(`${where} lists no manifests`);
  if (entries.length === 1) return entries[0];
  const amd64 = entries.filter((d) => (!d.platform || d.platform.os === 'linux') && (!d.platform || d.platform.architecture === 'amd64'));
  if (amd64.length === 0) throw new OciFormatError(`${where} has no linux/amd64 image (this host runs x86_64 VMs)`);
  const nonAttestation = amd64.filter((d) => d.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest');
  return (nonAttestation[0] ?? amd64[0]);
}

async function resolveOciLayout(root: string): Promise<ResolvedImage> {
  const index = await readJson<{ manifests: Descriptor[] }>(path.join(root, 'index.json'), 'index.json');
  let desc = pickManifest(index.manifests, 'index.json');
  const refName = desc.annotations?.['org.opencontainers.image.ref.name'] ?? desc.annotations?.['io.containerd.image.name'];
  // Nested indexes (multi-platform images): descend until an image manifest.
  for (let depth = 0; desc.mediaType && INDEX_TYPES.has(desc.mediaType); depth++) {
    if (depth > 4) throw new OciFormatError('image indexes nest too deeply');
    const nested = await readJson<{ manifests: Descriptor[] }>(blobPath(root, desc.digest), `index ${desc.digest}`);
    desc = pickManifest(nested.manifests, `index ${desc.digest}`);
  }
  const manifest = await readJson<{ mediaType?: string; manifests?: Descriptor[]; config: Descriptor; layers: Descriptor[] }>(
    blobPath(root, desc.digest),
    `manifest ${desc.digest}`,
  );
  if (manifest.manifests) throw new OciFormatError(`manifest ${desc.digest} is an index without a media type`);
  if (!manifest.config?.digest || !Array.isArray(manifest.layers)) throw new OciFormatError(`manifest ${desc.digest} has no config or layers`);
  const configFile = blobPath(root, manifest.config.digest);
  const config = await readJson<OciImageConfig>(configFile, 'image config');
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== manifest.layers.length) {
    throw new OciFormatError(`image config lists ${diffIds.length} diff_ids but the manifest has ${manifest.layers.length} layers`);
  }
  return {
    format: 'oci-layout',
    id: desc.digest,
    config,
    configDigest: manifest.config.digest,
    configFile,
    refName,
    layers: manifest.layers.map((l, i) => ({ file: blobPath(root, l.digest), digest: l.digest, mediaType: l.mediaType, diffId: diffIds[i] })),
  };
}

async function resolveDockerSave(root: string): Promise<ResolvedImage> {
  const entries = await readJson<{ Config: string; RepoTags?: string[] | null; Layers: string[] }[]>(
    path.join(root, 'manifest.json'),
    'manifest.json',
  );
  if (!Array.isArray(entries) || entries.length === 0) throw new OciFormatError('manifest.json lists no images');
  if (entries.length > 1) throw new OciFormatError(`the archive holds ${entries.length} images; save one image per archive`);
  const entry = entries[0];
  if (typeof entry.Config !== 'string' || !Array.isArray(entry.Layers)) throw new OciFormatError('manifest.json entry lacks Config or Layers');
  const configFile = insideArchive(root, entry.Config);
  const config = await readJson<OciImageConfig>(configFile, 'image config');
  const diffIds = config.rootfs?.diff_ids ?? [];
  if (diffIds.length !== entry.Layers.length) {
    throw new OciFormatError(`image config lists ${diffIds.length} diff_ids but manifest.json has ${entry.Layers.length} layers`);
  }
  // The config's file name is its digest in every docker save format (<hex>.json or blobs/sha256/<hex>).
  const hex = /([a-f0-9]{64})(\.json)?$/.exec(entry.Config)?.[1];
  return {
    format: 'docker-save',
    id: hex ? `sha256:${hex}` : `config:${entry.Config}`,
    config,
    configDigest: hex ? `sha256:${hex}` : undefined,
    configFile,
    refName: entry.RepoTags?.[0],
    layers: entry.Layers.map((l, i) => ({ file: insideArchive(root, l), diffId: diffIds[i] })),
  };
}

/** Resolves the image in an unpacked OCI layout or docker-save directory. */
export async function resolveImage(root: string): Promise<ResolvedImage> {
  const abs = path.resolve(root);
  const hasIndex = existsSync(path.join(abs, 'index.json')) && existsSync(path.join(abs, 'oci-layout'));
  if (hasIndex) return resolveOciLayout(abs);
  if (existsSync(path.join(abs, 'manifest.json'))) return resolveDockerSave(abs);
  if (existsSync(path.join(abs, 'index.json'))) return resolveOciLayout(abs);
  throw new OciFormatError(`${root} is neither an OCI image layout (oci-layout + index.json) nor a docker save archive (manifest.json)`);
}
