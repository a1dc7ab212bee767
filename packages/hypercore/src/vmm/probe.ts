import { spawn, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from '@romulus/shared';
import { qemuMachineArgs } from './qemu-args.ts';
import type { VmmProbeResult } from './types.ts';

/**
 * Accelerator probe by behaviour: boot the guest kernel under -accel kvm with no disk and watch its serial
 * console. A kernel that reaches the root-mount stage ("VFS:", "Unable to mount root", "Kernel panic")
 * within the bound proves KVM runs guests here; "KVM internal error", an early exit, or silence (a PVM host
 * crawling) means TCG. Cached per (qemu version, kernel sha256), in memory and in <cacheDir>/vmm-probe.json.
 */
export const PROBE_OK = /VFS: |Unable to mount root|Kernel panic/;
/** QEMU could not even load the kernel: a bad kernel file, not a verdict on KVM (never cached). */
export const PROBE_BAD_KERNEL = /invalid kernel header|could not load kernel|Could not open option rom|error loading/i;
/** QEMU says "KVM internal error"; Firecracker logs the exit reason by name (KVM_EXIT_INTERNAL_ERROR). */
export const PROBE_KVM_BROKEN = /KVM internal error|KVM_EXIT_INTERNAL_ERROR|emulation failure|failed to initialize kvm|Could not access KVM/i;

export interface ProbeOptions {
  qemuBinary: string;
  kernelPath: string;
  cacheDir: string;
  timeoutMs: number;
  kvmDevice?: string;
  log?: Logger;
}

const memo = new Map<string, VmmProbeResult & { probedAt: string; durationMs: number }>();

const versions = new Map<string, string>();
export function qemuVersion(binary: string): string {
  const known = versions.get(binary);
  if (known) return known;
  const out = execFileSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  const v = /version\s+(\S+)/.exec(out)?.[1] ?? out.split('\n')[0].trim();
  versions.set(binary, v);
  return v;
}

/** sha256 of a file, remembered per (path, size, mtime) so every VM start does not rehash the kernel. */
const hashes = new Map<string, string>();
export async function fileSha256(p: string): Promise<string> {
  const st = statSync(p);
  const key = `${p}|${st.size}|${st.mtimeMs}`;
  const known = hashes.get(key);
  if (known) return known;
  const h = createHash('sha256');
  for await (const chunk of createReadStream(p)) h.update(chunk as Buffer);
  const digest = h.digest('hex');
  hashes.set(key, digest);
  return digest;
}

/** Classify a probe boot's console + stderr text. Pure, so the decision is unit-testable. */
export function classifyProbeOutput(vmm: 'qemu' | 'firecracker', text: string, exitedEarly: boolean, timedOut: boolean): { ok: boolean; reason?: string } {
  if (PROBE_OK.test(text)) return { ok: true };
  const broken = PROBE_KVM_BROKEN.exec(text);
  if (broken) {
    const line = text.split('\n').find((l) => PROBE_KVM_BROKEN.test(l))?.trim() ?? broken[0];
    return { ok: false, reason: `KVM probe boot failed: ${line}` };
  }
  if (timedOut) return { ok: false, reason: 'KVM probe boot did not reach the root mount in time (KVM present but not usable, e.g. a PVM nested host)' };
  if (exitedEarly) {
    const tail = text.trim().split('\n').slice(-3).join(' | ');
    return { ok: false, reason: `KVM probe boot: ${vmm} exited before the kernel reached the root mount${tail ? `: ${tail}` : ''}` };
  }
  return { ok: false, reason: 'KVM probe boot gave no usable result' };
}

async function probeBoot(o: ProbeOptions): Promise<{ ok: boolean; reason?: string }> {
  const args = [
    ...qemuMachineArgs('kvm', 1, 128),
    '-kernel', o.kernelPath, '-append', 'console=ttyS0 panic=-1 root=/dev/nonexistent',
    '-serial', 'stdio',
  ];
  return watchProbeBoot('qemu', o.qemuBinary, args, o.timeoutMs);
}

/**
 * Runs a VMM that boots the kernel without a root disk and watches its console and errors until the kernel
 * proves it ran (it reaches the root mount and panics), the VMM reports broken KVM, exits, or time runs
 * out; then classifies what it saw. Shared by the qemu and firecracker probes.
 */
export function watchProbeBoot(vmm: 'qemu' | 'firecracker', binary: string, args: string[], timeoutMs: number): Promise<{ ok: boolean; reason?: string }> {
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  return new Promise((resolve) => {
    let settled = false;
    const finish = (exitedEarly: boolean, timedOut: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      resolve(classifyProbeOutput(vmm, text, exitedEarly, timedOut));
    };
    const onData = (d: Buffer) => {
      text += d.toString('utf8');
      if (text.length > 1_000_000) text = text.slice(-100_000);
      if (PROBE_OK.test(text) || PROBE_KVM_BROKEN.test(text)) finish(false, false);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', (e) => {
      text += `\n${e.message}`;
      finish(true, false);
    });
    child.on('exit', () => setImmediate(() => finish(true, false)));
    const timer = setTimeout(() => finish(false, true), timeoutMs);
  });
}

