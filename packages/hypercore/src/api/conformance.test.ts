import { rmSync } from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { nodeApiConformance } from '@romulus/shared/testing/node-api-conformance';
import type { RunCommand } from '../exec.ts';
import { startNode } from '../node.ts';
import { FakeDriver } from '../testing/fake-driver.ts';
import { FakeNetwork } from '../testing/fake-network.ts';
import { TEST_TOKEN, tempDir, writeTestImage } from '../testing/fixtures.ts';

/**
 * The node's real API and manager on a fake VMM and network: the conformance suite's quick subject (the
 * same suite runs against real VMs in e2e/node/conformance.test.ts and against the gateway's fake node).
 */
const fakeRun: RunCommand = async (argv) => {
  if (argv[0] !== 'mkfs.ext4') throw new Error(`unexpected command ${argv.join(' ')}`);
  return { code: 0, stdout: '', stderr: '' };
};

nodeApiConformance(
  'real API on a fake VMM',
  async ({ capacity }) => {
    const root = tempDir();
    const imagesDir = path.join(root, 'images');
    writeTestImage(imagesDir);
    const node = await startNode(
      {
        nodeToken: TEST_TOKEN,
        nodeId: 'conformance',
        stateDir: path.join(root, 'state'),
        imagesDir,
        kernelPath: path.join(root, 'vmlinux'),
        listen: { host: '127.0.0.1', port: 0 },
        capacity,
        network: { subnet: '10.214.0.0/24' },
        channel: { connectTimeoutMs: 2000, helloTimeoutMs: 400, readyTimeoutMs: 2000, stopTimeoutMs: 1000 },
        livenessIntervalMs: 50,
      },
      { driver: new FakeDriver(() => ({})), network: new FakeNetwork(), run: fakeRun, log: pino({ level: 'silent' }) },
    );
    return {
      baseUrl: node.url,
      token: TEST_TOKEN,
      teardown: async () => {
        await node.close();
        rmSync(root, { recursive: true, force: true });
      },
    };
  },
  { image: 'testimg', memoryMib: 256, bootTimeoutMs: 20_000, pollMs: 5, exec: 'stand-in' },
);
