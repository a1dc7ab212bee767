/**
 * Image builder API: turns an ImageRecipe (recipe.ts) into <images>/<name>/{rootfs.ext4,manifest.json}.
 *
 *   import { buildImage } from '../lib/index.ts';
 *   await buildImage({ name: 'agent-chat', version: '1', debs: ['git'], npmGlobal: ['openclaw@2026.9.6'],
 *                      customize: ['...'], manifest: { ... } });
 *
 * Steps, in order (each recipe field is applied here and nowhere else):
 *   1. Debian: `mmdebstrap --variant=minbase <suite>` with BASE_DEBS + recipe.debs (tarball cached by package set)
 *   2. /opt/romulus runtime (runtime.ts: init, guest agent, Node 24 + its libs), `node` on PATH
 *   3. user `agent` (uid/gid 1000, home /home/agent) for workloads
 *   4. recipe.files
 *   5. recipe.npmGlobal with the bundled Node and a pinned npm (`npm install -g`, prefix /usr/local)
 *   6. recipe.customize shell steps in the chroot (network, /proc, /dev available)
 *   7. /etc/romulus/image.json (the manifest the guest agent reads), apt/npm caches removed
 *   8. `mkfs.ext4 -d` into a sparse file sized to the content (+ recipe.extraSpaceMib), no journal (the base
 *      rootfs is only ever mounted read-only), installed atomically next to manifest.json.
 * Cached by recipeHash (recipe + runtime + builder sources): an unchanged recipe is reported as cached.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, chownSync, chmodSync } from 'node:fs';
import path from 'node:path';
import { cacheDir, imagesDir, type ImageManifest } from '@romulus/shared';
import { assertNothingMounted, ChrootSession, cleanStaleWorkDirs } from './chroot.ts';
import { debootstrapTarball } from './debootstrap.ts';
import { hashFile, hashParts } from './hash.ts';
import { withLock } from './lock.ts';
import { elapsed, stage } from './progress.ts';
import { checkRecipe, recipeDebs, recipeHash, recipeSuite, type ImageRecipe } from './recipe.ts';
import { run } from './run.ts';
import { buildRuntime, RUNTIME_PREFIX } from './runtime.ts';

/** npm used inside images for recipe.npmGlobal (run by the bundled Node 24). */
export const NPM_VERSION = '11.6.2';
export const WORKLOAD_USER = { name: 'agent', uid: 1000, home: '/home/agent' };

export interface ImageBuildResult {
  name: string;
  hash: string;
  cached: boolean;
  rootfs: string;
  manifestPath: string;
  sizeBytes: number;
  /** Bytes actually allocated by the sparse file. */
  allocatedBytes: number;
  buildSeconds: number | null;
}

export function imagePaths(name: string): { dir: string; rootfs: string; manifest: string } {
  const dir = path.join(imagesDir(), name);
  return { dir, rootfs: path.join(dir, 'rootfs.ext4'), manifest: path.join(dir, 'manifest.json') };
}

/** Hash of the builder's own sources: changing how images are built rebuilds them. */
export function builderHash(): string {
  const dir = import.meta.dirname;
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).sort();
  return hashParts(...files.flatMap((f) => [f, readFileSync(path.join(dir, f))])).slice(0, 16);
}

export async function imageHash(recipe: ImageRecipe, runtimeHash: string): Promise<string> {
  const fileHashes: Record<string, string> = {};
  for (const f of recipe.files ?? []) if (f.from) fileHashes[f.from] = await hashFile(f.from);
  return recipeHash(recipe, { runtimeHash, builderHash: builderHash(), fileHashes });
}