export async function probeQemuAccel(o: ProbeOptions): Promise<VmmProbeResult & { durationMs: number }> {
  const version = qemuVersion(o.qemuBinary);
  const kernelHash = await fileSha256(o.kernelPath);
  const key = `${version}|${kernelHash}`;
  const hit = memo.get(key);
  if (hit) return hit;
  const cacheFile = path.join(o.cacheDir, 'vmm-probe.json');
  let disk: Record<string, VmmProbeResult & { probedAt: string; durationMs: number }> = {};
  try {
    disk = JSON.parse(readFileSync(cacheFile, 'utf8'));
  } catch {
    /* no cache yet */
  }
  if (disk[key]) {
    memo.set(key, disk[key]);
    report(o.log, disk[key], true);
    return disk[key];
  }
  const started = Date.now();
  const kvm = o.kvmDevice ?? '/dev/kvm';
  const outcome = existsSync(kvm) ? await probeBoot(o) : { ok: false, reason: `${kvm} does not exist` };
  if (!outcome.ok && outcome.reason && PROBE_BAD_KERNEL.test(outcome.reason)) {
    throw new Error(`guest kernel ${o.kernelPath} cannot be booted: ${outcome.reason}`);
  }
  const result = {
    usable: true,
    accel: outcome.ok ? ('kvm' as const) : ('tcg' as const),
    ...(outcome.ok ? {} : { reason: outcome.reason }),
    vmmVersion: `qemu ${version}`,
    probedAt: new Date().toISOString(),
    durationMs: Date.now() - started,
  };
  memo.set(key, result);
  try {
    mkdirSync(o.cacheDir, { recursive: true });
    disk[key] = result;
    writeFileSync(`${cacheFile}.tmp`, JSON.stringify(disk, null, 2));
    renameSync(`${cacheFile}.tmp`, cacheFile);
  } catch (e) {
    o.log?.warn({ err: (e as Error).message, cacheFile }, 'could not write the accelerator probe cache');
  }
  report(o.log, result, false);
  return result;
}

function report(log: Logger | undefined, r: VmmProbeResult & { durationMs: number }, cached: boolean): void {
  if (r.accel === 'tcg') {
    log?.warn(
      { accel: r.accel, reason: r.reason, probeMs: r.durationMs, cached },
      `KVM NOT USABLE: VMs run under TCG software emulation (15-20x slower CPU). Reason: ${r.reason}`,
    );
  } else log?.info({ accel: r.accel, probeMs: r.durationMs, cached }, 'KVM works: VMs run under KVM');
}

/** For tests: forget the in-memory cache. */
export function clearProbeMemo(): void {
  memo.clear();
}
