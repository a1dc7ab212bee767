import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import * as tar from 'tar';

/**
 * Builds small OCI images on disk for the importer's tests (no registry or Docker engine here), in both
 * layouts: an OCI image layout directory (gzip layers) and a `docker save` tarball (plain tar layers).
 *
 *   layer 1: /bin/busybox (busybox-static), /bin/sh -> busybox, /etc/hello.txt, /data/old.txt,
 *            /data/sub/deep.txt, /www/index.html ("lower")
 *   layer 2: /etc/.wh.hello.txt (deletes hello.txt), /data/.wh..wh..opq (hides old.txt and sub/),
 *            /data/new.txt, /www/index.html ("upper": replaces the lower file)
 *   config:  Entrypoint busybox httpd on 8080 serving /www, ExposedPorts 8080/tcp, Env, WorkingDir, User
 */

export const BUSYBOX = '/bin/busybox';
export const FIXTURE_PAGE = 'romulus-oci-fixture: upper layer page\n';

export interface FixtureConfig {
  entrypoint: string[];
  cmd?: string[];
  env: string[];
  user: string;
  workingDir: string;
  exposedPorts: Record<string, object>;
}

export const DEFAULT_FIXTURE_CONFIG: FixtureConfig = {
  entrypoint: ['/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', '/www'],
  env: ['PATH=/bin', 'GREETING=hello=world'],
  user: 'nobody',
  workingDir: '/www',
  exposedPorts: { '8080/tcp': {} },
};

async function layerTar(dir: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const stream = tar.c({ cwd: dir, portable: true, noMtime: false }, ['.']);
  for await (const chunk of stream as AsyncIterable<Buffer>) chunks.push(chunk);
  return Buffer.concat(chunks);
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

async function stageLayers(work: string): Promise<[Buffer, Buffer]> {
  const l1 = path.join(work, 'l1');
  await mkdir(path.join(l1, 'bin'), { recursive: true });
  await copyFile(BUSYBOX, path.join(l1, 'bin', 'busybox'));
  await chmod(path.join(l1, 'bin', 'busybox'), 0o755);
  await symlink('busybox', path.join(l1, 'bin', 'sh'));
  await mkdir(path.join(l1, 'etc'));
  await writeFile(path.join(l1, 'etc', 'hello.txt'), 'deleted by layer 2\n');
  await mkdir(path.join(l1, 'data', 'sub'), { recursive: true });
  await writeFile(path.join(l1, 'data', 'old.txt'), 'hidden by the opaque marker\n');
  await writeFile(path.join(l1, 'data', 'sub', 'deep.txt'), 'hidden too\n');
  await mkdir(path.join(l1, 'www'));
  await writeFile(path.join(l1, 'www', 'index.html'), 'lower layer page\n');

  const l2 = path.join(work, 'l2');
  await mkdir(path.join(l2, 'etc'), { recursive: true });
  await writeFile(path.join(l2, 'etc', '.wh.hello.txt'), '');
  await mkdir(path.join(l2, 'data'));
  await writeFile(path.join(l2, 'data', '.wh..wh..opq'), '');
  await writeFile(path.join(l2, 'data', 'new.txt'), 'from layer 2\n');
  await mkdir(path.join(l2, 'www'));
  await writeFile(path.join(l2, 'www', 'index.html'), FIXTURE_PAGE);
  return [await layerTar(l1), await layerTar(l2)];
}

function imageConfig(cfg: FixtureConfig, diffIds: string[]): Buffer {
  return Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { User: cfg.user, Env: cfg.env, Entrypoint: cfg.entrypoint, Cmd: cfg.cmd ?? null, WorkingDir: cfg.workingDir, ExposedPorts: cfg.exposedPorts },
      rootfs: { type: 'layers', diff_ids: diffIds },
      history: [{ created_by: 'romulus test fixture' }],
    }),
  );
}

/** Writes an OCI image layout directory at `out` (created), built from scratch in `work`. */
export async function writeOciLayout(work: string, out: string, cfg: FixtureConfig = DEFAULT_FIXTURE_CONFIG): Promise<void> {
  const layers = await stageLayers(work);
  const blobs = path.join(out, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const put = async (b: Buffer) => {
    const hex = sha256(b);
    await writeFile(path.join(blobs, hex), b);
    return { digest: `sha256:${hex}`, size: b.length };
  };
  const gz = layers.map((l) => gzipSync(l));
  const layerDescs = [];
  for (const b of gz) layerDescs.push({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...(await put(b)) });
  const config = await put(imageConfig(cfg, layers.map((l) => `sha256:${sha256(l)}`)));
  const manifest = await put(
    Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config }, layers: layerDescs })),
  );
  await writeFile(path.join(out, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    path.join(out, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'fixture:1' } }],
    }),
  );
}

/** Writes a `docker save`-style tarball (legacy layout: <id>/layer.tar, <config>.json, manifest.json). */
export async function writeDockerSave(work: string, outTar: string, cfg: FixtureConfig = DEFAULT_FIXTURE_CONFIG): Promise<void> {
  const layers = await stageLayers(work);
  const dir = path.join(work, 'docker-save');
  await mkdir(dir, { recursive: true });
  const layerPaths: string[] = [];
  for (const l of layers) {
    const id = sha256(l);
    await mkdir(path.join(dir, id));
    await writeFile(path.join(dir, id, 'layer.tar'), l);
    await writeFile(path.join(dir, id, 'VERSION'), '1.0');
    layerPaths.push(`${id}/layer.tar`);
  }
  const config = imageConfig(cfg, layers.map((l) => `sha256:${sha256(l)}`));
  const configName = `${sha256(config)}.json`;
  await writeFile(path.join(dir, configName), config);
  await writeFile(path.join(dir, 'manifest.json'), JSON.stringify([{ Config: configName, RepoTags: ['fixture:docker'], Layers: layerPaths }]));
  await tar.c({ cwd: dir, file: outTar, portable: true }, ['.']);
}

/** Packs an OCI layout directory into an `oci-archive` tarball. */
export async function tarDirectory(dir: string, outTar: string, gzip = false): Promise<void> {
  await tar.c({ cwd: dir, file: outTar, gzip, portable: true }, ['.']);
}

