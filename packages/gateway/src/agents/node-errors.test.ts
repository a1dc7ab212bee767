import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ApiError, NODE_ERRORS, type NodeErrorCode } from '@romulus/shared';
import { HttpNodeClient, NodeApiError, NodeUnavailableError } from '../node-client.ts';
import { gatewayErrorForNode, NODE_ERROR_ANSWERS } from './node-errors.ts';

/** The decision for every node code, spelled out: a change to the mapping must change this table too. */
const EXPECTED: Record<NodeErrorCode, [number, string]> = {
  VALIDATION_FAILED: [502, 'NODE_ERROR'],
  MALFORMED_JSON: [502, 'NODE_ERROR'],
  BAD_REQUEST: [502, 'NODE_ERROR'],
  BELOW_IMAGE_MINIMUM: [400, 'NODE_REJECTED'],
  ENV_SECRET_CLASH: [400, 'NODE_REJECTED'],
  UNAUTHORIZED: [502, 'NODE_ERROR'],
  NOT_FOUND: [502, 'NODE_ERROR'],
  VM_NOT_FOUND: [502, 'NODE_ERROR'],
  IMAGE_NOT_FOUND: [400, 'UNKNOWN_AGENT_TYPE'],
  WAIT_TIMEOUT: [502, 'NODE_ERROR'],
  VM_EXISTS: [502, 'NODE_ERROR'],
  VM_NOT_RUNNING: [502, 'NODE_ERROR'],
  INSUFFICIENT_CAPACITY: [503, 'NO_CAPACITY'],
  PAYLOAD_TOO_LARGE: [400, 'NODE_REJECTED'],
  UNSUPPORTED_MEDIA_TYPE: [502, 'NODE_ERROR'],
  RATE_LIMITED: [503, 'NO_CAPACITY'],
  INTERNAL: [502, 'NODE_ERROR'],
  EXEC_FAILED: [502, 'NODE_ERROR'],
  NODE_CLOSING: [503, 'NODE_UNAVAILABLE'],
};

describe('gateway answers for node errors', () => {
  for (const code of Object.keys(NODE_ERRORS) as NodeErrorCode[]) {
    it(`${code} (node ${NODE_ERRORS[code]}) → ${EXPECTED[code].join(' ')}`, () => {
      const out = gatewayErrorForNode(new NodeApiError(NODE_ERRORS[code], code, 'why'));
      assert.ok(out instanceof ApiError);
      assert.deepEqual([out.status, out.code], EXPECTED[code]);
      assert.equal(out.details?.node_code, code);
    });
  }

  it('covers exactly the node codes', () => {
    assert.deepEqual(Object.keys(NODE_ERROR_ANSWERS).sort(), Object.keys(NODE_ERRORS).sort());
  });

  it('maps by code, not by status or wording: an unknown code is a node failure even with a 409 and "capacity" in it', () => {
    const out = gatewayErrorForNode(new NodeApiError(409, 'SOMETHING_NEW', 'no CAPACITY here')) as ApiError;
    assert.deepEqual([out.status, out.code], [502, 'NODE_ERROR']);
  });

  it('an unreachable node is 503 NODE_UNAVAILABLE; other errors pass through', () => {
    const out = gatewayErrorForNode(new NodeUnavailableError('down')) as ApiError;
    assert.deepEqual([out.status, out.code], [503, 'NODE_UNAVAILABLE']);
    const other = new TypeError('bug');
    assert.equal(gatewayErrorForNode(other), other);
  });
});

describe('HttpNodeClient error classes', () => {
  let server: Server;
  let answer: { status: number; body: string } = { status: 200, body: '{}' };
  let url = '';
  before(async () => {
    server = createServer((_req, res) => {
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));
  const client = () => new HttpNodeClient({ url, token: 't', nodeId: 'n1', timeoutMs: 2000 });

  it("a node's enveloped 500 is a NodeApiError with its code (a node failure, not an unreachable node)", async () => {
    answer = { status: 500, body: JSON.stringify({ success: false, error: { code: 'INTERNAL', message: 'boom' } }) };
    const err = await client().health().catch((e) => e);
    assert.ok(err instanceof NodeApiError);
    assert.equal(err.code, 'INTERNAL');
  });

  it('an answer without the envelope (a proxy in between) is NodeUnavailableError', async () => {
    answer = { status: 502, body: '<html>bad gateway</html>' };
    assert.ok((await client().health().catch((e) => e)) instanceof NodeUnavailableError);
  });

  it('VM_NOT_FOUND reads as null, a route NOT_FOUND does not', async () => {
    answer = { status: 404, body: JSON.stringify({ success: false, error: { code: 'VM_NOT_FOUND', message: 'gone' } }) };
    assert.equal(await client().getVm('abc'), null);
    answer = { status: 404, body: JSON.stringify({ success: false, error: { code: 'NOT_FOUND', message: 'no route' } }) };
    assert.ok((await client().getVm('abc').catch((e) => e)) instanceof NodeApiError);
  });

  it('a refused connection is NodeUnavailableError', async () => {
    const c = new HttpNodeClient({ url: 'http://127.0.0.1:1', token: 't', nodeId: 'n1', timeoutMs: 2000 });
    assert.ok((await c.health().catch((e) => e)) instanceof NodeUnavailableError);
  });
});
