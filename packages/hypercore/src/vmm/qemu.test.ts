import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { imagesDir, kernelPath } from '@romulus/shared';
import { detectCgroups, removeCgroupParent, VmCgroup } from './cgroups.ts';
import { runDriverSuite } from './driver-suite.ts';
import { isProcessAlive, processPssKib, sleep } from './proc.ts';
import { QemuDriver } from './qemu.ts';
import { reapOnExit } from './testing/reap-on-exit.ts';
import { BUSYBOX_CMDLINE, BUSYBOX_MARKER, buildBusyboxRootfs } from './testing/busybox-rootfs.ts';

/**
 * Real QEMU microVMs (TCG on this host; KVM where the probe says it works).
 *  1. A kernel-only boot with a tiny busybox root disk the test builds itself, independent of the base
 *     image: the guest prints what it sees to its serial console, and the driver's cgroup, stop and
 *     cleanup are checked for real.
 *  2. The shared driver suite with the real guest kernel and base image (real guest agent).
 * Both need the project's guest kernel (ROMULUS_KERNEL or <images>/kernel/vmlinux); missing = failure.
 */
const KERNEL = kernelPath();
const BASE_ROOTFS = path.join(imagesDir(), 'base', 'rootfs.ext4');
const BOOT_TIMEOUT = 180_000; // TCG on a shared 2-core host: generous, never a pass/fail threshold on speed

