import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { packExt4 } from './ext4.ts';
import { writeDockerSave, writeOciLayout } from './fixtures.ts';
import { exposedTcpPorts, manifestFromConfig, parseEnv } from './image-manifest.ts';
import { importOciImage } from './import.ts';

/**
 * The importer end to end on the host, with a stand-in base image: a real ext4 file holding a fake
 * /opt/romulus (the real one needs the builders; e2e/images boots the real thing). The result is read
 * back out of the produced ext4 with debugfs.
 */
const work = mkdtempSync(path.join(tmpdir(), 'romulus-oci-import-'));
const imagesDir = path.join(work, 'images');
const cacheDir = path.join(work, 'cache');
after(() => rmSync(work, { recursive: true, force: true }));

function debugfs(image: string, cmd: string): string {
  return execFileSync('debugfs', ['-R', cmd, image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

before(async () => {
  const base = path.join(work, 'base-tree');
  await mkdir(path.join(base, 'opt', 'romulus', 'node', 'bin'), { recursive: true });
  await writeFile(path.join(base, 'opt', 'romulus', 'node', 'bin', 'node'), '#!/bin/false\n', { mode: 0o755 });
  await writeFile(path.join(base, 'opt', 'romulus', 'guest-agent.js'), '// stand-in\n');
  await writeFile(path.join(base, 'opt', 'romulus', 'init'), 'stand-in init\n', { mode: 0o755 });
  await mkdir(path.join(imagesDir, 'base'), { recursive: true });
  await packExt4(base, path.join(imagesDir, 'base', 'rootfs.ext4'), 'base');
});

describe('OCI import into a VM image', () => {
  it('imports an OCI layout: flattened root + runtime + manifest, registered under its name', async () => {
    const layout = path.join(work, 'layout');
    await writeOciLayout(path.join(work, 's1'), layout);
    const r = await importOciImage({ input: layout, name: 'fixture-web', imagesDir, cacheDir, minMemoryMib: 128 });
    const dir = path.join(imagesDir, 'fixture-web');
    assert.deepEqual(readdirSync(dir).sort(), ['manifest.json', 'rootfs.ext4']);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    assert.equal(manifest.name, 'fixture-web');
    assert.deepEqual(manifest.command, ['/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', '/www']);
    assert.equal(manifest.user, 'nobody');
    assert.equal(manifest.workdir, '/www');
    assert.equal(manifest.agentPort, 8080);
    assert.deepEqual(manifest.readiness, { type: 'tcp', port: 8080 });
    assert.equal(manifest.env.GREETING, 'hello=world');
    assert.equal(manifest.minMemoryMib, 128);
    assert.equal(r.rootfsPath, path.join(dir, 'rootfs.ext4'));

    const rootfs = path.join(dir, 'rootfs.ext4');
    const inImage = JSON.parse(debugfs(rootfs, 'cat /etc/romulus/image.json'));
    assert.deepEqual(inImage.command, manifest.command, 'the image carries its manifest');
    assert.match(debugfs(rootfs, 'cat /opt/romulus/guest-agent.js'), /stand-in/, 'runtime injected from the base image');
    assert.match(debugfs(rootfs, 'cat /etc/passwd'), /^nobody:/m, 'a user database exists for the workload user');
    const dataLs = debugfs(rootfs, 'ls -p /data');
    assert.match(dataLs, /new\.txt/);
    assert.doesNotMatch(dataLs, /old\.txt|sub/, 'opaque dir survived packing with only the upper content');
    assert.doesNotMatch(debugfs(rootfs, 'ls -p /etc'), /hello\.txt/);
    for (const mp of ['dev', 'proc', 'sys', 'run', 'tmp']) assert.match(debugfs(rootfs, `stat /${mp}`), /Type: directory/, `/${mp} exists`);
    assert.deepEqual(readdirSync(path.join(cacheDir, 'oci')), [], 'scratch space removed');
  });

  it('imports a docker save tarball and refuses to overwrite without replace', async () => {
    const archive = path.join(work, 'save.tar');
    await writeDockerSave(path.join(work, 's2'), archive);
    await importOciImage({ input: archive, name: 'fixture-docker', imagesDir, cacheDir });
    await assert.rejects(importOciImage({ input: archive, name: 'fixture-docker', imagesDir, cacheDir }), /already exists/);
    await importOciImage({ input: archive, name: 'fixture-docker', imagesDir, cacheDir, replace: true });
    assert.deepEqual(readdirSync(imagesDir).filter((n) => n.startsWith('.')), [], 'no staging dirs left');
  });

  it('refuses bad names and missing inputs, leaving nothing behind', async () => {
    await assert.rejects(importOciImage({ input: work, name: 'Bad/Name', imagesDir, cacheDir }), /invalid image name/);
    await assert.rejects(importOciImage({ input: work, name: 'kernel', imagesDir, cacheDir }), /invalid image name/);
    await assert.rejects(importOciImage({ input: path.join(work, 'nope'), name: 'nope', imagesDir, cacheDir }), /does not exist/);
    await assert.rejects(importOciImage({ input: path.join(work, 's1'), name: 'not-image', imagesDir, cacheDir }), /neither an OCI image layout/);
    assert.equal(existsSync(path.join(imagesDir, 'nope')), false);
    assert.equal(existsSync(path.join(imagesDir, 'not-image')), false);
    assert.deepEqual(readdirSync(path.join(cacheDir, 'oci')), []);
  });
});

describe('image config -> manifest', () => {
  it('maps Entrypoint+Cmd, Env, User, WorkingDir and the lowest exposed TCP port', () => {
    const m = manifestFromConfig(
      { os: 'linux', architecture: 'amd64', config: { Entrypoint: ['/app'], Cmd: ['--serve'], Env: ['A=1', 'B=x=y', 'BARE', '1BAD=z'], ExposedPorts: { '9000/tcp': {}, '53/udp': {}, '8080': {} } } },
      { name: 'x' },
      'v1',
    );
    assert.deepEqual(m.command, ['/app', '--serve']);
    assert.deepEqual(m.env, { A: '1', B: 'x=y', BARE: '', PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' });
    assert.equal(m.user, 'root');
    assert.equal(m.workdir, '/');
    assert.equal(m.agentPort, 8080);
    assert.deepEqual(m.readiness, { type: 'tcp', port: 8080 });
  });
  it('no exposed port: agentPort 0, readiness none; no command or foreign arch: refused', () => {
    const m = manifestFromConfig({ config: { Cmd: ['sleep', '1'] } }, { name: 'y' }, 'v');
    assert.equal(m.agentPort, 0);
    assert.deepEqual(m.readiness, { type: 'none' });
    assert.throws(() => manifestFromConfig({ config: {} }, { name: 'z' }, 'v'), /neither Entrypoint nor Cmd/);
    assert.throws(() => manifestFromConfig({ architecture: 'arm64', config: { Cmd: ['x'] } }, { name: 'z' }, 'v'), /amd64/);
  });
  it('parses ports and env edge cases', () => {
    assert.deepEqual(exposedTcpPorts({ '70000/tcp': {}, 'abc': {}, '22/TCP': {} }), [22]);
    assert.deepEqual(parseEnv(null), {});
  });
});
