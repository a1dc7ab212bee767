import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contains, gatewayOf, netmaskString, overlaps, parseCidr } from './cidr.ts';
import { IpAllocator } from './ip-allocator.ts';
import { macFor, tapNameFor, tapPrefixFor } from './names.ts';

test('cidr parsing and overlap', () => {
  const a = parseCidr('10.213.0.0/24');
  assert.equal(gatewayOf(a), '10.213.0.1');
  assert.equal(netmaskString(24), '255.255.255.0');
  assert.ok(contains(a, '10.213.0.77'));
  assert.ok(!contains(a, '10.213.1.1'));
  assert.ok(overlaps(a, parseCidr('10.0.0.0/8')));
  assert.ok(!overlaps(a, parseCidr('10.214.0.0/16')));
  assert.throws(() => parseCidr('10.213.0.1/24'), /host bits/);
  assert.throws(() => parseCidr('300.1.1.0/24'));
});

test('allocator skips network, gateway and broadcast; is idempotent per VM; runs out cleanly', () => {
  const ips = new IpAllocator(parseCidr('10.9.9.0/29')); // .2 .. .6 usable
  assert.equal(ips.allocate('a'), '10.9.9.2');
  assert.equal(ips.allocate('a'), '10.9.9.2');
  const got = ['b', 'c', 'd', 'e'].map((id) => ips.allocate(id));
  assert.deepEqual(got, ['10.9.9.3', '10.9.9.4', '10.9.9.5', '10.9.9.6']);
  assert.equal(ips.free, 0);
  assert.throws(() => ips.allocate('f'), /no free address/);
  assert.ok(ips.release('c'));
  assert.ok(!ips.release('c'));
  assert.equal(ips.allocate('f'), '10.9.9.4');
});

test('allocator restores leases and drops ones outside the subnet', () => {
  const ips = new IpAllocator(parseCidr('10.9.9.0/24'));
  const dropped = ips.restore({ '10.9.9.7': 'x', '10.8.0.2': 'y', '10.9.9.1': 'z' });
  assert.deepEqual(dropped.sort(), ['10.8.0.2', '10.9.9.1']);
  assert.equal(ips.ipOf('x'), '10.9.9.7');
});

test('names: TAP within IFNAMSIZ, stable MAC, unicast + locally administered', () => {
  const p = tapPrefixFor('node-a');
  const t = tapNameFor(p, 'some-very-long-vm-id-0123456789');
  assert.ok(t.length <= 15 && t.startsWith(p));
  assert.equal(t, tapNameFor(p, 'some-very-long-vm-id-0123456789'));
  assert.notEqual(t, tapNameFor(p, 'other-vm'));
  const mac = macFor('vm-1');
  assert.match(mac, /^02(:[0-9a-f]{2}){5}$/);
  assert.equal(mac, macFor('vm-1'));
  assert.notEqual(tapPrefixFor('node-a'), tapPrefixFor('node-b'));
});
