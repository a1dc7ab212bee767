/**
 * Least privilege for the VMM (vmm/confine.ts), end to end on a real node: two real QEMU microVMs with
 * TAPs on a real bridge. Each QEMU must run as a uid of its own with no capabilities and no_new_privs, in a
 * mount namespace whose root holds only its own files; a daemon restart must adopt it; stop must leave no
 * uid registration, mount or process behind.
 *   node --import tsx --test e2e/node/least-privilege.test.ts
 * Needs root, the kernel and the base image (scripts/setup.sh).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { imagesDir as defaultImagesDir, kernelPath as defaultKernel, type Vm } from '@romulus/shared';
import { loadConfigFile, startNode, type NodeConfig, type RunningNode } from '../../packages/hypercore/src/index.ts';
import { imagesMissing, pickFreeSubnet, pidsMentioning, sweepLeftovers, uniqueSuffix } from '../harness/host-net.ts';

const BOOT_MS = 240_000;
const REGISTRY = '/run/romulus/vmm-uids'; // the default: shared by every node on the host, so uids never collide

/** The fields of /proc/<pid>/status this suite checks. */
function procStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(\w+):\s*(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** Run argv inside pid's mount namespace and root (its jail), as uid/gid with no groups and no capabilities. */
function inJail(pid: number, uid: number, argv: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(
    'nsenter',
    ['-t', String(pid), '-m', '-r', '--', 'setpriv', '--reuid', String(uid), '--regid', String(uid), '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--', ...argv],
    { encoding: 'utf8', timeout: 30_000 },
  );
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Same uid on the host (outside any jail): what file permissions alone allow it. */
function asUid(uid: number, argv: string[]): { code: number; stderr: string } {
  const r = spawnSync('setpriv', ['--reuid', String(uid), '--regid', String(uid), '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--', ...argv], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? -1, stderr: r.stderr };
}

/** Registry entries (uid -> VM state dir) that point into dir. */
function registrationsUnder(dir: string): string[] {
  let names: string[] = [];
  try {
    names = readdirSync(REGISTRY);
  } catch {
    return [];
  }
  return names.filter((n) => {
    try {
      return readlinkSync(path.join(REGISTRY, n)).startsWith(dir);
    } catch {
      return false;
    }
  });
}

describe('least privilege: every QEMU unprivileged in a jail of its own', { timeout: 20 * 60_000 }, () => {
  const suffix = uniqueSuffix();
  const nodeId = `lp-${suffix}`;
  const bridge = `rl${suffix}br`;
  const root = mkdtempSync(path.join(os.tmpdir(), 'romulus-lp-e2e-'));
  const stateDir = path.join(root, 'state');
  const configFile = path.join(root, 'node.json'); // the operator's config file: it holds the node token
  const token = randomBytes(24).toString('hex');
  const log = pino({ level: 'warn' });
  let config: NodeConfig;
  let node: RunningNode | undefined;

  const api = async (method: string, p: string, body?: unknown) => {
    const res = await fetch(`${node!.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const waitFor = async (id: string, state: string): Promise<Vm> => {
    const r = await api('GET', `/v1/vms/${id}/wait?state=${state}&timeoutMs=${BOOT_MS}`);
    assert.equal(r.status, 200, `wait ${id} ${state}: ${JSON.stringify(r.body)}`);
    return r.body as Vm;
  };
  const vmmPid = (id: string) => node!.manager.vms.get(id)!.rec.vmm!.pid;
  const vmDir = (id: string) => path.join(stateDir, 'vms', id);

  before(async () => {
    const missing = imagesMissing(defaultImagesDir(), defaultKernel());
    if (missing) throw new Error(missing);
    writeFileSync(
      configFile,
      JSON.stringify({
        nodeToken: token,
        nodeId,
        stateDir,
        listen: { host: '127.0.0.1', port: 0 },
        capacity: { vcpus: 4, memoryMib: 1024 },
        network: { bridge, subnet: pickFreeSubnet() },
        channel: { connectTimeoutMs: 60_000, helloTimeoutMs: BOOT_MS, readyTimeoutMs: BOOT_MS, stopTimeoutMs: 20_000 },
      }),
      { mode: 0o600 },
    );
    config = loadConfigFile(configFile, {});
    node = await startNode(config, { log });
    for (const id of ['lp-a', 'lp-b']) {
      const r = await api('POST', '/v1/vms', { id, image: 'base', vcpus: 1, memoryMib: 256 });
      assert.equal(r.status, 201, JSON.stringify(r.body));
    }
    for (const id of ['lp-a', 'lp-b']) assert.equal((await waitFor(id, 'running')).state, 'running');
  });

  after(async () => {
    try {
      if (node) {
        for (const vm of node.manager.list()) await node.manager.delete(vm.id).catch(() => {});
        await node.close({ cleanupNetwork: true });
      }
    } finally {
      sweepLeftovers({ marker: stateDir, bridge, nodeId });
      for (const n of registrationsUnder(stateDir)) rmSync(path.join(REGISTRY, n), { force: true });
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('each QEMU: a uid of its own, no capabilities, no_new_privs, no groups', () => {
    const uids = new Set<string>();
    for (const id of ['lp-a', 'lp-b']) {
      const s = procStatus(vmmPid(id));
      assert.match(s.Name, /qemu/, `pid ${vmmPid(id)} is QEMU itself (every prelude step execs)`);
      const [ruid, euid, suid, fsuid] = s.Uid.split(/\s+/);
      assert.notEqual(ruid, '0', `${id}: Uid ${s.Uid}`);
      assert.ok([euid, suid, fsuid].every((u) => u === ruid), `${id}: Uid ${s.Uid}`);
      assert.ok(s.Gid.split(/\s+/).every((g) => g === ruid), `${id}: Gid ${s.Gid}`); // gid = uid, all four
      assert.equal(s.Groups, '', `${id}: supplementary groups ${s.Groups}`);
      for (const cap of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) assert.match(s[cap], /^0+$/, `${id}: ${cap} ${s[cap]}`);
      assert.equal(s.NoNewPrivs, '1', id);
      uids.add(ruid);
      assert.deepEqual(registrationsUnder(vmDir(id)), [ruid], `${id}: registered as ${REGISTRY}/${ruid}`);
      // Its disk and console log are its own, 0600.
      for (const f of ['disk.ext4', 'console.log']) {
        const st = statSync(path.join(vmDir(id), f));
        assert.equal(String(st.uid), ruid, `${id}/${f} owner`);
        assert.equal(st.mode & 0o077, 0, `${id}/${f} mode ${(st.mode & 0o777).toString(8)}`);
      }
    }
    assert.equal(uids.size, 2, 'two VMs never share a uid');
  });

  test("inside its jail a VMM sees only its own files: no other VM's disk, no node state, no token", () => {
    const pid = vmmPid('lp-a');
    const uid = Number(procStatus(pid).Uid.split(/\s+/)[0]);
    // Everything in the jail outside /usr and /dev: the exact list of what it may see.
    const found = inJail(pid, uid, ['find', '/', '-path', '/usr', '-prune', '-o', '-path', '/dev', '-prune', '-o', '-type', 'f', '-print']);
    assert.equal(found.code, 0, found.stderr);
    const files = found.stdout.trim().split('\n').sort();
    const ownDir = vmDir('lp-a');
    const rootfs = path.join(defaultImagesDir(), 'base', 'rootfs.ext4');
    const expected = [config.kernelPath, rootfs, path.join(ownDir, 'disk.ext4'), path.join(ownDir, 'console.log'), path.join(ownDir, 'vmm', 'qemu.pid')].sort();
    assert.deepEqual(files, expected);
    // Named one by one: what an escaped VMM would go for (its own console log is the control: cat works there).
    assert.equal(inJail(pid, uid, ['cat', path.join(ownDir, 'console.log')]).code, 0);
    for (const p of [path.join(vmDir('lp-b'), 'disk.ext4'), configFile, path.join(stateDir, 'node.json'), path.join(ownDir, 'vm.json'), path.join(ownDir, 'launch.json'), '/etc/shadow', '/proc/1/environ', `/proc/${process.pid}/environ`]) {
      const r = inJail(pid, uid, ['cat', p]);
      assert.notEqual(r.code, 0, `${p} readable in the jail`);
      assert.match(r.stderr, /No such file/, `${p}: ${r.stderr}`);
    }
    assert.deepEqual(inJail(pid, uid, ['ls', '-A', path.join(stateDir, 'vms')]).stdout.trim().split('\n'), ['lp-a']);
    // Its own disk is writable to it (it is the VM's disk); its kernel is not.
    assert.equal(inJail(pid, uid, ['sh', '-c', `test -w ${ownDir}/disk.ext4 && ! test -w ${config.kernelPath}`]).code, 0);
  });

  test("outside the jail its uid still cannot read another VM's disk, the node token or state", () => {
    const uid = Number(procStatus(vmmPid('lp-a')).Uid.split(/\s+/)[0]);
    assert.equal(asUid(uid, ['true']).code, 0, 'setpriv itself works for this uid');
    for (const p of [path.join(vmDir('lp-b'), 'disk.ext4'), configFile, path.join(vmDir('lp-a'), 'vm.json')]) {
      const r = asUid(uid, ['cat', p]);
      assert.notEqual(r.code, 0, `${p} readable by uid ${uid}`);
      assert.match(r.stderr, /Permission denied/, `${p}: ${r.stderr}`);
    }
  });

  test('a daemon restart adopts the confined VMs: same pid, still confined, exec works', { timeout: BOOT_MS }, async () => {
    const before = { a: vmmPid('lp-a'), b: vmmPid('lp-b') };
    const uidA = procStatus(before.a).Uid;
    await node!.close();
    node = undefined;
    node = await startNode(config, { log });
    for (const id of ['lp-a', 'lp-b'] as const) {
      const v = (await api('GET', `/v1/vms/${id}`)).body as Vm;
      assert.equal(v.state, 'running', v.reason);
    }
    assert.deepEqual({ a: vmmPid('lp-a'), b: vmmPid('lp-b') }, before);
    assert.equal(procStatus(before.a).Uid, uidA);
    const r = await api('POST', '/v1/vms/lp-a/exec', { argv: ['cat', '/proc/sys/kernel/hostname'], timeoutMs: 60_000 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.code, 0, JSON.stringify(r.body));
  });

  test('stop leaves no uid registration, mount, process or handed-over file behind', { timeout: BOOT_MS }, async () => {
    const pids = [vmmPid('lp-a'), vmmPid('lp-b')];
    for (const id of ['lp-a', 'lp-b']) assert.equal((await api('POST', `/v1/vms/${id}/stop`)).status, 202);
    for (const id of ['lp-a', 'lp-b']) assert.equal((await waitFor(id, 'stopped')).state, 'stopped');
    for (const pid of pids) assert.throws(() => process.kill(pid, 0), `VMM ${pid} still alive`);
    assert.deepEqual(pidsMentioning(stateDir), []);
    assert.deepEqual(registrationsUnder(stateDir), []);
    // The jail's mounts lived in the VMM's own namespace; none ever reached the host's.
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(stateDir));
    assert.equal(execFileSync('findmnt', ['-rn', '-o', 'TARGET'], { encoding: 'utf8' }).split('\n').filter((t) => t.startsWith('/run/romulus/jail/')).length, 0);
    for (const id of ['lp-a', 'lp-b']) {
      assert.ok(!existsSync(path.join(vmDir(id), 'vmm')), `${id}: runtime dir left`);
      for (const f of ['disk.ext4', 'console.log']) {
        const p = path.join(vmDir(id), f);
        if (existsSync(p)) assert.equal(statSync(p).uid, 0, `${id}/${f} not given back to root`);
      }
    }
  });
});
