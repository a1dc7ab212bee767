/**
 * Romulus image build CLI.
 *   node --import tsx packages/images/src/cli.ts build [--images base|all|a,b] [--force] [--no-kernel]
 *   node --import tsx packages/images/src/cli.ts list [--json]
 * Builds the guest kernel first, then the images, each cached by content hash (cached results are reported
 * with their hash). Paths follow ROMULUS_DATA_DIR / ROMULUS_IMAGES_DIR / ROMULUS_CACHE_DIR.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { cacheDir, imagesDir } from '@romulus/shared';
import { buildKernel } from './kernel/build-kernel.ts';
import { buildImage, readManifest, type ImageBuildResult } from './lib/index.ts';
import { recipes } from './recipes/index.ts';
import { importCommand } from './oci/cli.ts';

function selectRecipes(spec: string) {
  if (spec === 'all') return recipes;
  const names = spec.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((n) => !recipes.some((r) => r.name === n));
  if (unknown.length) throw new Error(`unknown image(s) ${unknown.join(', ')}; known: ${recipes.map((r) => r.name).join(', ')}, all`);
  return names.map((n) => recipes.find((r) => r.name === n)!);
}

const program = new Command('romulus-images').description('build the Romulus guest kernel and VM images');

program
  .command('build')
  .option('--images <list>', 'base | all | comma-separated image names', 'base')
  .option('--force', 'rebuild even when the cache has a result')
  .option('--no-kernel', 'skip the kernel')
  .action(async (opts: { images: string; force?: boolean; kernel: boolean }) => {
    const selected = selectRecipes(opts.images);
    console.log(`[build] images dir ${imagesDir()}, cache ${cacheDir()}; images: ${selected.map((r) => r.name).join(', ')}`);
    const started = Date.now();
    if (opts.kernel) {
      const k = await buildKernel({ force: opts.force });
      console.log(`[build] kernel ${k.hash} ${k.cached ? 'cached' : `built in ${k.buildSeconds?.toFixed(0)} s`}: ${k.vmlinux} (${(k.vmlinuxBytes / 1048576).toFixed(1)} MiB)`);
    }
    const results: ImageBuildResult[] = [];
    for (const r of selected) results.push(await buildImage(r, { force: opts.force }));
    for (const r of results) {
      console.log(`[build] image ${r.name} ${r.hash} ${r.cached ? 'cached' : `built in ${r.buildSeconds?.toFixed(0)} s`}: ${r.rootfs} (${(r.sizeBytes / 1048576).toFixed(0)} MiB, ${(r.allocatedBytes / 1048576).toFixed(0)} MiB allocated)`);
    }
    console.log(`[build] done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  });

program
  .command('list')
  .option('--json', 'machine-readable output')
  .action((opts: { json?: boolean }) => {
    const dir = imagesDir();
    const kernelHashFile = path.join(dir, 'kernel', 'hash');
    const kernel = existsSync(kernelHashFile) ? readFileSync(kernelHashFile, 'utf8').trim() : null;
    const images = (existsSync(dir) ? readdirSync(dir) : [])
      .filter((n) => n !== 'kernel' && existsSync(path.join(dir, n, 'manifest.json')))
      .map((n) => {
        const m = readManifest(path.join(dir, n, 'manifest.json'));
        const rootfs = path.join(dir, n, 'rootfs.ext4');
        return { name: n, version: m?.version, contentHash: m?.contentHash, builtAt: m?.builtAt, sizeBytes: existsSync(rootfs) ? statSync(rootfs).size : null, registered: recipes.some((r) => r.name === n) };
      });
    if (opts.json) return console.log(JSON.stringify({ kernel, images }, null, 2));
    console.log(`kernel: ${kernel ?? '(not built)'}`);
    for (const i of images) console.log(`${i.name.padEnd(16)} ${String(i.version).padEnd(8)} ${i.contentHash ?? '-'}  ${i.sizeBytes ? `${(i.sizeBytes / 1048576).toFixed(0)} MiB` : 'no rootfs'}  ${i.builtAt ?? ''}`);
    for (const r of recipes) if (!images.some((i) => i.name === r.name)) console.log(`${r.name.padEnd(16)} (not built)`);
  });

program.addCommand(importCommand()); // OCI import (src/oci/cli.ts)

program.parseAsync(process.argv).catch((e) => {
  console.error(`[build] failed: ${(e as Error).message}`);
  process.exit(1);
});
