import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readServerSentEvents } from './sse.ts';

async function* chunks(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield new TextEncoder().encode(p);
}

test('events split across chunks, comments, CRLF, multi-line data and blocks without data', async () => {
  const out = [];
  for await (const ev of readServerSentEvents(chunks(': heartbeat\n\nevent: vm\ndata: {"a"', ':1}\n\nid: 3\r\nretry: 10\r\n\r\ndata: one\ndata: two\n\nevent: x\n\n'))) out.push(ev);
  assert.deepEqual(out, [
    { event: 'vm', data: '{"a":1}' },
    { event: 'message', data: 'one\ntwo' },
  ]);
});
