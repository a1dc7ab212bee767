import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type http from 'node:http';
import net from 'node:net';
import { createLogger } from '@romulus/shared';
import { createMetrics } from '../metrics.ts';
import type { AgentRecord, Store } from '../store/types.ts';
import { createEdgeServer } from './edge.ts';
import { Ingress } from './ingress.ts';
import { exchange, codeOf } from '@romulus/shared/testing/raw-http';

/** Raw bytes in, the whole answer out. */


describe('ingress upgrades are answered, never dropped', () => {
  const id = '0123456789ab-0123456789ab';
  const token = 't'.repeat(43);
  let closedPort = 0;
  let server: http.Server;
  let ingress: Ingress;
  let port = 0;
  before(async () => {
    // A port nobody listens on: the agent's VM "did not answer".
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    closedPort = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    const agent = {
      id,
      wallet: 'w',
      state: 'running',
      accessTokenHash: createHash('sha256').update(token).digest('hex'),
      target: { host: '127.0.0.1', port: closedPort },
    } as AgentRecord;
    const store = { getAgent: async (x: string) => (x === id ? agent : null) } as unknown as Store;
    ingress = new Ingress({ domain: 'localhost', secureCookie: false, passTokenToAgent: false, forwardedHeaders: false }, store, createLogger('t', { level: 'silent' }), createMetrics(() => store));
    server = createEdgeServer(ingress, null, { headersTimeoutMs: 2000, requestTimeoutMs: 4000 });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as net.AddressInfo).port;
  });
  after(async () => {
    ingress.close();
    await new Promise((r) => server.close(r));
  });

  const ws = 'sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
  it('an Upgrade that is not a WebSocket (h2c): 400 UNSUPPORTED_UPGRADE (the proxy destroyed the socket)', async () => {
    const a = await exchange(port, `GET / HTTP/1.1\r\nhost: ${id}.localhost\r\nauthorization: Bearer ${token}\r\nconnection: upgrade\r\nupgrade: h2c\r\n\r\n`);
    assert.deepEqual(codeOf(a), [400, 'UNSUPPORTED_UPGRADE']);
  });

  it('a WebSocket upgrade by POST: 400 UNSUPPORTED_UPGRADE', async () => {
    const a = await exchange(port, `POST / HTTP/1.1\r\nhost: ${id}.localhost\r\nauthorization: Bearer ${token}\r\nconnection: upgrade\r\nupgrade: websocket\r\n${ws}content-length: 0\r\n\r\n`);
    assert.deepEqual(codeOf(a), [400, 'UNSUPPORTED_UPGRADE']);
  });

  it('a WebSocket whose agent does not answer: 502 AGENT_UNREACHABLE in the envelope', async () => {
    const a = await exchange(port, `GET / HTTP/1.1\r\nhost: ${id}.localhost\r\nauthorization: Bearer ${token}\r\nconnection: upgrade\r\nupgrade: websocket\r\n${ws}\r\n`);
    assert.deepEqual(codeOf(a), [502, 'AGENT_UNREACHABLE']);
  });
});
