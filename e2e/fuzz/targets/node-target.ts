/**
 * The node API under fuzz, in its own process: the real node daemon (API, manager, state store, images) on
 * the fake VMM driver and fake network from packages/hypercore/src/testing. No VM boots: a "VM" is a unix
 * socket speaking the real guest protocol.
 */
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { createLogger } from '@romulus/shared';
import { startNode, type RunningNode } from '../../../packages/hypercore/src/node.ts';
import type { RunCommand } from '../../../packages/hypercore/src/exec.ts';
import { FakeDriver } from '../../../packages/hypercore/src/testing/fake-driver.ts';
import { FakeNetwork } from '../../../packages/hypercore/src/testing/fake-network.ts';
import { TEST_TOKEN, tempDir, writeTestImage } from '../../../packages/hypercore/src/testing/fixtures.ts';
import { serveCalls } from '../lib/target.ts';

const fakeRun: RunCommand = async (argv) => {
  if (argv[0] !== 'mkfs.ext4') throw new Error(`unexpected command ${argv.join(' ')}`);
  return { code: 0, stdout: '', stderr: '' };
};

const root = tempDir('romulus-fuzz-node-');
const driver = new FakeDriver();
const network = new FakeNetwork();
let node: RunningNode;

serveCalls({
  async init() {
    const imagesDir = path.join(root, 'images');
    writeTestImage(imagesDir);
    writeTestImage(imagesDir, { name: 'bigimg', minVcpus: 2, minMemoryMib: 512 });
    node = await startNode(
      {
        nodeToken: TEST_TOKEN,
        nodeId: 'fuzz',
        stateDir: path.join(root, 'state'),
        imagesDir,
        kernelPath: path.join(root, 'vmlinux'),
        listen: { host: '127.0.0.1', port: 0 },
        http: { headersTimeoutMs: 2_000, requestTimeoutMs: 4_000 },
        capacity: { vcpus: 6, memoryMib: 2048 },
        network: { subnet: '10.213.0.0/24' },
        channel: { connectTimeoutMs: 2000, helloTimeoutMs: 1000, readyTimeoutMs: 2000, stopTimeoutMs: 1000 },
        livenessIntervalMs: 200,
      },
      { driver, network, run: fakeRun, log: createLogger('fuzz-node', { level: 'warn' }) },
    );
    return { port: Number(new URL(node.url).port), token: TEST_TOKEN };
  },
  /** What the node holds: VMs, live fake VMMs, TAPs, firewall rules, state dirs, allocated capacity. */
  async snapshot() {
    const vmsDir = path.join(root, 'state', 'vms');
    let dirs: string[] = [];
    try {
      dirs = readdirSync(vmsDir);
    } catch {
      // none yet
    }
    return {
      vms: [...node.manager.vms.values()].map((e) => ({ id: e.rec.id, state: e.rec.state })),
      liveVmms: driver.liveCount(),
      taps: [...network.taps],
      rules: [...network.rules.keys()],
      stateDirs: dirs,
      capacity: node.manager.capacity(),
    };
  },
  async close() {
    setImmediate(async () => {
      await node?.close();
      rmSync(root, { recursive: true, force: true });
      process.exit(0);
    });
    return null;
  },
});
