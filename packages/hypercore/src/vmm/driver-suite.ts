import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { GUEST_PROTOCOL_VERSION } from '@romulus/shared';
import { detectCgroups, VmCgroup } from './cgroups.ts';
import { GuestChannel } from '../guest/channel.ts';
import { buildCmdline } from '../manager/cmdline.ts';
import { isProcessAlive, processPssKib } from './proc.ts';
import { reapOnExit } from './testing/reap-on-exit.ts';
import type { RunningVm, VmLaunchSpec, VmmDriver } from './types.ts';

/**
 * The shared driver suite: every VMM adapter must pass it with a real kernel and a real base image
 * (real VMs, no fakes). It starts VMs, talks to the real guest agent over the driver's channel,
 * checks the guest sees exactly the requested vCPUs and memory, adopts, stops, notices a killed VMM,
 * and checks that nothing (process, socket, cgroup, secret) is left behind.
 */
export interface DriverSuiteEnv {
  kernelPath: string;
  rootfsPath: string;
  /** Skip the whole suite with this message (only for a driver that cannot run on this host). */
  skipReason?: string;
  /** Parent cgroup the driver was configured with (default 'romulus'); null = driver runs without cgroups. */
  cgroupParent?: string | null;
  /** Kernel command line for a VM (default: the guest boot contract without a network; the driver adds its channel). */
  cmdline?: (id: string) => string;
  /** Time allowed from start to the guest agent's hello (TCG boots are slow on a shared host). */
  bootTimeoutMs?: number;
  /** Where measured figures go (default: console). */
  report?: (figures: Record<string, number | string>) => void;
}

/** The manager's boot command line for a VM without a network: the suite needs no TAP, only the channel. */
function suiteCmdline(id: string): string {
  return buildCmdline({ vmId: id, hostname: id, nowMs: Date.now() });
}


