import { closeSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import type { ExecResult } from '@romulus/shared';
import { AGENT_UID, OPENCLAW_VERSION, PLAYWRIGHT_CORE_VERSION, TYPESCRIPT_VERSION } from '../../packages/images/src/recipes/agent-common.ts';
import type { Stack } from '../harness/stack.ts';

/** TCG boots of the agent images take minutes (OpenClaw ≈3 min, more on a busy machine): wait, never assert on time. */
export const AGENT_BOOT_TIMEOUT_MS = 20 * 60_000;
/** Gateway lifecycle for these suites: the gateway fails an agent not ready within startTimeoutMs. */
/** Node channel timeouts for these suites: the node fails a VM whose workload is not ready within readyTimeoutMs. */
export const SLOW_BOOT_NODE = { channel: { connectTimeoutMs: 30_000, helloTimeoutMs: 300_000, readyTimeoutMs: AGENT_BOOT_TIMEOUT_MS, stopTimeoutMs: 20_000 } };
export const SLOW_BOOT_LIFECYCLE = { startTimeoutMs: AGENT_BOOT_TIMEOUT_MS, reconcileIntervalMs: 1000, missingVmGraceMs: 30_000, nodeTimeoutMs: 30_000 };

/** Runs argv inside the VM over the guest channel, through the node daemon's exec API. */
export async function vmExec(stack: Stack, id: string, argv: string[], opts: { timeoutMs?: number; asWorkloadUser?: boolean } = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 120_000;
  const res = await fetch(`${stack.node.url}/v1/vms/${id}/exec`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.node.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ argv, timeoutMs, asWorkloadUser: opts.asWorkloadUser ?? false }),
    signal: AbortSignal.timeout(timeoutMs + 30_000),
  });
  const body = (await res.json()) as ExecResult & { error?: unknown };
  if (res.status !== 200) throw new Error(`exec ${argv.join(' ')} -> ${res.status} ${JSON.stringify(body)}`);
  return body;
}

/**
 * A shell command as the agent images' unprivileged `agent` user (uid 1000). The manifests run the entry
 * point as root (it sets up zram, then drops to `agent`), so "as the workload user" means this.
 */
export function asAgent(script: string): string[] {
  return ['setpriv', '--reuid=1000', '--regid=1000', '--init-groups', '--', 'env', 'HOME=/home/agent', 'USER=agent', 'PATH=/usr/local/bin:/usr/bin:/bin', 'sh', '-c', script];
}

/** The page the browser tests load from inside the guest, and the title romulus-browser-title must print. */
export const BROWSER_PAGE_TITLE = 'Romulus browser e2e';

/**
 * A shell script for inside an agent-browser guest: serves a one-page site on the guest's loopback, waits
 * until it answers, then prints the page title as the image's Chromium (playwright-core) sees it.
 */
export const BROWSER_TITLE_SCRIPT = [
  'set -e',
  'mkdir -p /tmp/site',
  `printf '<!doctype html><html><head><title>${BROWSER_PAGE_TITLE}</title></head><body>hi</body></html>' > /tmp/site/index.html`,
  'python3 -m http.server 8123 --bind 127.0.0.1 --directory /tmp/site >/dev/null 2>&1 &',
  'server=$!',
  'trap "kill $server" EXIT',
  'for i in $(seq 1 300); do curl -sf http://127.0.0.1:8123/ >/dev/null && break; sleep 0.2; done',
  'romulus-browser-title http://127.0.0.1:8123/',
].join('\n');

export interface GuestMemory {
  memTotalMib: number;
  memAvailableMib: number;
  usedMib: number;
  swapUsedMib: number;
  /** Resident memory (MiB) of the processes whose command matches, summed. */
  rssMib: Record<string, number>;
  raw: string;
}

