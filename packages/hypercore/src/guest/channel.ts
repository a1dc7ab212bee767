import { EventEmitter } from 'node:events';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import type { ExecResult, GuestToHost, HostToGuest } from '@romulus/shared';
import type { ChannelEndpoint } from '../vmm/types.ts';

/** Longest line accepted from a guest: a misbehaving guest must not make the node buffer without bound. */
const MAX_LINE_BYTES = 4 * 1024 * 1024;

export class ChannelError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ChannelError';
  }
}

export function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new Error(String(signal.reason ?? 'aborted'));
}

/**
 * The host side of the guest channel (newline-delimited JSON, packages/shared/src/guest-protocol.ts).
 * Emits 'message' (GuestToHost) and 'close'. Knows nothing about VMs beyond the endpoint.
 */
export class GuestChannel extends EventEmitter {
  private buf = '';
  private closed = false;

  private constructor(private readonly sock: net.Socket) {
    super();
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(chunk));
    sock.on('error', () => {});
    sock.on('close', () => {
      this.closed = true;
      this.emit('close');
    });
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
        const sock = await new Promise<net.Socket>((resolve, reject) => {
          const s = ep.kind === 'unix' ? net.connect(ep.path) : net.connect(ep.port, ep.host);
          s.once('connect', () => {
            s.removeAllListeners('error');
            resolve(s);
          });
          s.once('error', (e) => {
            s.destroy();
            reject(e);
          });
        });
        return new GuestChannel(sock);
      } catch (e) {
        lastErr = (e as Error).message;
      }
      if (Date.now() >= deadline) {
        throw new ChannelError(`could not connect to the guest channel within ${Math.round(timeoutMs / 1000)}s (${lastErr})`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  private onData(chunk: string): void {
    this.buf += chunk;
    let nl: number;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (!line.trim()) continue;
      let msg: GuestToHost;
      try {
        msg = JSON.parse(line) as GuestToHost;
      } catch {
        this.emit('garbage', line.slice(0, 200));
        continue;
      }
      if (msg && typeof msg === 'object' && typeof (msg as { t?: unknown }).t === 'string') this.emit('message', msg);
      else this.emit('garbage', line.slice(0, 200));
    }
    if (this.buf.length > MAX_LINE_BYTES) {
      this.emit('garbage', 'line too long');
      this.close();
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
        () => done(() => reject(new ChannelError(`${what} did not arrive within ${Math.round(timeoutMs / 1000)}s`))),
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
