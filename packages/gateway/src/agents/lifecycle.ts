import type { Logger, Vm } from '@romulus/shared';
import type { NodeClient } from '../node-client.ts';
import type { AgentRecord, Store } from '../store/types.ts';
import type { GatewayMetrics } from '../metrics.ts';

/**
 * The agent state transitions, shared by spawn, stop and the reconciler (node events and its periodic pass).
 * Each is conditional on the current state (the store applies it only from the listed states), so two actors
 * racing on one agent (an event and a pass, a stop's finisher, or two replicas) cannot apply a transition twice.
 *
 *   starting ─running→ running ─stop→ stopping ─VM gone→ stopped
 *   starting|running ─VM failed/gone→ failed          (every terminal transition frees the wallet lock)
 */
export class Lifecycle {
  constructor(
    private readonly store: Store,
    private readonly node: NodeClient,
    private readonly log: Logger,
    private readonly metrics: GatewayMetrics,
    private readonly now: () => number = Date.now,
  ) {}

  async markRunning(id: string, vm: Vm): Promise<AgentRecord | null> {
    const at = this.now();
    const rec = await this.store.updateAgent(
      id,
      {
        state: 'running',
        readyAt: vm.readyAt ?? at,
        runningSince: at,
        ...(vm.ip && vm.agentPort > 0 ? { target: { host: vm.ip, port: vm.agentPort } } : {}),
      },
      { ifStateIn: ['starting'] },
    );
    if (rec) this.log.info({ agent: id, accel: vm.accel }, 'agent running');
    return rec;
  }

  /** starting|running → failed; frees the lock and removes the VM (best effort: the reconciler retries). */
  async markFailed(agent: AgentRecord, reason: string, endedAt?: number): Promise<AgentRecord | null> {
    // Bill up to when the VM actually ended when the node knows it, not to when we noticed.
    const now = this.now();
    const at = endedAt && endedAt <= now && (!agent.runningSince || endedAt >= agent.runningSince) ? endedAt : now;
    const rec = await this.store.updateAgent(
      agent.id,
      { state: 'failed', reason, stoppedAt: at },
      { ifStateIn: ['starting', 'running'], closeRunningAt: at },
    );
    if (rec) {
      this.metrics.agentTransitions.inc({ to: 'failed' });
      this.log.warn({ agent: agent.id, reason }, 'agent failed');
      await this.store.releaseWalletLock(agent.wallet, agent.id);
      await this.removeVm(agent.id);
    }
    return rec;
  }

  /** starting|running → stopping (closes the running interval: the user stops paying when they ask). */
  async beginStop(agent: AgentRecord): Promise<AgentRecord | null> {
    const at = this.now();
    return this.store.updateAgent(agent.id, { state: 'stopping' }, { ifStateIn: ['starting', 'running'], closeRunningAt: at });
  }

  /** stopping → stopped once the node no longer has the VM; frees the lock. Returns null if the VM is still there. */
  async finishStop(agent: AgentRecord): Promise<AgentRecord | null> {
    if (!(await this.removeVm(agent.id))) return null;
    const rec = await this.store.updateAgent(agent.id, { state: 'stopped', stoppedAt: this.now() }, { ifStateIn: ['stopping'] });
    await this.store.releaseWalletLock(agent.wallet, agent.id);
    if (rec) this.metrics.agentTransitions.inc({ to: 'stopped' });
    return rec;
  }

  /** Deletes the VM (stopping it first); true when the node confirms it is gone. */
  async removeVm(id: string): Promise<boolean> {
    try {
      await this.node.deleteVm(id);
      return true;
    } catch (err) {
      this.log.warn({ agent: id, err: (err as Error).message }, 'could not remove VM yet; the reconciler retries');
      return false;
    }
  }
}