/** Memory figures from inside the guest (/proc/meminfo, and per-process RSS from /proc/<pid>/status). */
export async function guestMemory(stack: Stack, id: string): Promise<GuestMemory> {
  const script =
    'cat /proc/meminfo; echo ---; for p in /proc/[0-9]*; do n=$(tr "\\0" " " < $p/cmdline 2>/dev/null | cut -c1-80); ' +
    'r=$(sed -n "s/^VmRSS:[[:space:]]*\\([0-9]*\\) kB/\\1/p" $p/status 2>/dev/null); [ -n "$r" ] && echo "$r $n"; done; true';
  const r = await vmExec(stack, id, ['sh', '-c', script]);
  const [meminfo, procs] = r.stdout.split('---\n');
  const kib = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(meminfo)?.[1] ?? NaN);
  const rssMib: Record<string, number> = {};
  for (const line of (procs ?? '').split('\n')) {
    const m = /^(\d+) (.*)$/.exec(line.trim());
    if (!m) continue;
    const key = /openclaw|gateway/.test(m[2]) ? 'openclaw' : /guest-agent/.test(m[2]) ? 'guest-agent' : /chrom/.test(m[2]) ? 'chromium' : 'other';
    rssMib[key] = (rssMib[key] ?? 0) + Number(m[1]) / 1024;
  }
  for (const k of Object.keys(rssMib)) rssMib[k] = Math.round(rssMib[k]);
  const total = kib('MemTotal');
  return {
    memTotalMib: Math.round(total / 1024),
    memAvailableMib: Math.round(kib('MemAvailable') / 1024),
    usedMib: Math.round((total - kib('MemAvailable')) / 1024),
    swapUsedMib: Math.round((kib('SwapTotal') - kib('SwapFree')) / 1024),
    rssMib,
    raw: r.stdout.slice(0, 2000),
  };
}

/**
 * What the kernel keeps of a guest's RAM for itself (its image, struct page for every page, early
 * allocations): MemTotal is the RAM asked for less this. A bound, generous for the microVM kernel.
 */
export const kernelReserveMib = (memoryMib: number) => 64 + Math.ceil(memoryMib * 0.05);

/**
 * The guest has exactly the vCPUs asked for, and the memory asked for less at most the kernel's
 * reservation (never more). Reads /proc only, through the image's own shell (busybox is enough).
 */
export async function assertGuestShape(stack: Stack, id: string, want: { vcpus: number; memoryMib: number }, sh = ['sh', '-c']): Promise<void> {
  const r = await vmExec(stack, id, [...sh, 'grep -c ^processor /proc/cpuinfo; grep ^MemTotal: /proc/meminfo']);
  assert.equal(r.code, 0, r.stderr);
  const [cpus, mem] = r.stdout.trim().split('\n');
  assert.equal(Number(cpus), want.vcpus, `vCPUs in the guest: ${r.stdout}`);
  const memMib = Number(/MemTotal:\s+(\d+) kB/.exec(mem)?.[1]) / 1024;
  assert.ok(memMib <= want.memoryMib, `MemTotal ${memMib.toFixed(1)} MiB above the ${want.memoryMib} MiB asked for`);
  assert.ok(
    memMib >= want.memoryMib - kernelReserveMib(want.memoryMib),
    `MemTotal ${memMib.toFixed(1)} MiB: more than ${kernelReserveMib(want.memoryMib)} MiB of the ${want.memoryMib} MiB asked for is missing`,
  );
}

/** The npm packages each agent image pins (packages/images/src/recipes), as their package.json must say. */
const PINNED: Record<string, Record<string, string>> = {
  'agent-chat': { openclaw: OPENCLAW_VERSION },
  'agent-coding': { openclaw: OPENCLAW_VERSION, typescript: TYPESCRIPT_VERSION },
  'agent-browser': { openclaw: OPENCLAW_VERSION, typescript: TYPESCRIPT_VERSION, 'playwright-core': PLAYWRIGHT_CORE_VERSION },
};

/**
 * The agent image's root filesystem holds what its recipe put there: the pinned npm package versions, the
 * patched OpenClaw start-up timeout, the entry point (root-owned, executable) and OpenClaw's config
 * (the agent user's, mode 0600).
 */
