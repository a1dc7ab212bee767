/**
 * Egress from a VM with real traffic: denied by default, allowed only to the node's allow-list.
 *
 * Forwarding needs ip_forward, which this suite must not turn on for the host (DESIGN.md section 3). So
 * it builds its own little world: a namespace for the node (bridge, TAP, nftables and ip_forward all
 * live there) and a namespace for two destinations, joined by a veth pair with addresses the test
 * assigns. Both destinations answer TCP (checked from the node's namespace first), so a failed connect
 * from the VM can only be the node's rules. The node and its VM run in egress-scenario.ts, started
 * inside the node's namespace with `ip netns exec`; deleting the namespaces removes everything else.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { imagesDir, kernelPath } from '@romulus/shared';
import { imagesMissing, pickFreeSubnet, pidsMentioning, uniqueSuffix } from '../harness/host-net.ts';

const BOOT_MS = 600_000;
const root = path.resolve(import.meta.dirname, '../..');

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
const inNs = (ns: string, ...cmd: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['ignore', 'ignore', 'pipe'] });

/** Runs a child to completion; resolves with its stdout and stderr whatever the exit code. */
function runChild(child: ChildProcess): Promise<{ code: number | null; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c) => (stdout += c));
  child.stderr!.on('data', (c) => (stderr += c));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

describe('VM egress with real traffic (in namespaces this test creates)', { timeout: 30 * 60_000 }, () => {
  const suffix = uniqueSuffix();
  const nodeNs = `rt${suffix}n`;
  const destNs = `rt${suffix}d`;
  const vethNode = `rt${suffix}a`;
  const vethDest = `rt${suffix}b`;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'romulus-egress-e2e-'));
  // Two /24s: the VMs' subnet on the node's bridge, and the link to the destinations. Both are picked to
  // overlap nothing on the host, although they only ever exist inside the namespaces.
  const vmSubnet = pickFreeSubnet();
  let linkNet = pickFreeSubnet();
  while (linkNet === vmSubnet) linkNet = pickFreeSubnet();
  const base = linkNet.replace(/\.0\/24$/, '');
  const nodeSide = `${base}.1`;
  const allowed = `${base}.2`;
  const denied = `${base}.3`;
  const port = 8000 + Math.floor(Math.random() * 1000);
  let listener: ChildProcess | undefined;
  let scenarioChild: ChildProcess | undefined;

  before(async () => {
    const missing = imagesMissing(imagesDir(), kernelPath());
    if (missing) throw new Error(missing);
    ip('netns', 'add', nodeNs);
    ip('netns', 'add', destNs);
    ip('link', 'add', vethNode, 'type', 'veth', 'peer', 'name', vethDest);
    ip('link', 'set', vethNode, 'netns', nodeNs);
    ip('link', 'set', vethDest, 'netns', destNs);
    inNs(nodeNs, 'ip', 'link', 'set', 'lo', 'up');
    inNs(nodeNs, 'ip', 'addr', 'add', `${nodeSide}/24`, 'dev', vethNode);
    inNs(nodeNs, 'ip', 'link', 'set', vethNode, 'up');
    // Routing between the bridge and the veth: this namespace's own ip_forward, not the host's.
    inNs(nodeNs, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward');
    inNs(destNs, 'ip', 'link', 'set', 'lo', 'up');
    inNs(destNs, 'ip', 'addr', 'add', `${allowed}/24`, 'dev', vethDest);
    inNs(destNs, 'ip', 'addr', 'add', `${denied}/24`, 'dev', vethDest);
    inNs(destNs, 'ip', 'link', 'set', vethDest, 'up');
    inNs(destNs, 'ip', 'route', 'add', vmSubnet, 'via', nodeSide);
    // One TCP listener on both destination addresses (the probes reset their connections: ignore that).
    const serve = `require('net').createServer((s)=>{s.on('error',()=>{});s.end('dest\\n')}).listen(${port},'0.0.0.0',()=>console.log('listening'))`;
    listener = spawn('ip', ['netns', 'exec', destNs, process.execPath, '-e', serve], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      listener!.stdout!.on('data', (c) => String(c).includes('listening') && resolve());
      listener!.on('exit', (code) => reject(new Error(`the destination listener exited (${code})`)));
    });
  });

  after(() => {
    listener?.kill('SIGKILL');
    scenarioChild?.kill('SIGKILL'); // only still running when the test timed out
    for (const pid of pidsMentioning(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    // Deleting a namespace deletes its veth end (and so the pair), the bridge, TAPs and nftables tables.
    for (const ns of [nodeNs, destNs]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // never created
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('a VM reaches the allow-listed address and not the other, though both answer', { timeout: BOOT_MS + 120_000 }, async () => {
    const scenario = {
      stateDir: path.join(dir, 'state'),
      nodeId: `rt${suffix}`,
      bridge: `rt${suffix}br`,
      subnet: vmSubnet,
      allowed,
      denied,
      port,
      bootTimeoutMs: BOOT_MS,
    };
    const child = spawn('ip', ['netns', 'exec', nodeNs, process.execPath, '--import', 'tsx', path.join(root, 'e2e/node/egress-scenario.ts')], {
      cwd: root,
      env: { ...process.env, ROMULUS_EGRESS_SCENARIO: JSON.stringify(scenario) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    scenarioChild = child;
    const r = await runChild(child);
    const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
    assert.ok(line, `the scenario reported nothing (exit ${r.code}): ${r.stderr.slice(-3000)}`);
    const result = JSON.parse(line.slice('RESULT '.length));
    // Both destinations are up and reachable by routing from the node's namespace.
    assert.deepEqual(result.fromNamespace, { allowed: 'connected', denied: 'connected' }, JSON.stringify(result));
    // From the VM: the allow-listed one through the node's forward chain, the other dropped by it (a
    // dropped SYN is a timeout; a reset or an ICMP error would also show the packet got an answer).
    assert.equal(result.fromVm.allowed, 'connected', JSON.stringify(result));
    assert.equal(result.fromVm.denied, 'timeout', JSON.stringify(result));
    assert.equal(r.code, 0, r.stderr.slice(-3000));
    assert.deepEqual(pidsMentioning(dir), [], 'the scenario left a VMM running');
  });
});
