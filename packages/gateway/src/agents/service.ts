import { createHash, randomBytes } from 'node:crypto';
import {
  badRequest,
  conflict,
  forbidden,
  lowestTierMin,
  notFound,
  tierFor,
  unavailable,
  type AgentStatus,
  type Logger,
  type SpawnRequest,
  type SpawnResponse,
  type TierConfig,
  type WalletUsage,
} from '@romulus/shared';
import type { BalanceSource } from '../balance.ts';
import { ChainUnavailableError } from '../chain/types.ts';
import type { GatewayConfig } from '../config.ts';
import { agentIdTime, newAgentId } from '../ids.ts';
import type { GatewayMetrics } from '../metrics.ts';
import type { NodeClient } from '../node-client.ts';
import type { AgentRecord, Store } from '../store/types.ts';
import { ImageCatalog } from './catalog.ts';
import { AgentChanges } from './changes.ts';
import { gatewayErrorForNode } from './node-errors.ts';
import { Lifecycle } from './lifecycle.ts';
import { isTerminal } from './states.ts';
import { ownerView, publicView, usageOf } from './views.ts';

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * The user-facing agent operations: spawn, stop, status, usage. Spawn and stop answer at once; the
 * reconciler moves agents on as the node's events arrive (starting → running, stopping → stopped).
 */
export class AgentService {
  readonly catalog: ImageCatalog;
  readonly lifecycle: Lifecycle;
  readonly changes = new AgentChanges();
  /** Stops in flight (stopping → stopped), so close() can let them finish. */
  private readonly finishing = new Map<string, Promise<unknown>>();

  constructor(
    private readonly cfg: GatewayConfig,
    private readonly store: Store,
    private readonly node: NodeClient,
    private readonly balances: BalanceSource,
    private readonly log: Logger,
    private readonly metrics: GatewayMetrics,
    private readonly publicPort: () => number | undefined,
    private readonly now: () => number = Date.now,
  ) {
    this.catalog = new ImageCatalog(node);
    this.lifecycle = new Lifecycle(store, node, log, metrics, now);
  }

  urlOf(id: string): string {
    const port = this.publicPort();
    const defaultPort = this.cfg.publicScheme === 'https' ? 443 : 80;
    return `${this.cfg.publicScheme}://${id}.${this.cfg.domain}${port && port !== defaultPort ? `:${port}` : ''}`;
  }

  /** The wallet's tier from its balance: 403 below the lowest tier, 503 when the chain cannot say. */
  async tierOf(wallet: string): Promise<{ name: string; config: TierConfig; whole: bigint }> {
    let balance;
    try {
      balance = await this.balances.lookup(wallet);
    } catch (err) {
      if (err instanceof ChainUnavailableError) throw unavailable('cannot read token balance from the chain; retry shortly', 'CHAIN_UNAVAILABLE');
      throw err;
    }
    const tier = tierFor(balance.whole, this.cfg.tiers);
    if (!tier) {
      const lowest = lowestTierMin(this.cfg.tiers);
      throw forbidden(`holding ${balance.whole} tokens; the lowest tier needs ${lowest}`, 'INSUFFICIENT_BALANCE', {
        balance: balance.whole.toString(),
        required: lowest,
      });
    }
    return { ...tier, whole: balance.whole };
  }

  async spawn(wallet: string, req: SpawnRequest): Promise<SpawnResponse> {
    const tier = await this.tierOf(wallet);

    let image;
    try {
      image = await this.catalog.resolve(req.agent_type);
    } catch (err) {
      throw this.nodeError(err);
    }
    if (!image) throw badRequest(`unknown agent type "${req.agent_type}"`, 'UNKNOWN_AGENT_TYPE');
    if (image.minVcpus > tier.config.cores || image.minMemoryMib > tier.config.memory) {
      throw forbidden(
        `tier "${tier.name}" (${tier.config.cores} vCPU, ${tier.config.memory} MiB) is too small for image "${image.name}" ` +
          `(needs ${image.minVcpus} vCPU, ${image.minMemoryMib} MiB)`,
        'TIER_TOO_SMALL',
        { tier: tier.name, image: image.name, min_cores: image.minVcpus, min_memory: image.minMemoryMib },
      );
    }

    const id = newAgentId(this.now());
    await this.acquireLock(wallet, id);

    const token = randomBytes(32).toString('base64url');
    const spawnedAt = this.now();
    const rec: AgentRecord = {
      id,
      wallet,
      agentType: req.agent_type,
      image: image.name,
      tier: tier.name,
      cores: tier.config.cores,
      memoryMib: tier.config.memory,
      nodeId: this.node.nodeId,
      state: 'starting',
      accessTokenHash: hashToken(token),
      spawnedAt,
      uptimeMs: 0,
    };
    try {
      await this.store.createAgent(rec);
    } catch (err) {
      await this.store.releaseWalletLock(wallet, id);
      throw err;
    }

    try {
      const vm = await this.node.createVm({
        id,
        image: image.name,
        vcpus: tier.config.cores,
        memoryMib: tier.config.memory,
        env: req.env ?? {},
        // The user's secrets go to the node in memory and on to the guest channel; never stored here.
        secrets: { ...(req.secrets ?? {}), ROMULUS_ACCESS_TOKEN: token },
        metadata: { romulus_agent_id: id, romulus_wallet: wallet, romulus_agent_type: req.agent_type },
      });
      if (vm.ip && vm.agentPort > 0) await this.store.updateAgent(id, { target: { host: vm.ip, port: vm.agentPort } }, { ifStateIn: ['starting'] });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      await this.lifecycle.markFailed(rec, `node refused the VM: ${reason}`);
      this.metrics.spawns.inc({ result: 'node_error' });
      throw this.nodeError(err);
    }

    this.metrics.spawns.inc({ result: 'ok' });
    this.changes.notify(id);
    return {
      success: true,
      agent: {
        id,
        url: this.urlOf(id),
        wallet,
        tier: tier.name,
        spawned_at: spawnedAt,
        agent_type: req.agent_type,
        status: 'starting',
        access_token: token,
      },
      tier_config: { min: tier.config.min, cores: tier.config.cores, memory: tier.config.memory },
    };
  }

