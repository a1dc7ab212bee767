import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { capLogFile } from './console-log.ts';
import { readLaunchRecord, writeLaunchRecord } from './launch-record.ts';
import { classifyProbeOutput } from './probe.ts';
import { buildQemuArgs, qemuPaths } from './qemu-args.ts';
import { assertTapExists, FIRECRACKER_LIMITS, QEMU_LIMITS, validateLaunchSpec } from './validate-spec.ts';
import type { VmLaunchSpec } from './types.ts';

const spec: VmLaunchSpec = {
  id: 'vm1',
  vcpus: 2,
  memoryMib: 512,
  kernelPath: '/k/vmlinux',
  kernelCmdline: 'console=ttyS0 root=/dev/vda ro romulus.id=vm1',
  rootfsPath: '/img/base/rootfs.ext4',
  diskPath: '/state/vm1/disk,odd.ext4',
  tap: { name: 'rt1234', mac: '02:00:00:00:00:01' },
  stateDir: '/state/vm1',
};

const after = (args: string[], flag: string) => args.filter((_, i) => args[i - 1] === flag);

test('qemu argv: microvm, accelerator, sizes, read-only rootfs first, disk second, tap, channel, QMP, pidfile', () => {
  const p = qemuPaths(spec.stateDir);
  const tcg = buildQemuArgs(spec, 'tcg', p, 32);
  assert.deepEqual(after(tcg, '-M'), ['microvm,acpi=off,pit=on,rtc=on,isa-serial=on,x-option-roms=off']);
  for (const f of ['-nodefaults', '-no-user-config', '-nographic', '-no-reboot']) assert.ok(tcg.includes(f), f);
  assert.deepEqual(after(tcg, '-sandbox'), ['on,obsolete=deny,elevateprivileges=deny,resourcecontrol=deny']);
  assert.deepEqual(after(tcg, '-accel'), ['tcg,tb-size=32']);
  assert.deepEqual(after(tcg, '-cpu'), ['max']);
  assert.deepEqual(after(tcg, '-smp'), ['2']);
  assert.deepEqual(after(tcg, '-m'), ['512M']);
  assert.deepEqual(after(tcg, '-append'), [`${spec.kernelCmdline} romulus.channel=virtio`], 'the driver names its own channel');
  const drives = after(tcg, '-drive');
  assert.equal(drives.length, 2);
  assert.match(drives[0], /^id=rootfs,file=\/img\/base\/rootfs\.ext4,format=raw,if=none,readonly=on$/);
  assert.match(drives[1], /^id=disk,file=\/state\/vm1\/disk,,odd\.ext4,/, 'commas in paths are escaped');
  assert.ok(!drives[1].includes('readonly'));
  const devices = after(tcg, '-device');
  assert.deepEqual(devices.slice(0, 2), ['virtio-blk-device,drive=rootfs', 'virtio-blk-device,drive=disk']);
  assert.ok(devices.includes('virtio-net-device,netdev=net0,mac=02:00:00:00:00:01'));
  assert.ok(devices.includes('virtserialport,chardev=agent,name=org.romulus.agent'));
  assert.deepEqual(after(tcg, '-netdev'), ['tap,id=net0,ifname=rt1234,script=no,downscript=no']);
  assert.ok(after(tcg, '-chardev').includes('socket,id=agent,path=/state/vm1/agent.sock,server=on,wait=off'));
  assert.ok(after(tcg, '-chardev').includes('file,id=console,path=/state/vm1/console.log,append=on'));
  assert.deepEqual(after(tcg, '-qmp'), ['unix:/state/vm1/qmp.sock,server=on,wait=off']);
  assert.deepEqual(after(tcg, '-pidfile'), ['/state/vm1/qemu.pid']);

  const kvm = buildQemuArgs({ ...spec, tap: undefined }, 'kvm', p);
  assert.deepEqual(after(kvm, '-accel'), ['kvm']);
  assert.deepEqual(after(kvm, '-cpu'), ['host']);
  assert.equal(kvm.includes('-netdev'), false, 'no TAP, no network device');
});

test('probe classification: root-mount panic = KVM works; internal error, early exit, silence = TCG with a reason', () => {
  assert.deepEqual(classifyProbeOutput('qemu', '[0.4] VFS: Cannot open root device "nonexistent"', false, false), { ok: true });
  assert.deepEqual(classifyProbeOutput('qemu', 'Kernel panic - not syncing: VFS: Unable to mount root fs', true, false), { ok: true });
  const ie = classifyProbeOutput('qemu', 'KVM internal error. Suberror: 1\nemulation failure\nRAX=0', true, false);
  assert.equal(ie.ok, false);
  assert.match(ie.reason!, /KVM internal error/);
  // Firecracker names the exit reason instead (its vCPU thread logs it, then the VMM exits).
  const fc = classifyProbeOutput('firecracker', '2026-12-02T09:00:00 [romulus-probe:fc_vcpu 0] Received KVM_EXIT_INTERNAL_ERROR signal\nfirecracker exited', true, false);
  assert.equal(fc.ok, false);
  assert.match(fc.reason!, /KVM probe boot failed: .*KVM_EXIT_INTERNAL_ERROR/);
  const msr = classifyProbeOutput('qemu', "qemu: error: failed to set MSR 0x10a to 0x69\nAssertion `ret == cpu->kvm_msr_buf->nmsrs' failed.", true, false);
  assert.equal(msr.ok, false);
  assert.match(msr.reason!, /qemu exited before .* MSR 0x10a/);
  const fcExit = classifyProbeOutput('firecracker', 'Error: bad kernel', true, false);
  assert.match(fcExit.reason!, /^KVM probe boot: firecracker exited before/, 'names the VMM that ran');
  const slow = classifyProbeOutput('qemu', '[0.0] Linux version 6.1\n[9.0] calibrating', false, true);
  assert.equal(slow.ok, false);
  assert.match(slow.reason!, /not reach the root mount in time/);
});

