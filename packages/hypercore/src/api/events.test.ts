import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { pino } from 'pino';
import { readServerSentEvents, type NodeEvent } from '@romulus/shared';
import type { RunCommand } from '../exec.ts';
import { startNode } from '../node.ts';
import { FakeDriver } from '../testing/fake-driver.ts';
import { FakeNetwork } from '../testing/fake-network.ts';
import { TEST_TOKEN, tempDir, writeTestImage } from '../testing/fixtures.ts';

const fakeRun: RunCommand = async () => ({ code: 0, stdout: '', stderr: '' });

/** Reads the stream's events until `enough` says stop. */
async function readEvents(res: Response, enough: (evs: NodeEvent[]) => boolean): Promise<NodeEvent[]> {
  const evs: NodeEvent[] = [];
  for await (const { event, data } of readServerSentEvents(res.body!)) {
    const ev = JSON.parse(data) as NodeEvent;
    assert.equal(ev.type, event, 'the SSE event name is the event type');
    evs.push(ev);
    if (enough(evs)) break;
  }
  return evs;
}

test('GET /v1/events: the current VMs, synced, then every change through to deletion; auth required', async () => {
  const root = tempDir();
  const imagesDir = path.join(root, 'images');
  writeTestImage(imagesDir);
  const node = await startNode(
    {
      nodeToken: TEST_TOKEN,
      nodeId: 'events',
      stateDir: path.join(root, 'state'),
      imagesDir,
      kernelPath: path.join(root, 'vmlinux'),
      listen: { host: '127.0.0.1', port: 0 },
      capacity: { vcpus: 4, memoryMib: 2048 },
      network: { subnet: '10.213.0.0/24' },
    },
    { driver: new FakeDriver(), network: new FakeNetwork(), run: fakeRun, log: pino({ level: 'silent' }) },
  );
  try {
    const unauth = await fetch(`${node.url}/v1/events`);
    assert.equal(unauth.status, 401);
    assert.equal((await unauth.json()).error.code, 'UNAUTHORIZED');

    const first = node.manager.create({ id: 'before-vm', image: 'testimg', vcpus: 1, memoryMib: 256 });
    await node.manager.wait(first.id, 'running', 5000);
    const abort = new AbortController();
    const res = await fetch(`${node.url}/v1/events`, { headers: { authorization: `Bearer ${TEST_TOKEN}` }, signal: abort.signal });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const reading = readEvents(res, (evs) => evs.some((e) => e.type === 'vm-deleted'));
    // Changes made once the stream is open: a create through to running, then a delete.
    setTimeout(async () => {
      const vm = node.manager.create({ id: 'after-vm', image: 'testimg', vcpus: 1, memoryMib: 256 });
      await node.manager.wait(vm.id, 'running', 5000);
      await node.manager.delete(vm.id);
    }, 50);
    const evs = await reading;
    abort.abort();

    const syncedAt = evs.findIndex((e) => e.type === 'synced');
    assert.ok(syncedAt > 0, 'synced follows the snapshot');
    assert.ok(evs.slice(0, syncedAt).some((e) => e.type === 'vm' && e.vm.id === 'before-vm' && e.vm.state === 'running'));
    const states = evs.filter((e) => e.type === 'vm' && e.vm.id === 'after-vm').map((e) => (e.type === 'vm' ? e.vm.state : ''));
    assert.equal(states[0], 'creating');
    for (const s of ['starting', 'running', 'stopping', 'stopped'] as const) assert.ok(states.includes(s), `saw ${s}: ${states.join(',')}`);
    const running = evs.find((e) => e.type === 'vm' && e.vm.id === 'after-vm' && e.vm.state === 'running');
    assert.ok(running?.type === 'vm' && running.vm.ip, 'a running VM has its address');
    assert.deepEqual(evs.at(-1), { type: 'vm-deleted', id: 'after-vm' });
    await node.manager.delete(first.id);
    // A stream still open when the node closes is ended by the close (else close would wait on it forever).
    const open = await fetch(`${node.url}/v1/events`, { headers: { authorization: `Bearer ${TEST_TOKEN}` } });
    const drained = open.text();
    await node.close();
    assert.match(await drained, /event: synced/);
  } finally {
    await node.close();
    rmSync(root, { recursive: true, force: true });
  }
});
