/**
 * LinuxNetwork against the real host tools (ip, bridge, nft): needs root. Creates a bridge, nft tables and
 * TAPs with unique names in a random free /24, and removes them all (also on failure).
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { LinuxNetwork } from './linux-network.ts';
import { subnetConflicts } from './host-check.ts';
import { parseCidr } from './cidr.ts';

const sfx = randomBytes(3).toString('hex');
const third = 1 + Math.floor(Math.random() * 250);
const subnet = `10.203.${third}.0/24`;
const net = new LinuxNetwork({
  bridge: `rt${sfx}br`,
  gateway: `10.203.${third}.1`,
  prefix: 24,
  table: `romulus_ut${sfx}`,
  tapPrefix: `rt${sfx}t`,
  egressAllow: ['192.0.2.128/25'],
});
const vm1 = { vmId: 'vm-1', tap: `rt${sfx}t0001`, mac: '02:00:00:00:00:01', ip: `10.203.${third}.2` };
const vm2 = { vmId: 'vm-2', tap: `rt${sfx}t0002`, mac: '02:00:00:00:00:02', ip: `10.203.${third}.3` };
const sh = (...a: string[]) => execFileSync(a[0], a.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

after(async () => {
  await net.destroyHost();
});

test('host setup, per-VM rules and TAPs, adoption reload and teardown leave nothing behind', async () => {
  assert.deepEqual(await subnetConflicts(parseCidr(subnet), net.bridge), [], 'test subnet must be free');
  await net.ensureHost([]);
  await net.ensureHost([]); // idempotent
  assert.match(sh('ip', '-4', 'addr', 'show', 'dev', net.bridge), new RegExp(`inet 10\\.203\\.${third}\\.1/24`));
  // Now the bridge's own subnet is ours: the overlap check ignores our bridge but sees it from another name.
  assert.deepEqual(await subnetConflicts(parseCidr(subnet), net.bridge), []);
  assert.ok((await subnetConflicts(parseCidr(subnet), 'some-other-bridge')).length > 0);

  for (const vm of [vm1, vm2]) {
    await net.addVmRules(vm);
    await net.createTap(vm);
    await net.createTap(vm); // idempotent
    assert.ok(await net.hasVmRules(vm));
  }
  assert.deepEqual((await net.listTaps()).sort(), [vm1.tap, vm2.tap]);
  assert.match(sh('ip', '-d', 'link', 'show', 'dev', vm1.tap), new RegExp(`master ${net.bridge}`));
  assert.match(sh('bridge', '-d', 'link', 'show', 'dev', vm1.tap), /isolated on/);
  const ruleset = sh('nft', 'list', 'table', 'inet', `romulus_ut${sfx}`);
  assert.match(ruleset, /192\.0\.2\.128\/25/);

  // A ruleset reload (node restart) keeps the given VMs' entries and drops the others.
  await net.ensureHost([vm1]);
  assert.ok(await net.hasVmRules(vm1));
  assert.ok(!(await net.hasVmRules(vm2)));
  assert.deepEqual(await net.listRuleTaps(), [vm1.tap]);

  await net.removeVmRules(vm1);
  await net.removeVmRules(vm1); // idempotent
  await net.deleteTap(vm1.tap);
  await net.deleteTap(vm2.tap);
  assert.deepEqual(await net.listRuleTaps(), []);
  assert.deepEqual(await net.listTaps(), []);

  await net.destroyHost();
  assert.throws(() => sh('ip', 'link', 'show', 'dev', net.bridge));
  assert.throws(() => sh('nft', 'list', 'table', 'bridge', `romulus_ut${sfx}`));
});
