import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { isProcessAlive, pidStartTime } from './proc.ts';
import { writeLaunchRecord } from './launch-record.ts';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GUEST_PROTOCOL_VERSION, GUEST_VSOCK_PORT, kernelPath as defaultKernelPath, imagesDir } from '@romulus/shared';
import { GuestChannel } from '../guest/channel.ts';
import { buildCmdline } from '../manager/cmdline.ts';
import { detectCgroups, removeCgroupParent, VmCgroup } from './cgroups.ts';
import { fcRequest } from './firecracker-api.ts';
import { defaultFirecrackerBinary, FirecrackerDriver } from './firecracker.ts';
import { runDriverSuite } from './driver-suite.ts';
import { FirecrackerSpec } from './testing/firecracker-spec.ts';
import type { RunningVm, VmLaunchSpec } from './types.ts';

interface Call {
  method: string;
  path: string;
  body: Record<string, unknown> | null;
  status: number;
  fault: string | null;
}
const calls = (stateDir: string): Call[] =>
  readFileSync(path.join(stateDir, 'fc.sock.calls.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Call);
const spec = new FirecrackerSpec();

test('the OpenAPI validator accepts Firecracker-shaped bodies and rejects wrong ones', () => {
  assert.equal(spec.check('PUT', '/machine-config', { vcpu_count: 2, mem_size_mib: 256 }).ok, true);
  assert.equal(spec.check('PUT', '/drives/rootfs', { drive_id: 'rootfs', path_on_host: '/x', is_root_device: true, is_read_only: true }).ok, true);
  const wrong = [
    ['PUT', '/machine-config', { vcpu_count: 0, mem_size_mib: 256 }], // below minimum
    ['PUT', '/machine-config', { vcpu_count: 2, mem_size_mib: '256' }], // wrong type
    ['PUT', '/machine-config', { vcpu_count: 2 }], // missing required
    ['PUT', '/machine-config', { vcpu_count: 2, mem_size_mib: 256, vcpus: 2 }], // unknown field
    ['PUT', '/actions', { action_type: 'Reboot' }], // not in the enum
    ['PUT', '/drives/rootfs', { path_on_host: '/x', is_read_only: true }], // no drive_id / is_root_device
    ['PUT', '/snapshot/create', { snapshot_path: '/a' }], // no mem_file_path
    ['PATCH', '/vm', { state: 'Stopped' }],
    ['PUT', '/boot-source', undefined], // body required
  ] as const;
  for (const [m, p, b] of wrong) {
    const v = spec.check(m, p, b);
    assert.equal(v.ok, false, `${m} ${p} ${JSON.stringify(b)} must be rejected`);
    if (!v.ok) assert.equal(v.status, 400);
  }
  const nope = spec.check('DELETE', '/machine-config', undefined);
  assert.equal(nope.ok, false);
  assert.equal(spec.check('PUT', '/no/such/thing', {}).ok, false);
});

test('the firecracker binary: configured path, else $ROMULUS_FIRECRACKER, else the one on PATH', () => {
  assert.equal(defaultFirecrackerBinary({ ROMULUS_FIRECRACKER: '/opt/fc/firecracker' }), '/opt/fc/firecracker');
  assert.equal(defaultFirecrackerBinary({}), 'firecracker');
  assert.equal(defaultFirecrackerBinary({ ROMULUS_FIRECRACKER: '' }), 'firecracker');
});

describe('firecracker driver against a fake Firecracker that validates every request against the spec', () => {
  let work: string;
  let fakeBin: string;
  let kvmDev: string;
  let driver: FirecrackerDriver;
  const parent = `romulus-fctest-${randomBytes(3).toString('hex')}`;
  const vms: RunningVm[] = [];
  const layout = detectCgroups();
  // A real TAP the test creates (down, on no bridge: nothing can flow), since the driver checks it exists.
  const tap = `rtfk${randomBytes(3).toString('hex')}`;

  const mkSpec = (id: string): VmLaunchSpec => {
    const kernel = path.join(work, 'vmlinux');
    return {
      id,
      vcpus: 2,
      memoryMib: 256,
      kernelPath: kernel,
      kernelCmdline: buildCmdline({ vmId: id, hostname: id, nowMs: 1_700_000_000_000, net: { ip: '10.200.9.2', gateway: '10.200.9.1', netmask: '255.255.255.0' } }),
      rootfsPath: path.join(work, 'rootfs.ext4'),
      diskPath: path.join(work, `${id}.ext4`),
      tap: { name: tap, mac: '02:00:0a:c8:09:02' },
      stateDir: path.join(work, id),
    };
  };
  const hello = async (vm: RunningVm) => {
    const ch = await GuestChannel.connect(vm.channel, 10_000);
    try {
      return await ch.handshake(10_000);
    } finally {
      ch.close();
    }
  };

  before(() => {
    work = mkdtempSync(path.join(tmpdir(), 'romulus-fc-'));
    for (const f of ['vmlinux', 'rootfs.ext4', 'fc-a.ext4', 'fc-b.ext4']) writeFileSync(path.join(work, f), 'x');
    // The fake stands in for /dev/kvm too: the driver checks the configured device path exists.
    kvmDev = path.join(work, 'kvm');
    writeFileSync(kvmDev, '');
    fakeBin = path.join(work, 'firecracker');
    const fake = path.join(import.meta.dirname, 'testing', 'fake-firecracker.ts');
    writeFileSync(fakeBin, `#!/bin/sh\nexec "${process.execPath}" --import tsx "${fake}" "$@"\n`);
    chmodSync(fakeBin, 0o755);
    execFileSync('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    driver = new FirecrackerDriver({ firecrackerBinary: fakeBin, kvmDevice: kvmDev, cgroupParent: parent, startTimeoutMs: 60_000 });
  });

  after(async () => {
    for (const vm of vms) await driver.kill(vm).catch(() => {});
    driver.close();
    execFileSync('ip', ['link', 'del', tap]);
    rmSync(work, { recursive: true, force: true });
    if (layout) removeCgroupParent(layout, parent);
  });

  test('probe: usable with a KVM device and a kernel that reaches the root mount; unusable without KVM', async () => {
    const r = await driver.probe(path.join(work, 'vmlinux'));
    assert.deepEqual({ usable: r.usable, accel: r.accel }, { usable: true, accel: 'kvm' });
    const noKvm = new FirecrackerDriver({ firecrackerBinary: fakeBin, kvmDevice: path.join(work, 'no-kvm') });
    const r2 = await noKvm.probe(path.join(work, 'vmlinux'));
    assert.equal(r2.usable, false);
    assert.match(r2.reason ?? '', /KVM/);
    const noBin = new FirecrackerDriver({ firecrackerBinary: path.join(work, 'nope') });
    assert.equal(await noBin.available(), false);
    assert.match((await noBin.probe(path.join(work, 'vmlinux'))).reason ?? '', /firecracker binary .*nope not found/);
  });

  test('probe: a guest that hits KVM_EXIT_INTERNAL_ERROR (a PVM host) makes firecracker unusable, and says so', async () => {
    const kernel = path.join(work, 'vmlinux-pvm'); // another kernel: the verdict is cached per kernel
    writeFileSync(kernel, 'pvm');
    process.env.FAKE_FC_PROBE = 'internal-error';
    try {
      const r = await driver.probe(kernel);
      assert.equal(r.usable, false);
      assert.match(r.reason ?? '', /^firecracker needs working KVM: KVM probe boot failed: .*KVM_EXIT_INTERNAL_ERROR/);
    } finally {
      delete process.env.FAKE_FC_PROBE;
    }
  });

  test('refuses what Firecracker would refuse, before spawning: `_` in the id, > 32 vCPUs, a missing TAP', async () => {
    for (const [s, why] of [
      [{ ...mkSpec('fc-x'), id: 'fc_x' }, /id "fc_x" \(this VMM refuses `_` in ids\)/],
      [{ ...mkSpec('fc-x'), vcpus: 33 }, /vcpus 33 \(1-32\)/],
      [{ ...mkSpec('fc-x'), tap: { name: 'rtfk-missing', mac: '02:00:0a:c8:09:03' } }, /TAP rtfk-missing does not exist/],
    ] as const) {
      writeFileSync(s.diskPath, 'x');
      await assert.rejects(driver.start(s), why);
      assert.equal(existsSync(s.stateDir), false, 'nothing was spawned');
    }
  });

  let vmA: RunningVm;
  test('start: boot source, drives, machine config, vsock, network, InstanceStart, each valid per the spec', async () => {
    const s = mkSpec('fc-a');
    vmA = await driver.start(s);
    vms.push(vmA);
    assert.ok(driver.isAlive(vmA));
    assert.deepEqual(vmA.channel, { kind: 'vsock', path: path.join(s.stateDir, 'vsock.sock'), port: GUEST_VSOCK_PORT });
    const seq = calls(s.stateDir);
    for (const c of seq) {
      assert.ok(c.status >= 200 && c.status < 300, `${c.method} ${c.path} -> ${c.status} ${c.fault}`);
      assert.equal(spec.check(c.method, c.path, c.body ?? undefined).ok, true);
    }
    const configuring = seq.filter((c) => c.path !== '/').map((c) => `${c.method} ${c.path}`);
    assert.deepEqual(configuring, [
      'PUT /logger',
      'PUT /boot-source',
      'PUT /drives/rootfs',
      'PUT /drives/disk',
      'PUT /machine-config',
      'PUT /vsock',
      'PUT /network-interfaces/eth0',
      'PUT /actions',
    ]);
    const body = (p: string) => seq.find((c) => c.path === p)!.body!;
    // The driver names its channel; nothing secret is in the boot args (they show in GET /vm/config and snapshots).
    assert.deepEqual(body('/boot-source'), { kernel_image_path: s.kernelPath, boot_args: `${s.kernelCmdline} romulus.channel=vsock` });
    assert.doesNotMatch(String(body('/boot-source').boot_args), /key=/);
    assert.deepEqual(body('/vsock'), { guest_cid: 3, uds_path: path.join(s.stateDir, 'vsock.sock') });
    assert.deepEqual(body('/drives/rootfs'), { drive_id: 'rootfs', path_on_host: s.rootfsPath, is_root_device: true, is_read_only: true });
    assert.equal(body('/drives/disk').is_read_only, false);
    assert.deepEqual(body('/machine-config'), { vcpu_count: 2, mem_size_mib: 256 });
    assert.deepEqual(body('/network-interfaces/eth0'), { iface_id: 'eth0', host_dev_name: tap, guest_mac: '02:00:0a:c8:09:02' });
    assert.deepEqual(body('/actions'), { action_type: 'InstanceStart' });
    // The manager's channel: the vsock host socket, CONNECT to the guest port, then the guest protocol.
    assert.equal((await hello(vmA)).agentVersion, 'fake-firecracker');
    if (layout) {
      const cg = new VmCgroup(layout, parent, 'fc-a');
      assert.ok(cg.pids().includes(vmA.pid), 'firecracker runs in its own cgroup');
      if (layout.version === 'v1') assert.equal(cg.readFile('cpu', 'cpu.cfs_quota_us'), '200000');
    }
  });

  test('the fake rejects a deliberately wrong body through the same validator (400, recorded)', async () => {
    const sock = path.join(mkSpec('fc-a').stateDir, 'fc.sock');
    const a = await fcRequest(sock, 'PATCH', '/vm', { state: 'Frozen' });
    assert.equal(a.status, 400);
    assert.match(String((a.body as { fault_message: string }).fault_message), /allowed values|enum/);
    const last = calls(mkSpec('fc-a').stateDir).at(-1)!;
    assert.equal(last.status, 400);
  });

  test('adopt returns the same VMM and its channel, which still answers', async () => {
    const adopted = await driver.adopt(mkSpec('fc-a').stateDir);
    assert.equal(adopted?.pid, vmA.pid);
    assert.deepEqual(adopted?.channel, vmA.channel);
    assert.equal((await hello(adopted!)).v, GUEST_PROTOCOL_VERSION);
  });

  let snapDir: string;
  test('snapshot: pause, full snapshot, resume; restore: fresh process + snapshot/load', async () => {
    snapDir = path.join(work, 'snap');
    await driver.snapshot(vmA, snapDir);
    const seq = calls(mkSpec('fc-a').stateDir).filter((c) => c.status < 300).slice(-3);
    assert.deepEqual(seq.map((c) => `${c.method} ${c.path} ${JSON.stringify(c.body)}`), [
      'PATCH /vm {"state":"Paused"}',
      `PUT /snapshot/create {"snapshot_type":"Full","snapshot_path":"${snapDir}/vmstate","mem_file_path":"${snapDir}/memory"}`,
      'PATCH /vm {"state":"Resumed"}',
    ]);
    assert.ok(existsSync(path.join(snapDir, 'vmstate')) && existsSync(path.join(snapDir, 'memory')));

    // Restore reads no disk path (the snapshot remembers its drives): fc-b's disk need not exist.
    const sB = mkSpec('fc-b');
    rmSync(sB.diskPath, { force: true });
    const vmB = await driver.restore(sB, snapDir);
    vms.push(vmB);
    assert.notEqual(vmB.pid, vmA.pid);
    const seqB = calls(sB.stateDir).filter((c) => c.path !== '/');
    assert.deepEqual(seqB.map((c) => `${c.method} ${c.path} ${c.status}`), ['PUT /logger 204', 'PUT /snapshot/load 204']);
    assert.deepEqual(seqB[1].body, {
      snapshot_path: `${snapDir}/vmstate`,
      mem_backend: { backend_type: 'File', backend_path: `${snapDir}/memory` },
      resume_vm: true,
      vsock_override: { uds_path: path.join(sB.stateDir, 'vsock.sock') },
      network_overrides: [{ iface_id: 'eth0', host_dev_name: tap }],
    });
    const info = await fcRequest(path.join(sB.stateDir, 'fc.sock'), 'GET', '/');
    assert.equal((info.body as { state: string }).state, 'Running');
    assert.deepEqual(vmB.channel, { kind: 'vsock', path: path.join(sB.stateDir, 'vsock.sock'), port: GUEST_VSOCK_PORT });
    assert.equal((await hello(vmB)).v, GUEST_PROTOCOL_VERSION, 'the restored VM answers on its own socket');
    await driver.kill(vmB);
    assert.equal(driver.isAlive(vmB), false);
    assert.equal(existsSync(path.join(sB.stateDir, 'fc.sock')), false);
    assert.equal(existsSync(path.join(sB.stateDir, 'vsock.sock')), false);
    if (layout) assert.equal(new VmCgroup(layout, parent, 'fc-b').exists(), false);
  });

  test('stop: SendCtrlAltDel, the VMM exits, socket and cgroup are gone', async () => {
    await driver.stop(vmA, 20_000);
    assert.equal(driver.isAlive(vmA), false);
    const last = calls(mkSpec('fc-a').stateDir).at(-1)!;
    assert.deepEqual([last.method, last.path, last.body, last.status], ['PUT', '/actions', { action_type: 'SendCtrlAltDel' }, 204]);
    assert.equal(existsSync(path.join(mkSpec('fc-a').stateDir, 'fc.sock')), false);
    if (layout) assert.equal(new VmCgroup(layout, parent, 'fc-a').exists(), false);
    assert.equal(await driver.adopt(mkSpec('fc-a').stateDir), null);
  });

  test('two concurrent starts on one state dir give one VMM', async () => {
    const s = mkSpec('fc-d');
    writeFileSync(s.diskPath, 'x');
    const [a, b] = await Promise.all([driver.start(s), driver.start(s)]);
    vms.push(a);
    assert.equal(a.pid, b.pid);
    assert.equal(calls(s.stateDir).filter((c) => c.path === '/actions').length, 1, 'one InstanceStart');
    await driver.kill(a);
    assert.equal(driver.isAlive(a), false);
  });

  test('adopt kills a VMM whose start never completed (daemon died mid-start) instead of adopting it', async () => {
    const s = mkSpec('fc-e');
    mkdirSync(s.stateDir, { recursive: true });
    const child = spawn('sleep', ['300'], { detached: true, stdio: 'ignore' });
    child.unref();
    const vm: RunningVm = {
      id: 'fc-e', pid: child.pid!, pidStartTime: pidStartTime(child.pid!)!, accel: 'kvm', channel: { kind: 'unix', path: '' },
      consoleLogPath: path.join(s.stateDir, 'console.log'), spawnedAt: Date.now(), vmmUpAt: 0,
    };
    writeLaunchRecord(s.stateDir, { driver: 'firecracker', phase: 'spawned', vm, spec: s, ownedPaths: [], cgroup: null });
    assert.equal(await driver.adopt(s.stateDir), null);
    assert.equal(isProcessAlive(vm.pid, vm.pidStartTime), false, 'the half-started process was killed');
  });

});

// The shared driver suite on real Firecracker, wherever an operator has one (driverOptions.firecrackerBinary
// in the node config, or ROMULUS_FIRECRACKER): skipped only when there is no binary at that path or KVM
// does not work here, and it says which.
const kernel = defaultKernelPath();
const rootfs = path.join(imagesDir(), 'base', 'rootfs.ext4');
const binary = defaultFirecrackerBinary();
const real = new FirecrackerDriver({ firecrackerBinary: binary });
let skipReason: string | undefined;
if (!(await real.available())) skipReason = `no runnable firecracker binary at ${JSON.stringify(binary)} (set ROMULUS_FIRECRACKER to its path)`;
else if (existsSync(kernel)) {
  const p = await real.probe(kernel);
  if (!p.usable) skipReason = `firecracker ${binary} is installed but cannot run VMs here: ${p.reason}`;
}
real.close();
if (skipReason) console.log(`[firecracker driver suite] SKIPPED: ${skipReason}`);
runDriverSuite('firecracker', () => new FirecrackerDriver({ firecrackerBinary: binary }), { kernelPath: kernel, rootfsPath: rootfs, skipReason });