  /**
   * Takes the wallet's lock. A holder that is terminal, or that never got a record although its id is
   * older than the grace (a gateway died between lock and insert), is stale: free it and try once more.
   */
  private async acquireLock(wallet: string, id: string): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const r = await this.store.acquireWalletLock(wallet, id);
      if (r.acquired) return;
      const holder = await this.store.getAgent(r.holder);
      const born = agentIdTime(r.holder);
      const stale = holder
        ? isTerminal(holder.state)
        : born === null || this.now() - born > this.cfg.lifecycle.missingVmGraceMs;
      if (!stale || attempt === 1) {
        this.metrics.spawns.inc({ result: 'conflict' });
        throw conflict(`wallet already has an active agent (${r.holder})`, 'AGENT_EXISTS', { agent_id: r.holder });
      }
      this.log.warn({ wallet, holder: r.holder }, 'freeing stale wallet lock');
      await this.store.releaseWalletLock(wallet, r.holder);
    }
  }

  private nodeError(err: unknown): Error {
    return gatewayErrorForNode(err) as Error;
  }

  /**
   * Owner-only and idempotent. Asynchronous like spawn: the agent is `stopping` (its running interval closed)
   * when this returns, and becomes `stopped` once the node has removed its VM. A stopped or failed agent
   * answers with its current view.
   */
  async stop(id: string, wallet: string): Promise<AgentStatus> {
    const agent = await this.store.getAgent(id);
    if (!agent) throw notFound(`no agent ${id}`, 'AGENT_NOT_FOUND');
    if (agent.wallet !== wallet) throw forbidden('only the owner may stop this agent', 'NOT_OWNER');
    let current: AgentRecord | null = agent;
    if (agent.state === 'starting' || agent.state === 'running') {
      current = (await this.lifecycle.beginStop(agent)) ?? (await this.store.getAgent(id));
    }
    if (current?.state === 'stopping') this.finishStop(current);
    this.changes.notify(id);
    return ownerView(current ?? agent, this.urlOf(id), this.now());
  }

  /** Removes a stopping agent's VM in the background (the reconciler retries if this one fails). */
  private finishStop(agent: AgentRecord): void {
    if (this.finishing.has(agent.id)) return;
    const p = this.lifecycle
      .finishStop(agent)
      .catch((err) => this.log.warn({ agent: agent.id, err: (err as Error).message }, 'stop not finished yet; the reconciler retries'))
      .finally(() => {
        this.finishing.delete(agent.id);
        this.changes.notify(agent.id);
      });
    this.finishing.set(agent.id, p);
  }

  async status(id: string, viewer: string | null): Promise<AgentStatus> {
    const agent = await this.store.getAgent(id);
    if (!agent) throw notFound(`no agent ${id}`, 'AGENT_NOT_FOUND');
    if (viewer !== agent.wallet) return publicView(agent, this.urlOf(id));
    const view = ownerView(agent, this.urlOf(id), this.now());
    if (agent.state === 'starting') {
      // Progress for `spawn --wait`: the node's phase of the VM. Best effort, and bounded: a slow node must not
      // hold the status answer for the node client's whole timeout.
      const late = new Promise<null>((resolve) => setTimeout(resolve, 2000, null).unref());
      const vm = await Promise.race([this.node.getVm(id), late]).catch(() => null);
      if (vm?.phase) view.phase = vm.phase;
    }
    return view;
  }

  async usage(wallet: string): Promise<WalletUsage> {
    const now = this.now();
    const agents = (await this.store.listAgentsByWallet(wallet)).sort((a, b) => a.spawnedAt - b.spawnedAt);
    const rows = agents.map((a) => ({ id: a.id, agent_type: a.agentType, status: a.state, ...usageOf(a, now) }));
    const totals = { spawn_count: await this.store.getSpawnCount(wallet), uptime_ms: 0, vcpu_seconds: 0, mib_seconds: 0 };
    for (const r of rows) {
      totals.uptime_ms += r.uptime_ms;
      totals.vcpu_seconds += r.vcpu_seconds;
      totals.mib_seconds += r.mib_seconds;
    }
    return { wallet, totals, agents: rows };
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.finishing.values()]);
  }
}
