import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Value } from 'typebox/value';
import { ImageManifest } from '@romulus/shared';

export interface ResolvedImage {
  manifest: ImageManifest;
  rootfsPath: string;
}

/**
 * Read-only view of <imagesDir>/<name>/{manifest.json,rootfs.ext4}. Read on every call (images are few
 * and small to parse), so an image built while the node runs is picked up without a restart.
 */
export class ImageStore {
  constructor(private readonly dir: string) {}

  get(name: string): ResolvedImage | undefined {
    if (!/^[a-z0-9][a-z0-9._-]{0,62}$/.test(name) || name === 'kernel') return undefined;
    const dir = path.join(this.dir, name);
    const manifestPath = path.join(dir, 'manifest.json');
    const rootfsPath = path.join(dir, 'rootfs.ext4');
    if (!existsSync(manifestPath) || !existsSync(rootfsPath)) return undefined;
    let manifest: unknown;
    try {
      manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    } catch {
      return undefined;
    }
    if (!Value.Check(ImageManifest, manifest)) return undefined;
    if ((manifest as ImageManifest).name !== name) return undefined;
    return { manifest: manifest as ImageManifest, rootfsPath };
  }

  list(): ImageManifest[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir)
      .sort()
      .map((n) => this.get(n)?.manifest)
      .filter((m): m is ImageManifest => m !== undefined);
  }
}
