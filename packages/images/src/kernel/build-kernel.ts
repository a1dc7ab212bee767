/**
 * Guest kernel builder. From Debian's linux-source tarball: `make allnoconfig` with the repo's fragment
 * (packages/images/kernel/romulus.config) forced in via KCONFIG_ALLCONFIG, `olddefconfig`, a check that
 * every option of the fragment ended up as asked, then `make -j<cpus> vmlinux bzImage`.
 *
 * Cached by hash(source package version + tarball size, fragment, this file, gcc version) under
 * <cache>/kernel/<hash>/; installed to <images>/kernel/{vmlinux,bzImage,config,hash}. The build tree
 * (<cache>/kernel/build) is shared and incremental: a changed fragment recompiles only what it touches.
 */
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cacheDir, imagesDir } from '@romulus/shared';
import { hashParts } from '../lib/hash.ts';
import { installFile } from '../lib/fsutil.ts';
import { withLock } from '../lib/lock.ts';
import { elapsed, Progress, stage } from '../lib/progress.ts';
import { run } from '../lib/run.ts';

export const KERNEL_FRAGMENT = path.resolve(import.meta.dirname, '..', '..', 'kernel', 'romulus.config');
const SOURCE_PACKAGE = 'linux-source-6.1';
const SOURCE_TARBALL = `/usr/src/${SOURCE_PACKAGE}.tar.xz`;
/** Compile steps of the last build, for the progress estimate (a first build guesses). */
const DEFAULT_STEP_ESTIMATE = 1400;

export interface KernelBuildResult {
  hash: string;
  cached: boolean;
  vmlinux: string;
  bzImage: string;
  buildSeconds: number | null;
  vmlinuxBytes: number;
}

function sourceVersion(): string {
  let version = 'unknown';
  try {
    version = execFileSync('dpkg-query', ['-W', '-f=${Version}', SOURCE_PACKAGE], { encoding: 'utf8' }).trim();
  } catch {
    // not a dpkg system: the tarball's size still tells versions apart
  }
  if (!existsSync(SOURCE_TARBALL)) throw new Error(`${SOURCE_TARBALL} missing: install ${SOURCE_PACKAGE} (scripts/install-system.sh)`);
  return `${SOURCE_PACKAGE} ${version} ${statSync(SOURCE_TARBALL).size}`;
}

export function kernelHash(): string {
  const gcc = execFileSync('gcc', ['-dumpfullversion'], { encoding: 'utf8' }).trim();
  return hashParts(sourceVersion(), readFileSync(KERNEL_FRAGMENT), readFileSync(import.meta.filename), `gcc ${gcc}`).slice(0, 16);
}

/** Fragment lines `CONFIG_X=v` (and `# CONFIG_X is not set`) as a map. */
export function parseConfig(text: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const unset = /^# (CONFIG_\w+) is not set$/.exec(line);
    if (unset) m.set(unset[1], 'n');
    else if (/^CONFIG_\w+=/.test(line)) {
      const eq = line.indexOf('=');
      m.set(line.slice(0, eq), line.slice(eq + 1));
    }
  }
  return m;
}

/** Options of the fragment the resolved .config does not honour (dependency missing, typo, ...). */
export function configMismatches(fragment: string, resolved: string): string[] {
  const want = parseConfig(fragment);
  const got = parseConfig(resolved);
  const bad: string[] = [];
  for (const [k, v] of want) {
    const have = got.get(k) ?? 'n';
    if (have !== v) bad.push(`${k}: wanted ${v}, got ${have}`);
  }
  return bad;
}

export async function buildKernel(opts: { force?: boolean } = {}): Promise<KernelBuildResult> {
  const hash = kernelHash();
  const kcache = path.join(cacheDir(), 'kernel');
  const outDir = path.join(kcache, hash);
  const installDir = path.join(imagesDir(), 'kernel');
  const result = (cached: boolean, buildSeconds: number | null): KernelBuildResult => ({
    hash,
    cached,
    vmlinux: path.join(installDir, 'vmlinux'),
    bzImage: path.join(installDir, 'bzImage'),
    buildSeconds,
    vmlinuxBytes: statSync(path.join(outDir, 'vmlinux')).size,
  });

  return withLock(path.join(kcache, 'build.lock'), 'kernel', async () => {
    let buildSeconds: number | null = null;
    const cached = !opts.force && existsSync(path.join(outDir, 'done'));
    if (!cached) buildSeconds = await compile(kcache, outDir, hash);
    else stage('kernel', `cached ${hash} (${outDir})`);
    install(outDir, installDir, hash);
    return result(cached, buildSeconds);
  });
}

