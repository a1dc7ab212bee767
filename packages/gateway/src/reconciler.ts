import type { Logger, NodeEvent, Vm } from '@romulus/shared';
import type { AgentService } from './agents/service.ts';
import type { GatewayConfig } from './config.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { NodeClient } from './node-client.ts';
import type { AgentRecord, Store } from './store/types.ts';
import { isTerminal } from './agents/states.ts';

/** Metadata key the gateway puts on every VM it creates: marks Romulus VMs and names their agent. */
export const AGENT_ID_METADATA = 'romulus_agent_id';

/** What the gateway saw of an agent's VM, and where: `vm` absent means not listed, or deleted. */
type Observed = { source: 'list' | 'event'; vm?: Vm };

/**
 * Keeps the store's agents in step with the node's VMs. One transition rule (`apply`) fed from two sources:
 *   - the node's event stream (GET /v1/events): every VM change as it happens, the normal path;
 *   - a periodic pass over the node's list, the safety net (a dropped stream, a crash between steps).
 * Transitions are conditional in the store, so the two sources (and several gateways) cannot apply one twice.
 *   starting agent, VM running        → running
 *   starting agent, VM failed/stopped → failed, lock freed, VM removed
 *   starting agent, VM deleted        → failed; not listed after the grace → failed (crash between record and create)
 *   starting agent past startTimeoutMs → failed
 *   running agent, VM ended or gone   → failed, interval closed at the VM's end, lock freed
 *   stopping agent, VM ended or gone (or any pass) → VM removed, stopped, lock freed
 *   Romulus VM whose agent is terminal or unknown (pass only) → removed
 */
export class Reconciler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private readonly closing = new AbortController();
  private following: Promise<void> | null = null;

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
    this.following = this.node.events(
      (ev) => this.onEvent(ev),
      this.closing.signal,
      (err) => this.log.warn({ err: (err as Error)?.message }, 'node event stream dropped; reconnecting (the periodic pass covers the gap)'),
    );
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.closing.abort();
    await Promise.all([this.running, this.following]);
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

  private async onEvent(ev: NodeEvent): Promise<void> {
    if (ev.type === 'synced') return;
    const agentId = ev.type === 'vm' ? ev.vm.metadata?.[AGENT_ID_METADATA] : ev.id;
    if (!agentId) return;
    try {
      const agent = await this.store.getAgent(agentId);
      if (!agent || isTerminal(agent.state)) return;
      await this.apply(agent, { source: 'event', vm: ev.type === 'vm' ? ev.vm : undefined });
      // Also when nothing was applied: the VM's phase may have moved, or another gateway made the transition.
      this.agents.changes.notify(agentId);
    } catch (err) {
      // The store may be briefly down: the periodic pass applies what this event would have.
      this.log.warn({ agent: agentId, err: (err as Error).message }, 'could not apply node event; the next pass will');
    }
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
    const live = await this.store.listAgentsInStates(['starting', 'running', 'stopping']);
    const liveIds = new Set(live.map((a) => a.id));
    for (const agent of live) {
      const vm = vmByAgent.get(agent.id);
      await this.apply(agent, { source: 'list', vm });
    }

    for (const [agentId, vm] of vmByAgent) {
      if (liveIds.has(agentId)) continue;
      // Re-read: the agent may have been created after the list above (a spawn in flight).
      const agent = await this.store.getAgent(agentId);
      if (agent && !isTerminal(agent.state)) continue;
      this.log.warn({ vm: vm.id, agent: agentId, known: !!agent }, 'removing VM without a live agent');
      if (await this.agents.lifecycle.removeVm(vm.id)) this.repaired('remove_orphan_vm', vm.id);
    }
  }

  /** The one transition rule for an agent given what the node shows of its VM. */
  private async apply(agent: AgentRecord, { source, vm }: Observed): Promise<void> {
    const lc = this.agents.lifecycle;
    const ended = !vm || vm.state === 'failed' || vm.state === 'stopped';
    const why = !vm ? 'VM is gone from the node' : `VM ${vm.state}${vm.reason ? `: ${vm.reason}` : ''}`;
    const age = this.now() - agent.spawnedAt;
    if (agent.state === 'stopping') {
      // A pass finishes any stop (its finisher may have died with a gateway); an event once the VM has ended.
      if ((source === 'list' || ended) && (await lc.finishStop(agent))) this.repaired('finish_stop', agent.id);
    } else if (agent.state === 'starting') {
      // Not listed may be a spawn whose create has not reached the node yet: only after the grace.
      const failed = vm ? ended : source === 'event' || age > this.cfg.lifecycle.missingVmGraceMs;
      if (vm?.state === 'running') {
        if (await lc.markRunning(agent.id, vm)) this.repaired('mark_running', agent.id);
      } else if (failed) {
        if (await lc.markFailed(agent, why, vm?.stoppedAt)) this.repaired('mark_failed', agent.id);
      } else if (age > this.cfg.lifecycle.startTimeoutMs) {
        if (await lc.markFailed(agent, `not ready within ${this.cfg.lifecycle.startTimeoutMs} ms`)) this.repaired('start_timeout', agent.id);
      }
    } else if (agent.state === 'running' && ended) {
      if (await lc.markFailed(agent, why, vm?.stoppedAt)) this.repaired('mark_failed', agent.id);
    }
  }

  private repaired(action: string, id: string): void {
    this.agents.changes.notify(id);
    this.metrics.reconcilerRepairs.inc({ action });
    this.log.info({ action, id }, 'reconciled');
  }
}

