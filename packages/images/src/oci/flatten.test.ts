import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import * as tar from 'tar';
import { flattenLayers } from './flatten.ts';
import { FIXTURE_PAGE, tarDirectory, writeDockerSave, writeOciLayout } from './fixtures.ts';
import { OciFormatError, resolveImage } from './resolve.ts';
import { openSource } from './source.ts';

const work = mkdtempSync(path.join(tmpdir(), 'romulus-oci-test-'));
after(() => rmSync(work, { recursive: true, force: true }));

async function flattenFrom(input: string, name: string) {
  const src = await openSource(input, work);
  try {
    const image = await resolveImage(src.dir);
    const root = path.join(work, `root-${name}`);
    await mkdir(root);
    await flattenLayers(root, image.layers);
    return { image, root };
  } finally {
    await src.close();
  }
}

function assertFlattened(root: string) {
  assert.equal(existsSync(path.join(root, 'etc', 'hello.txt')), false, 'whiteout deletes the lower file');
  assert.equal(existsSync(path.join(root, 'etc', '.wh.hello.txt')), false, 'whiteout markers are not extracted');
  assert.equal(existsSync(path.join(root, 'etc')), true, 'the parent dir stays');
  assert.deepEqual(readdirSync(path.join(root, 'data')).sort(), ['new.txt'], 'opaque dir holds only the upper content');
  assert.equal(readFileSync(path.join(root, 'www', 'index.html'), 'utf8'), FIXTURE_PAGE, 'upper file replaces lower');
  assert.equal(readlinkSync(path.join(root, 'bin', 'sh')), 'busybox');
  assert.equal(statSync(path.join(root, 'bin', 'busybox')).mode & 0o777, 0o755, 'modes are kept');
}

describe('OCI layer flattening', () => {
  it('flattens an OCI layout directory (gzip layers) honouring whiteouts and opaque dirs', async () => {
    const layout = path.join(work, 'layout');
    await writeOciLayout(path.join(work, 'stage-layout'), layout);
    const { image, root } = await flattenFrom(layout, 'layout');
    assert.equal(image.format, 'oci-layout');
    assert.equal(image.refName, 'fixture:1');
    assert.equal(image.layers.length, 2);
    assertFlattened(root);
  });

  it('flattens a docker save tarball (plain tar layers)', async () => {
    const archive = path.join(work, 'docker-save.tar');
    await writeDockerSave(path.join(work, 'stage-docker'), archive);
    const { image, root } = await flattenFrom(archive, 'docker');
    assert.equal(image.format, 'docker-save');
    assert.equal(image.refName, 'fixture:docker');
    assertFlattened(root);
  });

  it('flattens an OCI archive tarball (gzip-compressed)', async () => {
    const layout = path.join(work, 'layout-for-archive');
    await writeOciLayout(path.join(work, 'stage-archive'), layout);
    const archive = path.join(work, 'oci-archive.tar.gz');
    await tarDirectory(layout, archive, true);
    const { root } = await flattenFrom(archive, 'archive');
    assertFlattened(root);
  });

  it('refuses a layer whose digest does not match', async () => {
    const layout = path.join(work, 'layout-tampered');
    await writeOciLayout(path.join(work, 'stage-tampered'), layout);
    const image = await resolveImage(layout);
    // Append garbage to the top layer blob: its stored digest no longer matches the manifest.
    await writeFile(image.layers[1].file, Buffer.concat([readFileSync(image.layers[1].file), Buffer.alloc(1024)]));
    const root = path.join(work, 'root-tampered');
    await mkdir(root);
    await assert.rejects(flattenLayers(root, image.layers), (e: Error) => e instanceof OciFormatError && /digest mismatch/.test(e.message));
  });

  it('refuses a layer that writes through a symlink planted by a lower layer', async () => {
    const outside = path.join(work, 'outside');
    await mkdir(outside);
    const l1dir = path.join(work, 'evil1');
    await mkdir(l1dir);
    await symlink(outside, path.join(l1dir, 'escape'));
    const l2dir = path.join(work, 'evil2');
    await mkdir(path.join(l2dir, 'escape'), { recursive: true });
    await writeFile(path.join(l2dir, 'escape', 'pwned'), 'x');
    const l1 = path.join(work, 'evil1.tar');
    const l2 = path.join(work, 'evil2.tar');
    await tar.c({ cwd: l1dir, file: l1 }, ['escape']);
    await tar.c({ cwd: l2dir, file: l2 }, ['escape/pwned']);
    const root = path.join(work, 'root-evil');
    await mkdir(root);
    await assert.rejects(flattenLayers(root, [{ file: l1 }, { file: l2 }]), OciFormatError);
    assert.equal(existsSync(path.join(outside, 'pwned')), false, 'nothing was written outside the root');
  });

  it('refuses a whiteout that would delete through a symlink', async () => {
    const outside = path.join(work, 'outside2');
    await mkdir(outside);
    await writeFile(path.join(outside, 'victim'), 'keep me');
    const l1dir = path.join(work, 'wh1');
    await mkdir(l1dir);
    await symlink(outside, path.join(l1dir, 'link'));
    const l2dir = path.join(work, 'wh2');
    await mkdir(path.join(l2dir, 'link'), { recursive: true });
    await writeFile(path.join(l2dir, 'link', '.wh.victim'), '');
    const l1 = path.join(work, 'wh1.tar');
    const l2 = path.join(work, 'wh2.tar');
    await tar.c({ cwd: l1dir, file: l1 }, ['link']);
    await tar.c({ cwd: l2dir, file: l2 }, ['link/.wh.victim']);
    const root = path.join(work, 'root-wh');
    await mkdir(root);
    await assert.rejects(flattenLayers(root, [{ file: l1 }, { file: l2 }]), OciFormatError);
    assert.equal(readFileSync(path.join(outside, 'victim'), 'utf8'), 'keep me');
  });

  it('says clearly when a directory is not an image', async () => {
    const empty = path.join(work, 'not-an-image');
    await mkdir(empty);
    await assert.rejects(resolveImage(empty), /neither an OCI image layout/);
  });
});
