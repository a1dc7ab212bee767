import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { ChannelError, GuestChannel } from './channel.ts';
import type { ChannelEndpoint } from '../vmm/types.ts';

/**
 * GuestChannel against a scripted guest on a real unix socket: plain (QEMU's virtio-serial chardev) or
 * behind Firecracker's vsock host protocol (`CONNECT <port>\n` → `OK <n>\n`, or a close while the guest
 * port has no listener). The real guest agent is exercised by the VM suites; this pins the host side's
 * handshake, framing and failure handling.
 */
type GuestScript = (line: any, write: (msg: unknown) => void, sock: net.Socket) => void;

const dir = mkdtempSync(path.join(os.tmpdir(), 'romulus-channel-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface FakeVsock {
  /** Connections Firecracker refuses (guest port not listening yet) before it accepts. */
  refuseFirst?: number;
  /** What Firecracker answers to CONNECT (default `OK 1073741824`). */
  answer?: string;
  /** Send the guest's first line in the same write as the OK (the host must not lose it). */
  coalesceHello?: unknown;
}

async function fakeGuest(kind: 'unix' | 'vsock', script: GuestScript, vs: FakeVsock = {}): Promise<{ ep: ChannelEndpoint; close: () => void; connects: string[] }> {
  const connects: string[] = [];
  let refusals = vs.refuseFirst ?? 0;
  const server = net.createServer((sock) => {
    sock.on('error', () => {});
    let buf = '';
    let connected = kind === 'unix';
    const write = (m: unknown) => sock.write(typeof m === 'string' ? m : `${JSON.stringify(m)}\n`);
    sock.on('data', (d) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!connected) {
          connects.push(line);
          if (refusals-- > 0) return void sock.destroy();
          connected = true;
          sock.write(`${vs.answer ?? 'OK 1073741824'}\n${vs.coalesceHello ? `${JSON.stringify(vs.coalesceHello)}\n` : ''}`);
          continue;
        }
        script(JSON.parse(line), write, sock);
      }
    });
  });
  const sockPath = path.join(dir, `${randomBytes(4).toString('hex')}.sock`);
  await new Promise<void>((r) => server.listen(sockPath, r));
  const ep: ChannelEndpoint = kind === 'unix' ? { kind: 'unix', path: sockPath } : { kind: 'vsock', path: sockPath, port: 52 };
  return { ep, close: () => server.close(), connects };
}

const hello = (extra: Record<string, unknown> = {}) => ({
  t: 'hello',
  v: 1,
  agentVersion: 'test',
  initStartedAtUptime: 0.5,
  helloAtUptime: 1,
  configured: false,
  ready: false,
  workloadPid: null,
  ...extra,
});

describe('GuestChannel', () => {
  it('virtio transport: sync → hello; exec round-trips by id', async () => {
    const g = await fakeGuest('unix', (m, write) => {
      if (m.t === 'sync') write(hello());
      if (m.t === 'exec') write({ t: 'exec-result', id: m.id, code: 0, stdout: m.argv.join(' '), stderr: '' });
    });
    const ch = await GuestChannel.connect(g.ep, 2000);
    const h = await ch.handshake(2000);
    assert.equal(h.agentVersion, 'test');
    assert.deepEqual(await ch.exec(['echo', 'hi'], 2000), { code: 0, stdout: 'echo hi', stderr: '' });
    ch.close();
    g.close();
  });

  it('vsock transport: CONNECT <port>, retried while the guest does not listen yet, then the same protocol', async () => {
    const g = await fakeGuest(
      'vsock',
      (m, write) => {
        if (m.t === 'sync') write(hello());
        if (m.t === 'exec') write({ t: 'exec-result', id: m.id, code: 0, stdout: 'ok', stderr: '' });
      },
      { refuseFirst: 2 },
    );
    const ch = await GuestChannel.connect(g.ep, 5000);
    assert.deepEqual(g.connects, ['CONNECT 52', 'CONNECT 52', 'CONNECT 52']);
    assert.equal((await ch.handshake(2000)).v, 1);
    assert.equal((await ch.exec(['true'], 2000)).stdout, 'ok');
    ch.close();
    g.close();
  });

  it('vsock transport: bytes that arrive with the OK belong to the guest stream', async () => {
    const g = await fakeGuest('vsock', () => {}, { coalesceHello: hello({ agentVersion: 'early' }) });
    const ch = await GuestChannel.connect(g.ep, 2000);
    const early = await ch.waitFor((m): m is ReturnType<typeof hello> & { t: 'hello' } => m.t === 'hello', 2000, 'early hello');
    assert.equal(early.agentVersion, 'early');
    ch.close();
    g.close();
  });

  it('vsock transport: an answer other than OK is an error, and a guest that never listens times out', async () => {
    const g = await fakeGuest('vsock', () => {}, { answer: 'FAILURE' });
    await assert.rejects(GuestChannel.connect(g.ep, 300), /could not connect .*answered "FAILURE"/);
    g.close();
    const never = await fakeGuest('vsock', () => {}, { refuseFirst: 1e9 });
    await assert.rejects(GuestChannel.connect(never.ep, 300), /could not connect .*refused \(guest not listening yet\)/);
    never.close();
  });

  it('skips garbage lines, reports them, and still gets the hello behind them', async () => {
    const g = await fakeGuest('unix', (m, write) => {
      if (m.t === 'sync') write(`not json\n[1,2]\n\n${JSON.stringify(hello())}\n`);
    });
    const ch = await GuestChannel.connect(g.ep, 2000);
    const garbage: string[] = [];
    ch.on('garbage', (s: string) => garbage.push(s));
    await ch.handshake(2000);
    assert.deepEqual(garbage, ['not json', '[1,2]']);
    ch.close();
    g.close();
  });

  it('closes on a line longer than the bound instead of buffering it', async () => {
    const g = await fakeGuest('unix', (m, _write, sock) => {
      if (m.t === 'sync') sock.write('x'.repeat(5 * 1024 * 1024));
    });
    const ch = await GuestChannel.connect(g.ep, 2000);
    await assert.rejects(ch.handshake(10_000), (e: Error) => e instanceof ChannelError && /closed before hello/.test(e.message));
    assert.equal(ch.isClosed, true);
    g.close();
  });

  it('a hello that never comes times out with a clear error; connect gives up when nothing listens', async () => {
    const g = await fakeGuest('unix', () => {});
    const ch = await GuestChannel.connect(g.ep, 2000);
    await assert.rejects(ch.handshake(200), /hello did not arrive/);
    ch.close();
    g.close();
    await assert.rejects(GuestChannel.connect({ kind: 'unix', path: path.join(dir, 'nobody.sock') }, 300), /could not connect to the guest channel/);
  });
});