test('console log cap: keeps the tail in console.log.1 and truncates; append keeps working', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'caplog-'));
  t.after(() => rmSync(dir, { recursive: true }));
  const f = path.join(dir, 'console.log');
  writeFileSync(f, 'a'.repeat(5000) + 'TAIL-MARKER');
  assert.equal(capLogFile(f, 10_000), false, 'under the cap: untouched');
  appendFileSync(f, 'b'.repeat(10_000) + 'END');
  assert.equal(capLogFile(f, 10_000, 100), true);
  assert.equal(statSync(f).size, 0);
  const kept = readFileSync(`${f}.1`, 'utf8');
  assert.equal(kept.length, 100);
  assert.ok(kept.endsWith('bEND'));
  appendFileSync(f, 'after');
  assert.equal(readFileSync(f, 'utf8'), 'after');
  assert.equal(capLogFile(path.join(dir, 'missing'), 1), false);
});

test('launch record: atomic, 0600, unreadable record = none', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'launch-'));
  t.after(() => rmSync(dir, { recursive: true }));
  writeLaunchRecord(dir, {
    driver: 'firecracker',
    phase: 'running',
    vm: { id: 'v', pid: 1, pidStartTime: '5', accel: 'kvm', channel: { kind: 'vsock', path: `${dir}/vsock.sock`, port: 52 }, consoleLogPath: `${dir}/console.log`, spawnedAt: 1, vmmUpAt: 2 },
    spec,
    ownedPaths: [],
    cgroup: 'v',
  });
  assert.equal(statSync(path.join(dir, 'launch.json')).mode & 0o777, 0o600);
  assert.deepEqual(readLaunchRecord(dir)?.vm.channel, { kind: 'vsock', path: `${dir}/vsock.sock`, port: 52 });
  writeFileSync(path.join(dir, 'launch.json'), '{not json');
  assert.equal(readLaunchRecord(dir), null);
});

test('launch spec validation: per-VMM limits, driver-only cmdline keys, restore without a disk, missing TAP', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'spec-'));
  t.after(() => rmSync(dir, { recursive: true }));
  for (const f of ['vmlinux', 'rootfs.ext4', 'disk.ext4']) writeFileSync(path.join(dir, f), 'x');
  const ok: VmLaunchSpec = { ...spec, kernelPath: `${dir}/vmlinux`, rootfsPath: `${dir}/rootfs.ext4`, diskPath: `${dir}/disk.ext4`, stateDir: `${dir}/vm` };
  validateLaunchSpec(ok, QEMU_LIMITS);
  validateLaunchSpec(ok, FIRECRACKER_LIMITS);
  validateLaunchSpec({ ...ok, id: 'vm_1' }, QEMU_LIMITS);
  assert.throws(() => validateLaunchSpec({ ...ok, id: 'vm_1' }, FIRECRACKER_LIMITS), /id "vm_1" \(this VMM refuses `_` in ids\)/);
  validateLaunchSpec({ ...ok, vcpus: 33 }, QEMU_LIMITS);
  assert.throws(() => validateLaunchSpec({ ...ok, vcpus: 33 }, FIRECRACKER_LIMITS), /vcpus 33 \(1-32\)/);
  validateLaunchSpec({ ...ok, vcpus: 32 }, FIRECRACKER_LIMITS);
  assert.throws(() => validateLaunchSpec({ ...ok, kernelCmdline: `${ok.kernelCmdline} romulus.channel=vsock` }, QEMU_LIMITS), /only the driver may/);
  const noDisk = { ...ok, diskPath: `${dir}/not-yet.ext4` };
  assert.throws(() => validateLaunchSpec(noDisk, QEMU_LIMITS), /diskPath .* does not exist/);
  validateLaunchSpec(noDisk, FIRECRACKER_LIMITS, { requireDisk: false });
  mkdirSync(`${dir}/net/rt1234`, { recursive: true });
  assertTapExists(ok, `${dir}/net`);
  assert.throws(() => assertTapExists({ ...ok, tap: { name: 'rt-gone', mac: '02:00:00:00:00:02' } }, `${dir}/net`), /TAP rt-gone does not exist/);
  assertTapExists({ ...ok, tap: undefined }, `${dir}/net`);
});