async function compile(kcache: string, outDir: string, hash: string): Promise<number> {
  const started = Date.now();
  const srcRoot = path.join(kcache, 'src');
  const srcDir = path.join(srcRoot, SOURCE_PACKAGE);
  const version = sourceVersion();
  const marker = path.join(srcRoot, '.extracted');
  if (!existsSync(marker) || readFileSync(marker, 'utf8') !== version) {
    stage('kernel', `extracting ${SOURCE_TARBALL}`);
    rmSync(srcRoot, { recursive: true, force: true });
    mkdirSync(srcRoot, { recursive: true });
    await run('tar', ['-xJf', SOURCE_TARBALL, '-C', srcRoot]);
    writeFileSync(marker, version);
    // A new source tree invalidates the objects of the old one.
    rmSync(path.join(kcache, 'build'), { recursive: true, force: true });
  }
  const buildDir = path.join(kcache, 'build');
  mkdirSync(buildDir, { recursive: true });
  const make = (args: string[], onLine?: (l: string) => void) => run('make', ['-C', srcDir, `O=${buildDir}`, ...args], { onLine, tailLines: 60 });

  stage('kernel', `configuring: allnoconfig + ${path.relative(process.cwd(), KERNEL_FRAGMENT)}`, started);
  await make([`KCONFIG_ALLCONFIG=${KERNEL_FRAGMENT}`, 'allnoconfig']);
  await make(['olddefconfig']);
  const bad = configMismatches(readFileSync(KERNEL_FRAGMENT, 'utf8'), readFileSync(path.join(buildDir, '.config'), 'utf8'));
  if (bad.length) throw new Error(`kernel config does not honour the fragment:\n  ${bad.join('\n  ')}`);

  const jobs = Math.max(1, cpus().length);
  const estimateFile = path.join(kcache, 'steps.json');
  let estimate = DEFAULT_STEP_ESTIMATE;
  try {
    estimate = JSON.parse(readFileSync(estimateFile, 'utf8')).steps ?? estimate;
  } catch {
    // first build
  }
  stage('kernel', `compiling with -j${jobs} (≈${estimate} steps on a clean tree)`, started);
  const progress = new Progress('kernel', estimate, 'steps');
  let steps = 0;
  try {
    await make([`-j${jobs}`, 'vmlinux', 'bzImage'], (line) => {
      if (/^\s+(CC|AS|LD|AR|HOSTCC|GEN|OBJCOPY)\s/.test(line)) progress.update(++steps);
    });
  } finally {
    progress.stop();
  }
  if (steps > estimate / 2) writeFileSync(estimateFile, JSON.stringify({ steps }));

  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  installFile(path.join(buildDir, 'vmlinux'), path.join(outDir, 'vmlinux'));
  installFile(path.join(buildDir, 'arch', 'x86', 'boot', 'bzImage'), path.join(outDir, 'bzImage'));
  installFile(path.join(buildDir, '.config'), path.join(outDir, 'config'));
  writeFileSync(path.join(outDir, 'hash'), hash + '\n');
  writeFileSync(path.join(outDir, 'done'), new Date().toISOString() + '\n');
  const seconds = (Date.now() - started) / 1000;
  stage('kernel', `built ${hash}: vmlinux ${(statSync(path.join(outDir, 'vmlinux')).size / 1048576).toFixed(1)} MiB in ${elapsed(started)}`);
  pruneOld(kcache, hash);
  return seconds;
}

function install(outDir: string, installDir: string, hash: string): void {
  const current = path.join(installDir, 'hash');
  if (existsSync(current) && readFileSync(current, 'utf8').trim() === hash && existsSync(path.join(installDir, 'vmlinux'))) return;
  for (const f of ['vmlinux', 'bzImage', 'config']) installFile(path.join(outDir, f), path.join(installDir, f));
  installFile(path.join(outDir, 'hash'), current);
  stage('kernel', `installed ${hash} to ${installDir}`);
}

/** Keeps the three newest kernel outputs; older ones are only disk space. */
function pruneOld(kcache: string, keep: string): void {
  const outs = readdirSync(kcache)
    .filter((n) => /^[0-9a-f]{16}$/.test(n) && n !== keep)
    .map((n) => ({ n, t: statSync(path.join(kcache, n)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const o of outs.slice(2)) rmSync(path.join(kcache, o.n), { recursive: true, force: true });
}