export async function buildImage(recipe: ImageRecipe, opts: { force?: boolean } = {}): Promise<ImageBuildResult> {
  checkRecipe(recipe);
  const label = `image ${recipe.name}`;
  const runtime = await buildRuntime(recipeSuite(recipe));
  const hash = await imageHash(recipe, runtime.hash);
  const paths = imagePaths(recipe.name);
  const workRoot = path.join(cacheDir(), 'work');

  return withLock(path.join(workRoot, `${recipe.name}.lock`), label, async () => {
    const existing = readManifest(paths.manifest);
    if (!opts.force && existing?.contentHash === hash && existsSync(paths.rootfs)) {
      stage(label, `cached ${hash} (${paths.rootfs})`);
      const st = statSync(paths.rootfs);
      return { name: recipe.name, hash, cached: true, rootfs: paths.rootfs, manifestPath: paths.manifest, sizeBytes: st.size, allocatedBytes: st.blocks * 512, buildSeconds: null };
    }
    const started = Date.now();
    stage(label, `building ${hash}`);
    await cleanStaleWorkDirs(workRoot);
    const deb = await debootstrapTarball(recipeSuite(recipe), recipeDebs(recipe));
    const work = path.join(workRoot, `${recipe.name}-${process.pid}`);
    const root = path.join(work, 'root');
    await removeTree(work);
    mkdirSync(root, { recursive: true });
    try {
      stage(label, 'unpacking the Debian tree', started);
      await run('tar', ['-xpf', deb.tarball, '-C', root, '--numeric-owner', '--xattrs', '--xattrs-include=*']);
      mkdirSync(path.join(root, 'opt'), { recursive: true });
      await run('cp', ['-a', runtime.dir, path.join(root, 'opt', 'romulus')]);

      const session = new ChrootSession(root);
      await session.open();
      try {
        await session.exec(
          `ln -sf ${RUNTIME_PREFIX}/node/bin/node /usr/local/bin/node
           getent passwd ${WORKLOAD_USER.name} >/dev/null || useradd -m -d ${WORKLOAD_USER.home} -u ${WORKLOAD_USER.uid} -U -s /bin/bash ${WORKLOAD_USER.name}`,
        );
        writeFiles(root, recipe);
        if (recipe.npmGlobal?.length) await installNpmGlobals(session, root, recipe.npmGlobal, label, started);
        for (const [i, step] of (recipe.customize ?? []).entries()) {
          stage(label, `customize step ${i + 1}/${recipe.customize!.length}`, started);
          await session.exec(step, (l) => console.log(`  | ${l}`));
        }
        await session.exec('rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb /root/.npm /root/.cache /tmp/* /var/tmp/*');
      } finally {
        await session.close();
      }
      const manifest = finalManifest(recipe, hash);
      mkdirSync(path.join(root, 'etc', 'romulus'), { recursive: true });
      writeFileSync(path.join(root, 'etc', 'romulus', 'image.json'), JSON.stringify(manifest, null, 2) + '\n');
      writeFileSync(path.join(root, 'etc', 'hostname'), 'romulus\n');
      // init needs these in the read-only base: it cannot create them there.
      for (const d of ['dev', 'proc', 'sys', 'run', 'tmp']) mkdirSync(path.join(root, d), { recursive: true });
      chmodSync(path.join(root, 'tmp'), 0o1777);

      mkdirSync(paths.dir, { recursive: true });
      const tmpImage = `${paths.rootfs}.tmp-${process.pid}`;
      try {
        await makeExt4(root, tmpImage, hash, recipe, label, started);
        const st = statSync(tmpImage);
        const full: ImageManifest = { ...manifest, builtAt: new Date().toISOString(), sizeBytes: st.size };
        renameSync(tmpImage, paths.rootfs);
        writeFileSync(`${paths.manifest}.tmp-${process.pid}`, JSON.stringify(full, null, 2) + '\n');
        renameSync(`${paths.manifest}.tmp-${process.pid}`, paths.manifest);
        const seconds = (Date.now() - started) / 1000;
        stage(label, `built ${hash}: ${(st.size / 1048576).toFixed(0)} MiB (allocated ${(st.blocks * 512 / 1048576).toFixed(0)} MiB) in ${elapsed(started)}`);
        return { name: recipe.name, hash, cached: false, rootfs: paths.rootfs, manifestPath: paths.manifest, sizeBytes: st.size, allocatedBytes: st.blocks * 512, buildSeconds: seconds };
      } finally {
        rmSync(tmpImage, { force: true });
      }
    } finally {
      await removeTree(work);
    }
  });
}

