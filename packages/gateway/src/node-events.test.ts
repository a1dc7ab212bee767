import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { NodeEvent } from '@romulus/shared';
import { followNodeEvents } from './node-events.ts';

test('followNodeEvents reads SSE, reconnects after a drop and starts over from the snapshot; stops on abort', async () => {
  let connections = 0;
  const auth: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    connections++;
    auth.push(req.headers.authorization);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    // Split across writes and with a comment line, as a real stream may arrive.
    res.write(`: heartbeat\n\nevent: vm-deleted\ndata: {"type":"vm-del`);
    res.write(`eted","id":"vm-${connections}"}\n\nevent: synced\ndata: {"type":"synced"}\n\n`);
    if (connections === 1) res.end(); // the first stream ends: the follower must reconnect
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const seen: NodeEvent[] = [];
  const drops: unknown[] = [];
  const abort = new AbortController();
  const following = followNodeEvents({
    url,
    token: 'tok',
    signal: abort.signal,
    backoffMs: { min: 10, max: 20 },
    onDisconnect: (err) => drops.push(err),
    onEvent: (ev) => {
      seen.push(ev);
      if (seen.filter((e) => e.type === 'synced').length === 2) abort.abort();
    },
  });
  await following;
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  assert.deepEqual(seen, [
    { type: 'vm-deleted', id: 'vm-1' },
    { type: 'synced' },
    { type: 'vm-deleted', id: 'vm-2' },
    { type: 'synced' },
  ]);
  assert.equal(connections, 2);
  assert.equal(drops.length, 1);
  assert.deepEqual(auth, ['Bearer tok', 'Bearer tok']);
});
