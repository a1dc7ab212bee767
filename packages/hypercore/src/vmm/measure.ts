/**
 * Measures the qemu driver on this host with real VMs and prints figures (no pass/fail):
 *   node --import tsx packages/hypercore/src/vmm/measure.ts [--runs 5] [--tb-size 64] [--memory 256] [--agent]
 * - probe: uncached accelerator probe duration and verdict
 * - spawn→QMP up (vmmUpAt - spawnedAt), spawn→first guest sign of life:
 *     default: a busybox init's console line (kernel + init, no base image needed)
 *     --agent: the real base image's guest agent `hello` over the channel
 * - QEMU PSS (smaps_rollup) of a running VM, and stop (QMP system_reset → exit) duration.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { imagesDir, kernelPath } from '@romulus/shared';
import { buildCmdline } from '../manager/cmdline.ts';
import { GuestChannel } from '../guest/channel.ts';
import { processPssKib, sleep } from './proc.ts';
import { QemuDriver } from './qemu.ts';
import { reapOnExit } from './testing/reap-on-exit.ts';
import { BUSYBOX_CMDLINE, BUSYBOX_MARKER, buildBusyboxRootfs } from './testing/busybox-rootfs.ts';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const runs = opt('--runs', 5);
const tbSize = opt('--tb-size', 64);
const memoryMib = opt('--memory', 256);
const agent = argv.includes('--agent');

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const work = mkdtempSync(path.join(tmpdir(), 'romulus-measure-'));
const driver = new QemuDriver({ cacheDir: path.join(work, 'cache'), tbSizeMib: tbSize, cgroupParent: 'romulus-measure' });
// VMMs are detached by design (they outlive their parent): reapOnExit SIGKILLs ours on Ctrl-C or a
// timeout, and the temp dir goes with the process.
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
try {
  const kernel = kernelPath();
  const t0 = Date.now();
  const probe = await driver.probe(kernel);
  console.log(`probe: ${Date.now() - t0} ms -> ${probe.accel}${probe.reason ? ` (${probe.reason})` : ''}`);
  const rootfs = agent ? path.join(imagesDir(), 'base', 'rootfs.ext4') : buildBusyboxRootfs(work);
  const rows: { qmp: number; alive: number; pss: number; stop: number }[] = [];
  for (let i = 0; i < runs; i++) {
    const id = `measure-${i}`;
    const disk = path.join(work, `${id}.ext4`);
    execFileSync('truncate', ['-s', '256M', disk]);
    execFileSync('mkfs.ext4', ['-q', '-F', disk], { stdio: 'ignore' });
    const vm = reapOnExit(await driver.start({
      id, vcpus: 1, memoryMib, kernelPath: kernel, rootfsPath: rootfs, diskPath: disk, stateDir: path.join(work, id),
      kernelCmdline: agent ? buildCmdline({ vmId: id, hostname: id, nowMs: Date.now() }) : BUSYBOX_CMDLINE,
    }), { cgroupParent: 'romulus-measure', removeParent: true });
    let aliveAt = 0;
    const deadline = Date.now() + 300_000;
    while (!aliveAt && Date.now() < deadline) {
      if (agent) {
        // QEMU's chardev serves one client at a time: always close a connection before trying again.
        let ch: GuestChannel | null = null;
        try {
          ch = await GuestChannel.connect(vm.channel, 1000);
          await ch.handshake(5000);
          aliveAt = Date.now();
        } catch {
          await sleep(100);
        } finally {
          ch?.close();
        }
      } else if (BUSYBOX_MARKER.test(readFileSync(vm.consoleLogPath, 'utf8'))) aliveAt = Date.now();
      else await sleep(50);
    }
    await sleep(1000); // let the guest settle before sampling memory
    const pss = processPssKib(vm.pid) ?? NaN;
    const s0 = Date.now();
    await driver.stop(vm, 10_000);
    rows.push({ qmp: vm.vmmUpAt - vm.spawnedAt, alive: aliveAt ? aliveAt - vm.spawnedAt : NaN, pss: Math.round(pss / 1024), stop: Date.now() - s0 });
    console.log(`run ${i}: spawn→QMP ${rows[i].qmp} ms, spawn→${agent ? 'hello' : 'init'} ${rows[i].alive} ms, PSS ${rows[i].pss} MiB, stop ${rows[i].stop} ms`);
  }
  console.log(
    `median over ${runs} (${probe.accel}, tb-size ${tbSize} MiB, ${memoryMib} MiB guest): spawn→QMP ${median(rows.map((r) => r.qmp))} ms, ` +
      `spawn→${agent ? 'hello' : 'init'} ${median(rows.map((r) => r.alive))} ms, PSS ${median(rows.map((r) => r.pss))} MiB, stop ${median(rows.map((r) => r.stop))} ms`,
  );
} finally {
  cleanup();
}

function cleanup(): void {
  driver.close();
  rmSync(work, { recursive: true, force: true });
  for (const c of ['cpu', 'memory', 'pids']) {
    try {
      execFileSync('rmdir', [`/sys/fs/cgroup/${c}/romulus-measure`], { stdio: 'ignore' });
    } catch {
      /* v2 host or already gone */
    }
  }
}