export function runDriverSuite(name: string, makeDriver: () => VmmDriver, env: DriverSuiteEnv): void {
  const bootTimeout = env.bootTimeoutMs ?? 180_000;
  describe(`VMM driver suite: ${name}`, { skip: env.skipReason ?? false, timeout: bootTimeout * 4 }, () => {
    let driver: VmmDriver;
    let work: string;
    const started: RunningVm[] = [];
    const figures: Record<string, number | string> = {};
    const secret = `suite-secret-${randomBytes(12).toString('hex')}`;

    const spec = (id: string, vcpus: number, memoryMib: number): VmLaunchSpec => {
      const dir = path.join(work, id);
      const diskPath = path.join(work, `${id}.disk.ext4`);
      execFileSync('truncate', ['-s', '256M', diskPath]);
      execFileSync('mkfs.ext4', ['-q', '-F', '-L', 'vmdisk', diskPath], { stdio: 'ignore' });
      return {
        id,
        vcpus,
        memoryMib,
        kernelPath: env.kernelPath,
        kernelCmdline: (env.cmdline ?? suiteCmdline)(id),
        rootfsPath: env.rootfsPath,
        diskPath,
        stateDir: dir,
      };
    };

    const cgroupOf = (id: string): VmCgroup | null => {
      if (env.cgroupParent === null) return null;
      const layout = detectCgroups();
      return layout ? new VmCgroup(layout, env.cgroupParent ?? 'romulus', id) : null;
    };

    const assertNothingLeft = (vm: RunningVm, stateDir: string) => {
      assert.equal(isProcessAlive(vm.pid, vm.pidStartTime), false, 'VMM process gone');
      const stray = readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .filter((d) => {
          try {
            return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(stateDir);
          } catch {
            return false;
          }
        });
      assert.deepEqual(stray, [], 'no process refers to the VM state dir');
      const sockets = readdirSync(stateDir).filter((f) => lstatSync(path.join(stateDir, f)).isSocket());
      assert.deepEqual(sockets, [], 'no sockets left in the state dir');
      assert.equal(cgroupOf(vm.id)?.exists() ?? false, false, 'VM cgroup removed');
    };

    before(async () => {
      work = mkdtempSync(path.join(tmpdir(), `romulus-suite-${name}-`));
      driver = makeDriver();
    });

    after(async () => {
      for (const vm of started) if (driver.isAlive(vm)) await driver.kill(vm).catch(() => {});
      driver?.close();
      if (work) {
        // The secret must not have reached any file the driver or VMM wrote (state dirs, logs, records).
        const leaks: string[] = [];
        const walk = (d: string) => {
          for (const f of readdirSync(d)) {
            const p = path.join(d, f);
            const st = lstatSync(p);
            if (st.isDirectory()) walk(p);
            else if (st.isFile() && !f.endsWith('.disk.ext4') && readFileSync(p).includes(secret)) leaks.push(p);
          }
        };
        walk(work);
        rmSync(work, { recursive: true, force: true });
        assert.deepEqual(leaks, [], 'secret written to host files');
      }
      (env.report ?? ((f) => console.log(`[driver-suite ${name}] figures ${JSON.stringify(f)}`)))(figures);
    });

    let vmA: RunningVm | undefined;
    let specA: VmLaunchSpec;
    let chan: GuestChannel | undefined;
    /** Later tests need the first VM: say so plainly instead of failing on an undefined. */
    const running = (): { vm: RunningVm; ch: GuestChannel } => {
      if (!vmA || !chan) throw new Error('no running VM with a channel: the start test failed (see its error)');
      return { vm: vmA, ch: chan };
    };

    test('probe picks an accelerator and says why when it is not KVM', async () => {
      const t0 = Date.now();
      const r = await driver.probe(env.kernelPath);
      figures.probeMs = Date.now() - t0;
      figures.accel = r.accel;
      assert.equal(r.usable, true);
      assert.ok(r.accel === 'kvm' || r.accel === 'tcg');
      if (r.accel === 'tcg') assert.ok(r.reason && r.reason.length > 5, 'a TCG fallback carries a reason');
    });

    test('start: VMM up, guest agent answers hello on the channel', { timeout: bootTimeout + 30_000 }, async () => {
      specA = spec('suite-a', 2, 256);
      const vm = reapOnExit(await driver.start(specA), { cgroupParent: env.cgroupParent ?? undefined });
      started.push(vm);
      figures.spawnToVmmUpMs = vm.vmmUpAt - vm.spawnedAt;
      assert.ok(driver.isAlive(vm));
      assert.ok(vm.vmmUpAt >= vm.spawnedAt);
      const deadline = Date.now() + bootTimeout;
      // The channel socket may refuse until the VMM serves it; the guest answers once its agent runs.
      for (;;) {
        let ch: GuestChannel | undefined;
        try {
          ch = await GuestChannel.connect(vm.channel, 5000);
          const hello = await ch.handshake(Math.min(10_000, Math.max(1000, deadline - Date.now())));
          figures.spawnToHelloMs = Date.now() - vm.spawnedAt;
          assert.equal(hello.v, GUEST_PROTOCOL_VERSION);
          vmA = vm;
          chan = ch;
          break;
        } catch (e) {
          ch?.close();
          if (!driver.isAlive(vm)) throw new Error(`VMM died during boot; console: ${readFileSync(vm.consoleLogPath, 'utf8').slice(-2000)}`);
          if (Date.now() > deadline) throw new Error(`no hello within ${bootTimeout} ms: ${(e as Error).message}`);
        }
      }
    });

    test('the guest sees exactly the requested vCPUs and memory', { timeout: 120_000 }, async () => {
      const { ch: chan } = running();
      chan.send({ t: 'configure', now: Date.now(), hostname: 'suite-a', env: { SUITE: '1' }, secrets: { SUITE_SECRET: secret } });
      const nproc = await chan.exec(['nproc'], 60_000);
      assert.equal(nproc.code, 0, nproc.stderr);
      assert.equal(nproc.stdout.trim(), '2');
      const mem = await chan.exec(['grep', 'MemTotal', '/proc/meminfo'], 60_000);
      assert.equal(mem.code, 0, mem.stderr);
      const kib = Number(/MemTotal:\s+(\d+) kB/.exec(mem.stdout)?.[1]);
      figures.guestMemTotalKib = kib;
      // The kernel keeps some for itself; what it reports must be below 256 MiB and well above 192 MiB.
      assert.ok(kib <= 256 * 1024 && kib > 192 * 1024, `MemTotal ${kib} kB for a 256 MiB VM`);
      const ro = await chan.exec(['cat', '/sys/block/vda/ro'], 30_000);
      assert.equal(ro.stdout.trim(), '1', 'the base rootfs is attached read-only as vda');
    });

    test('the VMM runs in its own cgroup with the expected limits', () => {
      const { vm: vmA } = running();
      const cg = cgroupOf(vmA.id);
      if (!cg) return assert.equal(env.cgroupParent, null, 'cgroups expected but not found');
      assert.ok(cg.pids().includes(vmA.pid), `pid ${vmA.pid} in ${cg.dirs().join(', ')}`);
      const own = readFileSync(`/proc/${vmA.pid}/cgroup`, 'utf8');
      assert.match(own, new RegExp(`/${env.cgroupParent ?? 'romulus'}/${vmA.id}\\n`));
      if (cg.layout.version === 'v1') {
        assert.equal(cg.readFile('cpu', 'cpu.cfs_quota_us'), '200000');
        const mem = Number(cg.readFile('memory', 'memory.limit_in_bytes'));
        assert.ok(mem >= 256 * 1024 * 1024 + 64 * 1024 * 1024 && mem <= 256 * 1024 * 1024 + 512 * 1024 * 1024, `memory limit ${mem}`);
      } else {
        assert.equal(cg.readFile('cpu', 'cpu.max'), '200000 100000');
        assert.ok(Number(cg.readFile('memory', 'memory.max')) > 256 * 1024 * 1024);
      }
      assert.ok(Number(cg.readFile('pids', 'pids.max')) > 0);
      const pss = processPssKib(vmA.pid);
      if (pss !== null) figures.vmmPssKib256MiB = pss;
    });

    test('adopt from the state dir returns the same VMM; start is idempotent', async () => {
      const { vm: vmA } = running();
      const adopted = await driver.adopt(specA.stateDir);
      assert.ok(adopted);
      assert.equal(adopted.pid, vmA.pid);
      assert.equal(adopted.pidStartTime, vmA.pidStartTime);
      const again = await driver.start(specA);
      assert.equal(again.pid, vmA.pid, 'a second start on a live state dir does not spawn another VMM');
    });

    test('a VMM killed behind the driver\'s back is noticed; kill releases everything', { timeout: bootTimeout + 30_000 }, async () => {
      const { vm: vmA } = running();
      const specB = spec('suite-b', 1, 128);
      const vmB = reapOnExit(await driver.start(specB), { cgroupParent: env.cgroupParent ?? undefined });
      started.push(vmB);
      assert.ok(driver.isAlive(vmB));
      process.kill(vmB.pid, 'SIGKILL');
      const deadline = Date.now() + 10_000;
      while (driver.isAlive(vmB) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.equal(driver.isAlive(vmB), false);
      assert.ok(driver.isAlive(vmA), 'the other VM is unaffected');
      assert.equal(await driver.adopt(specB.stateDir), null, 'adopt of a dead VMM is null');
      await driver.kill(vmB);
      assertNothingLeft(vmB, specB.stateDir);
    });

    test('stop ends the VMM and leaves nothing behind', { timeout: 60_000 }, async () => {
      const { vm: vmA, ch: chan } = running();
      chan.close();
      await driver.stop(vmA, 20_000);
      assert.equal(driver.isAlive(vmA), false);
      assertNothingLeft(vmA, specA.stateDir);
      assert.equal(await driver.adopt(specA.stateDir), null);
    });
  });
}
