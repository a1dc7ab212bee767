import { EventEmitter } from 'node:events';
import net from 'node:net';
import { randomBytes, randomUUID } from 'node:crypto';
import { proofMatches, tcpGuestProof, tcpHostProof, type ExecResult, type GuestToHost, type HostToGuest } from '@romulus/shared';
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

/** The guest could not prove it holds the VM's channel key (TCP transport). */
export class ChannelAuthError extends ChannelError {
  constructor(message: string) {
    super(message);
    this.name = 'ChannelAuthError';
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
  /** TCP transport: the guest's nonce from its hello, which the host's proof (configure.auth) answers. */
  private guestNonce: string | undefined;

  private constructor(
    private readonly sock: net.Socket,
    private readonly ep: ChannelEndpoint,
  ) {
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
        return new GuestChannel(sock, ep);
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

  /**
   * sync → hello. On the TCP transport both sides prove they hold the per-VM channel key (HMAC over the
   * other side's fresh nonce): this checks the guest's proof and keeps its nonce for hostProof(). A guest
   * without the key gets ChannelAuthError and a closed channel.
   */
  async handshake(timeoutMs: number, signal?: AbortSignal): Promise<Hello> {
    const key = this.ep.kind === 'tcp' ? this.ep.key : undefined;
    const nonce = key ? randomBytes(16).toString('hex') : undefined;
    const hello = this.waitFor(isHello, timeoutMs, 'hello', signal);
    try {
      this.send(nonce ? { t: 'sync', nonce } : { t: 'sync' });
    } catch (e) {
      hello.catch(() => {}); // it rejects on close too; the send error is the one to report
      throw e;
    }
    const h = await hello;
    if (key && nonce) {
      const fault = !proofMatches(tcpGuestProof(key, nonce), h.challenge)
        ? 'guest channel authentication failed (wrong proof from the guest)'
        : typeof h.nonce !== 'string'
          ? 'guest hello carries no nonce on the TCP transport'
          : undefined;
      if (fault) {
        this.close();
        throw new ChannelAuthError(fault);
      }
      this.guestNonce = h.nonce;
    }
    return h;
  }

  /** The host's proof for configure.auth / auth on the TCP transport; undefined on virtio-serial. */
  hostProof(): string | undefined {
    return this.ep.kind === 'tcp' && this.guestNonce ? tcpHostProof(this.ep.key, this.guestNonce) : undefined;
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
