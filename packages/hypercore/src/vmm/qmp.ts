import net from 'node:net';
import { sleep } from './proc.ts';
import { onJsonLines } from './json-lines.ts';

/**
 * A minimal QMP client: connect to QEMU's QMP unix socket, negotiate capabilities, run commands one at a
 * time. QMP is newline-delimited JSON; asynchronous {"event":...} lines are skipped.
 */
export class QmpClient {
  private waiters: ((msg: Record<string, unknown>) => void)[] = [];
  /** Answers that arrived before anyone waited for them (the greeting, typically). */
  private inbox: Record<string, unknown>[] = [];
  private closed = false;

  private constructor(private readonly sock: net.Socket) {
    onJsonLines(sock, (m) => {
      const msg = m as Record<string, unknown>;
      if ('event' in msg) return;
      const w = this.waiters.shift();
      if (w) w(msg);
      else this.inbox.push(msg);
    });
    const fail = () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w({ error: { class: 'Closed', desc: 'QMP connection closed' } });
    };
    sock.on('close', fail);
    sock.on('error', fail);
  }

  private next(timeoutMs: number): Promise<Record<string, unknown>> {
    const queued = this.inbox.shift();
    if (queued) return Promise.resolve(queued);
    if (this.closed) return Promise.resolve({ error: { class: 'Closed', desc: 'QMP connection closed' } });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const idx = this.waiters.indexOf(done);
        if (idx >= 0) this.waiters.splice(idx, 1);
        reject(new Error(`QMP: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = (m: Record<string, unknown>) => {
        clearTimeout(timer);
        resolve(m);
      };
      this.waiters.push(done);
    });
  }

  /** Connect, read the greeting and leave capabilities negotiation mode. */
  static async connect(socketPath: string, timeoutMs = 5000): Promise<QmpClient> {
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(socketPath);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new Error('QMP connect timeout'));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    const c = new QmpClient(sock);
    // The greeting ({"QMP":...}) arrives first and is consumed as the first "answer".
    const greeting = await c.next(timeoutMs);
    if (!('QMP' in greeting)) {
      c.close();
      throw new Error(`QMP: unexpected greeting ${JSON.stringify(greeting)}`);
    }
    await c.execute('qmp_capabilities', undefined, timeoutMs);
    return c;
  }

  /** Keep trying to connect until QEMU has created and is serving the socket. */
  static async waitFor(socketPath: string, timeoutMs: number, stillRunning: () => boolean): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      if (!stillRunning()) throw new Error('VMM exited before QMP came up');
      try {
        return await QmpClient.connect(socketPath, Math.max(500, deadline - Date.now()));
      } catch (e) {
        last = e;
        await sleep(25);
      }
    }
    throw new Error(`QMP did not come up within ${timeoutMs} ms: ${(last as Error)?.message ?? 'no socket'}`);
  }

  async execute(command: string, args?: Record<string, unknown>, timeoutMs = 5000): Promise<unknown> {
    const answer = this.next(timeoutMs);
    this.sock.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
    const msg = await answer;
    if ('error' in msg) {
      const err = msg.error as { class?: string; desc?: string };
      throw new Error(`QMP ${command}: ${err.class ?? 'Error'}: ${err.desc ?? ''}`);
    }
    return msg.return;
  }

  close(): void {
    this.closed = true;
    this.sock.destroy();
  }
}
