import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Capacity, Vm } from '@romulus/shared';
import { startNode, type RunningNode } from '../node.ts';
import type { RunCommand } from '../exec.ts';
import { FakeDriver } from '../testing/fake-driver.ts';
import { FakeNetwork } from '../testing/fake-network.ts';
import { TEST_TOKEN, tempDir, writeTestImage } from '../testing/fixtures.ts';

/** mkfs.ext4 is the only host command the manager runs itself; the fake accepts it. */
const fakeRun: RunCommand = async (argv) => {
  if (argv[0] !== 'mkfs.ext4') throw new Error(`unexpected command ${argv.join(' ')}`);
  return { code: 0, stdout: '', stderr: '' };
};

const SECRET = 'sk-test-SECRET-value-4242';

function allFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir)) {
    const p = path.join(dir, n);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...allFilesUnder(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

describe('node API with a fake VMM and fake network', () => {
  const root = tempDir();
  const stateDir = path.join(root, 'state');
  const imagesDir = path.join(root, 'images');
  writeTestImage(imagesDir);
  writeTestImage(imagesDir, { name: 'bigimg', minVcpus: 2, minMemoryMib: 512 });
  writeTestImage(imagesDir, { name: 'silent' });
  writeTestImage(imagesDir, { name: 'crashy' });
  const driver = new FakeDriver((spec) => ({
    silent: spec.rootfsPath.includes('/silent/'),
    exitBeforeReady: spec.rootfsPath.includes('/crashy/'),
    logLines: (env) => [`hello from workload, key=${env.MODEL_KEY ?? 'none'}`],
  }));
  const network = new FakeNetwork();
  const config = {
    nodeToken: TEST_TOKEN,
    nodeId: 'unit',
    stateDir,
    imagesDir,
    kernelPath: path.join(root, 'vmlinux'),
    listen: { host: '127.0.0.1', port: 0 },
    capacity: { vcpus: 4, memoryMib: 1024 },
    network: { subnet: '10.213.0.0/24' },
    channel: { connectTimeoutMs: 2000, helloTimeoutMs: 400, readyTimeoutMs: 2000, stopTimeoutMs: 1000 },
    livenessIntervalMs: 50,
  };
  let node: RunningNode;
  const logLines: string[] = [];

  const api = async (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await fetch(`${node.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${TEST_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: res.status, body: json };
  };
  const create = (over: Record<string, unknown> = {}) => api('POST', '/v1/vms', { image: 'testimg', vcpus: 1, memoryMib: 256, ...over });
  const waitState = (id: string, state: string) => api('GET', `/v1/vms/${id}/wait?state=${state}&timeoutMs=10000`);

  before(async () => {
    const sink = new Writable({
      write(chunk, _e, cb) {
        logLines.push(String(chunk));
        cb();
      },
    });
    node = await startNode(config, { driver, network, run: fakeRun, log: pino({ level: 'debug' }, sink) });
  });
  after(async () => {
    await node?.close();
    rmSync(root, { recursive: true, force: true });
  });

  test('health needs no token, everything else does (missing and wrong token: 401)', async () => {
    const h = await fetch(`${node.url}/v1/health`);
    assert.equal(h.status, 200);
    const hb = (await h.json()) as { accel: string; status: string; warning?: string };
    assert.equal(hb.accel, 'tcg');
    assert.equal(hb.status, 'degraded');
    assert.match(hb.warning!, /TCG/);
    for (const p of ['/v1/vms', '/v1/capacity', '/metrics', '/v1/images']) {
      const r1 = await fetch(`${node.url}${p}`);
      assert.equal(r1.status, 401);
      assert.equal(((await r1.json()) as any).error.code, 'UNAUTHORIZED');
      const r2 = await fetch(`${node.url}${p}`, { headers: { authorization: 'Bearer wrong-token-wrong-token' } });
      assert.equal(r2.status, 401);
    }
  });

  test('bad creates get clear 4xx errors and leave nothing behind', async () => {
    const cases: [unknown, number, string][] = [
      [{ image: 'nope', vcpus: 1, memoryMib: 256 }, 404, 'IMAGE_NOT_FOUND'],
      [{ image: 'testimg', vcpus: 0, memoryMib: 256 }, 400, 'VALIDATION_FAILED'],
      [{ image: 'testimg', vcpus: 1000, memoryMib: 256 }, 400, 'VALIDATION_FAILED'],
      [{ image: 'testimg', vcpus: 1, memoryMib: 256, extra: 1 }, 400, 'VALIDATION_FAILED'],
      [{ image: 'testimg', vcpus: '1', memoryMib: 256 }, 400, 'VALIDATION_FAILED'],
      [{ image: 'testimg', vcpus: 1, memoryMib: 256, id: 'BAD ID' }, 400, 'VALIDATION_FAILED'],
      [{ image: 'bigimg', vcpus: 1, memoryMib: 256 }, 400, 'BELOW_IMAGE_MINIMUM'],
      [{ image: 'testimg', vcpus: 1, memoryMib: 256, env: { 'bad-key': 'x' } }, 400, 'VALIDATION_FAILED'],
      [{ image: 'testimg', vcpus: 1, memoryMib: 256, secrets: { K: 5 } }, 400, 'VALIDATION_FAILED'],
      [{ image: 'testimg', vcpus: 1 }, 400, 'VALIDATION_FAILED'],
      [[], 400, 'VALIDATION_FAILED'],
      [{ image: 'testimg', vcpus: 4, memoryMib: 2048 }, 409, 'INSUFFICIENT_CAPACITY'],
      [{ image: 'testimg', vcpus: 1, memoryMib: 256, env: { A: 'x' }, secrets: { A: 'y' } }, 400, 'ENV_SECRET_CLASH'],
      ['{"image": "testimg", ', 400, 'MALFORMED_JSON'],
    ];
    for (const [body, status, code] of cases) {
      const r = await api('POST', '/v1/vms', body);
      assert.equal(r.status, status, JSON.stringify(body));
      assert.equal(r.body.success, false);
      assert.equal(r.body.error.code, code, JSON.stringify(r.body));
    }
    const below = await api('POST', '/v1/vms', { image: 'bigimg', vcpus: 1, memoryMib: 256 });
    assert.match(below.body.error.message, /at least 2 vCPUs and 512 MiB.*1 vCPUs and 256 MiB/);
    const over = await api('POST', '/v1/vms', { image: 'testimg', vcpus: 4, memoryMib: 2048 });
    assert.deepEqual(over.body.error.free, { vcpus: 4, memoryMib: 1024 });
    const big = await api('POST', '/v1/vms', 'x'.repeat(300 * 1024));
    assert.equal(big.status, 413);
    assert.equal((await api('GET', '/v1/vms')).body.vms.length, 0);
    assert.deepEqual(readdirSync(path.join(stateDir, 'vms')), []);
    assert.equal(network.taps.size, 0);
    assert.equal(driver.liveCount(), 0);
  });

  test('create → running; secret delivered, never on disk or in logs; stop frees everything; delete removes', async () => {
    const r = await create({ id: 'vm-one', env: { PLAIN: 'p' }, secrets: { MODEL_KEY: SECRET }, metadata: { wallet: 'w1' } });
    assert.equal(r.status, 201);
    assert.ok(['creating', 'starting'].includes(r.body.state));
    assert.ok(['preparing', 'booting'].includes(r.body.phase), r.body.phase);
    const dup = await create({ id: 'vm-one' });
    assert.equal(dup.status, 409);
    assert.equal(dup.body.error.code, 'VM_EXISTS');

    const w = await waitState('vm-one', 'running');
    assert.equal(w.status, 200, JSON.stringify(w.body));
    const vm = w.body as Vm;
    assert.equal(vm.state, 'running');
    assert.equal(vm.phase, undefined, 'a phase only on the way to running');
    assert.deepEqual(vm.secretNames, ['MODEL_KEY']);
    assert.match(vm.ip!, /^10\.213\.0\.\d+$/);
    for (const k of ['vmmStartMs', 'kernelBootMs', 'initMs', 'agentReadyMs', 'totalMs'] as const) assert.equal(typeof vm.timings[k], 'number', k);

    const spec = driver.started.at(-1)!;
    assert.ok(!spec.kernelCmdline.includes(SECRET));
    assert.match(spec.kernelCmdline, new RegExp(`ip=${vm.ip!.replace(/\./g, '\\.')}::10\\.213\\.0\\.1:`));

    const ex = await api('POST', '/v1/vms/vm-one/exec', { argv: ['printenv', 'MODEL_KEY'] });
    assert.equal(ex.status, 200);
    assert.equal(ex.body.stdout.trim(), SECRET);

    const cap = (await api('GET', '/v1/capacity')).body as Capacity;
    assert.deepEqual(cap.vcpus, { total: 4, allocated: 1, free: 3 });
    assert.equal(cap.memoryMib.allocated, 256);
    assert.equal(cap.accel, 'tcg');
    assert.equal(network.taps.size, 1);

    // The secret is in no file under the state dir (vm.json, leases, guest.log with the redacted line).
    await new Promise((r) => setTimeout(r, 50));
    const files = allFilesUnder(stateDir);
    assert.ok(files.some((f) => f.endsWith('guest.log')));
    for (const f of files) assert.ok(!readFileSync(f).includes(SECRET), `secret found in ${f}`);
    assert.match(readFileSync(path.join(stateDir, 'vms/vm-one/guest.log'), 'utf8'), /key=\[REDACTED\]/);
    assert.ok(!logLines.join('').includes(SECRET), 'secret in node log');

    const st = await api('POST', '/v1/vms/vm-one/stop');
    assert.equal(st.status, 202);
    const stopped = await waitState('vm-one', 'stopped');
    assert.equal(stopped.body.state, 'stopped');
    assert.equal((await api('POST', '/v1/vms/vm-one/stop')).status, 202); // idempotent
    const cap2 = (await api('GET', '/v1/capacity')).body as Capacity;
    assert.equal(cap2.vcpus.allocated, 0);
    assert.equal(network.taps.size, 0);
    assert.equal(network.rules.size, 0);
    assert.deepEqual(JSON.parse(readFileSync(path.join(stateDir, 'leases.json'), 'utf8')), {});
    assert.equal(driver.liveCount(), 0);

    const del = await api('DELETE', '/v1/vms/vm-one');
    assert.deepEqual(del.body, { success: true });
    assert.ok(!existsSync(path.join(stateDir, 'vms/vm-one')));
    assert.equal((await api('GET', '/v1/vms/vm-one')).status, 404);
  });

  test('a guest that never answers ends failed with a reason and nothing held', async () => {
    await create({ id: 'vm-silent', image: 'silent' });
    // While the node waits for the hello, the VM says so: VMM up, guest booting.
    let seen: Vm | undefined;
    for (let i = 0; i < 200 && seen?.state !== 'starting'; i++) {
      seen = (await api('GET', '/v1/vms/vm-silent')).body as Vm;
      if (seen.state !== 'starting') await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(seen?.state, 'starting');
    assert.equal(seen?.phase, 'booting');
    const w = await waitState('vm-silent', 'running');
    assert.equal(w.body.state, 'failed');
    assert.equal(w.body.phase, undefined);
    assert.match(w.body.reason, /guest agent did not answer within/);
    assert.equal(w.body.reasonCode, 'GUEST_UNREACHABLE');
    assert.equal(network.taps.size, 0);
    assert.equal(network.rules.size, 0);
    assert.equal(driver.liveCount(), 0);
    assert.ok(!existsSync(path.join(stateDir, 'vms/vm-silent/disk.ext4')));
    assert.equal((await api('GET', '/v1/capacity')).body.vcpus.allocated, 0);
    await api('DELETE', '/v1/vms/vm-silent');
  });

  test('a workload that exits before ready: failed with its exit', async () => {
    await create({ id: 'vm-crashy', image: 'crashy' });
    const w = await waitState('vm-crashy', 'running');
    assert.equal(w.body.state, 'failed');
    assert.match(w.body.reason, /workload exited \(code 3/);
    assert.equal(w.body.reasonCode, 'WORKLOAD_EXITED');
    assert.equal(driver.liveCount(), 0);
    await api('DELETE', '/v1/vms/vm-crashy');
  });

  test('a TAP that cannot be created rolls back the lease, rules and disk', async () => {
    network.failCreateTap = true;
    try {
      await create({ id: 'vm-notap' });
      const w = await waitState('vm-notap', 'running');
      assert.equal(w.body.state, 'failed');
      assert.match(w.body.reason, /could not create the TAP device: fake: cannot create tap/);
      assert.equal(w.body.reasonCode, 'HOST_SETUP_FAILED');
      assert.equal(network.rules.size, 0);
      assert.deepEqual(JSON.parse(readFileSync(path.join(stateDir, 'leases.json'), 'utf8')), {});
      assert.ok(!existsSync(path.join(stateDir, 'vms/vm-notap/disk.ext4')));
    } finally {
      network.failCreateTap = false;
    }
    await api('DELETE', '/v1/vms/vm-notap');
  });

  test('a VMM that dies becomes failed within seconds, with its resources released', async () => {
    await create({ id: 'vm-dies' });
    await waitState('vm-dies', 'running');
    await driver.crash(path.join(stateDir, 'vms', 'vm-dies'));
    const w = await waitState('vm-dies', 'failed');
    assert.equal(w.body.state, 'failed');
    assert.equal(w.body.reason, 'vmm process exited unexpectedly');
    assert.equal(w.body.reasonCode, 'VMM_EXITED');
    assert.equal(network.taps.size, 0);
    const m = await api('GET', '/metrics');
    assert.match(m.body, /romulus_node_reconciler_actions_total\{action="vmm_died"\} 1/);
    assert.match(m.body, /romulus_node_accel\{accel="tcg"\} 1/);
    assert.match(m.body, /romulus_node_vms\{state="failed"\} 1/);
    await api('DELETE', '/v1/vms/vm-dies');
  });

  test('wait times out with 408 and the VM; unknown VM 404; exec on a stopped VM 409', async () => {
    await create({ id: 'vm-wait' });
    await waitState('vm-wait', 'running');
    const t = await api('GET', '/v1/vms/vm-wait/wait?state=stopped&timeoutMs=100');
    assert.equal(t.status, 408);
    assert.equal(t.body.error.code, 'WAIT_TIMEOUT');
    assert.equal(t.body.error.vm.state, 'running');
    assert.equal((await api('GET', '/v1/vms/vm-wait/wait?state=bogus')).status, 400);
    assert.equal((await api('GET', '/v1/vms/no-such-vm')).status, 404);
    await api('POST', '/v1/vms/vm-wait/stop');
    await waitState('vm-wait', 'stopped');
    assert.equal((await api('POST', '/v1/vms/vm-wait/exec', { argv: ['true'] })).body.error.code, 'VM_NOT_RUNNING');
    await api('DELETE', '/v1/vms/vm-wait');
  });

  test('node restart adopts running VMs and marks dead ones failed; orphans removed', async () => {
    await create({ id: 'vm-keep', secrets: { MODEL_KEY: SECRET } });
    await create({ id: 'vm-lost' });
    await waitState('vm-keep', 'running');
    await waitState('vm-lost', 'running');
    const keepPid = (await api('GET', '/v1/vms')).body.vms.find((v: Vm) => v.id === 'vm-keep');
    await node.close();
    assert.equal(driver.liveCount(), 2, 'closing the node leaves VMs running');
    await driver.crash(path.join(stateDir, 'vms', 'vm-lost'));
    network.taps.add(`${node.config.network.tapPrefix}orphan`);
    network.rules.set('rtorphan', { vmId: 'gone', tap: 'rtorphan', mac: '02:00:00:00:00:09', ip: '10.213.0.99' });
    mkdirSync(path.join(stateDir, 'vms', 'orphan-dir'));
    writeFileSync(path.join(stateDir, 'vms', 'orphan-dir', 'disk.ext4'), 'x');
    const leases = JSON.parse(readFileSync(path.join(stateDir, 'leases.json'), 'utf8'));
    writeFileSync(path.join(stateDir, 'leases.json'), JSON.stringify({ ...leases, '10.213.0.99': 'gone' }));
    node = await startNode(config, { driver, network, run: fakeRun });
    const keep = (await api('GET', '/v1/vms/vm-keep')).body as Vm;
    assert.equal(keep.state, 'running');
    assert.equal(keep.ip, keepPid.ip);
    const lost = (await api('GET', '/v1/vms/vm-lost')).body as Vm;
    assert.equal(lost.state, 'failed');
    assert.match(lost.reason!, /exited while the node was down/);
    assert.deepEqual([...network.taps], [readTap(stateDir, 'vm-keep')]);
    assert.deepEqual([...network.rules.keys()], [readTap(stateDir, 'vm-keep')]);
    assert.ok(!existsSync(path.join(stateDir, 'vms', 'orphan-dir')));
    assert.deepEqual(Object.values(JSON.parse(readFileSync(path.join(stateDir, 'leases.json'), 'utf8'))), ['vm-keep']);
    const ex = await api('POST', '/v1/vms/vm-keep/exec', { argv: ['printenv', 'MODEL_KEY'] });
    assert.equal(ex.body.stdout.trim(), SECRET);
    await api('DELETE', '/v1/vms/vm-keep');
    await api('DELETE', '/v1/vms/vm-lost');
    assert.equal(driver.liveCount(), 0);
    assert.equal(network.taps.size, 0);
  });
});

function readTap(stateDir: string, id: string): string {
  return (JSON.parse(readFileSync(path.join(stateDir, 'vms', id, 'vm.json'), 'utf8')) as { tap: string }).tap;
}