export function readManifest(file: string): ImageManifest | null {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as ImageManifest;
  } catch {
    return null;
  }
}

function finalManifest(recipe: ImageRecipe, hash: string): ImageManifest {
  return {
    name: recipe.name,
    version: recipe.version,
    ...(recipe.description ? { description: recipe.description } : {}),
    ...recipe.manifest,
    contentHash: hash,
  };
}

function writeFiles(root: string, recipe: ImageRecipe): void {
  for (const f of recipe.files ?? []) {
    const dst = path.join(root, f.path);
    mkdirSync(path.dirname(dst), { recursive: true });
    writeFileSync(dst, f.from ? readFileSync(f.from) : f.content!);
    chmodSync(dst, f.mode ?? 0o644);
    const [uid, gid] = (f.owner ?? '0:0').split(':').map(Number);
    chownSync(dst, uid, gid ?? uid);
  }
}

async function installNpmGlobals(session: ChrootSession, root: string, pkgs: string[], label: string, started: number): Promise<void> {
  const { npmTarball } = await import('./npm.ts');
  const tgz = await npmTarball(NPM_VERSION);
  const npmDir = path.join(root, 'usr', 'local', 'lib', 'node_modules', 'npm');
  mkdirSync(npmDir, { recursive: true });
  await run('tar', ['-xzf', tgz, '-C', npmDir, '--strip-components=1', '--no-same-owner']);
  await session.exec(
    `ln -sf ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm
     ln -sf ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx`,
  );
  stage(label, `npm install -g ${pkgs.join(' ')}`, started);
  // --prefix: npm derives its global prefix from the real path of node (/opt/romulus/node), which would put
  // agent software inside the guest runtime; /usr/local keeps it on PATH and out of /opt/romulus.
  await session.exec(`npm install -g --prefix /usr/local --no-audit --no-fund --no-update-notifier --loglevel=warn ${pkgs.map(shellQuote).join(' ')}`, (l) => console.log(`  | ${l}`));
}

async function makeExt4(root: string, out: string, hash: string, recipe: ImageRecipe, label: string, started: number): Promise<void> {
  const used = Number((await run('du', ['-sxB1', root])).split(/\s/)[0]);
  const inodes = Number((await run('sh', ['-c', `find "$1" -xdev | wc -l`, 'sh', root])).trim());
  // Content + 8% for ext4's own metadata and rounding + a fixed margin; inodes with headroom.
  let sizeMib = Math.ceil((used * 1.08) / 1048576) + 32 + (recipe.extraSpaceMib ?? 0);
  const uuid = `${hash.slice(0, 8)}-${hash.slice(8, 12)}-4${hash.slice(13, 16)}-8000-${hashParts(hash).slice(0, 12)}`;
  for (let attempt = 0; ; attempt++) {
    stage(label, `mkfs.ext4 -d: ${(used / 1048576).toFixed(0)} MiB of content, ${inodes} inodes, image ${sizeMib} MiB`, started);
    rmSync(out, { force: true });
    await run('truncate', ['-s', `${sizeMib}M`, out]);
    try {
      await run('mkfs.ext4', ['-q', '-F', '-d', root, '-L', `romulus-${recipe.name}`.slice(0, 16), '-U', uuid, '-E', `hash_seed=${uuid},root_owner=0:0`, '-O', '^has_journal', '-m', '0', '-b', '4096', '-N', String(Math.ceil(inodes * 1.2) + 1024), out]);
      return;
    } catch (e) {
      if (attempt >= 2) throw e;
      sizeMib = Math.ceil(sizeMib * 1.25); // metadata estimate too tight: grow and retry
    }
  }
}

async function removeTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  assertNothingMounted(dir);
  rmSync(dir, { recursive: true, force: true });
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
