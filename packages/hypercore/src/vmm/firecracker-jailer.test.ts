import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GUEST_PROTOCOL_VERSION, GUEST_VSOCK_PORT } from '@romulus/shared';
import { GuestChannel } from '../guest/channel.ts';
import { FirecrackerDriver } from './firecracker.ts';
import { jailerArgv, jailLayout } from './firecracker-jailer.ts';
import type { RunningVm, VmLaunchSpec } from './types.ts';

const root = process.getuid?.() === 0;

test('jailer argv: the required options, the chroot base, Firecracker’s own args after --', () => {
  const L = jailLayout('/s/vm-a', 'vm-a', '/opt/fc/firecracker');
  assert.equal(L.root, '/s/vm-a/jail/firecracker/vm-a/root');
  assert.equal(L.host('/fc.sock'), '/s/vm-a/jail/firecracker/vm-a/root/fc.sock');
  assert.deepEqual(jailerArgv('/opt/fc/firecracker', 'vm-a', { uid: 400_001, gid: 400_001 }, L), [
    '--id', 'vm-a', '--exec-file', '/opt/fc/firecracker', '--uid', '400001', '--gid', '400001', '--chroot-base-dir', '/s/vm-a/jail', '--', '--api-sock', '/fc.sock',
  ]);
});

test('a jailer needs confinement', () => {
  assert.throws(() => new FirecrackerDriver({ jailerBinary: '/usr/bin/jailer', confine: { enabled: false } }), /jailerBinary needs VMM confinement/);
});

