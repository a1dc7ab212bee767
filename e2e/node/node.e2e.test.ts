/**
 * The node daemon end to end with real parts: real QEMU microVMs (TCG on this machine), the real base image
 * and guest agent, a real bridge + TAPs + nftables, the real HTTP API over loopback.
 *   node --import tsx --test e2e/node/node.e2e.test.ts
 * Needs root, the kernel and the base image (scripts/setup.sh). Generous timeouts: TCG boots are slow and
 * the machine is shared; nothing here measures speed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { imagesDir as defaultImagesDir, kernelPath as defaultKernel, type Capacity, type Vm } from '@romulus/shared';
import { startNode, type RunningNode } from '../../packages/hypercore/src/index.ts';
import type { NodeConfigInput } from '../../packages/hypercore/src/config.ts';
import { nftTableFor, tapPrefixFor } from '../../packages/hypercore/src/network/names.ts';
import {
  imagesMissing,
  linkExists,
  linksWithPrefix,
  nftSetElements,
  pickFreeSubnet,
  pidsMentioning,
  sweepLeftovers,
  uniqueSuffix,
} from '../harness/host-net.ts';
import { connectArgv } from '../harness/guest-probe.ts';

const BOOT_MS = 240_000;

function regularFilesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(dir)) {
    const p = path.join(dir, n);
    const st = statSync(p);
    if (st.isDirectory()) out.push(...regularFilesUnder(p));
    else if (st.isFile()) out.push(p);
  }
  return out;
}

describe('hypercore node with real microVMs', { timeout: 30 * 60_000 }, () => {
  const suffix = uniqueSuffix();
  const nodeId = `e2e-${suffix}`;
  const bridge = `rt${suffix}br`;
  const tapPrefix = tapPrefixFor(nodeId);
  const table = nftTableFor(nodeId);
  const root = mkdtempSync(path.join(os.tmpdir(), 'romulus-node-e2e-'));
  const stateDir = path.join(root, 'state');
  const token = randomBytes(24).toString('hex');
  const secret = `sk-e2e-${randomBytes(16).toString('hex')}`;
  const logText: string[] = [];
  const logSink = new Writable({
    write(chunk, _e, cb) {
      logText.push(String(chunk));
      cb();
    },
  });
  const log = pino({ level: 'debug' }, logSink);
  let subnet = '';
  let config: NodeConfigInput;
  let node: RunningNode | undefined;

  const api = async (method: string, p: string, body?: unknown, auth: string | null = token) => {
    const headers: Record<string, string> = {};
    if (auth !== null) headers.authorization = `Bearer ${auth}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${node!.url}${p}`, {
      method,
      headers,
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: any = text;
    try {
      json = JSON.parse(text);
    } catch {
      /* text */
    }
    return { status: res.status, body: json };
  };
  const waitFor = async (id: string, state: string, ms = BOOT_MS): Promise<Vm> => {
    const r = await api('GET', `/v1/vms/${id}/wait?state=${state}&timeoutMs=${ms}`);
    assert.equal(r.status, 200, `wait ${id} ${state}: ${JSON.stringify(r.body)}`);
    return r.body as Vm;
  };
  const exec = async (id: string, argv: string[]) => {
    const r = await api('POST', `/v1/vms/${id}/exec`, { argv, timeoutMs: 60_000 });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body as { code: number; stdout: string; stderr: string };
  };
  const connectFrom = async (id: string, ip: string, port: number) =>
    (await exec(id, connectArgv(ip, port))).stdout.trim();
  const vmmPid = (id: string) => node!.manager.vms.get(id)?.rec.vmm?.pid;

  before(async () => {
    const missing = imagesMissing(defaultImagesDir(), defaultKernel());
    if (missing) throw new Error(missing);
    subnet = pickFreeSubnet();
    config = {
      nodeToken: token,
      nodeId,
      stateDir,
      listen: { host: '127.0.0.1', port: 0 },
      capacity: { vcpus: 6, memoryMib: 2048 },
      network: { bridge, subnet },
      channel: { connectTimeoutMs: 60_000, helloTimeoutMs: BOOT_MS, readyTimeoutMs: BOOT_MS, stopTimeoutMs: 20_000 },
    };
    node = await startNode(config, { log });
  });

  after(async () => {
    try {
      if (node) {
        for (const vm of node.manager.list()) await node.manager.delete(vm.id).catch(() => {});
        await node.close({ cleanupNetwork: true });
      }
    } finally {
      sweepLeftovers({ marker: stateDir, bridge, nodeId });
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('health and capacity report the accelerator (and warn under TCG)', async () => {
    const h = await api('GET', '/v1/health', undefined, null);
    assert.equal(h.status, 200);
    assert.ok(['kvm', 'tcg'].includes(h.body.accel));
    if (h.body.accel === 'tcg') assert.match(h.body.warning, /TCG/);
    const c = (await api('GET', '/v1/capacity')).body as Capacity;
    assert.deepEqual(c.vcpus, { total: 6, allocated: 0, free: 6 });
    assert.ok(linkExists(bridge));
  });

  test('bad requests get clear 4xx errors and leave nothing behind', async () => {
    const cases: [unknown, string | null, number, string][] = [
      [{ image: 'no-such-image', vcpus: 1, memoryMib: 256 }, token, 404, 'IMAGE_NOT_FOUND'],
      [{ image: 'base', vcpus: 0, memoryMib: 256 }, token, 400, 'VALIDATION_FAILED'],
      [{ image: 'base', vcpus: 100000, memoryMib: 256 }, token, 400, 'VALIDATION_FAILED'],
      [{ image: 'base', vcpus: 1, memoryMib: 256 }, null, 401, 'UNAUTHORIZED'],
      [{ image: 'base', vcpus: 1, memoryMib: 256 }, 'not-the-token', 401, 'UNAUTHORIZED'],
      ['{"image":"base","vcpus":1,', token, 400, 'MALFORMED_JSON'],
      [{ image: 'base', vcpus: 4, memoryMib: 4096 }, token, 409, 'INSUFFICIENT_CAPACITY'],
      [{ image: 'base', vcpus: 1, memoryMib: 64 }, token, 400, 'BELOW_IMAGE_MINIMUM'],
    ];
    for (const [body, auth, status, code] of cases) {
      const r = await api('POST', '/v1/vms', body, auth);
      assert.equal(r.status, status, `${JSON.stringify(body)} → ${JSON.stringify(r.body)}`);
      assert.equal(r.body.success, false);
      assert.equal(r.body.error.code, code);
      assert.ok(r.body.error.message.length > 5);
    }
    assert.deepEqual(readdirSync(path.join(stateDir, 'vms')), []);
    assert.deepEqual(linksWithPrefix(tapPrefix), []);
    assert.deepEqual(pidsMentioning(stateDir), []);
    assert.equal((await api('GET', '/v1/vms')).body.vms.length, 0);
  });

  test('two VMs boot to ready with exactly their vCPUs and memory, own IPs, secret delivered', { timeout: 2 * BOOT_MS }, async () => {
    const a = await api('POST', '/v1/vms', { id: 'vm-a', image: 'base', vcpus: 2, memoryMib: 384, secrets: { E2E_SECRET: secret }, env: { PLAIN_VAR: 'plain' } });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    const b = await api('POST', '/v1/vms', { id: 'vm-b', image: 'base', vcpus: 1, memoryMib: 256 });
    assert.equal(b.status, 201, JSON.stringify(b.body));
    const va = await waitFor('vm-a', 'running');
    const vb = await waitFor('vm-b', 'running');
    assert.equal(va.state, 'running', va.reason);
    assert.equal(vb.state, 'running', vb.reason);
    assert.notEqual(va.ip, vb.ip);
    for (const v of [va, vb]) {
      assert.ok(v.timings.totalMs! > 0 && v.timings.kernelBootMs! >= 0 && v.timings.initMs! >= 0, JSON.stringify(v.timings));
      assert.ok(linkExists(node!.manager.vms.get(v.id)!.rec.tap!));
      assert.match(nftSetElements(table, 'bindings'), new RegExp(v.ip!.replace(/\./g, '\\.')));
    }

    assert.equal((await exec('vm-a', ['nproc'])).stdout.trim(), '2');
    assert.equal((await exec('vm-b', ['nproc'])).stdout.trim(), '1');
    for (const [id, mib] of [['vm-a', 384], ['vm-b', 256]] as const) {
      const mem = (await exec(id, ['cat', '/proc/meminfo'])).stdout;
      const kib = Number(/MemTotal:\s+(\d+) kB/.exec(mem)![1]);
      assert.ok(kib <= mib * 1024, `${id}: MemTotal ${kib} kB above the requested ${mib} MiB`);
      assert.ok(kib >= mib * 1024 * 0.85, `${id}: MemTotal ${kib} kB far below the requested ${mib} MiB`);
    }
    const ipA = (await exec('vm-a', ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout;
    assert.match(ipA, new RegExp(`inet ${va.ip!.replace(/\./g, '\\.')}/`));

    // The secret reached the workload's environment (some process in the guest carries it).
    const found = await exec('vm-a', [
      'sh',
      '-c',
      'for e in /proc/[0-9]*/environ; do tr "\\0" "\\n" < "$e" 2>/dev/null; done | grep -c "^E2E_SECRET=" || true',
    ]);
    assert.ok(Number(found.stdout.trim()) >= 1, `secret not in any guest process environment: ${found.stdout}`);
    const wl = await exec('vm-a', ['sh', '-c', 'for e in /proc/[0-9]*/environ; do tr "\\0" "\\n" < "$e" 2>/dev/null; done | grep -c "^PLAIN_VAR=plain$" || true']);
    assert.ok(Number(wl.stdout.trim()) >= 1);
    assert.ok(!(await api('GET', '/v1/vms/vm-a')).body.kernelCmdline);
  });

  // Egress beyond the host (denied by default, the allow-list) is proven with real traffic to a reachable
  // destination in egress.test.ts; this suite sends nothing to addresses it did not assign.
  test('network isolation: host reaches VMs; VM A reaches neither VM B nor the host', { timeout: BOOT_MS }, async () => {
    const va = (await api('GET', '/v1/vms/vm-a')).body as Vm;
    const vb = (await api('GET', '/v1/vms/vm-b')).body as Vm;
    // host → B works (the agent URL path), and A's own port answers A (the probe script works)
    const hostToB = await fetch(`http://${vb.ip}:${vb.agentPort}/`);
    assert.equal(hostToB.status, 200);
    await hostToB.text();
    assert.equal(await connectFrom('vm-a', va.ip!, va.agentPort), 'connected');
    // A → B: dropped on the bridge. Even ARP between TAPs is dropped, so the guest usually reports
    // EHOSTUNREACH; a dropped SYN would be a timeout. Reaching B would be 'connected' (or 'refused').
    const aToB = await connectFrom('vm-a', vb.ip!, vb.agentPort);
    assert.ok(['timeout', 'error EHOSTUNREACH'].includes(aToB), `VM A reached VM B: ${aToB}`);
    // A → a port the host listens on at the bridge address: dropped
    const gw = node!.network.gateway;
    const server = net.createServer((s) => {
      s.on('error', () => {}); // the probe below resets its connection on purpose
      s.end('hi');
    });
    await new Promise<void>((r) => server.listen(0, gw, r));
    try {
      const port = (server.address() as net.AddressInfo).port;
      const local = await new Promise<string>((resolve) => {
        const s = net.connect(port, gw, () => {
          s.destroy();
          resolve('connected');
        });
        s.on('error', (e) => resolve(String(e)));
      });
      assert.equal(local, 'connected', 'the host listener itself works');
      const fromGuest = await connectFrom('vm-a', gw, port);
      assert.ok(['timeout', 'error EHOSTUNREACH'].includes(fromGuest), `guest reached the host listener: ${fromGuest}`);
    } finally {
      server.close();
    }
  });

  test('the secret appears nowhere under the state dir or in the node log', async () => {
    const files = regularFilesUnder(stateDir);
    assert.ok(files.some((f) => f.endsWith('vm.json')));
    for (const f of files) assert.ok(!readFileSync(f).includes(secret), `secret found in ${f}`);
    assert.ok(!logText.join('').includes(secret), 'secret in node log output');
    const rec = JSON.parse(readFileSync(path.join(stateDir, 'vms/vm-a/vm.json'), 'utf8'));
    assert.deepEqual(rec.secretNames, ['E2E_SECRET']);
  });

  test('a daemon restart adopts the running VMs (same pid, still answering)', { timeout: BOOT_MS }, async () => {
    const pidA = vmmPid('vm-a');
    assert.ok(pidA);
    await node!.close();
    node = undefined;
    process.kill(pidA!, 0); // VM survived the daemon
    node = await startNode(config, { log });
    const va = (await api('GET', '/v1/vms/vm-a')).body as Vm;
    assert.equal(va.state, 'running', va.reason);
    assert.equal(vmmPid('vm-a'), pidA);
    assert.equal((await exec('vm-a', ['nproc'])).stdout.trim(), '2');
    const fb = await fetch(`http://${va.ip}:${va.agentPort}/`);
    assert.equal(fb.status, 200);
    await fb.text();
  });

  test('a killed VMM becomes failed within seconds, with its TAP and rules gone', { timeout: BOOT_MS }, async () => {
    const vb = (await api('GET', '/v1/vms/vm-b')).body as Vm;
    const rec = node!.manager.vms.get('vm-b')!.rec;
    const tap = rec.tap!;
    process.kill(rec.vmm!.pid, 'SIGKILL');
    const failed = await waitFor('vm-b', 'failed', 60_000);
    assert.equal(failed.state, 'failed');
    assert.match(failed.reason!, /vmm process exited unexpectedly/);
    assert.ok(!linkExists(tap));
    assert.ok(!nftSetElements(table, 'bindings').includes(vb.ip!));
    const c = (await api('GET', '/v1/capacity')).body as Capacity;
    assert.equal(c.vcpus.allocated, 2); // only vm-a
  });

  test('stop frees capacity and removes the TAP and its rules; delete removes the VM', { timeout: BOOT_MS }, async () => {
    const va = (await api('GET', '/v1/vms/vm-a')).body as Vm;
    const rec = node!.manager.vms.get('vm-a')!.rec;
    const tap = rec.tap!;
    const pid = rec.vmm!.pid;
    const r = await api('POST', '/v1/vms/vm-a/stop');
    assert.equal(r.status, 202);
    const stopped = await waitFor('vm-a', 'stopped', 120_000);
    assert.equal(stopped.state, 'stopped');
    assert.ok(!linkExists(tap));
    assert.ok(!nftSetElements(table, 'bindings').includes(va.ip!));
    assert.ok(!nftSetElements(table, 'taps').includes(tap));
    assert.throws(() => process.kill(pid, 0));
    const c = (await api('GET', '/v1/capacity')).body as Capacity;
    assert.deepEqual(c.vcpus, { total: 6, allocated: 0, free: 6 });
    assert.equal(c.memoryMib.allocated, 0);
    for (const id of ['vm-a', 'vm-b']) assert.deepEqual((await api('DELETE', `/v1/vms/${id}`)).body, { success: true });
    assert.deepEqual(readdirSync(path.join(stateDir, 'vms')), []);
    assert.deepEqual(pidsMentioning(stateDir), []);
    assert.ok(!existsSync(path.join(stateDir, 'vms/vm-a')));
  });
});
