import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { buildInit } from '../build.ts';
import { SocketTransport, type Link } from './transport.ts';

/**
 * The vsock channel path minus the vsock: the real init binary's channel relay (`init channel-relay`, the
 * loop PID 1 runs for Firecracker guests, with a unix socket standing in for the vsock listener) between a
 * scripted host and the agent's SocketTransport.
 */
describe('init channel relay + SocketTransport', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'romulus-relay-'));
  const hostSock = path.join(dir, 'host.sock');
  const agentSock = path.join(dir, 'agent.sock');
  let relay: ChildProcess;
  const transport = new SocketTransport(agentSock);
  const toAgent: string[] = [];
  let link: Link;

  before(async () => {
    const init = path.join(dir, 'init');
    buildInit(init);
    relay = spawn(init, ['channel-relay', hostSock, agentSock], { stdio: 'ignore' });
    for (let i = 0; i < 200 && !existsSync(agentSock); i++) await sleep(10);
    await transport.start({ onConnect: (l) => (link = l), onLine: (_l, line) => toAgent.push(line), onClose: () => {} });
  });
  after(async () => {
    await transport.close();
    relay?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const host = async () => {
    const s = net.connect(hostSock);
    await new Promise((r) => s.once('connect', r));
    let text = '';
    s.on('data', (d) => (text += d));
    return { s, lines: () => text.split('\n').filter(Boolean), closed: new Promise<void>((r) => s.once('close', () => r())) };
  };
  /** Connects a host and waits until the relay carries its lines (then it also carries the agent's to it). */
  let seq = 0;
  const attachedHost = async () => {
    const h = await host();
    const probe = `{"t":"sync","seq":${++seq}}`;
    h.s.write(`${probe}\n`);
    await waitUntil(() => toAgent.includes(probe));
    return h;
  };

  it('lines cross both ways', async () => {
    const h = await attachedHost();
    link.send('{"t":"hello"}', 'hello');
    await waitUntil(() => h.lines().includes('{"t":"hello"}'));
    h.s.destroy();
  });

  it('a newer host connection replaces the older, which is closed; lines go to the newer only', async () => {
    const a = await attachedHost();
    const b = await attachedHost();
    await a.closed;
    link.send('{"t":"pong","id":"1"}', 'control');
    await waitUntil(() => b.lines().includes('{"t":"pong","id":"1"}'));
    assert.deepEqual(a.lines(), []);
    b.s.write('{"t":"ping","id":"2"}\n');
    await waitUntil(() => toAgent.includes('{"t":"ping","id":"2"}'));
    b.s.destroy();
  });

  it('what the agent says while no host is attached is dropped, not delivered to the next host', async () => {
    link.send('{"t":"log","line":"nobody hears this"}', 'log');
    await link.flush();
    const c = await attachedHost();
    link.send('{"t":"hello","n":2}', 'hello');
    await waitUntil(() => c.lines().length > 0);
    assert.deepEqual(c.lines(), ['{"t":"hello","n":2}']);
    c.s.destroy();
  });

  it('a large message crosses intact (partial writes, backpressure)', async () => {
    const h = await attachedHost();
    const big = JSON.stringify({ t: 'exec-result', stdout: 'x'.repeat(3 * 1024 * 1024) });
    link.send(big, 'control');
    await waitUntil(() => h.lines().includes(big), 30_000);
    h.s.destroy();
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitUntil(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}
