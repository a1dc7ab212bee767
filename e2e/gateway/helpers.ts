import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { Stack } from '../harness/stack.ts';
import type { TestWallet } from '@romulus/gateway/testing';
import { COUNTING_HTTP_SERVER, type DerivedImage } from '../harness/images.ts';

/** Boots under TCG take seconds to minutes on this shared machine: wait generously, assert nothing on time. */
export const BOOT_TIMEOUT_MS = 10 * 60_000;

/** The test workloads, derived from the built base image. */
export const ECHO_IMAGE: DerivedImage = {
  name: 'gw-echo',
  from: 'base',
  patch: { command: COUNTING_HTTP_SERVER, agentPort: 8080, readiness: { type: 'tcp', port: 8080 }, minVcpus: 1, minMemoryMib: 128 },
};
/** Same workload, but it declares it needs 2 vCPUs (more than the basic tier gives). */
export const BIG_IMAGE: DerivedImage = { ...ECHO_IMAGE, name: 'gw-big', patch: { ...ECHO_IMAGE.patch, minVcpus: 2, minMemoryMib: 2048 } };

export async function waitForStatus(stack: Stack, w: TestWallet, id: string, want: string[], timeoutMs = BOOT_TIMEOUT_MS): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < deadline) {
    // Distinct timestamps per request: each signature is single-use.
    const r = await stack.request('GET', `/status/${id}`, { wallet: w });
    last = r.json;
    if (r.status === 200 && want.includes(r.json.agent.status)) return r.json.agent;
    await new Promise((res) => setTimeout(res, 1000));
  }
  throw new Error(`agent ${id} not in ${want.join('|')} within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

/** A request to an agent URL, through the gateway's own listener, with the agent host in the Host header. */
export function agentRequest(
  stack: Stack,
  id: string,
  p: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: stack.gateway.port, path: p, headers: { host: `${id}.localhost:${stack.gateway.port}`, ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Pid of the VMM process running VM `id` (its command line names the VM's state dir). */
export function vmmPidOf(stack: Stack, id: string): number | null {
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (cmd.includes(stack.dir) && cmd.includes(id) && /qemu|firecracker/.test(cmd)) return Number(name);
    } catch {
      // exited
    }
  }
  return null;
}
