/**
 * Runs inside the network namespace egress.test.ts created (started with `ip netns exec`): a real node
 * with an egress allow-list of one address, one real VM, and TCP connects from inside the VM to the
 * allowed and the denied destination (both listening in a second namespace behind a veth). Everything it
 * creates (bridge, TAP, nftables tables, ip_forward) lives in that namespace and goes away with it.
 *
 * Input: the ROMULUS_EGRESS_SCENARIO env var (JSON). Output: one `RESULT {json}` line on stdout.
 */
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { imagesDir, kernelPath, createLogger } from '@romulus/shared';
import { startNode, type RunningNode } from '../../packages/hypercore/src/index.ts';
import { connectArgv } from '../harness/guest-probe.ts';

interface Input {
  stateDir: string;
  nodeId: string;
  bridge: string;
  subnet: string;
  allowed: string;
  denied: string;
  port: number;
  bootTimeoutMs: number;
}

const input = JSON.parse(process.env.ROMULUS_EGRESS_SCENARIO ?? '') as Input;
const token = randomBytes(24).toString('hex');

/** Connect from this namespace (the node's "host"), to show the destinations really answer. */
function connectHere(ip: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect(port, ip);
    const t = setTimeout(() => (s.destroy(), resolve('timeout')), 4000);
    s.on('connect', () => (clearTimeout(t), s.destroy(), resolve('connected')));
    s.on('error', (e: NodeJS.ErrnoException) => (clearTimeout(t), resolve(e.code === 'ECONNREFUSED' ? 'refused' : `error ${e.code}`)));
  });
}

let node: RunningNode | undefined;
const api = async (method: string, p: string, body?: unknown) => {
  const res = await fetch(`${node!.url}${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const json: any = await res.json();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
  return json;
};

try {
  const fromNamespace = { allowed: await connectHere(input.allowed, input.port), denied: await connectHere(input.denied, input.port) };
  node = await startNode(
    {
      nodeToken: token,
      nodeId: input.nodeId,
      stateDir: input.stateDir,
      imagesDir: imagesDir(),
      kernelPath: kernelPath(),
      listen: { host: '127.0.0.1', port: 0 },
      capacity: { vcpus: 2, memoryMib: 1024 },
      network: { bridge: input.bridge, subnet: input.subnet, egressAllow: [`${input.allowed}/32`] },
      channel: { connectTimeoutMs: 60_000, helloTimeoutMs: input.bootTimeoutMs, readyTimeoutMs: input.bootTimeoutMs, stopTimeoutMs: 20_000 },
    },
    { log: createLogger('egress-scenario', { level: 'warn' }) },
  );
  await api('POST', '/v1/vms', { id: 'egress-vm', image: 'base', vcpus: 1, memoryMib: 256 });
  const vm = await api('GET', `/v1/vms/egress-vm/wait?state=running&timeoutMs=${input.bootTimeoutMs}`);
  if (vm.state !== 'running') throw new Error(`VM did not boot: ${vm.state} ${vm.reason ?? ''}`);
  const fromVm: Record<string, string> = {};
  for (const [name, ip] of [['allowed', input.allowed], ['denied', input.denied]] as const) {
    const r = await api('POST', '/v1/vms/egress-vm/exec', { argv: connectArgv(ip, input.port), timeoutMs: 60_000 });
    fromVm[name] = String(r.stdout).trim();
  }
  process.stdout.write(`RESULT ${JSON.stringify({ fromNamespace, fromVm, vmIp: vm.ip })}\n`);
} finally {
  if (node) {
    await api('DELETE', '/v1/vms/egress-vm').catch(() => {});
    await node.close({ cleanupNetwork: true });
  }
}
