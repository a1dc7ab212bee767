import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { rmSync } from 'node:fs';
import { pino } from 'pino';
import { startNode } from './node.ts';
import { FakeDriver } from './testing/fake-driver.ts';
import { FakeNetwork } from './testing/fake-network.ts';
import { TEST_TOKEN, tempDir } from './testing/fixtures.ts';

test('startNode takes a valid config that leaves out the network section (its defaults apply)', async () => {
  const root = tempDir();
  try {
    const node = await startNode(
      {
        nodeToken: TEST_TOKEN,
        nodeId: 'no-network',
        stateDir: path.join(root, 'state'),
        imagesDir: path.join(root, 'images'),
        kernelPath: path.join(root, 'vmlinux'),
        listen: { host: '127.0.0.1', port: 0 },
        capacity: { vcpus: 2, memoryMib: 512 },
      },
      { driver: new FakeDriver(), network: new FakeNetwork(), log: pino({ level: 'silent' }) },
    );
    try {
      assert.equal(node.config.network.subnetText, '10.213.0.0/24');
      assert.equal(node.config.network.bridge, 'rmbr0');
      assert.equal((await fetch(`${node.url}/v1/health`)).status, 200);
    } finally {
      await node.close();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
