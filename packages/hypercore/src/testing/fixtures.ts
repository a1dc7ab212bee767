import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ImageManifest } from '@romulus/shared';

export function tempDir(prefix = 'romulus-hc-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Writes <imagesDir>/<name>/{manifest.json,rootfs.ext4} (the rootfs is an empty placeholder file). */
export function writeTestImage(imagesDir: string, over: Partial<ImageManifest> = {}): ImageManifest {
  const m: ImageManifest = {
    name: 'testimg',
    version: '1',
    minVcpus: 1,
    minMemoryMib: 128,
    diskMib: 64,
    agentPort: 8080,
    readiness: { type: 'none' },
    command: ['/bin/true'],
    user: 'agent',
    workdir: '/',
    env: {},
    expectedEnv: [],
    ...over,
  };
  const dir = path.join(imagesDir, m.name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(m));
  writeFileSync(path.join(dir, 'rootfs.ext4'), '');
  return m;
}

export const TEST_TOKEN = 'test-node-token-0123456789abcdef';
