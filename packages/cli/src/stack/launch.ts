import { mkdirSync } from 'node:fs';
import { startLocalChain, type LocalChainHandle } from '@romulus/chain';
import { HttpNodeClient, startGateway, type Gateway } from '@romulus/gateway';
import { startNode, type RunningNode } from '@romulus/hypercore';
import type { StackLogs } from './logs.ts';
import { readOrCreateNodeToken } from './node-token.ts';
import { stackDirs, type StackOptions } from './options.ts';
import { removeStackFile, writeStackFile, type StackFile } from './stack-file.ts';

export interface RunningStack {
  file: StackFile;
  chain: LocalChainHandle;
  gateway: Gateway;
  /**
   * The shutdown policy of the local stack: every agent still starting or running is stopped through the
   * gateway (so its usage interval closes now and its wallet lock is freed); the gateway closes; VMs the
   * node still holds without an agent (a spawn cut short by a crash) are deleted; then the node and the
   * chain close. Nothing of the stack runs after stop() resolves.
   */
  stop(): Promise<void>;
}

/**
 * Starts chain → node → gateway in this process and writes <data>/stack.json. If any step fails, what
 * already started is stopped again before the error propagates: nothing is left listening.
 */
/** How long an agent may take to get ready before it counts as failed (see the node's channel timeouts). */
const TCG_FRIENDLY_READY_MS = 20 * 60_000;

export async function startStack(opts: StackOptions, logs: StackLogs): Promise<RunningStack> {
  const log = logs.forService('stack');
  const dirs = stackDirs(opts.dataDir);
  mkdirSync(opts.dataDir, { recursive: true, mode: 0o755 });
  mkdirSync(dirs.gateway, { recursive: true, mode: 0o700 });
  const cleanups: (() => Promise<void>)[] = [];
  const unwind = async () => {
    for (const c of cleanups.reverse()) await c().catch((err) => log.error({ err }, 'stack cleanup step failed'));
    cleanups.length = 0;
  };
  try {
    const chain = await startLocalChain({ stateDir: dirs.chain, port: opts.chainPort, host: opts.host, log: logs.forService('chain') });
    cleanups.push(() => chain.stop());

    const nodeToken = readOrCreateNodeToken(dirs.node);
    const node: RunningNode = await startNode(
      {
        listen: { host: opts.host, port: opts.nodePort },
        nodeToken,
        nodeId: opts.nodeId,
        stateDir: dirs.node,
        imagesDir: opts.imagesDir,
        kernelPath: opts.kernelPath,
        driver: 'qemu',
        network: { bridge: opts.bridge, subnet: opts.subnet },
        // A development host often has no usable KVM; under TCG OpenClaw takes 5-9 min to get ready on 2 cores.
        channel: { connectTimeoutMs: 30_000, helloTimeoutMs: 300_000, readyTimeoutMs: TCG_FRIENDLY_READY_MS, stopTimeoutMs: 20_000 },
        ...(opts.nodeOverrides ?? {}),
      },
      { log: logs.forService('node') },
    );
    // By the time this runs every agent has been stopped and any VM without an agent deleted, so the node
    // also removes its bridge and nftables tables (it keeps them only while a VM still runs).
    cleanups.push(() => node.close({ cleanupNetwork: true }));
    cleanups.push(() => deleteRemainingVms(new HttpNodeClient({ url: node.url, token: nodeToken, nodeId: opts.nodeId, timeoutMs: 120_000 }), log));

    const gateway = await startGateway(
      {
        listen: { host: opts.host, port: opts.gatewayPort },
        domain: opts.domain,
        publicScheme: 'http',
        node: { url: node.url, token: nodeToken, id: opts.nodeId },
        store: { kind: 'sqlite', path: dirs.sqlite },
        chain: { rpcUrl: chain.url, mint: chain.mint },
        // The agent images' OpenClaw checks the same access token itself (it is its gateway token).
        ingress: { passTokenToAgent: true, forwardedHeaders: false },
        lifecycle: { startTimeoutMs: TCG_FRIENDLY_READY_MS + 60_000 },
        // An unknown level is refused by the gateway's config schema with a clear message.
        logLevel: opts.logLevel as NonNullable<Parameters<typeof startGateway>[0]>['logLevel'],
      },
      { log: logs.forService('gateway') },
    );
    cleanups.push(() => gateway.close());

    const file: StackFile = {
      version: 1,
      pid: process.pid,
      startedAt: Date.now(),
      dataDir: opts.dataDir,
      gateway: { url: gateway.url },
      node: { url: node.url },
      chain: { url: chain.url, mint: chain.mint, stateDir: dirs.chain },
      domain: opts.domain,
    };
    writeStackFile(opts.dataDir, file);
    cleanups.push(async () => removeStackFile(opts.dataDir, process.pid));

    let stopping: Promise<void> | undefined;
    return {
      file,
      chain,
      gateway,
      stop: () =>
        (stopping ??= (async () => {
          await stopAllAgents(gateway, log);
          await unwind();
        })()),
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}

/** Stops every agent that is not already stopped or failed, through the gateway's own lifecycle. */
export async function stopAllAgents(gateway: Gateway, log: ReturnType<StackLogs['forService']>): Promise<number> {
  const active = await gateway.store.listAgentsInStates(['starting', 'running', 'stopping']);
  const results = await Promise.allSettled(active.map((a) => gateway.agents.stop(a.id, a.wallet)));
  results.forEach((r, i) => {
    if (r.status === 'rejected') log.error({ err: r.reason, agent: active[i].id }, 'could not stop agent at shutdown');
    else log.info({ agent: active[i].id, status: r.value.status }, 'agent stopped at shutdown');
  });
  return active.length;
}

/** VMs no agent accounts for (e.g. a gateway crash between create and record) must not outlive the stack. */
async function deleteRemainingVms(node: HttpNodeClient, log: ReturnType<StackLogs['forService']>): Promise<void> {
  const vms = await node.listVms();
  const results = await Promise.allSettled(vms.map((vm) => node.deleteVm(vm.id)));
  results.forEach((r, i) => {
    if (r.status === 'rejected') log.error({ err: r.reason, vm: vms[i].id }, 'could not delete VM at shutdown');
    else log.info({ vm: vms[i].id }, 'VM without agent deleted at shutdown');
  });
}
