import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_TIERS, imagesDir } from '@romulus/shared';
import { FIXTURE_PAGE, writeDockerSave, writeOciLayout } from '../../packages/images/src/oci/fixtures.ts';
import { agentRequest, waitForStatus } from '../gateway/helpers.ts';
import { startStack, type Stack } from '../harness/stack.ts';
import { AGENT_BOOT_TIMEOUT_MS, assertGuestShape, imagesDirWithLinks, vmExec } from './helpers.ts';

/**
 * OCI import end to end: images the test builds itself (busybox-static + files in a lower layer; a whiteout,
 * an opaque dir and a replaced page in the upper one) are imported with the CLI from an OCI layout
 * directory and from a docker-save tarball, then spawned through the gateway on a real node (QEMU, TCG
 * here): the entrypoint (busybox httpd as `nobody`) serves the upper layer's page through the agent URL.
 */
const repo = path.resolve(import.meta.dirname, '..', '..');
const work = mkdtempSync(path.join(tmpdir(), 'romulus-e2e-oci-'));
const hostImages = imagesDir();
let stack: Stack | undefined;

function importCli(input: string, name: string, extra: string[] = []): string {
  return execFileSync(process.execPath, ['--import', 'tsx', 'packages/images/src/oci/cli.ts', 'import', input, '--name', name, ...extra], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, ROMULUS_CACHE_DIR: path.join(work, 'cache') },
  });
}

before(async () => {
  // The suite's images dir: links to the host's built images (base, kernel) plus the imported ones.
  process.env.ROMULUS_IMAGES_DIR = imagesDirWithLinks(hostImages, path.join(work, 'images'));
  const layout = path.join(work, 'layout');
  await writeOciLayout(path.join(work, 'stage-oci'), layout);
  importCli(layout, 'oci-web', ['--min-memory', '128']);
  const saved = path.join(work, 'saved.tar');
  await writeDockerSave(path.join(work, 'stage-docker'), saved);
  importCli(saved, 'oci-big', ['--min-memory', '2048', '--min-vcpus', '2']);
  stack = await startStack({ requireImages: ['base', 'oci-web', 'oci-big'] });
});

after(async () => {
  await stack?.close();
  process.env.ROMULUS_IMAGES_DIR = hostImages;
  rmSync(work, { recursive: true, force: true });
});

describe('imported OCI images on real VMs', { timeout: 30 * 60_000 }, () => {
  it('an imported image boots and runs its entrypoint, with the layers flattened', async () => {
    const s = stack!;
    const owner = await s.newWallet(100_000);
    const spawn = await s.request('POST', '/spawn', { wallet: owner, body: { agent_type: 'oci-web' } });
    assert.equal(spawn.status, 201, JSON.stringify(spawn.json));
    const id = spawn.json.agent.id as string;
    const token = spawn.json.agent.access_token as string;
    const running = await waitForStatus(s, owner, id, ['running', 'failed'], AGENT_BOOT_TIMEOUT_MS);
    assert.equal(running.status, 'running', JSON.stringify(running));

    const page = await agentRequest(s, id, '/index.html', { authorization: `Bearer ${token}` });
    assert.equal(page.status, 200, page.body);
    assert.equal(page.body, FIXTURE_PAGE, "the entrypoint serves the upper layer's file");
    assert.equal((await agentRequest(s, id, '/index.html')).status, 401);

    const bb = (script: string) => vmExec(s, id, ['/bin/busybox', 'sh', '-c', script]);
    await assertGuestShape(s, id, { vcpus: DEFAULT_TIERS.basic.cores, memoryMib: DEFAULT_TIERS.basic.memory }, ['/bin/busybox', 'sh', '-c']);
    assert.equal((await bb('test -e /etc/hello.txt && echo present || echo gone')).stdout.trim(), 'gone', 'whiteout applied');
    assert.equal((await bb('/bin/busybox ls /data')).stdout.trim(), 'new.txt', 'opaque dir holds only the upper content');
    const uid = await bb(
      'for p in /proc/[0-9]*; do if /bin/busybox grep -q httpd $p/cmdline 2>/dev/null; then /bin/busybox grep ^Uid: $p/status; fi; done',
    );
    assert.match(uid.stdout, /^Uid:\s+65534\s/m, 'the entrypoint runs as the image config User (nobody)');
    const env = await bb('for p in /proc/[0-9]*; do if /bin/busybox grep -q httpd $p/cmdline 2>/dev/null; then /bin/busybox tr "\\0" "\\n" < $p/environ; fi; done');
    assert.match(env.stdout, /^GREETING=hello=world$/m, 'image Env reaches the entrypoint');

    const stop = await s.request('POST', `/stop/${id}`, { wallet: owner });
    assert.ok([200, 202].includes(stop.status), JSON.stringify(stop.json));
    await waitForStatus(s, owner, id, ['stopped'], 120_000);
  });

  it('an image that needs more than the tier is refused at spawn with a clear error', async () => {
    const s = stack!;
    const owner = await s.newWallet(100_000);
    const r = await s.request('POST', '/spawn', { wallet: owner, body: { agent_type: 'oci-big' } });
    assert.equal(r.status, 403, JSON.stringify(r.json));
    assert.equal(r.json.success, false);
    assert.match(r.json.error.message, /basic/);
    assert.match(r.json.error.message, /oci-big|2048|2 v?cpu|2 cores/i);
    assert.deepEqual((await s.nodeClient.listVms()).filter((v) => v.image === 'oci-big'), [], 'no VM was created');
  });
});
