import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { CGROUP_EXEC_SCRIPT, cgroupExecArgv, detectCgroups, realCgroupFs, VmCgroup, type CgroupFs } from './cgroups.ts';

/** A fake cgroup root: a plain temp dir; rmdir removes recursively since plain dirs keep their "control files". */
function fakeRoot(version: 'v1' | 'v2'): { root: string; fs: CgroupFs; done: () => void } {
  const root = mkdtempSync(path.join(tmpdir(), `cg-${version}-`));
  if (version === 'v2') writeFileSync(path.join(root, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
  else for (const c of ['cpu', 'memory', 'pids', 'cpuacct']) {
    mkdirSync(path.join(root, c));
    writeFileSync(path.join(root, c, 'cgroup.procs'), '');
  }
  const fs: CgroupFs = { ...realCgroupFs, rmdir: (p) => rmSync(p, { recursive: true }) };
  return { root, fs, done: () => rmSync(root, { recursive: true, force: true }) };
}

const limits = { cpuQuotaCores: 2, memoryLimitBytes: 512 * 1024 * 1024, pidsMax: 200 };

test('detects v1 and v2 layouts, and none on an empty dir', (t) => {
  const v1 = fakeRoot('v1');
  const v2 = fakeRoot('v2');
  const empty = mkdtempSync(path.join(tmpdir(), 'cg-none-'));
  t.after(() => { v1.done(); v2.done(); rmSync(empty, { recursive: true }); });
  assert.deepEqual(detectCgroups(v1.root, v1.fs), { version: 'v1', root: v1.root });
  assert.deepEqual(detectCgroups(v2.root, v2.fs), { version: 'v2', root: v2.root });
  assert.equal(detectCgroups(empty), null);
});

test('v1: one dir per controller with cfs quota, memory limit and pids.max; remove deletes them', async (t) => {
  const f = fakeRoot('v1');
  t.after(f.done);
  const cg = new VmCgroup({ version: 'v1', root: f.root }, 'romulus', 'vm-a', f.fs);
  cg.create(limits);
  assert.deepEqual(cg.dirs(), ['cpu', 'memory', 'pids'].map((c) => path.join(f.root, c, 'romulus', 'vm-a')));
  assert.equal(readFileSync(path.join(f.root, 'cpu/romulus/vm-a/cpu.cfs_period_us'), 'utf8'), '100000');
  assert.equal(readFileSync(path.join(f.root, 'cpu/romulus/vm-a/cpu.cfs_quota_us'), 'utf8'), '200000');
  assert.equal(readFileSync(path.join(f.root, 'memory/romulus/vm-a/memory.limit_in_bytes'), 'utf8'), String(512 * 1024 * 1024));
  assert.equal(readFileSync(path.join(f.root, 'pids/romulus/vm-a/pids.max'), 'utf8'), '200');
  assert.deepEqual(cg.procsFiles(), cg.dirs().map((d) => path.join(d, 'cgroup.procs')));
  await cg.remove();
  assert.equal(cg.exists(), false);
  assert.ok(existsSync(path.join(f.root, 'cpu/romulus')), 'the shared parent stays');
  await cg.remove(); // idempotent
});

test('v2: single dir with cpu.max/memory.max/pids.max and controllers enabled down the path', async (t) => {
  const f = fakeRoot('v2');
  t.after(f.done);
  const cg = new VmCgroup({ version: 'v2', root: f.root }, 'romulus/node1', 'vm-b', f.fs);
  mkdirSync(path.join(f.root, 'romulus/node1/vm-b'), { recursive: true });
  writeFileSync(path.join(f.root, 'romulus/node1/vm-b/memory.swap.max'), 'max');
  cg.create({ ...limits, cpuQuotaCores: 0.5 });
  const dir = path.join(f.root, 'romulus/node1/vm-b');
  assert.deepEqual(cg.dirs(), [dir]);
  assert.equal(readFileSync(path.join(dir, 'cpu.max'), 'utf8'), '50000 100000');
  assert.equal(readFileSync(path.join(dir, 'memory.max'), 'utf8'), String(512 * 1024 * 1024));
  assert.equal(readFileSync(path.join(dir, 'memory.swap.max'), 'utf8'), '0');
  assert.equal(readFileSync(path.join(dir, 'pids.max'), 'utf8'), '200');
  for (const d of ['', 'romulus', 'romulus/node1']) {
    assert.equal(readFileSync(path.join(f.root, d, 'cgroup.subtree_control'), 'utf8'), '+cpu +memory +pids', `subtree_control in /${d}`);
  }
  assert.equal(cg.readFile('memory', 'memory.max'), String(512 * 1024 * 1024));
  await cg.remove();
  assert.equal(existsSync(dir), false);
});

test('names that could escape the parent are refused', () => {
  const layout = { version: 'v1' as const, root: '/nonexistent' };
  for (const bad of ['..', '../x', 'a/b', '', '.hidden', 'a b']) {
    assert.throws(() => new VmCgroup(layout, 'romulus', bad), /invalid cgroup name/, bad);
  }
  assert.throws(() => new VmCgroup(layout, '../etc', 'ok'), /invalid cgroup name/);
});

test('exec prelude writes its own pid to every procs file, then execs with the same pid', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'cg-exec-'));
  t.after(() => rmSync(dir, { recursive: true }));
  const files = [path.join(dir, 'a procs'), path.join(dir, 'b')];
  const r = spawnSync('/bin/sh', cgroupExecArgv(files, ['/bin/sh', '-c', 'echo $$']), { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const pid = r.stdout.trim();
  for (const f of files) assert.equal(readFileSync(f, 'utf8').trim(), pid);
  // An unwritable procs file stops the launch before the VMM runs.
  const bad = spawnSync('/bin/sh', cgroupExecArgv([path.join(dir, 'missing/dir')], ['/bin/echo', 'ran']), { encoding: 'utf8' });
  assert.equal(bad.status, 97);
  assert.equal(bad.stdout, '');
  assert.ok(CGROUP_EXEC_SCRIPT.includes('exec "$@"'));
});
