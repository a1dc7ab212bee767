import { TERMINAL_VM_STATES } from '@romulus/shared';
import type { NodeContext, VmEntry } from './context.ts';
import { withLock } from './context.ts';
import { teardown } from './teardown.ts';
import type { VmManager } from './vm-manager.ts';

/**
 * The node's continuous reconcile pass (the start-up pass in reconciler.ts adopts; this one keeps the host
 * matching the records while the node runs). Every host resource belongs to a VM that holds capacity or it
 * goes: a TAP, a rule entry or an IP lease left by an undo that failed, a VMM or channel a stopped VM still
 * has. Ownership is decided at the moment of removal, against the manager's live map, so a create that began
 * during the pass (its entry exists before any of its resources) is never touched.
 */
export async function sweep(ctx: NodeContext, mgr: VmManager): Promise<void> {
  const act = (action: string, detail: Record<string, unknown>) => {
    ctx.metrics.reconcilerActions.inc({ action });
    ctx.log.warn({ action, ...detail }, 'reconciler');
  };
  const holders = () => [...mgr.vms.values()].filter((e) => !e.deleted && !TERMINAL_VM_STATES.includes(e.rec.state));
  const ownsTap = (tap: string) => holders().some((e) => e.rec.tap === tap);

  // 1. Terminal VMs that still hold something (a failed undo or teardown step): release it, under the VM's lock.
  const terminal = [...mgr.vms.values()].filter((e) => TERMINAL_VM_STATES.includes(e.rec.state) && !e.deleted);
  const hostTaps = terminal.length ? new Set([...(await ctx.network.listTaps()), ...(await ctx.network.listRuleTaps())]) : new Set<string>();
  for (const e of terminal) {
    if (!holdsSomething(ctx, e, hostTaps)) continue;
    await withLock(e, async () => {
      if (!TERMINAL_VM_STATES.includes(e.rec.state) || e.deleted) return;
      const errors = await teardown(ctx, e, false);
      mgr.persist(e);
      act('release_leftovers', { vm: e.rec.id, errors: errors.length });
    });
  }

  // 2. Leases of VMs that hold no capacity (or that the node does not know).
  for (const [ip, id] of Object.entries(ctx.ips.leases())) {
    const e = mgr.vms.get(id);
    // A known VM keeps its lease here: a live one needs it, a terminal one loses it with step 1's teardown.
    if (e && !e.deleted) continue;
    ctx.ips.release(id);
    ctx.store.saveLeases(ctx.ips.leases());
    act('release_orphan_lease', { ip, vm: id });
  }

  // 3. TAPs and rule entries with the node's prefix that no capacity-holding VM owns.
  for (const tap of await ctx.network.listTaps()) {
    if (ownsTap(tap)) continue;
    await ctx.network.deleteTap(tap);
    act('remove_orphan_tap', { tap });
  }
  for (const tap of await ctx.network.listRuleTaps()) {
    if (ownsTap(tap)) continue;
    await ctx.network.removeVmRules({ tap });
    act('remove_orphan_rules', { tap });
  }
}

/** `hostTaps`: the TAPs and rule-entry TAPs on the host, read once per pass. */
function holdsSomething(ctx: NodeContext, e: VmEntry, hostTaps: Set<string>): boolean {
  const rec = e.rec;
  if (rec.vmm || e.channel || ctx.ips.ipOf(rec.id) !== undefined) return true;
  return !!rec.tap && hostTaps.has(rec.tap);
}

/** Runs `sweep` every `intervalMs` (never two at once); a failing pass is logged and the next one retries. */
export function startSweeping(ctx: NodeContext, mgr: VmManager, intervalMs: number): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    running ??= sweep(ctx, mgr)
      .catch((err: unknown) => ctx.log.error({ err: (err as Error).message }, 'reconcile pass failed; the next one retries'))
      .finally(() => {
        running = undefined;
      });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