export async function assertAgentRootfs(stack: Stack, id: string, image: keyof typeof PINNED): Promise<void> {
  const pins = PINNED[image];
  const read = `console.log(JSON.stringify(Object.fromEntries(${JSON.stringify(Object.keys(pins))}.map((p) => [p, require('/usr/local/lib/node_modules/' + p + '/package.json').version]))))`;
  const versions = await vmExec(stack, id, ['env', 'PATH=/usr/local/bin:/usr/bin:/bin', 'node', '-e', read]);
  assert.equal(versions.code, 0, versions.stderr);
  assert.deepEqual(JSON.parse(versions.stdout), pins, `pinned npm packages in ${image}`);
  const patched = await vmExec(stack, id, ['sh', '-c', "grep -l 'LEASE_HEARTBEAT_START_TIMEOUT_MS = 12e4;' /usr/local/lib/node_modules/openclaw/dist/openclaw-state-lease-heartbeat-shared-*.mjs | wc -l"]);
  assert.equal(patched.stdout.trim(), '1', 'the OpenClaw start-up timeout patch is in the image');
  const files = await vmExec(stack, id, ['stat', '-c', '%n %u %a', '/opt/agent/bin/romulus-agent-start', '/home/agent/.openclaw/openclaw.json']);
  assert.equal(files.code, 0, files.stderr);
  assert.deepEqual(files.stdout.trim().split('\n'), ['/opt/agent/bin/romulus-agent-start 0 755', `/home/agent/.openclaw/openclaw.json ${AGENT_UID} 600`]);
}

/** Every regular file under `dir` (not following symlinks) that contains `needle`, read in chunks (VM disks are big). */
export function filesContaining(dir: string, needle: string, skip: (p: string) => boolean = () => false): string[] {
  const hits: string[] = [];
  const want = Buffer.from(needle);
  const chunk = Buffer.alloc(4 << 20);
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names) {
      const p = path.join(d, n);
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (!st || skip(p)) continue;
      if (st.isDirectory()) walk(p);
      else if (st.isFile() && fileContains(p, want, chunk)) hits.push(p);
    }
  };
  walk(dir);
  return hits;
}

function fileContains(file: string, want: Buffer, chunk: Buffer): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return false;
  }
  try {
    let carry = Buffer.alloc(0);
    for (;;) {
      const n = readSync(fd, chunk, 0, chunk.length, null);
      if (n <= 0) return false;
      const window = Buffer.concat([carry, chunk.subarray(0, n)]);
      if (window.includes(want)) return true;
      carry = window.subarray(Math.max(0, window.length - want.length + 1));
    }
  } finally {
    closeSync(fd);
  }
}

/** An images dir for a suite: symlinks to every image (and the kernel) of `hostImages`, so imports can go next to them. */
export function imagesDirWithLinks(hostImages: string, into: string): string {
  mkdirSync(into, { recursive: true });
  for (const name of readdirSync(hostImages)) if (!name.startsWith('.')) symlinkSync(path.join(hostImages, name), path.join(into, name));
  return into;
}

/**
 * Captures everything this process writes to stdout/stderr (the in-process node daemon's and gateway's
 * logs go there) so a test can check a secret never appeared in them.
 */
export function captureOutput(): { text(): string; stop(): void } {
  const chunks: string[] = [];
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const tap = (orig: typeof out) =>
    ((chunk: unknown, ...rest: unknown[]) => {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString());
      return (orig as (...a: unknown[]) => boolean)(chunk, ...rest);
    }) as typeof out;
  process.stdout.write = tap(out);
  process.stderr.write = tap(err);
  return {
    text: () => chunks.join(''),
    stop: () => {
      process.stdout.write = out;
      process.stderr.write = err;
    },
  };
}

/**
 * sha256 (hex) of the value of env var `name` in the environment of the process whose cmdline matches
 * `pattern` (a grep regex written so it does not match itself, e.g. '[o]penclaw-gateway').
 */
export function envHashScript(pattern: string, name: string): string[] {
  return [
    'sh',
    '-c',
    `for p in /proc/[0-9]*; do [ "$p" = /proc/$$ ] && continue; if tr '\\0' ' ' < $p/cmdline 2>/dev/null | grep -q -- '${pattern}'; then ` +
      `tr '\\0' '\\n' < $p/environ | sed -n 's/^${name}=//p' | tr -d '\\n' | sha256sum | cut -d' ' -f1; break; fi; done`,
  ];
}
