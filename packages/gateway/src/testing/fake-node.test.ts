import { nodeApiConformance } from '@romulus/shared/testing/node-api-conformance';
import { FakeNode, testImage } from './fake-node.ts';

/**
 * The gateway's and CLI's stand-in node answers what the real node answers (same suite as e2e/node).
 * Steps of 250 ms so the suite's polling sees each boot state on the way, as it does on real VMs.
 */
nodeApiConformance(
  'FakeNode (boot: auto)',
  async ({ capacity }) => {
    const node = await new FakeNode([testImage('base')], { capacity, boot: 'auto', stepMs: 250 }).start();
    return { baseUrl: node.url, token: node.token, teardown: () => node.close() };
  },
  { image: 'base', memoryMib: 256, bootTimeoutMs: 10_000, pollMs: 2, exec: 'none' },
);
