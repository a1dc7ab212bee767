/**
 * A bare QEMU microVM for the guest suite: the project's kernel + an image's read-only rootfs + a fresh
 * writable disk, the agent channel on a virtio-serial port whose host side is a unix socket, no network
 * device at all (so the guest has no route anywhere). KVM is tried first where /dev/kvm exists and falls
 * back to TCG when the guest does not reach init (this machine's PVM KVM cannot run a stock kernel).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GUEST_CHANNEL_NAME, type GuestToHost, type HostToGuest } from '@romulus/shared/guest-protocol';
import { GuestChannel } from '../../packages/hypercore/src/guest/channel.ts';

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
  /** false = a probe boot: no writable disk, no romulus.disk (init puts the overlay's upper on tmpfs). */
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

  constructor(readonly opts: GuestVmOptions) {
    this.disk = path.join(opts.dir, 'disk.ext4');
    this.sock = path.join(opts.dir, 'agent.sock');
  }

  /** Formats the VM's own writable disk (what the node does at create). */
  makeDisk(): void {
    mkdirSync(this.opts.dir, { recursive: true });
    const r = spawnSync('sh', ['-c', `truncate -s ${this.opts.diskMib}M "$1" && mkfs.ext4 -q -F "$1"`, 'sh', this.disk]);
    if (r.status !== 0) throw new Error(`mkfs: ${r.stderr}`);
  }

  start(): void {
    const o = this.opts;
    const cmdline = [
      'console=ttyS0 reboot=k panic=-1 root=/dev/vda ro rootfstype=ext4 init=/opt/romulus/init',
      `romulus.id=${o.id} romulus.time=${Date.now()}${o.withDisk === false ? '' : ' romulus.disk=/dev/vdb'} romulus.channel=virtio`,
      o.isolatedNic ? `ip=${o.isolatedNic.ip}::${o.isolatedNic.gw}:${o.isolatedNic.mask}:${o.id}:eth0:off:${o.isolatedNic.dns}` : '',
      o.extraCmdline ?? '',
    ].join(' ').trim();
    const args = [
      '-M', 'microvm,acpi=off,pit=on,rtc=on',
      '-accel', o.accel,
      '-cpu', o.accel === 'kvm' ? 'host' : 'max',
      '-smp', String(o.vcpus),
      '-m', `${o.memoryMib}M`,
      '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
      '-kernel', o.kernel,
      '-append', cmdline,
      '-serial', 'stdio',
      '-drive', `id=root,file=${o.rootfs},format=raw,if=none,readonly=on`, '-device', 'virtio-blk-device,drive=root',
      ...(o.withDisk === false ? [] : ['-drive', `id=disk,file=${this.disk},format=raw,if=none`, '-device', 'virtio-blk-device,drive=disk']),
      ...(o.isolatedNic ? ['-netdev', 'hubport,id=n0,hubid=0', '-device', 'virtio-net-device,netdev=n0'] : []),
      '-device', 'virtio-serial-device',
      '-chardev', `socket,id=agent,path=${this.sock},server=on,wait=off`,
      '-device', `virtserialport,chardev=agent,name=${GUEST_CHANNEL_NAME}`,
    ];
    writeFileSync(path.join(o.dir, 'qemu.args.json'), JSON.stringify(args));
    this.startedAt = Date.now();
    const proc = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    let rest = '';
    const onData = (d: Buffer) => {
      const parts = (rest + d.toString()).split('\n');
      rest = parts.pop() ?? '';
      for (const line of parts) this.console.push({ at: Date.now(), line: line.replace(/\r$/, '') });
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    this.exited = new Promise((r) => proc.once('exit', (code) => r(code)));
  }

  /** Time (ms after QEMU started) of the first console line matching re, waiting up to timeoutMs. */
  async waitConsole(re: RegExp, timeoutMs: number): Promise<number | null> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.console.find((c) => re.test(c.line));
      if (hit) return hit.at - this.startedAt;
      if (Date.now() > end || this.proc?.exitCode !== null) return null;
      await sleep(50);
    }
  }

  consoleText(): string {
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