describe('firecracker through the jailer (a fake jailer that checks its CLI, over the spec-validating fake)', { skip: !root && 'needs root' }, () => {
  let work: string;
  let driver: FirecrackerDriver;
  const registryDir = () => path.join(work, 'uids');
  const vms: RunningVm[] = [];
  const tap = `rtjl${randomBytes(3).toString('hex')}`;
  const mkSpec = (id: string): VmLaunchSpec => ({
    id, vcpus: 1, memoryMib: 128, kernelPath: path.join(work, 'vmlinux'), kernelCmdline: 'console=ttyS0',
    rootfsPath: path.join(work, 'rootfs.ext4'), diskPath: path.join(work, `${id}.ext4`),
    tap: { name: tap, mac: '02:00:0a:c8:09:07' }, stateDir: path.join(work, id),
  });
  const jailOf = (id: string) => jailLayout(mkSpec(id).stateDir, id, path.join(work, 'firecracker'));
  const calls = (id: string) => readFileSync(jailOf(id).host('/fc.sock.calls.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { method: string; path: string; body: any; status: number });
  const hello = async (vm: RunningVm) => {
    const ch = await GuestChannel.connect(vm.channel, 10_000);
    try {
      return await ch.handshake(10_000);
    } finally {
      ch.close();
    }
  };

  before(() => {
    work = mkdtempSync(path.join(tmpdir(), 'romulus-jailer-'));
    chmodSync(work, 0o755);
    for (const f of ['vmlinux', 'rootfs.ext4', 'jl-a.ext4']) writeFileSync(path.join(work, f), 'x', { mode: 0o644 });
    writeFileSync(path.join(work, 'kvm'), '');
    const fc = path.join(work, 'firecracker');
    writeFileSync(fc, `#!/bin/sh\nexec "${process.execPath}" --import tsx "${path.join(import.meta.dirname, 'testing', 'fake-firecracker.ts')}" "$@"\n`, { mode: 0o755 });
    const jailer = path.join(work, 'jailer');
    writeFileSync(
      jailer,
      [
        '#!/bin/sh',
        `root=$("${process.execPath}" --import tsx "${path.join(import.meta.dirname, 'testing', 'fake-jailer.ts')}" "$@") || exit 1`,
        'while [ $# -gt 0 ] && [ "$1" != "--" ]; do case "$1" in --exec-file) exe=$2;; --id) id=$2;; esac; shift 2; done',
        'shift',
        'FAKE_FC_ROOT="$root" exec "$exe" --id "$id" "$@"',
        '',
      ].join('\n'),
      { mode: 0o755 },
    );
    execFileSync('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    driver = new FirecrackerDriver({
      firecrackerBinary: fc, jailerBinary: jailer, kvmDevice: path.join(work, 'kvm'), cgroups: false, startTimeoutMs: 60_000,
      confine: { registryDir: registryDir(), jailDir: path.join(work, 'jail-unused'), uidBase: 600_000, uidCount: 8 },
    });
  });

  after(async () => {
    for (const vm of vms) await driver.kill(vm).catch(() => {});
    driver.close();
    execFileSync('ip', ['link', 'del', tap]);
    rmSync(work, { recursive: true, force: true });
  });

  let vmA: RunningVm;
  test('start: staged in its chroot, handed to its uid, the API told only in-jail paths', async () => {
    const s = mkSpec('jl-a');
    vmA = await driver.start(s);
    vms.push(vmA);
    const J = jailOf('jl-a');
    assert.deepEqual(vmA.channel, { kind: 'vsock', path: J.host('/vsock.sock'), port: GUEST_VSOCK_PORT });
    const seq = calls('jl-a').filter((c) => c.path !== '/');
    for (const c of seq) assert.ok(c.status < 300, `${c.method} ${c.path} -> ${c.status}`);
    const body = (p: string) => seq.find((c) => c.path === p)!.body;
    assert.equal(body('/logger').log_path, '/fc.log');
    assert.equal(body('/boot-source').kernel_image_path, '/vmlinux');
    assert.equal(body('/drives/rootfs').path_on_host, '/rootfs.ext4');
    assert.equal(body('/drives/disk').path_on_host, '/disk.ext4');
    assert.equal(body('/vsock').uds_path, '/vsock.sock');
    assert.ok(!JSON.stringify(seq).includes(work), 'no host path reached the jailed VMM');
    // Its disk is the VM's disk (a hard link), owned by the uid registered for this VM; so is its log.
    const uid = Number(readdirSync(registryDir()).find((n) => readlinkSync(path.join(registryDir(), n)) === s.stateDir));
    assert.ok(uid >= 600_000);
    assert.equal(statSync(J.host('/disk.ext4')).ino, statSync(s.diskPath).ino);
    assert.equal(statSync(s.diskPath).uid, uid);
    assert.equal(statSync(J.host('/fc.log')).uid, uid);
    assert.equal((await hello(vmA)).agentVersion, 'fake-firecracker');
    const adopted = await driver.adopt(s.stateDir);
    assert.equal(adopted?.pid, vmA.pid, 'the jailer execs: the recorded pid is the VMM');
  });

  test('snapshot is written in the jail and moved out; restore copies it into the new VM’s jail', async () => {
    const snap = path.join(work, 'snap');
    await driver.snapshot(vmA, snap);
    const create = calls('jl-a').find((c) => c.path === '/snapshot/create')!;
    assert.deepEqual([create.body.snapshot_path, create.body.mem_file_path], ['/snapshot/vmstate', '/snapshot/memory']);
    assert.ok(existsSync(path.join(snap, 'vmstate')) && existsSync(path.join(snap, 'memory')));
    assert.ok(!existsSync(jailOf('jl-a').host('/snapshot/vmstate')));
    const vmB = await driver.restore(mkSpec('jl-b'), snap);
    vms.push(vmB);
    const load = calls('jl-b').find((c) => c.path === '/snapshot/load')!;
    assert.equal(load.status, 204);
    assert.equal(load.body.snapshot_path, '/snapshot/vmstate');
    assert.equal(load.body.vsock_override.uds_path, '/vsock.sock');
    assert.equal((await hello(vmB)).v, GUEST_PROTOCOL_VERSION);
    await driver.kill(vmB);
  });

  test('stop: the VMM exits, its jail, uid registration and disk ownership are released', async () => {
    await driver.stop(vmA, 20_000);
    assert.equal(driver.isAlive(vmA), false);
    assert.ok(!existsSync(path.join(mkSpec('jl-a').stateDir, 'jail')));
    assert.equal(statSync(mkSpec('jl-a').diskPath).uid, 0);
    assert.deepEqual(readdirSync(registryDir()), []);
  });
});
