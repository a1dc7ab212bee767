import { createHash, randomBytes } from 'node:crypto';
import {
  ApiError,
  badRequest,
  conflict,
  forbidden,
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
import { NodeApiError, NodeUnavailableError, type NodeClient } from '../node-client.ts';
import type { AgentRecord, Store } from '../store/types.ts';
import { ImageCatalog } from './catalog.ts';
import { Lifecycle } from './lifecycle.ts';
import { ownerView, publicView, usageOf } from './views.ts';

export const TERMINAL_AGENT_STATES = ['stopped', 'failed'] as const;
const isTerminal = (s: string) => s === 'stopped' || s === 'failed';

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * The user-facing agent operations: spawn, stop, status, usage. Owns the spawn watchers (one per starting
 * agent, waiting on the node's wait endpoint); the reconciler is the safety net when a watcher is lost.
 */
export class AgentService {
  readonly catalog: ImageCatalog;
  readonly lifecycle: Lifecycle;
  private readonly watchers = new Map<string, Promise<void>>();
  private readonly closing = new AbortController();

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
      const lowest = Math.min(...Object.values(this.cfg.tiers).map((t) => t.min));
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

    this.watch(id);
    this.metrics.spawns.inc({ result: 'ok' });
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
    if (err instanceof ApiError) return err;
    if (err instanceof NodeUnavailableError) return unavailable('the node is unreachable; retry shortly', 'NODE_UNAVAILABLE');
    if (err instanceof NodeApiError) {
      if (err.status === 503 || err.status === 507 || /CAPACITY/i.test(err.code)) {
        return unavailable(`no capacity for this agent right now: ${err.message}`, 'NO_CAPACITY');
      }
      if (err.status === 404) return badRequest(`image not available on the node: ${err.message}`, 'UNKNOWN_AGENT_TYPE');
      return new ApiError(502, 'NODE_ERROR', `the node refused the request: ${err.message}`);
    }
    return err as Error;
  }

  /** Follows a starting agent to running or failed in the background (the spawn call does not wait on the boot). */
  watch(id: string): void {
    if (this.watchers.has(id) || this.closing.signal.aborted) return;
    const p = this.follow(id)
      .catch((err) => this.log.warn({ agent: id, err: (err as Error).message }, 'spawn watcher ended; the reconciler takes over'))
      .finally(() => this.watchers.delete(id));
    this.watchers.set(id, p);
  }

  private async follow(id: string): Promise<void> {
    const signal = this.closing.signal;
    while (!signal.aborted) {
      const agent = await this.store.getAgent(id);
      if (!agent || agent.state !== 'starting') return;
      const left = agent.spawnedAt + this.cfg.lifecycle.startTimeoutMs - this.now();
      if (left <= 0) {
        await this.lifecycle.markFailed(agent, `not ready within ${this.cfg.lifecycle.startTimeoutMs} ms`);
        return;
      }
      let vm;
      try {
        vm = await this.node.waitVm(id, 'running', Math.min(left, 60_000), signal);
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof NodeApiError && err.status === 404) {
          await this.lifecycle.markFailed(agent, 'VM disappeared from the node');
          return;
        }
        await sleep(2000, signal);
        continue;
      }
      if (!vm) continue;
      if (vm.state === 'running') {
        await this.lifecycle.markRunning(id, vm);
        return;
      }
      if (vm.state === 'failed' || vm.state === 'stopped') {
        await this.lifecycle.markFailed(agent, `VM ${vm.state}${vm.reason ? `: ${vm.reason}` : ''}`);
        return;
      }
    }
  }

  /** Owner-only and idempotent: a stopped or failed agent answers with its current view. */
  async stop(id: string, wallet: string): Promise<AgentStatus> {
    const agent = await this.store.getAgent(id);
    if (!agent) throw notFound(`no agent ${id}`, 'AGENT_NOT_FOUND');
    if (agent.wallet !== wallet) throw forbidden('only the owner may stop this agent', 'NOT_OWNER');
    let current: AgentRecord | null = agent;
    if (agent.state === 'starting' || agent.state === 'running') {
      current = (await this.lifecycle.beginStop(agent)) ?? (await this.store.getAgent(id));
    }
    if (current && current.state === 'stopping') {
      current = (await this.lifecycle.finishStop(current)) ?? (await this.store.getAgent(id));
    }
    return ownerView(current ?? agent, this.urlOf(id), this.now());
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
    this.closing.abort();
    await Promise.allSettled([...this.watchers.values()]);
  }
}

/** Sleeps unless aborted; removes its abort listener either way (watchers loop for minutes). */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
