import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { proofMatches, tcpGuestProof, tcpHostProof, type GuestToHost, type HostToGuest } from '@romulus/shared';
import type { ChannelEndpoint } from './types.ts';
import { onJsonLines } from './json-lines.ts';

/**
 * A small client for the guest agent's channel (newline-delimited JSON, see @romulus/shared's
 * guest-protocol.ts), used by the driver suite to prove a VM really booted to its agent. The node
 * daemon has its own, richer channel code; this one only needs connect, sync/hello, send, and wait.
 */
export class GuestChannel {
  private readonly seen: GuestToHost[] = [];
  private listeners: (() => void)[] = [];
  private closed = false;
  /** TCP transport: the guest's nonce from its hello, answered in configure.auth. */
  private guestNonce: string | null = null;

  private constructor(
    private readonly sock: net.Socket,
    private readonly ep: ChannelEndpoint,
  ) {
    onJsonLines(
      sock,
      (msg) => this.seen.push(msg as GuestToHost),
      () => {
        for (const l of this.listeners.splice(0)) l();
      },
    );
    const end = () => {
      this.closed = true;
      for (const l of this.listeners.splice(0)) l();
    };
    sock.on('close', end);
    sock.on('error', end);
  }

  static connect(ep: ChannelEndpoint, timeoutMs = 5000): Promise<GuestChannel> {
    return new Promise((resolve, reject) => {
      const s = ep.kind === 'unix' ? net.connect(ep.path) : net.connect(ep.port, ep.host);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error('guest channel connect timeout'));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(new GuestChannel(s, ep));
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
  }

  send(msg: HostToGuest): void {
    this.sock.write(JSON.stringify(msg) + '\n');
  }

  /** Wait for the first message (seen so far or arriving later) that matches; consumes it. */
  async waitFor<T extends GuestToHost>(match: (m: GuestToHost) => m is T, timeoutMs: number): Promise<T>;
  async waitFor(match: (m: GuestToHost) => boolean, timeoutMs: number): Promise<GuestToHost>;
  async waitFor(match: (m: GuestToHost) => boolean, timeoutMs: number): Promise<GuestToHost> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const idx = this.seen.findIndex(match);
      if (idx >= 0) return this.seen.splice(idx, 1)[0];
      if (this.closed) throw new Error('guest channel closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`guest channel: no matching message within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.listeners.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /**
   * sync → hello. On the TCP transport the host sends a fresh nonce and checks the guest's HMAC proof
   * (a guest without the channel key is refused), and keeps the guest's nonce to prove itself in configure.
   */
  async hello(timeoutMs: number): Promise<Extract<GuestToHost, { t: 'hello' }>> {
    const nonce = this.ep.kind === 'tcp' ? randomBytes(16).toString('hex') : undefined;
    this.send(nonce ? { t: 'sync', nonce } : { t: 'sync' });
    const hello = await this.waitFor((m): m is Extract<GuestToHost, { t: 'hello' }> => m.t === 'hello', timeoutMs);
    if (this.ep.kind === 'tcp') {
      if (!proofMatches(tcpGuestProof(this.ep.key, nonce!), hello.challenge)) throw new Error('guest failed the channel key challenge');
      if (typeof hello.nonce !== 'string') throw new Error('guest hello carries no nonce on the TCP transport');
      this.guestNonce = hello.nonce;
    }
    return hello;
  }

  configure(msg: Omit<Extract<HostToGuest, { t: 'configure' }>, 't' | 'auth'>): void {
    const auth = this.ep.kind === 'tcp' && this.guestNonce ? tcpHostProof(this.ep.key, this.guestNonce) : undefined;
    this.send({ t: 'configure', ...msg, ...(auth ? { auth } : {}) });
  }

  async exec(argv: string[], timeoutMs: number): Promise<Extract<GuestToHost, { t: 'exec-result' }>> {
    const id = `x${Math.random().toString(16).slice(2)}`;
    this.send({ t: 'exec', id, argv, timeoutMs });
    return this.waitFor((m): m is Extract<GuestToHost, { t: 'exec-result' }> => m.t === 'exec-result' && m.id === id, timeoutMs + 5000);
  }

  close(): void {
    this.closed = true;
    this.sock.destroy();
  }
}
