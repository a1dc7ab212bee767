import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import net from 'node:net';
import { createGuardedServer } from './http-guard.ts';
import { exchange } from './testing/raw-http.ts';

/** Raw bytes in, the whole answer out (the server closes these connections itself). */

function envelopeOf(answer: string): { status: number; code: string } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
  const j = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
  assert.equal(j.success, false);
  assert.equal(typeof j.error.message, 'string');
  return { status, code: j.error.code };
}

describe('createGuardedServer: what Node answers by itself comes in the envelope', () => {
  let server: http.Server;
  let port = 0;
  before(async () => {
    server = createGuardedServer({ headersTimeoutMs: 200, requestTimeoutMs: 400 }, {
      request: (req, res) => {
        req.resume();
        req.on('end', () => res.end('ok'));
      },
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as net.AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('a request without Host: 400 MISSING_HOST (Node alone sends an empty 400)', async () => {
    assert.deepEqual(envelopeOf(await exchange(port, 'GET / HTTP/1.1\r\n\r\n')), { status: 400, code: 'MISSING_HOST' });
  });

  it('an HTTP/1.0 request without Host is served', async () => {
    assert.match(await exchange(port, 'GET / HTTP/1.0\r\n\r\n'), /^HTTP\/1\.1 200[\s\S]*ok$/);
  });

  it('a request line claiming HTTP/2.0: 400 UNSUPPORTED_HTTP_VERSION (a proxy would echo the version back)', async () => {
    assert.deepEqual(envelopeOf(await exchange(port, 'GET / HTTP/2.0\r\nhost: x\r\n\r\n')), { status: 400, code: 'UNSUPPORTED_HTTP_VERSION' });
  });

  it('an unknown Expect: 417 EXPECTATION_FAILED (Node alone sends an empty 417)', async () => {
    assert.deepEqual(envelopeOf(await exchange(port, 'GET / HTTP/1.1\r\nhost: x\r\nexpect: magic\r\nconnection: close\r\n\r\n')), {
      status: 417,
      code: 'EXPECTATION_FAILED',
    });
  });

  it('CONNECT: 405 METHOD_NOT_ALLOWED (Node alone drops the connection unanswered)', async () => {
    assert.deepEqual(envelopeOf(await exchange(port, 'CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n')), {
      status: 405,
      code: 'METHOD_NOT_ALLOWED',
    });
  });

  it('parser garbage: 400 BAD_REQUEST; headers over the limit: 431', async () => {
    assert.deepEqual(envelopeOf(await exchange(port, 'G ET / HTTP/1.1\r\n\r\n')), { status: 400, code: 'BAD_REQUEST' });
    assert.deepEqual(envelopeOf(await exchange(port, `GET / HTTP/1.1\r\nhost: x\r\nx-big: ${'b'.repeat(20_000)}\r\n\r\n`)), {
      status: 431,
      code: 'HEADERS_TOO_LARGE',
    });
  });

  it('headers that never end and a body that never comes are cut off with 408', async () => {
    assert.deepEqual(envelopeOf(await exchange(port, 'GET / HTTP/1.1\r\nhost: x\r\nx-slow: 1\r\n')), { status: 408, code: 'REQUEST_TIMEOUT' });
    assert.deepEqual(envelopeOf(await exchange(port, 'POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nabc')), {
      status: 408,
      code: 'REQUEST_TIMEOUT',
    });
  });
});
