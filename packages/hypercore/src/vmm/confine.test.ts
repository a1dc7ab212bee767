import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readlinkSync, readdirSync, rmSync, statSync, writeFileSync, existsSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jailScript, runtimeDirOf, shq, VmmConfinement } from './confine.ts';

const root = process.getuid?.() === 0;

function scratch(t: { after: (fn: () => void) => void }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'confine-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, c: new VmmConfinement({ registryDir: path.join(dir, 'uids'), jailDir: path.join(dir, 'jail'), uidBase: 500_000, uidCount: 3 }) };
}

test('enabled: off when asked, on as root, refused for a non-root daemon that asks for it', () => {
  assert.equal(VmmConfinement.enabled({ enabled: false }), false);
  assert.equal(VmmConfinement.enabled(undefined), root);
  if (root) assert.equal(VmmConfinement.enabled({ enabled: true }), true);
  else assert.throws(() => VmmConfinement.enabled({ enabled: true }), /needs the node daemon to run as root/);
  assert.throws(() => new VmmConfinement({ uidBase: 0 }), /out of range/);
});

test('uids: one per state dir, idempotent, never shared, taken over when the holder is gone, freed on release', (t) => {
  const { dir, c } = scratch(t);
  const vms = ['a', 'b', 'c', 'd'].map((n) => {
    mkdirSync(path.join(dir, n));
    return path.join(dir, n);
  });
  const a = c.identityFor(vms[0]);
  assert.deepEqual(a, { uid: 500_000, gid: 500_000 });
  assert.deepEqual(c.identityFor(vms[0]), a, 'idempotent');
  assert.equal(readlinkSync(path.join(dir, 'uids', '500000')), vms[0]);
  assert.equal(c.identityFor(vms[1]).uid, 500_001);
  assert.equal(c.identityFor(vms[2]).uid, 500_002);
  assert.throws(() => c.identityFor(vms[3]), /no free VMM uid/);
  rmSync(vms[1], { recursive: true }); // its VM went away without a release
  assert.equal(c.identityFor(vms[3]).uid, 500_001);
  c.release(vms[0], []);
  assert.equal(c.lookup(vms[0]), null);
  assert.deepEqual(readdirSync(path.join(dir, 'uids')).sort(), ['500001', '500002']);
  c.release(vms[0], []); // idempotent
});

test('prepare hands the writable files and the runtime dir to the VM uid, refuses private read-only files', { skip: !root && 'needs root (chown)' }, (t) => {
  const { dir, c } = scratch(t);
  const vm = path.join(dir, 'vm');
  mkdirSync(vm);
  for (const f of ['disk', 'log', 'kernel']) writeFileSync(path.join(vm, f), 'x', { mode: 0o644 });
  mkdirSync(runtimeDirOf(vm));
  writeFileSync(path.join(runtimeDirOf(vm), 'stale.sock'), '');
  const plan = c.prepare(vm, { readOnlyFiles: [path.join(vm, 'kernel')], writableFiles: [path.join(vm, 'disk'), path.join(vm, 'log')], devices: ['/dev/null', '/dev/no-such'] });
  for (const f of ['disk', 'log']) {
    const st = statSync(path.join(vm, f));
    assert.equal(st.uid, plan.identity.uid);
    assert.equal(st.mode & 0o777, 0o600);
  }
  assert.deepEqual(readdirSync(runtimeDirOf(vm)), [], 'what a previous VMM left is gone');
  assert.equal(statSync(runtimeDirOf(vm)).uid, plan.identity.uid);
  assert.deepEqual(plan.privateDevices, ['/dev/null']);
  c.release(vm, [path.join(vm, 'disk'), path.join(vm, 'log')]);
  assert.equal(statSync(path.join(vm, 'disk')).uid, 0);
  assert.ok(!existsSync(runtimeDirOf(vm)));
  chmodSync(path.join(vm, 'kernel'), 0o600);
  assert.throws(() => c.prepare(vm, { readOnlyFiles: [path.join(vm, 'kernel')], writableFiles: [], devices: [] }), /must be world-readable/);
  c.release(vm, []);
});

test('the jail script: tmpfs root, read-only binds, private devices, every capability dropped before exec', () => {
  const s = jailScript('/run/j', {
    identity: { uid: 400_007, gid: 400_007 },
    readOnlyFiles: ["/img/it's.ext4"],
    writableFiles: ['/s/vm/disk.ext4'],
    writableDirs: ['/s/vm/vmm'],
    privateDevices: ['/dev/null'],
  });
  const lines = s.split('\n');
  assert.equal(lines[0], 'set -e');
  assert.ok(lines.includes("mount -t tmpfs -o mode=0755,nosuid,size=1m romulus-jail '/run/j'"));
  assert.ok(lines.includes('mount --bind -o ro,nosuid /usr usr'));
  assert.ok(lines.includes(`mount --bind -o ro,nosuid,nodev ${shq("/img/it's.ext4")} ${shq("./img/it's.ext4")}`), 'quoted, read-only');
  assert.ok(lines.includes("mount --bind -o nosuid,nodev '/s/vm/disk.ext4' './s/vm/disk.ext4'"));
  assert.ok(lines.includes("chown 400007:400007 './dev/null'"));
  assert.equal(
    lines.at(-1),
    "exec chroot '/run/j' setpriv --reuid 400007 --regid 400007 --clear-groups --inh-caps=-all --ambient-caps=-all --bounding-set=-all --no-new-privs -- \"$@\"",
  );
});
