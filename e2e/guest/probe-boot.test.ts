/**
 * A probe boot's command line (buildCmdline with disk: false): no romulus.disk. init must still give a
 * writable root (overlay with a tmpfs upper) and the agent must work; nothing is written to the base image,
 * and the second disk the qemu driver attaches to every VM is left alone (not mounted, not written).
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
  let blankDisk = '';

  before(async () => {
    assert.ok(existsSync(rootfs), `${rootfs} missing: run scripts/setup.sh`);
    before_ = await sha256(rootfs);
    mkdirSync(dir, { recursive: true });
    vm = new GuestVm({ dir, kernel: kernelPath(), rootfs, vcpus: 1, memoryMib: 192, diskMib: 1, id: 'probe', accel: 'tcg', withDisk: false });
    vm.makeDisk();
    blankDisk = await sha256(vm.disk);
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
    const w = await ch.exec(['sh', '-c', 'echo probe > /etc/probe-file && cat /etc/probe-file && cat /proc/mounts']);
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stdout, /^probe\n/);
    assert.doesNotMatch(w.stdout, /\/dev\/vdb/, 'the second disk is not mounted');
    ch.send({ t: 'shutdown' });
    const code = await Promise.race([vm.exited, new Promise((r) => setTimeout(() => r('timeout'), 120_000).unref())]);
    assert.equal(code, 0);
    assert.equal(await sha256(rootfs), before_);
    assert.equal(await sha256(vm.disk), blankDisk, 'the second disk was not written');
  });
});
