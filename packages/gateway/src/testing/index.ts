/** Test doubles for suites that drive a gateway (`@romulus/gateway/testing`): kept off the public index. */
export { TestWallet } from './wallet.ts';
export { FakeNode, testImage, type FakeNodeOptions } from './fake-node.ts';
