import { existsSync, renameSync, rmSync, closeSync, openSync, ftruncateSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { GuestToHost } from '@romulus/shared';
import { netmaskString } from '../network/cidr.ts';
import { macFor, tapNameFor } from '../network/names.ts';
import type { VmNetworkSpec } from '../network/types.ts';
import type { VmRecord } from '../state/vm-record.ts';
import { buildCmdline, hostnameFor } from './cmdline.ts';
import type { NodeContext, VmEntry } from './context.ts';
import { ChannelError } from '../guest/channel.ts';
import { attachGuest } from './guest-session.ts';
import type { Step } from './steps.ts';
import { configureFailure, endsConfigure, VmFailure, workloadExited } from './vm-failure.ts';

function consoleTail(file: string): string {
  try {
    const text = readFileSync(file, 'utf8');
    return text.slice(-400).split('\n').map((l) => l.trim()).filter(Boolean).slice(-3).join(' | ');
  } catch {
    return '';
  }
}

export function vmNetSpec(ctx: NodeContext, rec: VmRecord): VmNetworkSpec {
  return {
    vmId: rec.id,
    tap: rec.tap ?? tapNameFor(ctx.config.network.tapPrefix, rec.id),
    mac: rec.mac ?? macFor(rec.id),
    ip: rec.ip ?? '',
  };
}

export function diskPathOf(ctx: NodeContext, id: string): string {
  return path.join(ctx.store.vmDir(id), 'disk.ext4');
}

/**
 * The create plan: reserve (done by the caller, synchronously) → IP lease → disk → nftables entries → TAP →
 * VMM → guest channel + hello → configure (env + secrets) → started → ready. Each step checks the world
 * first; each `undo` removes what its `do` made, so a failure anywhere leaves nothing behind but the record.
 */
export function createSteps(ctx: NodeContext, entry: VmEntry, signal: AbortSignal, persist: () => void): Step[] {
  const rec = entry.rec;
  const c = ctx.config;
  let hello: { helloAt: number; hello: Extract<GuestToHost, { t: 'hello' }> } | undefined;
  let workloadExit: string | undefined;
  let readyP: Promise<Extract<GuestToHost, { t: 'ready' } | { t: 'exit' }>> | undefined;
  const diskPath = diskPathOf(ctx, rec.id);

  return [
    {
      name: 'lease-ip',
      shouldDo: () => !rec.ip || ctx.ips.ipOf(rec.id) !== rec.ip,
      do: async () => {
        rec.ip = ctx.ips.allocate(rec.id);
        ctx.store.saveLeases(ctx.ips.leases());
        persist();
      },
      undo: async () => {
        if (ctx.ips.release(rec.id)) ctx.store.saveLeases(ctx.ips.leases());
        rec.ip = undefined;
        persist();
      },
    },
    {
      name: 'create-disk',
      shouldDo: () => !existsSync(diskPath),
      do: async () => {
        // Sparse file + ext4, built under a temp name so a crash never leaves a half-formatted disk.ext4.
        const tmp = `${diskPath}.tmp`;
        rmSync(tmp, { force: true });
        const fd = openSync(tmp, 'w', 0o600);
        try {
          ftruncateSync(fd, rec.diskMib * 1024 * 1024);
        } finally {
          closeSync(fd);
        }
        try {
          await ctx.run(['mkfs.ext4', '-q', '-F', '-E', 'lazy_itable_init=1,lazy_journal_init=1', '-L', 'romulus-vm', tmp]);
        } catch (e) {
          rmSync(tmp, { force: true });
          throw e;
        }
        renameSync(tmp, diskPath);
      },
      undo: async () => rmSync(diskPath, { force: true }),
    },
    {
      name: 'nft-rules',
      shouldDo: async () => !(await ctx.network.hasVmRules(vmNetSpec(ctx, rec))),
      do: () => ctx.network.addVmRules(vmNetSpec(ctx, rec)),
      undo: () => ctx.network.removeVmRules(vmNetSpec(ctx, rec)),
    },
    {
      name: 'tap',
      shouldDo: async () => !(await ctx.network.tapExists(rec.tap!)),
      do: () => ctx.network.createTap(vmNetSpec(ctx, rec)),
      undo: () => ctx.network.deleteTap(rec.tap!),
    },
    {
      name: 'start-vmm',
      shouldDo: () => !rec.vmm || !ctx.driver.isAlive(rec.vmm),
      do: async () => {
        // The guest channel is the driver's business: it adds what its guest needs and returns the endpoint.
        const cmdline = buildCmdline({
          vmId: rec.id,
          hostname: hostnameFor(rec.id),
          nowMs: Date.now(),
          net: { ip: rec.ip!, gateway: ctx.network.gateway, netmask: netmaskString(ctx.network.prefix) },
        });
        rec.vmm = await ctx.driver.start({
          id: rec.id,
          vcpus: rec.vcpus,
          memoryMib: rec.memoryMib,
          kernelPath: c.kernelPath,
          kernelCmdline: cmdline,
          rootfsPath: rec.rootfsPath,
          diskPath,
          tap: { name: rec.tap!, mac: rec.mac! },
          stateDir: ctx.store.vmDir(rec.id),
        });
        rec.state = 'starting';
        rec.phase = 'booting';
        rec.startedAt = rec.vmm.spawnedAt;
        rec.accel = rec.vmm.accel;
        rec.timings.vmmStartMs = rec.vmm.vmmUpAt - rec.vmm.spawnedAt;
        persist();
      },
      undo: async () => {
        if (rec.vmm) {
          await ctx.driver.kill(rec.vmm);
          rec.vmm = undefined;
          persist();
        }
      },
    },
    {
      name: 'guest-hello',
      shouldDo: () => true,
      do: async () => {
        try {
          hello = await attachGuest(ctx, entry, {
            signal,
            onExit: (m) => {
              workloadExit = workloadExited(m);
            },
          });
        } catch (e) {
          // A channel that closes during boot usually means the VMM itself went away: say so, with the
          // end of the guest console (the files stay in the VM's dir until it is deleted).
          if (rec.vmm && !ctx.driver.isAlive(rec.vmm)) {
            throw new VmFailure('VMM_EXITED', `vmm process exited during boot; console ends: ${consoleTail(rec.vmm.consoleLogPath) || '(empty)'}`);
          }
          throw e;
        }
        // Guest uptimes place init's start and the hello on the host clock (see VmTimings).
        const h = hello.hello;
        const initStartedWall = hello.helloAt - (h.helloAtUptime - h.initStartedAtUptime) * 1000;
        rec.timings.kernelBootMs = Math.max(0, Math.round(initStartedWall - rec.vmm!.vmmUpAt));
        rec.timings.initMs = Math.max(0, Math.round((h.helloAtUptime - h.initStartedAtUptime) * 1000));
        rec.phase = 'starting-workload';
        persist();
      },
      undo: async () => {
        entry.channel?.close();
        entry.channel = undefined;
      },
    },
    {
      name: 'configure',
      shouldDo: () => true,
      do: async () => {
        const ch = entry.channel!;
        // The guest answers a configure it cannot act on with an `error` (then maybe `exit`): fail fast on it.
        const started = ch.waitFor(
          (m): m is Extract<GuestToHost, { t: 'started' } | { t: 'exit' } | { t: 'error' }> =>
            m.t === 'started' || m.t === 'exit' || (m.t === 'error' && endsConfigure(m.code)),
          c.channel.helloTimeoutMs,
          'workload start',
          signal,
        );
        // Both waits are registered before configure goes out: the guest may send started and ready in
        // one burst, and a message nobody waits for yet is gone.
        readyP = ch
          .waitFor(
            (x): x is Extract<GuestToHost, { t: 'ready' } | { t: 'exit' }> => x.t === 'ready' || x.t === 'exit',
            c.channel.readyTimeoutMs,
            'readiness',
            signal,
          )
          .catch((e: unknown) => {
            throw channelFailure(e, `workload was not ready within ${Math.round(c.channel.readyTimeoutMs / 1000)}s`, 'READY_TIMEOUT');
          });
        readyP.catch(() => {});
        ch.send({
          t: 'configure',
          now: Date.now(),
          hostname: hostnameFor(rec.id),
          env: entry.pendingEnv ?? {},
          secrets: entry.pendingSecrets ?? {},
        });
        // Delivered: the node forgets the values (the redactor keeps them only to scrub guest log lines).
        entry.pendingSecrets = undefined;
        entry.pendingEnv = undefined;
        const m = await started.catch((e: unknown) => {
          throw channelFailure(e, `the guest agent did not start the workload within ${Math.round(c.channel.helloTimeoutMs / 1000)}s`, 'GUEST_UNREACHABLE');
        });
        if (m.t === 'error') throw configureFailure(m.code, entry.redact(String(m.message)));
        if (m.t === 'exit') throw new VmFailure('WORKLOAD_EXITED', workloadExit ?? 'workload exited before it started');
        rec.phase = 'awaiting-ready';
        persist();
      },
    },
    {
      name: 'await-ready',
      shouldDo: () => true,
      do: async () => {
        const m = await readyP!;
        if (m.t === 'exit') throw new VmFailure('WORKLOAD_EXITED', workloadExit ?? 'workload exited before it was ready');
        const now = Date.now();
        rec.timings.agentReadyMs = Math.round(now - hello!.helloAt);
        rec.timings.totalMs = now - rec.createdAt;
        rec.readyAt = now;
        rec.state = 'running';
        delete rec.phase;
        persist();
      },
    },
  ];
}

/** A channel wait that failed: a timeout is `onTimeout`, a closed channel GUEST_CHANNEL_CLOSED; an abort stays itself. */
function channelFailure(e: unknown, timeoutReason: string, onTimeout: 'READY_TIMEOUT' | 'GUEST_UNREACHABLE'): unknown {
  if (!(e instanceof ChannelError)) return e;
  return e.fault === 'timeout' ? new VmFailure(onTimeout, timeoutReason) : new VmFailure('GUEST_CHANNEL_CLOSED', e.message);
}
