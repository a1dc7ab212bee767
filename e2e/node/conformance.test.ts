/**
 * The node-API conformance suite (packages/shared/src/testing/node-api-conformance.ts) against the real
 * node: real QEMU microVMs (TCG here), the real base image and guest agent, a real bridge, TAPs and
 * nftables, the real HTTP API over loopback. The same suite holds the gateway's FakeNode and the real API
 * on a fake VMM to this behaviour. Boots one VM to running and starts one more that is deleted mid-boot.
 *   flock /tmp/romulus-vm.lock node --import tsx --test e2e/node/conformance.test.ts
 * Needs root, the kernel and the base image (scripts/setup.sh).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { imagesDir, kernelPath } from '@romulus/shared';
import { nodeApiConformance } from '@romulus/shared/testing/node-api-conformance';
import { startNode } from '../../packages/hypercore/src/index.ts';
import { imagesMissing, pickTestNetwork, sweepLeftovers } from '../harness/host-net.ts';

const BOOT_MS = 240_000;

nodeApiConformance(
  'real node, real VMs',
  async ({ capacity }) => {
    const missing = imagesMissing(imagesDir(), kernelPath());
    if (missing) throw new Error(missing);
    const { bridge, nodeId, subnet } = pickTestNetwork();
    const root = mkdtempSync(path.join(os.tmpdir(), 'romulus-node-conformance-'));
    const stateDir = path.join(root, 'state');
    const token = randomBytes(24).toString('hex');
    const node = await startNode(
      {
        nodeToken: token,
        nodeId,
        stateDir,
        listen: { host: '127.0.0.1', port: 0 },
        capacity,
        network: { bridge, subnet },
        channel: { connectTimeoutMs: 60_000, helloTimeoutMs: BOOT_MS, readyTimeoutMs: BOOT_MS, stopTimeoutMs: 20_000 },
      },
      { log: pino({ level: 'warn' }) },
    ).catch((e) => {
      sweepLeftovers({ marker: stateDir, bridge, nodeId });
      rmSync(root, { recursive: true, force: true });
      throw e;
    });
    return {
      baseUrl: node.url,
      token,
      teardown: async () => {
        try {
          for (const vm of node.manager.list()) await node.manager.delete(vm.id).catch(() => {});
          await node.close({ cleanupNetwork: true });
        } finally {
          sweepLeftovers({ marker: stateDir, bridge, nodeId });
          rmSync(root, { recursive: true, force: true });
        }
      },
    };
  },
  { image: 'base', memoryMib: 256, bootTimeoutMs: BOOT_MS, pollMs: 250, exec: 'guest', timeoutMs: 20 * 60_000 },
);
