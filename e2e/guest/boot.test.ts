/**
 * Boots the real base image on the project's kernel in a QEMU microVM (TCG here) and drives the guest agent
 * over its virtio-serial channel: hello, configure with a secret, ready, exec, the workload's identity and
 * environment, isolation of the channel from the workload, copy-on-write onto the VM's own disk, shutdown.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { createReadStream, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GUEST_PROTOCOL_VERSION, imagesDir, kernelPath } from '@romulus/shared';
import { Channel, GuestVm } from './guest-vm.ts';

const VCPUS = 2;
const MEMORY_MIB = 256;
const rootfs = path.join(imagesDir(), 'base', 'rootfs.ext4');
const kernel = kernelPath();
/** On a QEMU hub with no other port: addresses from 10.200.0.0/14 that never leave the VM. */
const NIC = { ip: '10.203.77.2', gw: '10.203.77.1', mask: '255.255.255.0', dns: '10.203.77.1' };

function sha256(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file).on('data', (d) => h.update(d)).on('error', reject).on('end', () => resolve(h.digest('hex')));
  });
}

describe('base image boots on the project kernel and serves the guest protocol', { timeout: 15 * 60_000 }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'romulus-e2e-guest-'));
  const secret = `sk-e2e-${randomBytes(12).toString('hex')}`;
  const marker = `romulus-marker-${randomBytes(8).toString('hex')}`;
  const hostname = `vm-${randomBytes(3).toString('hex')}`;
  let vm: GuestVm;
  let ch: Channel;
  let rootfsHashBefore = '';
  let workloadPid = 0;
  let accel: 'kvm' | 'tcg' = 'tcg';
  const times: Record<string, number> = {};

  before(async () => {
    assert.ok(existsSync(kernel), `${kernel} missing: run scripts/setup.sh`);
    assert.ok(existsSync(rootfs), `${rootfs} missing: run scripts/setup.sh`);
    rootfsHashBefore = await sha256(rootfs);
    const candidates: ('kvm' | 'tcg')[] = existsSync('/dev/kvm') && process.env.ROMULUS_ACCEL !== 'tcg' ? ['kvm', 'tcg'] : ['tcg'];
    for (const a of candidates) {
      vm = new GuestVm({ dir: path.join(dir, a), kernel, rootfs, vcpus: VCPUS, memoryMib: MEMORY_MIB, diskMib: 256, id: `e2e-${a}`, accel: a, isolatedNic: NIC });
      vm.makeDisk();
      vm.start();
      // A guest that cannot run under this KVM (PVM) dies or crawls before init: then fall back to TCG.
      const initAt = await vm.waitConsole(/romulus-init: started/, a === 'kvm' ? 20_000 : 180_000);
      if (initAt !== null) {
        accel = a;
        times.init = initAt;
        break;
      }
      vm.kill();
      await vm.exited;
      if (a === 'tcg') assert.fail(`guest did not reach init under TCG:\n${vm.consoleText().slice(-3000)}`);
      console.log('# KVM did not boot the guest; falling back to TCG');
    }
    ch = await Channel.connect(vm.sock, 30_000);
  });

  after(async () => {
    ch?.close();
    vm?.kill();
    await vm?.exited;
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers sync with hello (unconfigured, init start time reported)', async () => {
    ch.send({ t: 'sync' });
    const hello = await ch.waitFor('hello', (m) => !m.configured);
    times.hello = ch.received.find((r) => r.msg.t === 'hello')!.at - vm.startedAt;
    assert.equal(hello.v, GUEST_PROTOCOL_VERSION);
    assert.ok(hello.initStartedAtUptime > 0 && hello.initStartedAtUptime < hello.helloAtUptime);
    assert.equal(hello.ready, false);
  });

  it('configure starts the workload and it becomes ready (probe inside the guest)', async () => {
    const sentAt = Date.now();
    ch.send({ t: 'configure', now: Date.now(), hostname, env: { GREETING: 'hi' }, secrets: { MODEL_API_KEY: secret } });
    const started = await ch.waitFor('started');
    workloadPid = started.pid;
    await ch.waitFor('ready', () => true, 300_000);
    times.configureToReady = ch.received.find((r) => r.msg.t === 'ready')!.at - sentAt;
    times.ready = ch.received.find((r) => r.msg.t === 'ready')!.at - vm.startedAt;
    await ch.waitFor('log', (m) => m.stream === 'stdout' && m.line.includes('listening on 8080'));
  });

  it('the guest sees the requested vCPUs and memory, its hostname and the host clock', async () => {
    const nproc = await ch.exec(['nproc']);
    assert.equal(nproc.code, 0);
    assert.equal(Number(nproc.stdout.trim()), VCPUS);
    const meminfo = await ch.exec(['cat', '/proc/meminfo']);
    const totalKib = Number(/MemTotal:\s+(\d+) kB/.exec(meminfo.stdout)![1]);
    assert.ok(totalKib <= MEMORY_MIB * 1024 && totalKib > MEMORY_MIB * 1024 * 0.8, `MemTotal ${totalKib} kB for ${MEMORY_MIB} MiB`);
    assert.equal((await ch.exec(['cat', '/proc/sys/kernel/hostname'])).stdout.trim(), hostname);
    // eth0 configured by the kernel's ip=, the resolver from ip= reachable through /etc/resolv.conf
    const addr = await ch.exec(['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    assert.match(addr.stdout, new RegExp(`inet ${NIC.ip.replace(/\./g, '\\.')}/24`));
    const resolv = await ch.exec(['cat', '/etc/resolv.conf']);
    assert.match(resolv.stdout, new RegExp(`^nameserver ${NIC.dns.replace(/\./g, '\\.')}$`, 'm'));
    const guestNow = Number((await ch.exec(['date', '+%s'])).stdout.trim());
    assert.ok(Math.abs(guestNow - Date.now() / 1000) < 600, `guest clock ${guestNow} is set from the host`);
    // the workload answers over HTTP inside the guest
    const get = await ch.exec([
      '/opt/romulus/node/bin/node', '-e',
      "fetch('http://127.0.0.1:8080/').then(r => r.json()).then(j => console.log(JSON.stringify(j)))",
    ]);
    assert.equal(get.code, 0, get.stderr);
    const body = JSON.parse(get.stdout);
    assert.equal(body.hostname, hostname);
    assert.equal(body.nproc, VCPUS);
    assert.equal(body.uid, 1000);
  });

  it('the workload runs as uid 1000 with the secret in its environment, and cannot open the channel', async () => {
    const status = await ch.exec(['cat', `/proc/${workloadPid}/status`]);
    assert.match(status.stdout, /^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
    const environ = await ch.exec(['cat', `/proc/${workloadPid}/environ`]);
    const vars = environ.stdout.split('\0');
    assert.ok(vars.includes(`MODEL_API_KEY=${secret}`));
    assert.ok(vars.includes('GREETING=hi'));
    assert.ok(vars.includes('PORT=8080'), 'manifest env');

    const cmdline = await ch.exec(['sh', '-c', 'cat /proc/cmdline; dmesg >/dev/null 2>&1 && echo dmesg-readable'], { asWorkloadUser: true });
    assert.match(cmdline.stdout, /romulus\.id=e2e-/);
    assert.ok(!cmdline.stdout.includes('dmesg-readable'), 'dmesg (which echoes the command line) is restricted');

    const find = await ch.exec(['sh', '-c', 'for p in /sys/class/virtio-ports/*; do [ "$(cat $p/name)" = org.romulus.agent ] && echo /dev/${p##*/}; done']);
    const port = find.stdout.trim();
    assert.match(port, /^\/dev\/vport\d+p\d+$/);
    const asAgent = await ch.exec(['sh', '-c', `id -u; exec 3<>${port}`], { asWorkloadUser: true });
    assert.equal(asAgent.stdout.trim(), '1000');
    assert.notEqual(asAgent.code, 0);
    assert.match(asAgent.stderr, /Permission denied/);
  });

  it('writes land on the VM disk through the overlay, the base is read-only', async () => {
    const w = await ch.exec(['sh', '-c', `echo ${marker} > /etc/romulus-marker && sync && cat /etc/romulus-marker`]);
    assert.equal(w.code, 0, w.stderr);
    assert.equal(w.stdout.trim(), marker);
    const mounts = await ch.exec(['cat', '/proc/mounts']);
    assert.match(mounts.stdout, /^overlay \/ overlay /m);
    // even root cannot write the base device: QEMU attaches it read-only
    const direct = await ch.exec(['dd', 'if=/dev/zero', 'of=/dev/vda', 'bs=512', 'count=1', 'conv=notrunc']);
    assert.notEqual(direct.code, 0, 'writing /dev/vda must fail');
  });

  it('shutdown stops the workload and QEMU exits; the base image is unchanged', async () => {
    ch.send({ t: 'shutdown' });
    const exit = await ch.waitFor('exit');
    assert.equal(exit.signal === 'SIGKILL', false, 'the workload stopped on SIGTERM');
    const code = await Promise.race([vm.exited, new Promise((r) => setTimeout(() => r('timeout'), 120_000).unref())]);
    assert.equal(code, 0, `QEMU exit ${code}`);
    assert.match(vm.consoleText(), /romulus-init: power off: the guest agent asked/);

    assert.equal(await sha256(rootfs), rootfsHashBefore, 'base rootfs untouched');
    const cat = spawnSync('debugfs', ['-R', 'cat /upper/etc/romulus-marker', vm.disk], { encoding: 'utf8' });
    assert.equal(cat.stdout.trim(), marker, 'the write is in the VM disk’s overlay upper layer');
    // the secret never reached a disk or the console
    assert.ok(!readFileSync(vm.disk).includes(secret), 'secret not on the VM disk');
    assert.ok(!vm.consoleText().includes(secret), 'secret not on the console');
    console.log(`# accel=${accel} QEMU start→init ${times.init} ms, →hello ${times.hello} ms, →ready ${times.ready} ms (configure→ready ${times.configureToReady} ms)`);
  });
});
