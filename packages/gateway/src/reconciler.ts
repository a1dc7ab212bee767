import type { Logger, Vm } from '@romulus/shared';
import type { AgentService } from './agents/service.ts';
import type { GatewayConfig } from './config.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { NodeClient } from './node-client.ts';
import type { Store } from './store/types.ts';

/** Metadata key the gateway puts on every VM it creates: marks Romulus VMs and names their agent. */
export const AGENT_ID_METADATA = 'romulus_agent_id';

/**
 * Compares the store with the node and repairs the difference. Runs at start and every few seconds; each
 * pass is idempotent, so a pass cut short (crash, node down) is simply redone by the next one.
 *   starting agent, VM running        → running (a lost spawn watcher)
 *   starting agent, VM failed/stopped → failed, lock freed, VM removed
 *   starting agent, no VM after grace → failed, lock freed (crash between record and node create)
 *   running agent, VM gone or ended   → failed, interval closed, lock freed
 *   stopping agent                    → VM removed, stopped, lock freed
 *   Romulus VM whose agent is terminal or unknown → removed
 */
export class Reconciler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly cfg: GatewayConfig,
    private readonly store: Store,
    private readonly node: NodeClient,
    private readonly agents: AgentService,
    private readonly log: Logger,
    private readonly metrics: GatewayMetrics,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    const tick = () => {
      this.timer = setTimeout(async () => {
        await this.runOnce();
        if (this.timer) tick();
      }, this.cfg.lifecycle.reconcileIntervalMs);
      this.timer.unref();
    };
    void this.runOnce();
    tick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One pass; concurrent callers share the pass in flight. */
  runOnce(): Promise<void> {
    if (!this.running) {
      this.running = this.pass()
        .catch((err) => this.log.warn({ err: (err as Error).message }, 'reconcile pass failed; retrying next tick'))
        .finally(() => {
          this.running = null;
        });
    }
    return this.running;
  }

  private async pass(): Promise<void> {
    let vms: Vm[];
    try {
      vms = await this.node.listVms();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'node unreachable; reconcile skipped');
      return;
    }
    const vmByAgent = new Map<string, Vm>();
    for (const vm of vms) {
      const id = vm.metadata?.[AGENT_ID_METADATA];
      if (id) vmByAgent.set(id, vm);
    }
    const lc = this.agents.lifecycle;
    const live = await this.store.listAgentsInStates(['starting', 'running', 'stopping']);
    const liveIds = new Set(live.map((a) => a.id));

    for (const agent of live) {
      const vm = vmByAgent.get(agent.id);
      const ended = !vm || vm.state === 'failed' || vm.state === 'stopped';
      const why = !vm ? 'VM is gone from the node' : `VM ${vm.state}${vm.reason ? `: ${vm.reason}` : ''}`;
      if (agent.state === 'stopping') {
        if (await lc.finishStop(agent)) this.repaired('finish_stop', agent.id);
      } else if (agent.state === 'starting') {
        if (vm?.state === 'running') {
          if (await lc.markRunning(agent.id, vm)) this.repaired('mark_running', agent.id);
        } else if (vm && ended) {
          if (await lc.markFailed(agent, why)) this.repaired('mark_failed', agent.id);
        } else if (!vm && this.now() - agent.spawnedAt > this.cfg.lifecycle.missingVmGraceMs) {
          if (await lc.markFailed(agent, why)) this.repaired('mark_failed', agent.id);
        } else if (vm) {
          // Still booting: make sure someone is waiting on it (after a gateway restart nobody is).
          this.agents.watch(agent.id);
        }
      } else if (agent.state === 'running' && ended) {
        if (await lc.markFailed(agent, why, vm?.stoppedAt)) this.repaired('mark_failed', agent.id);
      }
    }

    for (const [agentId, vm] of vmByAgent) {
      if (liveIds.has(agentId)) continue;
      // Re-read: the agent may have been created after the list above (a spawn in flight).
      const agent = await this.store.getAgent(agentId);
      if (agent && !(agent.state === 'stopped' || agent.state === 'failed')) continue;
      this.log.warn({ vm: vm.id, agent: agentId, known: !!agent }, 'removing VM without a live agent');
      if (await lc.removeVm(vm.id)) this.repaired('remove_orphan_vm', vm.id);
    }
  }

  private repaired(action: string, id: string): void {
    this.metrics.reconcilerRepairs.inc({ action });
    this.log.info({ action, id }, 'reconciled');
  }
}
