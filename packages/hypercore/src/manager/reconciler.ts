import { existsSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { TERMINAL_VM_STATES } from '@romulus/shared';
import type { VmRecord } from '../state/vm-record.ts';
import type { NodeContext, VmEntry } from './context.ts';
import { withLock } from './context.ts';
import { vmNetSpec } from './create-plan.ts';
import { attachGuest } from './guest-session.ts';
import { VmFailure } from './vm-failure.ts';
import { sweep } from './sweeper.ts';
import { teardown } from './teardown.ts';
import type { VmManager } from './vm-manager.ts';

/** What a VM's dir may hold when the VM is gone (stopped/failed): driver leftovers to sweep. */
const RUNTIME_LEFTOVERS = /\.(sock|pid)$/;

/**
 * Runs once at node start, before the API listens: compares the state dir with what runs on the host and
 * repairs the difference.
 *   - VMs recorded as active whose VMM still runs are adopted (driver.adopt), their nftables entries are
 *     kept through the ruleset reload, their guest channel is re-attached (sync → hello tells configured /
 *     ready). A VM that was never configured cannot be (its secrets died with the old process): it is
 *     stopped and marked failed.
 *   - VMs recorded as active whose VMM is gone are marked failed with a reason and their pieces released.
 *   - TAPs with the node's prefix, rule entries and IP leases that belong to no live VM are removed (sweeper.ts,
 *     which keeps doing that while the node runs), as are VM dirs without a readable record (orphan disks, sockets).
 */
export async function reconcile(ctx: NodeContext, mgr: VmManager): Promise<void> {
  const act = (action: string, detail: Record<string, unknown>) => {
    ctx.metrics.reconcilerActions.inc({ action });
    ctx.log.info({ action, ...detail }, 'reconciler');
  };
  const { records, unreadable } = ctx.store.loadAll();
  for (const name of unreadable) {
    rmSync(path.join(ctx.store.vmsDir, name), { recursive: true, force: true });
    act('remove_orphan_dir', { dir: name });
  }

  // 1. Which recorded VMs still have their VMM?
  const live: VmEntry[] = [];
  const dead: VmEntry[] = [];
  for (const rec of records) {
    const entry = newEntry(rec);
    mgr.adoptEntry(entry);
    if (TERMINAL_VM_STATES.includes(rec.state)) {
      dead.push(entry);
      continue;
    }
    const vmm = await ctx.driver.adopt(ctx.store.vmDir(rec.id)).catch(() => null);
    if (vmm) {
      rec.vmm = vmm;
      live.push(entry);
    } else {
      const midCreate = rec.state === 'creating';
      rec.reason = midCreate ? 'the node restarted while the VM was being created' : 'vmm process exited while the node was down';
      rec.reasonCode = midCreate ? 'INTERRUPTED' : 'VMM_EXITED';
      rec.state = 'failed';
      rec.stoppedAt = Date.now();
      dead.push(entry);
      act('mark_failed', { vm: rec.id });
    }
  }

  // 2. Leases: keep only those of live VMs, then rebuild the host network with their rules in place.
  const leases = ctx.store.loadLeases();
  const liveIds = new Set(live.map((e) => e.rec.id));
  const kept: Record<string, string> = {};
  for (const [ip, id] of Object.entries(leases)) {
    if (liveIds.has(id)) kept[ip] = id;
    else act('release_orphan_lease', { ip, vm: id });
  }
  ctx.ips.restore(kept);
  for (const e of live) {
    if (e.rec.ip && ctx.ips.ipOf(e.rec.id) !== e.rec.ip) ctx.ips.restore({ [e.rec.ip]: e.rec.id });
  }
  ctx.store.saveLeases(ctx.ips.leases());
  await ctx.network.ensureHost(live.filter((e) => e.rec.ip).map((e) => vmNetSpec(ctx, e.rec)));

  // 3. Dead VMs: release what they may still hold.
  for (const e of dead) {
    e.rec.vmm = undefined;
    await teardown(ctx, e, false);
    e.rec.ip = undefined;
    sweepRuntimeFiles(ctx.store.vmDir(e.rec.id));
    mgr.persist(e);
  }

  // 4. Orphan TAPs and rule entries (a crash between steps, or VMs deleted while the node was down): the same
  //    sweep that then runs every reconcileIntervalMs.
  await sweep(ctx, mgr);

  // 5. Live VMs: re-attach the guest channel. One the old process was stopping is stopped now.
  for (const e of live) {
    const wasStopping = e.rec.state === 'stopping';
    await readopt(ctx, mgr, e, act);
    if (wasStopping && e.rec.state !== 'failed') {
      act('finish_stop', { vm: e.rec.id });
      void mgr.stop(e.rec.id).done.catch(() => {});
    }
  }
}

function newEntry(rec: VmRecord): VmEntry {
  if (!rec.timings) rec.timings = {};
  // Secrets are not on disk, so an adopted VM's log redactor knows none (documented gap).
  return { rec, lock: Promise.resolve(), stopping: false, redact: (l) => l };
}

function sweepRuntimeFiles(dir: string): void {
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)) if (RUNTIME_LEFTOVERS.test(f)) rmSync(path.join(dir, f), { force: true });
}

async function readopt(
  ctx: NodeContext,
  mgr: VmManager,
  e: VmEntry,
  act: (a: string, d: Record<string, unknown>) => void,
): Promise<void> {
  const rec = e.rec;
  try {
    const { hello } = await attachGuest(ctx, e, {});
    if (!hello.configured) {
      // Mid-create when the old process died: it cannot be finished (its secrets died with that process).
      throw new VmFailure('INTERRUPTED', 'node restarted before the VM was configured (its secrets are gone)');
    }
    if (hello.ready) {
      rec.state = 'running';
      rec.readyAt ??= Date.now();
    } else {
      rec.state = 'starting';
      // Keep waiting for readiness in the background, as create would have.
      void e.channel!
        .waitFor((m): m is Extract<typeof m, { t: 'ready' }> => m.t === 'ready', ctx.config.channel.readyTimeoutMs, 'readiness')
        .then(() => {
          if (rec.state === 'starting') {
            rec.state = 'running';
            rec.readyAt = Date.now();
            mgr.persist(e);
          }
        })
        .catch((err: Error) => {
          // Recorded, not swallowed: a VM that never gets ready must not hold capacity as `starting`.
          if (rec.state !== 'starting' || e.stopping) return;
          e.stopping = true;
          void withLock(e, async () => {
            if (rec.state !== 'starting') return;
            await teardown(ctx, e, false);
            rec.state = 'failed';
            rec.reasonCode = e.workloadExit ? 'WORKLOAD_EXITED' : 'READY_TIMEOUT';
            rec.reason = `after node restart: ${e.workloadExit ?? err.message}`;
            rec.stoppedAt = Date.now();
            rec.ip = undefined;
            mgr.persist(e);
            act('adopt_ready_failed', { vm: rec.id, reason: rec.reason });
          });
        });
    }
    mgr.persist(e);
    mgr.watchChannel(e);
    act('adopt', { vm: rec.id, pid: rec.vmm?.pid, state: rec.state });
  } catch (err) {
    await teardown(ctx, e, false);
    rec.state = 'failed';
    rec.reasonCode = err instanceof VmFailure ? err.code : 'GUEST_UNREACHABLE';
    rec.reason = `could not re-adopt after node restart: ${(err as Error).message}`;
    rec.stoppedAt = Date.now();
    rec.ip = undefined;
    mgr.persist(e);
    act('adopt_failed', { vm: rec.id, reason: rec.reason });
  }
}
