/**
 * Checks a `jailer` command line as Firecracker's jailer does (docs/jailer.md: required --id, --exec-file,
 * --uid, --gid; an exec file named *firecracker*; an id of [A-Za-z0-9-]{1,64}; an absolute
 * --chroot-base-dir) and that it runs as root, then prints the chroot it would pivot into:
 * `<chroot-base>/<exec-file name>/<id>/root`. The shell wrapper written by the tests (fakeJailerScript)
 * runs this, then execs the exec file with FAKE_FC_ROOT set to that root (the fake's stand-in for the
 * chroot) and the arguments after `--`, as the jailer does: the pid stays the VMM's.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';

const argv = process.argv.slice(2);
const end = argv.indexOf('--');
const own = end >= 0 ? argv.slice(0, end) : argv;
const opts = new Map<string, string>();
for (let i = 0; i < own.length; i += 2) {
  if (!own[i].startsWith('--') || own[i + 1] === undefined) fail(`Invalid argument: ${own[i]}`);
  opts.set(own[i].slice(2), own[i + 1]);
}
function fail(msg: string): never {
  console.error(`jailer: ${msg}`);
  process.exit(1);
}
const known = new Set(['id', 'exec-file', 'uid', 'gid', 'chroot-base-dir', 'cgroup-version', 'netns', 'parent-cgroup']);
for (const k of opts.keys()) if (!known.has(k)) fail(`Found argument '--${k}' which wasn't expected`);
for (const k of ['id', 'exec-file', 'uid', 'gid']) if (!opts.has(k)) fail(`Missing mandatory argument: --${k}`);
const id = opts.get('id')!;
if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) fail(`Invalid instance ID: ${id}`);
const exe = opts.get('exec-file')!;
if (!path.basename(exe).includes('firecracker')) fail(`Invalid exec file name: ${exe}`);
if (!existsSync(exe)) fail(`Failed to canonicalize path ${exe}`);
for (const k of ['uid', 'gid']) if (!/^\d+$/.test(opts.get(k)!)) fail(`Invalid ${k}: ${opts.get(k)}`);
if (process.getuid?.() !== 0) fail('must run as root');
const base = opts.get('chroot-base-dir') ?? '/srv/jailer';
if (!path.isAbsolute(base)) fail(`Invalid chroot base dir: ${base}`);
const root = path.join(base, path.basename(exe), id, 'root');
mkdirSync(root, { recursive: true }); // the jailer creates it; it leaves what is already there
process.stdout.write(root);
