import type { NodeContext, VmEntry } from './context.ts';
import { runPlan, type Step } from './steps.ts';

/**
 * Releases everything a VM holds on the host except its disk and state dir: guest channel, VMM process
 * (graceful `shutdown` first when `graceful`), nftables entries, TAP, IP lease. Idempotent: each step
 * looks first, so it is safe after a crash, twice in a row, or for a VM that never got that far.
 */
export function teardownSteps(ctx: NodeContext, entry: VmEntry, graceful: boolean): Step[] {
  const rec = entry.rec;
  return [
    {
      name: 'ask-guest-shutdown',
      shouldDo: () => graceful && !!entry.channel && !entry.channel.isClosed,
      do: async () => {
        entry.channel!.send({ t: 'shutdown' });
      },
    },
    {
      name: 'stop-vmm',
      shouldDo: () => !!rec.vmm,
      do: async () => {
        const vmm = rec.vmm!;
        if (graceful && ctx.driver.isAlive(vmm)) {
          // The guest was asked to shut down over the channel: give it time to sync and power off
          // (the VMM then exits by itself) before the driver resets / kills it.
          const deadline = Date.now() + ctx.config.channel.stopTimeoutMs;
          while (ctx.driver.isAlive(vmm) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
          if (ctx.driver.isAlive(vmm)) await ctx.driver.stop(vmm, 5000);
        }
        // kill() also releases the driver's leftovers (sockets, cgroup) when the process is already gone.
        await ctx.driver.kill(vmm);
        rec.vmm = undefined;
      },
    },
    {
      name: 'close-channel',
      shouldDo: () => !!entry.channel,
      do: async () => {
        entry.channel?.close();
        entry.channel = undefined;
      },
    },
    {
      name: 'remove-nft-rules',
      shouldDo: async () => !!rec.tap && (await ctx.network.listRuleTaps()).includes(rec.tap),
      do: () => ctx.network.removeVmRules({ tap: rec.tap! }),
    },
    {
      name: 'delete-tap',
      shouldDo: async () => !!rec.tap && (await ctx.network.tapExists(rec.tap)),
      do: () => ctx.network.deleteTap(rec.tap!),
    },
    {
      name: 'release-ip',
      shouldDo: () => ctx.ips.ipOf(rec.id) !== undefined,
      do: async () => {
        ctx.ips.release(rec.id);
        ctx.store.saveLeases(ctx.ips.leases());
      },
    },
  ];
}

/** Runs teardown; a failing step does not stop the others (each is tried, errors collected). */
export async function teardown(ctx: NodeContext, entry: VmEntry, graceful: boolean): Promise<string[]> {
  const errors: string[] = [];
  for (const step of teardownSteps(ctx, entry, graceful)) {
    try {
      await runPlan([step]);
    } catch (e) {
      errors.push((e as Error).message);
      ctx.metrics.stepFailures.inc({ step: step.name });
      ctx.log.error({ vm: entry.rec.id, step: step.name, err: (e as Error).message }, 'teardown step failed');
    }
  }
  return errors;
}
