import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from './config.ts';

const host = { cpus: 2, memoryMib: 24000, hostname: 'My_Host.example' };
const token = 'x'.repeat(20);

test('refuses to start without a node token', () => {
  assert.throws(() => parseConfig({}, {}, host), (e: Error) => e instanceof ConfigError && /no node token/.test(e.message));
});

test('token from ROMULUS_NODE_TOKEN wins; short tokens refused', () => {
  assert.equal(parseConfig({ nodeToken: 'y'.repeat(20) }, { ROMULUS_NODE_TOKEN: token }, host).nodeToken, token);
  assert.throws(() => parseConfig({ nodeToken: 'short' }, {}, host), /at least 16/);
});

test('defaults derive from the host', () => {
  const c = parseConfig({ nodeToken: token }, {}, host);
  assert.deepEqual(c.listen, { host: '127.0.0.1', port: 7070 });
  assert.equal(c.capacity.vcpus, 8); // 2 cores x overcommit 4
  assert.equal(c.capacity.memoryMib, 24000 - 1024);
  assert.equal(c.nodeId, 'my-host-example');
  assert.equal(c.network.subnetText, '10.213.0.0/24');
  assert.equal(c.network.gateway, '10.213.0.1');
  assert.deepEqual(c.network.egressAllow, []);
  assert.equal(c.driver, 'qemu');
  assert.match(c.network.tapPrefix, /^rt[0-9a-f]{4}$/);
});

test('explicit capacity and network', () => {
  const c = parseConfig(
    { nodeToken: token, nodeId: 'n1', capacity: { vcpus: 3, memoryMib: 2048 }, network: { subnet: '10.200.5.0/24', egressAllow: ['1.2.3.0/24'] } },
    {},
    host,
  );
  assert.equal(c.capacity.vcpus, 3);
  assert.equal(c.capacity.memoryMib, 2048);
  assert.equal(c.network.gateway, '10.200.5.1');
});

test('bad values are named in the error', () => {
  assert.throws(() => parseConfig({ nodeToken: token, network: { subnet: '10.0.0.5/24' } }, {}, host), /network\.subnet/);
  assert.throws(() => parseConfig({ nodeToken: token, network: { subnet: '10.0.0.0/30' } }, {}, host), /\/29 or larger/);
  assert.throws(() => parseConfig({ nodeToken: token, driver: 'xen' }, {}, host), /driver/);
  assert.throws(() => parseConfig({ nodeToken: token, bogus: 1 }, {}, host), /bogus|Unrecognized/);
  assert.throws(() => parseConfig({ nodeToken: token, network: { bridge: 'this-name-is-too-long' } }, {}, host), /network\.bridge/);
  assert.throws(() => parseConfig({ nodeToken: token, capacity: { memoryReserveMib: 30000 } }, {}, host), /64 MiB/);
});

test('VMM confinement: on unless the operator turns it off', () => {
  assert.deepEqual(parseConfig({ nodeToken: token }, {}, host).vmmConfinement, {}); // auto: on as root
  assert.deepEqual(parseConfig({ nodeToken: token, vmmConfinement: { enabled: false } }, {}, host).vmmConfinement, { enabled: false });
  assert.throws(() => parseConfig({ nodeToken: token, vmmConfinement: { uidBase: 10 } }, {}, host), /vmmConfinement\.uidBase/);
  assert.throws(() => parseConfig({ nodeToken: token, vmmConfinement: { jail: '/' } }, {}, host), /vmmConfinement/);
});
