import { promises as fsp, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { LineSplitter } from './lines.ts';

/**
 * How lines reach the host. Transports behind one shape, each one long-lived link on a channel only the
 * host can reach (so nothing to authenticate):
 *  - FdTransport: a character device opened read-write (the virtio-serial port, QEMU), or a pair of paths
 *    (FIFOs in tests). The host side comes and goes underneath it.
 *  - SocketTransport: a unix socket to init's channel relay, which accepts the host's vsock connections
 *    (Firecracker) and relays the current one.
 */

/** What a queued line is, so a slow or absent host costs bounded memory: logs are dropped first, a
 *  pending hello is replaced by the newer one, everything else is kept. */
export type LineKind = 'control' | 'log' | 'hello';

export interface Link {
  readonly id: number;
  send(line: string, kind: LineKind): void;
  /** Resolves once everything queued so far was handed to the kernel (or the link is gone). */
  flush(): Promise<void>;
  close(): void;
}

export interface TransportHandlers {
  onConnect(link: Link): void;
  onLine(link: Link, line: string): void;
  onClose(link: Link): void;
}

export interface Transport {
  start(h: TransportHandlers): Promise<void>;
  close(): Promise<void>;
}

const MAX_QUEUED_LOG_LINES = 2000;
let nextLinkId = 1;

/** Finds /dev/<vportNpM> for a named virtio-serial port via sysfs (no udev in the guest). */
export function findVirtioPort(name: string, sysDir = '/sys/class/virtio-ports', devDir = '/dev'): string | null {
  let entries: string[];
  try {
    entries = readdirSync(sysDir);
  } catch {
    return null;
  }
  for (const entry of entries) {
    try {
      if (readFileSync(path.join(sysDir, entry, 'name'), 'utf8').trim() === name) return path.join(devDir, entry);
    } catch {
      // port without a name
    }
  }
  return null;
}

/**
 * A link over file descriptors with blocking reads and writes done in libuv's thread pool: a virtio port is
 * a character device that epoll-based sockets cannot wrap. One read and at most one write are in flight at
 * a time, so the pool is never exhausted. A read of 0 bytes means no host is attached (or, for a FIFO, no
 * writer): wait a little and read again.
 */
export class FdTransport implements Transport {
  private closed = false;
  private readFd: fsp.FileHandle | null = null;
  private writeFd: fsp.FileHandle | null = null;
  constructor(
    private readonly readPath: string,
    private readonly writePath: string = readPath,
    private readonly idlePollMs = 50,
  ) {}

  async start(h: TransportHandlers): Promise<void> {
    if (this.readPath === this.writePath) {
      this.readFd = await fsp.open(this.readPath, 'r+');
      this.writeFd = this.readFd;
      await fsp.chmod(this.readPath, 0o600).catch(() => {});
    } else {
      // Separate paths (FIFOs in tests): opening waits for the peer, EOF means it went away for now.
      this.readFd = await fsp.open(this.readPath, 'r');
      this.writeFd = await fsp.open(this.writePath, 'w');
    }
    const queue = new OutQueue(async (data) => {
      await this.writeFd!.write(data);
    });
    const link = queueLink(queue);
    h.onConnect(link);
    const splitter = new LineSplitter((l) => h.onLine(link, l), 1024 * 1024);
    void (async () => {
      const buf = Buffer.alloc(64 * 1024);
      while (!this.closed) {
        let n = 0;
        try {
          ({ bytesRead: n } = await this.readFd!.read(buf, 0, buf.length, null));
        } catch (e) {
          if (this.closed) break;
          const code = (e as NodeJS.ErrnoException).code;
          if (code !== 'EAGAIN' && code !== 'EINTR') await sleep(this.idlePollMs * 10);
        }
        if (n > 0) splitter.push(buf.subarray(0, n));
        else await sleep(this.idlePollMs);
      }
    })();
  }

  /** Stops reading. A FileHandle closes only once its blocked read returns (data or EOF from the peer), so
   *  the close is not awaited: the read loop sees `closed` and ends then. */
  async close(): Promise<void> {
    this.closed = true;
    const fds = new Set([this.readFd, this.writeFd]);
    for (const fd of fds) void fd?.close().catch(() => {});
  }
}

/** A link on a channel only the host can reach (virtio-serial, the vsock relay). */
function queueLink(queue: OutQueue): Link {
  return {
    id: nextLinkId++,
    send: (line, kind) => queue.push(line, kind),
    flush: () => queue.flush(),
    close: () => {},
  };
}

/**
 * One long-lived link over init's channel relay (/run/romulus/channel.sock, root-only), which joins it to the
 * host's current vsock connection. Node cannot open AF_VSOCK itself, and only the host can reach a guest's
 * vsock, so the link needs no key. Lines written while no host is attached are dropped by the relay, as on
 * virtio-serial (the agent repeats its hello until configured). A path, not an inherited fd: Node would
 * pass an inherited fd on to every process it spawns, the workload included.
 */
export class SocketTransport implements Transport {
  private sock: net.Socket | null = null;
  constructor(private readonly socketPath: string) {}

  async start(h: TransportHandlers): Promise<void> {
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(this.socketPath);
      s.once('connect', () => {
        s.removeListener('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
    this.sock = sock;
    const queue = new OutQueue(
      (data) => new Promise<void>((resolve, reject) => (sock.destroyed ? reject(new Error('channel socket closed')) : sock.write(data, (e) => (e ? reject(e) : resolve())))),
    );
    const link = queueLink(queue);
    const splitter = new LineSplitter((l) => h.onLine(link, l), 1024 * 1024);
    sock.on('data', (d) => splitter.push(d));
    sock.on('error', () => {});
    sock.on('close', () => h.onClose(link)); // init's relay is gone: init powers the VM off
    h.onConnect(link);
  }

  async close(): Promise<void> {
    this.sock?.destroy();
  }
}

/** Single-writer queue with the drop policy of LineKind. */
export class OutQueue {
  private items: { line: string; kind: LineKind }[] = [];
  private writing = false;
  private droppedLogs = 0;
  private idleWaiters: (() => void)[] = [];
  constructor(private readonly write: (data: string) => Promise<void>) {}

  push(line: string, kind: LineKind): void {
    if (kind === 'hello') {
      const i = this.items.findIndex((x) => x.kind === 'hello');
      if (i >= 0) this.items.splice(i, 1);
    }
    if (kind === 'log' && this.items.filter((x) => x.kind === 'log').length >= MAX_QUEUED_LOG_LINES) {
      this.droppedLogs++;
      return;
    }
    this.items.push({ line, kind });
    void this.pump();
  }

  flush(): Promise<void> {
    if (!this.writing && this.items.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private async pump(): Promise<void> {
    if (this.writing) return;
    this.writing = true;
    try {
      while (this.items.length) {
        // Write several lines per syscall: fewer round trips through the thread pool.
        const batch = this.items.splice(0, 64);
        let data = batch.map((x) => x.line + '\n').join('');
        if (this.droppedLogs) {
          data += JSON.stringify({ t: 'log', stream: 'agent', line: `dropped ${this.droppedLogs} log lines (host not reading)` }) + '\n';
          this.droppedLogs = 0;
        }
        try {
          await this.write(data);
        } catch {
          await sleep(100); // port went away (host detached): lines are lost, the host resyncs with `sync`
        }
      }
    } finally {
      this.writing = false;
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