describe('qemu driver: kernel-only boot with a busybox root disk', { timeout: BOOT_TIMEOUT * 2 }, () => {
  let work: string;
  const parent = `romulus-qtest-${randomBytes(3).toString('hex')}`;
  const layout = detectCgroups();
  let driver: QemuDriver;

  before(() => {
    assert.ok(existsSync(KERNEL), `guest kernel missing at ${KERNEL} (build it: packages/images, or set ROMULUS_KERNEL)`);
    work = mkdtempSync(path.join(tmpdir(), 'romulus-qemu-'));
    buildBusyboxRootfs(work);
    execFileSync('truncate', ['-s', '32M', path.join(work, 'disk.ext4')]);
    driver = new QemuDriver({ cacheDir: path.join(work, 'cache'), cgroupParent: parent });
  });

  after(async () => {
    driver?.close();
    if (work) rmSync(work, { recursive: true, force: true });
    if (layout) removeCgroupParent(layout, parent);
  });

  test('boots under the probed accelerator, guest sees 2 vCPUs / 256 MiB, VMM caged in its cgroup, stop cleans up', { timeout: BOOT_TIMEOUT + 60_000 }, async (t) => {
    const probeStart = Date.now();
    const probe = await driver.probe(KERNEL);
    const probeMs = Date.now() - probeStart;
    if (probe.accel === 'tcg') assert.ok(probe.reason, 'TCG fallback names its reason');
    const stateDir = path.join(work, 'vm');
    const vm = reapOnExit(await driver.start({
      id: 'qtest-1',
      vcpus: 2,
      memoryMib: 256,
      kernelPath: KERNEL,
      kernelCmdline: BUSYBOX_CMDLINE,
      rootfsPath: path.join(work, 'busybox-rootfs.ext4'),
      diskPath: path.join(work, 'disk.ext4'),
      stateDir,
    }), { cgroupParent: parent, removeParent: true });
    t.after(() => driver.kill(vm).catch(() => {}));
    assert.equal(vm.accel, probe.accel);
    assert.deepEqual(vm.channel, { kind: 'unix', path: path.join(stateDir, 'vmm', 'agent.sock') });
    assert.equal(lstatSync(vm.channel.kind === 'unix' ? vm.channel.path : '').mode & 0o077, 0, 'channel socket is private to its owner');
    const deadline = Date.now() + BOOT_TIMEOUT;
    let consoleText = '';
    while (!BUSYBOX_MARKER.test(consoleText)) {
      assert.ok(driver.isAlive(vm), `VMM died: ${consoleText.slice(-1500)}`);
      assert.ok(Date.now() < deadline, `no init output within ${BOOT_TIMEOUT} ms: ${consoleText.slice(-1500)}`);
      await sleep(200);
      consoleText = readFileSync(vm.consoleLogPath, 'utf8');
    }
    const spawnToInitMs = Date.now() - vm.spawnedAt;
    const line = BUSYBOX_MARKER.exec(consoleText)![1];
    assert.match(line, /nproc=2 /);
    const kib = Number(/MemTotal: (\d+) kB/.exec(line)?.[1]);
    assert.ok(kib > 192 * 1024 && kib <= 256 * 1024, `MemTotal ${kib} kB`);
    assert.match(line, /vda_ro=1 vdb_ro=0/, 'base rootfs read-only as vda, VM disk writable as vdb');

    if (layout) {
      const cg = new VmCgroup(layout, parent, 'qtest-1');
      assert.ok(cg.pids().includes(vm.pid), 'qemu pid is in its cgroup (every hierarchy)');
      if (layout.version === 'v1') {
        assert.equal(cg.readFile('cpu', 'cpu.cfs_quota_us'), '200000');
        assert.equal(cg.readFile('cpu', 'cpu.cfs_period_us'), '100000');
        const overhead = probe.accel === 'tcg' ? 256 : 64;
        assert.equal(Number(cg.readFile('memory', 'memory.limit_in_bytes')), (256 + overhead) * 1024 * 1024);
        assert.equal(cg.readFile('pids', 'pids.max'), '256');
      }
    }
    const pssKib = processPssKib(vm.pid);
    t.diagnostic(`figures: accel=${vm.accel} probeMs=${probeMs} spawnToQmpMs=${vm.vmmUpAt - vm.spawnedAt} spawnToInitOutputMs=${spawnToInitMs} pssKib(256MiB VM)=${pssKib}`);

    const adopted = await driver.adopt(stateDir);
    assert.equal(adopted?.pid, vm.pid);
    assert.equal(adopted?.pidStartTime, vm.pidStartTime);

    await driver.stop(vm, 20_000);
    assert.equal(isProcessAlive(vm.pid, vm.pidStartTime), false);
    const sockets = readdirSync(stateDir).filter((f) => lstatSync(path.join(stateDir, f)).isSocket());
    assert.deepEqual(sockets, []);
    if (layout) assert.equal(new VmCgroup(layout, parent, 'qtest-1').exists(), false, 'cgroup removed');
    assert.equal(await driver.adopt(stateDir), null);
  });

  test('snapshot a running VM, restore it as a new VMM: the guest carries on where it was', { timeout: BOOT_TIMEOUT + 120_000 }, async (t) => {
    const base = {
      vcpus: 1, memoryMib: 128, kernelPath: KERNEL, kernelCmdline: BUSYBOX_CMDLINE,
      rootfsPath: path.join(work, 'busybox-rootfs.ext4'),
    };
    execFileSync('truncate', ['-s', '32M', path.join(work, 'snap-a.ext4')]);
    const a = reapOnExit(await driver.start({ ...base, id: 'qsnap-a', diskPath: path.join(work, 'snap-a.ext4'), stateDir: path.join(work, 'snap-a') }), { cgroupParent: parent, removeParent: true });
    t.after(() => driver.kill(a).catch(() => {}));
    const lastTick = async (file: string, above: number) => {
      const deadline = Date.now() + BOOT_TIMEOUT;
      for (;;) {
        const ticks = [...readFileSync(file, 'utf8').matchAll(/tick (\d+)/g)].map((m) => Number(m[1]));
        const max = ticks.length ? Math.max(...ticks) : 0;
        if (max > above) return max;
        assert.ok(Date.now() < deadline, `no tick above ${above} in ${file}`);
        await sleep(200);
      }
    };
    const beforeSnapshot = await lastTick(a.consoleLogPath, 2);
    const snapDir = path.join(work, 'snapshot');
    await driver.snapshot!(a, snapDir);
    assert.ok(driver.isAlive(a), 'the source VM resumes after its snapshot');
    await driver.kill(a);

    const b = reapOnExit(await driver.restore!({ ...base, id: 'qsnap-b', diskPath: path.join(work, 'snap-b.ext4'), stateDir: path.join(work, 'snap-b') }, snapDir), { cgroupParent: parent, removeParent: true });
    t.after(() => driver.kill(b).catch(() => {}));
    assert.notEqual(b.pid, a.pid);
    const restoredToRunningMs = Date.now() - b.spawnedAt;
    await lastTick(b.consoleLogPath, 0);
    const first = Number(/tick (\d+)/.exec(readFileSync(b.consoleLogPath, 'utf8'))![1]);
    // A fresh boot would print its marker and start at tick 1; the restored guest goes on counting.
    assert.ok(first > beforeSnapshot, `restored guest's first tick ${first} continues after ${beforeSnapshot}`);
    assert.equal(/ROMULUS-PROBE/.test(readFileSync(b.consoleLogPath, 'utf8')), false, 'no fresh boot in the restored VM');
    const after = first;
    const tickAtSnapshot = beforeSnapshot;
    t.diagnostic(`figures: snapshot restore spawn→running ${restoredToRunningMs} ms (${b.accel}), tick ${tickAtSnapshot} → ${after}`);
    await driver.kill(b);
    assert.equal(driver.isAlive(b), false);
    if (layout) assert.equal(new VmCgroup(layout, parent, 'qsnap-b').exists(), false);
    await assert.rejects(
      driver.restore!({ ...base, memoryMib: 256, id: 'qsnap-c', diskPath: path.join(work, 'snap-b.ext4'), stateDir: path.join(work, 'snap-c') }, snapDir),
      /cannot restore as/,
    );
  });

  test('a kernel QEMU cannot load makes start fail with QEMU\'s reason (not a KVM verdict) and leaves nothing behind', async () => {
    const stateDir = path.join(work, 'bad');
    writeFileSync(path.join(work, 'not-a-kernel'), 'garbage');
    await assert.rejects(
      driver.start({
        id: 'qtest-bad', vcpus: 1, memoryMib: 128, kernelPath: path.join(work, 'not-a-kernel'),
        kernelCmdline: 'console=ttyS0', rootfsPath: path.join(work, 'busybox-rootfs.ext4'), diskPath: path.join(work, 'disk.ext4'), stateDir,
      }),
      /cannot be booted: .*invalid kernel header/,
    );
    assert.equal(existsSync(stateDir), false, 'refused before anything was created');
    if (layout) assert.equal(new VmCgroup(layout, parent, 'qtest-bad').exists(), false);
  });

  test('invalid specs are refused before anything is spawned', async () => {
    const base = {
      id: 'ok', vcpus: 1, memoryMib: 128, kernelPath: KERNEL, kernelCmdline: 'console=ttyS0',
      rootfsPath: path.join(work, 'busybox-rootfs.ext4'), diskPath: path.join(work, 'disk.ext4'), stateDir: path.join(work, 'inv'),
    };
    for (const bad of [{ id: '../x' }, { vcpus: 0 }, { vcpus: 1.5 }, { memoryMib: 1 }, { diskPath: '/nonexistent/disk' }, { tap: { name: 'x; rm', mac: '02:00:00:00:00:01' } }]) {
      await assert.rejects(driver.start({ ...base, ...bad }), /invalid VM launch spec/, JSON.stringify(bad));
    }
    assert.equal(existsSync(path.join(work, 'inv')), false);
  });
});

// After every test in this file: the driver suite's own parent cgroup goes too.
after(() => {
  const layout = detectCgroups();
  if (layout) removeCgroupParent(layout, 'romulus-suite');
});

runDriverSuite('qemu', () => new QemuDriver({ cgroupParent: 'romulus-suite' }), {
  kernelPath: KERNEL,
  rootfsPath: BASE_ROOTFS,
  cgroupParent: 'romulus-suite',
  bootTimeoutMs: BOOT_TIMEOUT,
});
