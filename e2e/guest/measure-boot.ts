/**
 * Boot-time figures for the guest under this machine's accelerator (not a test: prints numbers).
 *   [EXTRA_CMDLINE=quiet] node --import tsx e2e/guest/measure-boot.ts [runs]
 * Per run: QEMU start → init, → first hello, → ready (configure sent right after hello), and the guest's
 * own uptimes; then the median of each.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { imagesDir, kernelPath } from '@romulus/shared';
import { Channel, GuestVm } from './guest-vm.ts';

const runs = Number(process.argv[2] ?? 3);
const rows: Record<string, number>[] = [];
for (let i = 0; i < runs; i++) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'romulus-measure-'));
  const vm = new GuestVm({ dir, kernel: kernelPath(), rootfs: path.join(imagesDir(), 'base', 'rootfs.ext4'), vcpus: 1, memoryMib: 256, diskMib: 128, id: `m${i}`, accel: 'tcg', extraCmdline: process.env.EXTRA_CMDLINE });
  let ch: Channel | null = null;
  try {
    vm.makeDisk();
    vm.start();
    ch = await Channel.connect(vm.sock, 30_000);
    ch.send({ t: 'sync' });
    const hello = await ch.waitFor('hello');
    const helloAt = ch.received[0].at - vm.startedAt;
    ch.send({ t: 'configure', now: Date.now(), hostname: `m${i}`, env: {}, secrets: {} });
    const ready = await ch.waitFor('ready', () => true, 300_000);
    const readyAt = ch.received.find((r) => r.msg.t === 'ready')!.at - vm.startedAt;
    const initAt = (await vm.waitConsole(/romulus-init: started/, 1000)) ?? NaN;
    const row = { init: initAt, hello: helloAt, ready: readyAt, guestInitUptime: hello.initStartedAtUptime * 1000, guestHelloUptime: hello.helloAtUptime * 1000, guestReadyUptime: ready.atUptime * 1000 };
    rows.push(row);
    console.log(`run ${i + 1}: ${Object.entries(row).map(([k, v]) => `${k}=${Math.round(v)}ms`).join(' ')}`);
    ch.send({ t: 'shutdown' });
    await Promise.race([vm.exited, new Promise((r) => setTimeout(r, 60_000).unref())]);
  } finally {
    ch?.close();
    vm.kill();
    await vm.exited;
    rmSync(dir, { recursive: true, force: true });
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(`median over ${rows.length} (TCG): ${Object.keys(rows[0]).map((k) => `${k}=${Math.round(median(rows.map((r) => r[k])))}ms`).join(' ')}`);
