/**
 * A QEMU microVM for the guest suite, booted with the production configuration: the qemu driver's own
 * argument builder (buildQemuArgs: machine, seccomp sandbox, disks, virtio-serial channel on a unix socket,
 * console to a file, QMP) and the node's kernel command line (buildCmdline), the project's kernel, an
 * image's read-only rootfs and a fresh writable disk. No TAP: without `isolatedNic` the VM has no network
 * device, with it a NIC on a QEMU hub with no other port, so nothing can leave the VM either way. KVM is
 * tried first where /dev/kvm exists and falls back to TCG when the guest does not reach init (this
 * machine's PVM KVM cannot run a stock kernel).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { GuestToHost, HostToGuest } from '@romulus/shared/guest-protocol';
import { GuestChannel } from '../../packages/hypercore/src/guest/channel.ts';
import { buildCmdline, hostnameFor } from '../../packages/hypercore/src/manager/cmdline.ts';
import { buildQemuArgs, qemuPaths } from '../../packages/hypercore/src/vmm/qemu-args.ts';

export interface GuestVmOptions {
  dir: string;
  kernel: string;
  rootfs: string;
  vcpus: number;
  memoryMib: number;
  diskMib: number;
  id: string;
  accel: 'kvm' | 'tcg';
  /** Appended to the kernel command line (e.g. `quiet`). */
  extraCmdline?: string;
  /** false = a probe boot's command line: no romulus.disk, so init puts the overlay's upper on tmpfs. The
   *  driver still attaches a (blank) second disk, as it does for every VM; init must leave it alone. */
  withDisk?: boolean;
  /** A virtio-net NIC on a QEMU hub with no other port (nothing can leave the VM), configured by the
   *  kernel's ip= with this address/gateway/DNS: exercises IP autoconfig and the resolver link. */
  isolatedNic?: { ip: string; gw: string; mask: string; dns: string };
}

export class GuestVm {
  proc: ChildProcess | null = null;
  readonly console: { at: number; line: string }[] = [];
  startedAt = 0;
  exited: Promise<number | null> = Promise.resolve(null);
  readonly disk: string;
  readonly sock: string;
  private readonly paths: ReturnType<typeof qemuPaths>;
  private consoleOffset = 0;
  private consoleRest = '';
  private tail: NodeJS.Timeout | null = null;

  constructor(readonly opts: GuestVmOptions) {
    this.paths = qemuPaths(opts.dir);
    this.disk = path.join(opts.dir, 'disk.ext4');
    this.sock = this.paths.agentSocket;
  }

  /** Formats the VM's own writable disk (what the node does at create); a probe boot gets a blank one. */
  makeDisk(): void {
    mkdirSync(this.opts.dir, { recursive: true });
    const mkfs = this.opts.withDisk === false ? '' : ' && mkfs.ext4 -q -F "$1"';
    const r = spawnSync('sh', ['-c', `truncate -s ${Math.max(this.opts.diskMib, 1)}M "$1"${mkfs}`, 'sh', this.disk]);
    if (r.status !== 0) throw new Error(`mkfs: ${r.stderr}`);
  }

