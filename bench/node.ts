/**
 * Node daemon benchmark with real microVMs (base image):
 *   - create → ready latency over N sequential VMs (median, p95), split into VMM start, kernel boot, init,
 *     agent ready (from the node's own timings);
 *   - host memory per VM: the VMM's PSS (smaps_rollup) and its PSS beyond guest RAM (guest RAM mapping
 *     found in smaps by its size);
 *   - time to create P VMs in parallel until all are ready.
 * Prints whether KVM or TCG was used. Cleans up everything it creates (VMs, TAPs, bridge, nft tables).
 *   node --import tsx bench/node.ts            (BENCH_SEQ=10 BENCH_PAR=10 BENCH_MEM=256)
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { imagesDir, kernelPath, type Vm } from '@romulus/shared';
import { startNode, type RunningNode } from '../packages/hypercore/src/index.ts';
import { imagesMissing, pickFreeSubnet, sweepLeftovers, uniqueSuffix } from '../e2e/harness/host-net.ts';

const SEQ = Number(process.env.BENCH_SEQ ?? 10);
const PAR = Number(process.env.BENCH_PAR ?? 10);
const MEM = Number(process.env.BENCH_MEM ?? 256);
const WAIT_MS = 600_000;

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
}
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

/** Total PSS and the PSS of the guest-RAM mapping (the anonymous mapping whose size is the guest's RAM). */
function vmmMemory(pid: number, guestMib: number): { pssKib: number; guestPssKib: number } {
  const text = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  let pssKib = 0;
  let guestPssKib = 0;
  let curSize = 0;
  for (const line of text.split('\n')) {
    const size = /^Size:\s+(\d+) kB/.exec(line);
    if (size) curSize = Number(size[1]);
    const pss = /^Pss:\s+(\d+) kB/.exec(line);
    if (pss) {
      pssKib += Number(pss[1]);
      if (curSize === guestMib * 1024) guestPssKib += Number(pss[1]);
    }
  }
  return { pssKib, guestPssKib };
}

async function main(): Promise<void> {
  const missing = imagesMissing(imagesDir(), kernelPath());
  if (missing) throw new Error(missing);
  const suffix = uniqueSuffix();
  const nodeId = `bench-${suffix}`;
  const bridge = `rt${suffix}br`;
  const root = mkdtempSync(path.join(os.tmpdir(), 'romulus-node-bench-'));
  const stateDir = path.join(root, 'state');
  const token = randomBytes(24).toString('hex');
  let node: RunningNode | undefined;
  const sweep = () => sweepLeftovers({ marker: stateDir, bridge, nodeId });
  process.on('SIGINT', () => {
    sweep();
    process.exit(130);
  });
  try {
    node = await startNode(
      {
        nodeToken: token,
        nodeId,
        stateDir,
        listen: { host: '127.0.0.1', port: 0 },
        capacity: { vcpus: 256, memoryMib: Math.max(MEM * (PAR + 1), 4096) },
        network: { bridge, subnet: pickFreeSubnet() },
        channel: { connectTimeoutMs: 60_000, helloTimeoutMs: WAIT_MS, readyTimeoutMs: WAIT_MS, stopTimeoutMs: 20_000 },
      },
      { log: pino({ level: 'warn' }) },
    );
    const call = async (method: string, p: string, body?: unknown) => {
      const res = await fetch(`${node!.url}${p}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const json = (await res.json()) as any;
      if (res.status >= 300) throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const createReady = async (id: string): Promise<Vm> => {
      await call('POST', '/v1/vms', { id, image: 'base', vcpus: 1, memoryMib: MEM });
      const vm = (await call('GET', `/v1/vms/${id}/wait?state=running&timeoutMs=${WAIT_MS}`)) as Vm;
      if (vm.state !== 'running') throw new Error(`${id} ended ${vm.state}: ${vm.reason}`);
      return vm;
    };
    const remove = (id: string) => call('DELETE', `/v1/vms/${id}`);

    console.log(`accelerator: ${node.accel.toUpperCase()}${node.accel === 'tcg' ? ' (software emulation; KVM not usable here)' : ''}`);
    console.log(`host: ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB; VMs: base image, 1 vCPU, ${MEM} MiB`);

    const seq: Vm[] = [];
    const mem: { pssKib: number; guestPssKib: number }[] = [];
    for (let i = 0; i < SEQ; i++) {
      const id = `bench-seq-${i}`;
      const vm = await createReady(id);
      seq.push(vm);
      const pid = node.manager.vms.get(id)!.rec.vmm!.pid;
      mem.push(vmmMemory(pid, MEM));
      await remove(id);
      process.stdout.write(`  seq ${i + 1}/${SEQ}: ${fmt(vm.timings.totalMs!)}\n`);
    }
    const col = (k: keyof Vm['timings']) => seq.map((v) => v.timings[k] ?? 0);
    console.log(`\ncreate → ready, ${SEQ} sequential VMs:`);
    for (const [label, k] of [
      ['total', 'totalMs'],
      ['  vmm start', 'vmmStartMs'],
      ['  kernel boot', 'kernelBootMs'],
      ['  init → agent', 'initMs'],
      ['  agent → ready', 'agentReadyMs'],
    ] as const) {
      console.log(`  ${label.padEnd(16)} median ${fmt(pct(col(k), 50))}   p95 ${fmt(pct(col(k), 95))}`);
    }
    const pss = mem.map((m) => m.pssKib / 1024);
    const over = mem.map((m) => (m.pssKib - m.guestPssKib) / 1024);
    console.log(`\nVMM memory per VM at ready (${SEQ} samples):`);
    console.log(`  PSS total             median ${pct(pss, 50).toFixed(1)} MiB   p95 ${pct(pss, 95).toFixed(1)} MiB`);
    console.log(`  PSS beyond guest RAM  median ${pct(over, 50).toFixed(1)} MiB   p95 ${pct(over, 95).toFixed(1)} MiB`);

    const t0 = Date.now();
    const ids = Array.from({ length: PAR }, (_, i) => `bench-par-${i}`);
    const settled = await Promise.allSettled(ids.map((id) => createReady(id)));
    const wall = Date.now() - t0;
    const par = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = settled.flatMap((r) => (r.status === 'rejected' ? [String((r.reason as Error).message)] : []));
    const totals = par.map((v) => v.timings.totalMs!);
    console.log(
      `\n${PAR} VMs created in parallel: ${par.length} ready after ${fmt(wall)}` +
        (par.length ? ` (per-VM create→ready median ${fmt(pct(totals, 50))}, max ${fmt(Math.max(...totals))})` : ''),
    );
    for (const f of failed) console.log(`  FAILED: ${f}`);
    for (const id of ids) await remove(id);
  } finally {
    if (node) {
      for (const vm of node.manager.list()) await node.manager.delete(vm.id).catch(() => {});
      await node.close({ cleanupNetwork: true });
    }
    sweep();
    rmSync(root, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`bench/node: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
