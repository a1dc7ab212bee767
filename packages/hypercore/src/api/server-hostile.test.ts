import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createLogger } from '@romulus/shared';
import type { VmManager } from '../manager/vm-manager.ts';
import type { NodeMetrics } from '../metrics.ts';
import { buildApi } from './server.ts';
import { exchange, codeOf } from '@romulus/shared/testing/raw-http';

/** Raw bytes in, the whole answer out (these answers close the connection). */

/** What never reaches a route handler: no manager is needed, so none is given. */
describe('node API: parser, router and slow-client errors in the envelope', () => {
  const app = buildApi({
    manager: {} as VmManager,
    metrics: {} as NodeMetrics,
    token: 'node-token-0123456789',
    nodeId: 't',
    version: '0',
    bodyLimit: 1024,
    httpLimits: { headersTimeoutMs: 200, requestTimeoutMs: 400 },
    log: createLogger('t', { level: 'silent' }),
    startedAt: 0,
  });
  let port = 0;
  before(async () => {
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as net.AddressInfo).port;
  });
  after(() => app.close());

  const auth = 'authorization: Bearer node-token-0123456789\r\n';
  it('a URL that does not decode: 400 BAD_URL (was Fastify\'s own body)', async () => {
    assert.deepEqual(codeOf(await exchange(port, `GET /v1/vms/%zz HTTP/1.1\r\nhost: x\r\n${auth}connection: close\r\n\r\n`)), [400, 'BAD_URL']);
  });
  it('a path parameter over the router limit: PARAM_TOO_LONG', async () => {
    const a = await exchange(port, `GET /v1/vms/${'a'.repeat(200)} HTTP/1.1\r\nhost: x\r\n${auth}connection: close\r\n\r\n`);
    assert.deepEqual(codeOf(a), [414, 'PARAM_TOO_LONG']);
  });
  it('parser garbage: 400 BAD_REQUEST (was Fastify\'s {"error":"Bad Request"})', async () => {
    assert.deepEqual(codeOf(await exchange(port, 'G ET / HTTP/1.1\r\n\r\n')), [400, 'BAD_REQUEST']);
  });
  it('no Host: 400 MISSING_HOST', async () => {
    assert.deepEqual(codeOf(await exchange(port, `GET /v1/health HTTP/1.1\r\n\r\n`)), [400, 'MISSING_HOST']);
  });
  it('slow-loris headers and a body that never completes: 408 REQUEST_TIMEOUT', async () => {
    assert.deepEqual(codeOf(await exchange(port, `GET /v1/health HTTP/1.1\r\nhost: x\r\n`)), [408, 'REQUEST_TIMEOUT']);
    assert.deepEqual(codeOf(await exchange(port, `POST /v1/vms HTTP/1.1\r\nhost: x\r\n${auth}content-type: application/json\r\ncontent-length: 50\r\n\r\n{"image"`)), [408, 'REQUEST_TIMEOUT']);
  });
});
