import type { ImageManifest } from '@romulus/shared';
import { canonicalJson, hashParts } from './hash.ts';

/** A file the recipe adds to the image. `from` is a host path (its bytes go into the hash). */
export interface RecipeFile {
  path: string;
  content?: string;
  from?: string;
  mode?: number;
  /** uid:gid, default 0:0 */
  owner?: string;
}

/**
 * What an image is made of. Plain data (no functions) so it hashes; see build-image.ts for how each field is
 * applied and in which order.
 */
export interface ImageRecipe {
  name: string;
  version: string;
  description?: string;
  /** Debian suite for mmdebstrap (default bookworm). */
  suite?: string;
  /** Debian packages on top of minbase (the base set ca-certificates, iproute2, procps is always there). */
  debs: string[];
  /** npm packages installed globally (`npm install -g`) with the bundled Node 24; pin exact versions. */
  npmGlobal?: string[];
  /** Files written after packages and /opt/romulus are in place. */
  files?: RecipeFile[];
  /** Shell steps run in the chroot with `sh -ec`, in order, last (network available, /proc and /dev mounted). */
  customize?: string[];
  /** Extra free MiB left in the (read-only) rootfs beyond its content. */
  extraSpaceMib?: number;
  /** The manifest fields the image carries (name/version/description come from above). */
  manifest: Omit<ImageManifest, 'name' | 'version' | 'description' | 'contentHash' | 'builtAt' | 'sizeBytes'>;
}

export const DEFAULT_SUITE = 'bookworm';
/** Packages every image gets (the base image is exactly minbase + these). */
export const BASE_DEBS = ['ca-certificates', 'iproute2', 'procps'];

export function recipeSuite(r: ImageRecipe): string {
  return r.suite ?? DEFAULT_SUITE;
}

/** The full Debian package set of a recipe, sorted and de-duplicated (the mmdebstrap cache key). */
export function recipeDebs(r: ImageRecipe): string[] {
  return [...new Set([...BASE_DEBS, ...r.debs])].sort();
}

export interface HashInputs {
  /** Hash of the /opt/romulus runtime (node, libs, init, agent). */
  runtimeHash: string;
  /** Hash of the builder's own sources (a builder change rebuilds everything). */
  builderHash: string;
  /** sha256 of each `from` file, by host path. */
  fileHashes: Record<string, string>;
}

/** The image's content hash: same recipe + same inputs = same image, so an unchanged recipe is not rebuilt. */
export function recipeHash(r: ImageRecipe, inputs: HashInputs): string {
  const normalized = {
    ...r,
    suite: recipeSuite(r),
    debs: recipeDebs(r),
    files: (r.files ?? []).map((f) => ({ ...f, fromHash: f.from ? inputs.fileHashes[f.from] : undefined, from: undefined })),
  };
  for (const f of normalized.files) if (f.fromHash === undefined && r.files?.find((x) => x.path === f.path)?.from) {
    throw new Error(`no hash for ${f.path}'s source file`);
  }
  return hashParts('romulus-image-v1', canonicalJson(normalized), inputs.runtimeHash, inputs.builderHash).slice(0, 16);
}

/** Checks a recipe before anything is built (names, paths, pins). */
export function checkRecipe(r: ImageRecipe): void {
  if (!/^[a-z0-9][a-z0-9._-]{0,62}$/.test(r.name)) throw new Error(`recipe name ${JSON.stringify(r.name)} is not a valid image name`);
  for (const d of r.debs) if (!/^[a-z0-9][a-z0-9+.-]+(=[\w.:~+-]+)?$/.test(d)) throw new Error(`${r.name}: bad Debian package ${JSON.stringify(d)}`);
  for (const p of r.npmGlobal ?? []) {
    if (!/^(@[a-z0-9._-]+\/)?[a-z0-9._-]+@\d+\.\d+\.\d+[\w.+-]*$/.test(p)) throw new Error(`${r.name}: npm package ${JSON.stringify(p)} must be pinned as name@x.y.z`);
  }
  for (const f of r.files ?? []) {
    if (!f.path.startsWith('/') || f.path.includes('..')) throw new Error(`${r.name}: file path ${f.path} must be absolute without ..`);
    if ((f.content === undefined) === (f.from === undefined)) throw new Error(`${r.name}: file ${f.path} needs exactly one of content/from`);
  }
  if (r.manifest.command.length === 0) throw new Error(`${r.name}: manifest.command is empty`);
}
