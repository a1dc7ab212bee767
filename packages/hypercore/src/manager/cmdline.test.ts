import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildCmdline } from './cmdline.ts';

const base = { vmId: 'vm-abc', ip: '10.9.0.5', gateway: '10.9.0.1', netmask: '255.255.255.0', hostname: 'vm-abc', nowMs: 1700000000123.7 };

test('cmdline follows the boot contract', () => {
  const c = buildCmdline({ ...base, channel: 'virtio' });
  assert.equal(
    c,
    'console=ttyS0 reboot=k panic=-1 root=/dev/vda ro rootfstype=ext4 init=/opt/romulus/init ip=10.9.0.5::10.9.0.1:255.255.255.0:vm-abc:eth0:off romulus.id=vm-abc romulus.time=1700000000123 romulus.disk=/dev/vdb romulus.channel=virtio',
  );
});

test('tcp channel carries its key; virtio never does; no injection', () => {
  const key = 'ab'.repeat(32);
  assert.match(buildCmdline({ ...base, channel: 'tcp', channelKey: key }), new RegExp(`romulus.channel=tcp romulus.chkey=${key}$`));
  assert.throws(() => buildCmdline({ ...base, channel: 'virtio', channelKey: key }), /visible/);
  assert.throws(() => buildCmdline({ ...base, channel: 'tcp' }), /key/);
  assert.throws(() => buildCmdline({ ...base, hostname: 'x init=/bin/sh', channel: 'virtio' }), /unsafe/);
});
