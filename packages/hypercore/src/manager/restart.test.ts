import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { pino } from 'pino';
import type { RunCommand } from '../exec.ts';
import { startNode } from '../node.ts';
import { StateStore } from '../state/state-store.ts';
import type { VmRecord } from '../state/vm-record.ts';
import { FakeDriver } from '../testing/fake-driver.ts';
import { FakeNetwork } from '../testing/fake-network.ts';
import { TEST_TOKEN, tempDir, writeTestImage } from '../testing/fixtures.ts';

const fakeRun: RunCommand = async () => ({ code: 0, stdout: '', stderr: '' });

/**
 * What a node that was killed (kill -9, power loss) leaves: VM records on disk, some VMMs still running in
 * whatever state the create had reached. A new node on the same state dir must finish or fail each one and
 * never leave one holding capacity.
 */
test('after a crash, VMs left mid-create or never ready end failed with a code, and free their capacity', async () => {
  const root = tempDir();
  const imagesDir = path.join(root, 'images');
  const stateDir = path.join(root, 'state');
  const manifest = writeTestImage(imagesDir, { name: 'slowimg' });
  const driver = new FakeDriver(() => ({ neverReady: true }));
  const store = new StateStore(stateDir);
  const rootfsPath = path.join(imagesDir, 'slowimg', 'rootfs.ext4');
  const record = (id: string, state: VmRecord['state'], vmm?: VmRecord['vmm']): VmRecord => ({
    id,
    image: manifest.name,
    vcpus: 1,
    memoryMib: 256,
    diskMib: 64,
    state,
    agentPort: manifest.agentPort,
    driver: 'qemu',
    accel: 'tcg',
    secretNames: [],
    metadata: {},
    createdAt: Date.now(),
    timings: {},
    tap: `rs${id.slice(0, 6)}`,
    mac: '02:00:00:00:00:01',
    rootfsPath,
    ...(vmm ? { vmm } : {}),
  });
  const launch = (id: string) =>
    driver.start({ id, vcpus: 1, memoryMib: 256, kernelPath: '/k', kernelCmdline: '', rootfsPath, diskPath: '/d', stateDir: store.vmDir(id) });

  // 1. mid-create: the VMM runs but the guest was never configured (its secrets died with the old node).
  store.saveVm(record('unconfigured', 'starting', await launch('unconfigured')));
  // 2. configured, workload started, never ready.
  const configured = await launch('never-ready');
  await new Promise<void>((resolve, reject) => {
    const s = net.connect(configured.channel.path, () => {
      s.write(`${JSON.stringify({ t: 'configure', now: Date.now(), hostname: 'x', env: {}, secrets: {} })}\n`);
      s.once('data', () => (s.destroy(), resolve()));
    });
    s.on('error', reject);
  });
  store.saveVm(record('never-ready', 'starting', configured));
  // 3. mid-create before the VMM started.
  store.saveVm(record('no-vmm-yet', 'creating'));

  const node = await startNode(
    {
      nodeToken: TEST_TOKEN,
      nodeId: 'restart',
      stateDir,
      imagesDir,
      kernelPath: path.join(root, 'vmlinux'),
      listen: { host: '127.0.0.1', port: 0 },
      capacity: { vcpus: 4, memoryMib: 2048 },
      network: { subnet: '10.213.0.0/24', tapPrefix: 'rs' },
      channel: { connectTimeoutMs: 2000, helloTimeoutMs: 2000, readyTimeoutMs: 300, stopTimeoutMs: 500 },
      livenessIntervalMs: 50,
      reconcileIntervalMs: 50,
    },
    { driver, network: new FakeNetwork(), run: fakeRun, log: pino({ level: 'silent' }) },
  );
  try {
    const mgr = node.manager;
    assert.equal(mgr.get('unconfigured').state, 'failed');
    assert.equal(mgr.get('unconfigured').reasonCode, 'INTERRUPTED');
    assert.equal(mgr.get('no-vmm-yet').state, 'failed');
    assert.equal(mgr.get('no-vmm-yet').reasonCode, 'INTERRUPTED');
    // Adopted as starting; its readiness wait runs out and is recorded, not swallowed.
    assert.equal(mgr.get('never-ready').state, 'starting');
    const ended = await mgr.wait('never-ready', 'failed', 5000);
    assert.equal(ended.state, 'failed');
    assert.equal(ended.reasonCode, 'READY_TIMEOUT');
    assert.match(ended.reason ?? '', /after node restart/);
    assert.equal(driver.liveCount(), 0, 'no VMM left running');
    assert.deepEqual(mgr.capacity().vcpus.allocated, 0, 'nothing holds capacity');
    assert.deepEqual(mgr.ctx.ips.leases(), {});
  } finally {
    for (const vm of node.manager.list()) await node.manager.delete(vm.id);
    await node.close();
    rmSync(root, { recursive: true, force: true });
  }
});
