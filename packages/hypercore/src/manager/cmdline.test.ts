import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCmdline } from './cmdline.ts';

const base = { vmId: 'vm-abc', hostname: 'vm-abc', nowMs: 1700000000123.7 };
const net = { ip: '10.9.0.5', gateway: '10.9.0.1', netmask: '255.255.255.0' };

test('cmdline follows the boot contract and says nothing about the channel (the driver owns it)', () => {
  assert.equal(
    buildCmdline({ ...base, net }),
    'console=ttyS0 reboot=k panic=-1 root=/dev/vda ro rootfstype=ext4 init=/opt/romulus/init ip=10.9.0.5::10.9.0.1:255.255.255.0:vm-abc:eth0:off romulus.id=vm-abc romulus.time=1700000000123 romulus.disk=/dev/vdb',
  );
});

test('without a network no ip=; a resolver goes after autoconf; a probe boot has no romulus.disk', () => {
  const none = buildCmdline(base);
  assert.doesNotMatch(none, /\bip=/);
  assert.match(none, /romulus\.disk=\/dev\/vdb$/);
  assert.match(buildCmdline({ ...base, net: { ...net, dns: '10.9.0.1' } }), / ip=10\.9\.0\.5::10\.9\.0\.1:255\.255\.255\.0:vm-abc:eth0:off:10\.9\.0\.1 /);
  assert.doesNotMatch(buildCmdline({ ...base, disk: false }), /romulus\.disk/);
});

test('no injection through any value', () => {
  assert.throws(() => buildCmdline({ ...base, hostname: 'x init=/bin/sh' }), /unsafe value for kernel cmdline hostname/);
  assert.throws(() => buildCmdline({ ...base, vmId: 'a b' }), /unsafe value for kernel cmdline id/);
  assert.throws(() => buildCmdline({ ...base, net: { ...net, dns: '1.1.1.1 romulus.channel=x' } }), /unsafe value for kernel cmdline dns/);
});