  start(): void {
    const o = this.opts;
    const nic = o.isolatedNic;
    const cmdline = buildCmdline({
      vmId: o.id,
      hostname: hostnameFor(o.id),
      nowMs: Date.now(),
      net: nic ? { ip: nic.ip, gateway: nic.gw, netmask: nic.mask, dns: nic.dns } : undefined,
      disk: o.withDisk !== false,
    });
    const spec = {
      id: o.id,
      vcpus: o.vcpus,
      memoryMib: o.memoryMib,
      kernelPath: o.kernel,
      kernelCmdline: [cmdline, o.extraCmdline ?? ''].join(' ').trim(),
      rootfsPath: o.rootfs,
      diskPath: this.disk,
      stateDir: o.dir,
    };
    // The production line; the only addition is the isolated NIC (production would put a TAP here).
    const args = [...buildQemuArgs(spec, o.accel, this.paths), ...(nic ? ['-netdev', 'hubport,id=n0,hubid=0', '-device', 'virtio-net-device,netdev=n0'] : [])];
    writeFileSync(path.join(o.dir, 'qemu.args.json'), JSON.stringify(args));
    writeFileSync(this.paths.consoleLog, '');
    this.startedAt = Date.now();
    const proc = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    // QEMU's own complaints (stdout, stderr) land beside the guest's console lines.
    let rest = '';
    const onData = (d: Buffer) => {
      const parts = (rest + d.toString()).split('\n');
      rest = parts.pop() ?? '';
      for (const line of parts) this.console.push({ at: Date.now(), line: `qemu: ${line}` });
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    this.tail = setInterval(() => this.readConsole(), 25);
    this.exited = new Promise((r) =>
      proc.once('exit', (code) => {
        if (this.tail) clearInterval(this.tail);
        this.readConsole();
        r(code);
      }),
    );
  }

  /** Takes the console lines the guest wrote to the driver's console log since the last read. */
  private readConsole(): void {
    let fd: number;
    try {
      fd = openSync(this.paths.consoleLog, 'r');
    } catch {
      return;
    }
    try {
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, this.consoleOffset);
        if (n <= 0) break;
        this.consoleOffset += n;
        const parts = (this.consoleRest + buf.subarray(0, n).toString()).split('\n');
        this.consoleRest = parts.pop() ?? '';
        for (const line of parts) this.console.push({ at: Date.now(), line: line.replace(/\r$/, '') });
      }
    } finally {
      closeSync(fd);
    }
  }

  /** Time (ms after QEMU started) of the first console line matching re, waiting up to timeoutMs. */
  async waitConsole(re: RegExp, timeoutMs: number): Promise<number | null> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      this.readConsole();
      const hit = this.console.find((c) => re.test(c.line));
      if (hit) return hit.at - this.startedAt;
      if (Date.now() > end || this.proc?.exitCode !== null) return null;
      await sleep(50);
    }
  }

  consoleText(): string {
    this.readConsole();
    return this.console.map((c) => c.line).join('\n');
  }

  kill(): void {
    if (this.proc && this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill('SIGKILL');
  }
}

/**
 * The host end of the agent channel: the node's own GuestChannel, plus a record of every message with its
 * arrival time (the suite measures boot stages from it) and waits that also match messages already seen.
 */
export class Channel {
  readonly received: { at: number; msg: GuestToHost }[] = [];
  private waiters: { pred: (m: GuestToHost) => boolean; resolve: (m: GuestToHost) => void }[] = [];

  private constructor(private readonly ch: GuestChannel) {
    ch.on('message', (m: GuestToHost) => this.onMsg(m));
  }

  static async connect(sockPath: string, timeoutMs: number): Promise<Channel> {
    return new Channel(await GuestChannel.connect({ kind: 'unix', path: sockPath }, timeoutMs));
  }

  private onMsg(msg: GuestToHost): void {
    this.received.push({ at: Date.now(), msg });
    for (const w of [...this.waiters]) if (w.pred(msg)) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve(msg);
    }
  }

  send(msg: HostToGuest): void {
    this.ch.send(msg);
  }

  waitFor<T extends GuestToHost['t']>(t: T, pred: (m: Extract<GuestToHost, { t: T }>) => boolean = () => true, timeoutMs = 120_000): Promise<Extract<GuestToHost, { t: T }>> {
    const match = (m: GuestToHost) => m.t === t && pred(m as Extract<GuestToHost, { t: T }>);
    const seen = this.received.find((r) => match(r.msg));
    if (seen) return Promise.resolve(seen.msg as Extract<GuestToHost, { t: T }>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${t} within ${timeoutMs} ms; got ${this.received.map((r) => r.msg.t).join(',')}`)), timeoutMs);
      this.waiters.push({ pred: match, resolve: (m) => { clearTimeout(timer); resolve(m as Extract<GuestToHost, { t: T }>); } });
    });
  }

  private execSeq = 0;
  async exec(argv: string[], opts: { asWorkloadUser?: boolean; timeoutMs?: number } = {}) {
    const id = `x${++this.execSeq}`;
    this.send({ t: 'exec', id, argv, timeoutMs: opts.timeoutMs ?? 60_000, ...(opts.asWorkloadUser ? { asWorkloadUser: true } : {}) });
    return this.waitFor('exec-result', (m) => m.id === id, (opts.timeoutMs ?? 60_000) + 60_000);
  }

  close(): void {
    this.ch.close();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
