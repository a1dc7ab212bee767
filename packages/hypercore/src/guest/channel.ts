import { EventEmitter } from 'node:events';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import type { ExecResult, GuestToHost, HostToGuest } from '@romulus/shared';
import type { ChannelEndpoint } from '../vmm/types.ts';
import { onJsonLines } from '../vmm/json-lines.ts';

export type Hello = Extract<GuestToHost, { t: 'hello' }>;
export const isHello = (m: GuestToHost): m is Hello => m.t === 'hello';

/** Longest line accepted from a guest: a misbehaving guest must not make the node buffer without bound. */
const MAX_LINE_BYTES = 4 * 1024 * 1024;

/** What went wrong on a channel, for callers that act on it (the message is for people). */
export type ChannelFault = 'connect' | 'closed' | 'timeout';

export class ChannelError extends Error {
  constructor(
    message: string,
    readonly fault: ChannelFault = 'closed',
  ) {
    super(message);
    this.name = 'ChannelError';
  }
}

export function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason ?? 'aborted'));
}

/**
 * The host side of the guest channel (newline-delimited JSON, packages/shared/src/guest-protocol.ts):
 * the node's manager and the VMM driver suite both use it. Emits 'message' (GuestToHost), 'garbage' and
 * 'close'. Knows nothing about VMs beyond the endpoint.
 */
export class GuestChannel extends EventEmitter {
  private closed = false;

  private constructor(private readonly sock: net.Socket) {
    super();
    onJsonLines(
      sock,
      (msg) => {
        if (msg && typeof msg === 'object' && typeof (msg as { t?: unknown }).t === 'string') this.emit('message', msg as GuestToHost);
        else this.emit('garbage', JSON.stringify(msg).slice(0, 200));
      },
      {
        onGarbage: (sample) => this.emit('garbage', sample),
        maxLineBytes: MAX_LINE_BYTES,
        onOverflow: () => {
          this.emit('garbage', 'line too long');
          this.close();
        },
      },
    );
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closed = true;
      this.emit('close');
    });
    sock.resume(); // the vsock handshake paused it so nothing that came with the OK was lost
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Connects, retrying while the endpoint is not there yet (the VMM creates its socket as it starts). */
  static async connect(ep: ChannelEndpoint, timeoutMs: number, signal?: AbortSignal): Promise<GuestChannel> {
    const deadline = Date.now() + timeoutMs;
    let lastErr = 'not tried';
    for (;;) {
      if (signal?.aborted) throw abortError(signal);
      try {
        return new GuestChannel(await openEndpoint(ep));
      } catch (e) {
        lastErr = (e as Error).message;
      }
      if (Date.now() >= deadline) {
        throw new ChannelError(`could not connect to the guest channel within ${Math.round(timeoutMs / 1000)}s (${lastErr})`, 'connect');
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  send(msg: HostToGuest): void {
    if (this.closed) throw new ChannelError('guest channel is closed');
    this.sock.write(`${JSON.stringify(msg)}\n`);
  }

  /** Resolves with the first message matching `pred`; rejects on timeout, close or abort. */
  waitFor<T extends GuestToHost>(
    pred: (m: GuestToHost) => m is T,
    timeoutMs: number,
    what: string,
    signal?: AbortSignal,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.closed) return reject(new ChannelError(`guest channel closed before ${what}`));
      const onMsg = (m: GuestToHost) => {
        if (pred(m)) done(() => resolve(m));
      };
      const onClose = () => done(() => reject(new ChannelError(`guest channel closed before ${what}`)));
      const onAbort = () => done(() => reject(abortError(signal!)));
      const timer = setTimeout(
        () => done(() => reject(new ChannelError(`${what} did not arrive within ${Math.round(timeoutMs / 1000)}s`, 'timeout'))),
        timeoutMs,
      );
      const done = (f: () => void) => {
        clearTimeout(timer);
        this.off('message', onMsg);
        this.off('close', onClose);
        signal?.removeEventListener('abort', onAbort);
        f();
      };
      this.on('message', onMsg);
      this.once('close', onClose);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** sync → hello: the guest answers every (re)connect's sync with its state. */
  async handshake(timeoutMs: number, signal?: AbortSignal): Promise<Hello> {
    const hello = this.waitFor(isHello, timeoutMs, 'hello', signal);
    try {
      this.send({ t: 'sync' });
    } catch (e) {
      hello.catch(() => {}); // it rejects on close too; the send error is the one to report
      throw e;
    }
    return hello;
  }

  async exec(argv: string[], timeoutMs: number, asWorkloadUser?: boolean): Promise<ExecResult> {
    const id = randomUUID();
    const result = this.waitFor(
      (m): m is Extract<GuestToHost, { t: 'exec-result' }> => m.t === 'exec-result' && m.id === id,
      timeoutMs + 5000,
      'exec result',
    );
    this.send({ t: 'exec', id, argv, timeoutMs, ...(asWorkloadUser ? { asWorkloadUser } : {}) });
    const r = await result;
    return { code: r.code, stdout: r.stdout, stderr: r.stderr };
  }

  close(): void {
    this.closed = true;
    this.sock.destroy();
  }
}

/** How long the VMM may take to answer a vsock CONNECT (it answers at once, or closes). */
const VSOCK_CONNECT_TIMEOUT_MS = 5000;

/**
 * Opens the endpoint's unix socket. For vsock (Firecracker) this is the device's host socket: ask for the
 * guest port with `CONNECT <port>\n` and wait for `OK <host port>\n`. Firecracker closes the connection
 * instead while nothing in the guest listens on the port yet (still booting): the caller retries.
 */
function openEndpoint(ep: ChannelEndpoint): Promise<net.Socket> {
  return new Promise<net.Socket>((resolve, reject) => {
    const s = net.connect(ep.path);
    let timer: NodeJS.Timeout | undefined;
    const fail = (e: Error) => {
      clearTimeout(timer);
      s.destroy();
      reject(e);
    };
    s.once('error', fail);
    s.once('connect', () => {
      if (ep.kind === 'unix') {
        s.removeListener('error', fail);
        return resolve(s);
      }
      timer = setTimeout(() => fail(new Error(`no answer to vsock CONNECT ${ep.port}`)), VSOCK_CONNECT_TIMEOUT_MS);
      let buf = Buffer.alloc(0);
      const onClose = () => fail(new Error(`vsock port ${ep.port} refused (guest not listening yet)`));
      const onData = (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        const nl = buf.indexOf(0x0a);
        if (nl < 0) {
          if (buf.length > 64) fail(new Error('garbled answer to vsock CONNECT'));
          return;
        }
        const answer = buf.subarray(0, nl).toString('latin1').trim();
        s.removeListener('data', onData);
        s.removeListener('close', onClose);
        if (!/^OK \d+$/.test(answer)) return fail(new Error(`vsock CONNECT ${ep.port} answered ${JSON.stringify(answer.slice(0, 40))}`));
        clearTimeout(timer);
        s.pause();
        if (nl + 1 < buf.length) s.unshift(buf.subarray(nl + 1)); // the guest's first bytes, if they came along
        s.removeListener('error', fail);
        resolve(s);
      };
      s.on('data', onData);
      s.once('close', onClose);
      s.write(`CONNECT ${ep.port}\n`);
    });
  });
}
