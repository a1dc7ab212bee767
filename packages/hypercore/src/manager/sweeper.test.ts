import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { pino } from 'pino';
import type { RunCommand } from '../exec.ts';
import { startNode } from '../node.ts';
import { FakeDriver } from '../testing/fake-driver.ts';
import { FakeNetwork } from '../testing/fake-network.ts';
import { TEST_TOKEN, tempDir, writeTestImage } from '../testing/fixtures.ts';

const fakeRun: RunCommand = async () => ({ code: 0, stdout: '', stderr: '' });

async function until(what: string, cond: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`never happened: ${what}`);
}

test('the running node keeps releasing host resources no capacity-holding VM owns, and leaves live VMs alone', async () => {
  const root = tempDir();
  const imagesDir = path.join(root, 'images');
  writeTestImage(imagesDir);
  const driver = new FakeDriver();
  const network = new FakeNetwork();
  const node = await startNode(
    {
      nodeToken: TEST_TOKEN,
      nodeId: 'sweep',
      stateDir: path.join(root, 'state'),
      imagesDir,
      kernelPath: path.join(root, 'vmlinux'),
      listen: { host: '127.0.0.1', port: 0 },
      capacity: { vcpus: 4, memoryMib: 2048 },
      network: { subnet: '10.213.0.0/24', tapPrefix: 'sw' },
      livenessIntervalMs: 50,
      reconcileIntervalMs: 50,
    },
    { driver, network, run: fakeRun, log: pino({ level: 'silent' }) },
  );
  try {
    const mgr = node.manager;
    const live = mgr.create({ id: 'live-vm', image: 'testimg', vcpus: 1, memoryMib: 256 });
    const done = mgr.create({ id: 'done-vm', image: 'testimg', vcpus: 1, memoryMib: 256 });
    await mgr.wait(live.id, 'running', 5000);
    await mgr.wait(done.id, 'running', 5000);
    await mgr.stop(done.id).done;
    const liveRec = mgr.vms.get(live.id)!.rec;
    const doneRec = mgr.vms.get(done.id)!.rec;

    // What failed undos and crashes leave: a stopped VM's TAP, rules and lease again; a TAP, rules and a lease
    // of a VM the node never heard of.
    network.taps.add(doneRec.tap!);
    network.rules.set(doneRec.tap!, { vmId: done.id, tap: doneRec.tap!, mac: doneRec.mac!, ip: '10.213.0.77' });
    mgr.ctx.ips.restore({ ...mgr.ctx.ips.leases(), '10.213.0.77': done.id, '10.213.0.78': 'ghost-vm' });
    network.taps.add('swghost');
    network.rules.set('swghost', { vmId: 'ghost-vm', tap: 'swghost', mac: '02:00:00:00:00:01', ip: '10.213.0.78' });

    await until('leftovers released', () => !network.taps.has(doneRec.tap!) && !network.taps.has('swghost'));
    await until('rules and leases released', () => {
      const owners = Object.values(mgr.ctx.ips.leases());
      return !network.rules.has('swghost') && !network.rules.has(doneRec.tap!) && !owners.includes('ghost-vm') && !owners.includes(done.id);
    });
    // The live VM kept everything, and both VMs' records are as they were.
    assert.ok(network.taps.has(liveRec.tap!));
    assert.ok(network.rules.has(liveRec.tap!));
    assert.equal(mgr.ctx.ips.ipOf(live.id), liveRec.ip);
    assert.equal(mgr.get(live.id).state, 'running');
    assert.equal(mgr.get(done.id).state, 'stopped');
    assert.equal(driver.liveCount(), 1);
  } finally {
    for (const vm of node.manager.list()) await node.manager.delete(vm.id);
    await node.close();
    rmSync(root, { recursive: true, force: true });
  }
});
