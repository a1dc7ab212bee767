import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { tcpGuestProof, tcpHostProof } from '@romulus/shared';
import { ChannelAuthError, ChannelError, GuestChannel } from './channel.ts';
import type { ChannelEndpoint } from '../vmm/types.ts';

/**
 * GuestChannel against a scripted guest on a real socket (unix for the virtio-serial transport, loopback
 * TCP for the keyed one). The real guest agent is exercised by the VM suites; this pins the host side's
 * handshake, framing and failure handling.
 */
type GuestScript = (line: any, write: (msg: unknown) => void, sock: net.Socket) => void;

const dir = mkdtempSync(path.join(os.tmpdir(), 'romulus-channel-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function fakeGuest(kind: 'unix' | 'tcp', script: GuestScript, key = randomBytes(32).toString('hex')): Promise<{ ep: ChannelEndpoint; close: () => void }> {
  const server = net.createServer((sock) => {
    sock.on('error', () => {});
    let buf = '';
    const write = (m: unknown) => sock.write(typeof m === 'string' ? m : `${JSON.stringify(m)}\n`);
    sock.on('data', (d) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        script(JSON.parse(line), write, sock);
      }
    });
  });
  const sockPath = path.join(dir, `${randomBytes(4).toString('hex')}.sock`);
  await new Promise<void>((r) => (kind === 'unix' ? server.listen(sockPath, r) : server.listen(0, '127.0.0.1', r)));
  const ep: ChannelEndpoint =
    kind === 'unix' ? { kind: 'unix', path: sockPath } : { kind: 'tcp', host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, key };
  return { ep, close: () => server.close() };
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
  it('virtio transport: sync → hello, no proofs; exec round-trips by id', async () => {
    const g = await fakeGuest('unix', (m, write) => {
      if (m.t === 'sync') {
        assert.equal(m.nonce, undefined);
        write(hello());
      }
      if (m.t === 'exec') write({ t: 'exec-result', id: m.id, code: 0, stdout: m.argv.join(' '), stderr: '' });
    });
    const ch = await GuestChannel.connect(g.ep, 2000);
    const h = await ch.handshake(2000);
    assert.equal(h.agentVersion, 'test');
    assert.equal(ch.hostProof(), undefined);
    assert.deepEqual(await ch.exec(['echo', 'hi'], 2000), { code: 0, stdout: 'echo hi', stderr: '' });
    ch.close();
    g.close();
  });

  it('TCP transport: checks the guest proof over its nonce and proves itself over the guest nonce', async () => {
    const key = randomBytes(32).toString('hex');
    const guestNonce = randomBytes(16).toString('hex');
    const g = await fakeGuest(
      'tcp',
      (m, write) => {
        if (m.t === 'sync') write(hello({ challenge: tcpGuestProof(key, m.nonce), nonce: guestNonce }));
      },
      key,
    );
    const ch = await GuestChannel.connect(g.ep, 2000);
    await ch.handshake(2000);
    assert.equal(ch.hostProof(), tcpHostProof(key, guestNonce));
    ch.close();
    g.close();
  });

  it('TCP transport: a guest without the key is refused and the channel closed', async () => {
    const g = await fakeGuest('tcp', (m, write) => {
      if (m.t === 'sync') write(hello({ challenge: tcpGuestProof(randomBytes(32).toString('hex'), m.nonce), nonce: 'ab' }));
    });
    const ch = await GuestChannel.connect(g.ep, 2000);
    await assert.rejects(ch.handshake(2000), ChannelAuthError);
    assert.equal(ch.isClosed, true);
    assert.equal(ch.hostProof(), undefined);
    g.close();
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
