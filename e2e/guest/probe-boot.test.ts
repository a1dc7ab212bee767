/**
 * A probe boot (what the node does to test an accelerator or an image): no writable disk and no
 * romulus.disk. init must still give a writable root (overlay with a tmpfs upper) and the agent must work;
 * nothing is written to the base image.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { imagesDir, kernelPath } from '@romulus/shared';
import { Channel, GuestVm } from './guest-vm.ts';

const rootfs = path.join(imagesDir(), 'base', 'rootfs.ext4');

function sha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file).on('data', (d) => h.update(d)).on('error', reject).on('end', () => resolve(h.digest('hex')));
  });
}

describe('probe boot without a VM disk', { timeout: 10 * 60_000 }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'romulus-e2e-probe-'));
  let vm: GuestVm;
  let ch: Channel;
  let before_ = '';

  before(async () => {
    assert.ok(existsSync(rootfs), `${rootfs} missing: run scripts/setup.sh`);
    before_ = await sha256(rootfs);
    mkdirSync(dir, { recursive: true });
    vm = new GuestVm({ dir, kernel: kernelPath(), rootfs, vcpus: 1, memoryMib: 192, diskMib: 0, id: 'probe', accel: 'tcg', withDisk: false });
    vm.start();
    ch = await Channel.connect(vm.sock, 30_000);
  });

  after(async () => {
    ch?.close();
    vm?.kill();
    await vm?.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  it('boots to hello, root is an overlay over tmpfs and writable, base untouched after power-off', async () => {
    ch.send({ t: 'sync' });
    await ch.waitFor('hello', () => true, 300_000);
    assert.match(vm.consoleText(), /romulus-init: root: overlay of base \+ tmpfs/);
    const w = await ch.exec(['sh', '-c', 'echo probe > /etc/probe-file && cat /etc/probe-file && ls /dev/vdb 2>&1; true']);
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stdout, /^probe\n/);
    assert.match(w.stdout, /No such file/, 'there is no second disk');
    ch.send({ t: 'shutdown' });
    const code = await Promise.race([vm.exited, new Promise((r) => setTimeout(() => r('timeout'), 120_000))]);
    assert.equal(code, 0);
    assert.equal(await sha256(rootfs), before_);
  });
});
