import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { closeWithin, createLogger, type Accel, type Logger } from '@romulus/shared';
import { buildApi } from './api/server.ts';
import { ConfigError, parseConfig, type NodeConfig, type NodeConfigInput } from './config.ts';
import { runCommand, type RunCommand } from './exec.ts';
import { ImageStore } from './images.ts';
import type { NodeContext } from './manager/context.ts';
import { reconcile } from './manager/reconciler.ts';
import { startSweeping } from './manager/sweeper.ts';
import { VmManager } from './manager/vm-manager.ts';
import { NodeMetrics } from './metrics.ts';
import { subnetConflicts } from './network/host-check.ts';
import { IpAllocator } from './network/ip-allocator.ts';
import { LinuxNetwork } from './network/linux-network.ts';
import { nftTableFor } from './network/names.ts';
import type { NetworkPort } from './network/types.ts';
import { StateStore } from './state/state-store.ts';
import type { VmmDriver } from './vmm/types.ts';

export interface RunningNode {
  url: string;
  token: string;
  nodeId: string;
  accel: Accel;
  manager: VmManager;
  network: NetworkPort;
  config: NodeConfig;
  /** Stops the API and the node's loops; VMs keep running (a restarted node adopts them). */
  close(opts?: { cleanupNetwork?: boolean }): Promise<void>;
}

export interface NodeOverrides {
  driver?: VmmDriver;
  network?: NetworkPort;
  run?: RunCommand;
  log?: Logger;
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(path.join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}

async function makeDriver(c: NodeConfig, log: Logger): Promise<VmmDriver> {
  // Imported lazily so a unit test with a fake driver never loads the real adapters.
  const { createDriver } = await import('./vmm/index.ts');
  const opts = c.driverOptions as Record<string, never>;
  // driverOptions.confine (a test's registry/jail dirs) is the base; the node config's section wins.
  const confine = { ...(opts.confine as object | undefined), ...c.vmmConfinement };
  return createDriver(c.driver, { ...opts, confine, log: log.child({ component: `vmm-${c.driver}` }) });
}

/** A parsed config has every default resolved; an input may leave out whole sections (e.g. `network`). */
function isParsed(input: NodeConfigInput | NodeConfig): input is NodeConfig {
  const network = (input as { network?: unknown }).network;
  return typeof network === 'object' && network !== null && 'subnetText' in network;
}

/** How long a closing node lets API requests in flight finish before it ends their connections. */
const CLOSE_GRACE_MS = 2_000;

/** Starts a node daemon in this process (library entry for main.ts and the e2e suites). */
export async function startNode(input: NodeConfigInput | NodeConfig, overrides: NodeOverrides = {}): Promise<RunningNode> {
  const config: NodeConfig = isParsed(input) ? input : parseConfig(input, {});
  const log = overrides.log ?? createLogger('hypercore').child({ node: config.nodeId });
  const run = overrides.run ?? runCommand;

  if (!overrides.network && !config.network.skipOverlapCheck) {
    const conflicts = await subnetConflicts(config.network.subnet, config.network.bridge, run);
    if (conflicts.length) throw new ConfigError(`network.subnet ${config.network.subnetText} cannot be used:\n  ${conflicts.join('\n  ')}`);
  }

  if (!overrides.driver && !existsSync(config.kernelPath)) {
    throw new ConfigError(`guest kernel not found at ${config.kernelPath} (build it with scripts/setup.sh, or set kernelPath / ROMULUS_KERNEL)`);
  }
  const driver = overrides.driver ?? (await makeDriver(config, log));
  if (!(await driver.available())) throw new ConfigError(`VMM driver ${config.driver} is not available on this host`);
  const probe = await driver.probe(config.kernelPath);
  if (probe.usable === false) throw new ConfigError(`VMM driver ${driver.name} cannot run VMs here: ${probe.reason ?? 'unknown'}`);
  if (probe.accel === 'tcg') {
    log.warn({ reason: probe.reason }, 'KVM NOT USABLE: running VMs under TCG software emulation (many times slower)');
  } else log.info({ vmm: probe.vmmVersion }, 'KVM acceleration in use');

  const store = new StateStore(config.stateDir);
  const network =
    overrides.network ??
    new LinuxNetwork({
      bridge: config.network.bridge,
      gateway: config.network.gateway,
      prefix: config.network.subnet.prefix,
      table: nftTableFor(config.nodeId),
      tapPrefix: config.network.tapPrefix,
      egressAllow: config.network.egressAllow,
      run,
    });
  let manager!: VmManager;
  const metrics = new NodeMetrics({
    countByState: () => manager.countByState(),
    capacity: () => manager.capacity(),
    accel: () => probe.accel,
  });
  const ctx: NodeContext = {
    config,
    driver,
    network,
    store,
    images: new ImageStore(config.imagesDir),
    ips: new IpAllocator(config.network.subnet),
    metrics,
    log,
    accel: probe.accel,
    run,
  };
  manager = new VmManager(ctx);
  await reconcile(ctx, manager);
  manager.startLiveness();
  const sweeper = startSweeping(ctx, manager, config.reconcileIntervalMs);

  const app = buildApi({
    manager,
    metrics,
    token: config.nodeToken,
    nodeId: config.nodeId,
    version: version(),
    bodyLimit: config.bodyLimitBytes,
    httpLimits: config.http,
    log,
    startedAt: Date.now(),
  });
  let url: string;
  try {
    url = await app.listen({ host: config.listen.host, port: config.listen.port });
  } catch (e) {
    await sweeper.stop();
    await manager.close();
    driver.close?.();
    throw e;
  }
  log.info({ url, accel: probe.accel, driver: driver.name, vms: manager.vms.size }, 'node listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    token: config.nodeToken,
    nodeId: config.nodeId,
    accel: probe.accel,
    manager,
    network,
    config,
    close(opts = {}) {
      closing ??= (async () => {
        await closeWithin(app.server, () => app.close(), CLOSE_GRACE_MS);
        await sweeper.stop();
        await manager.close();
        driver.close?.();
        const active = [...manager.vms.values()].some((e) => e.rec.vmm && driver.isAlive(e.rec.vmm));
        if ((opts.cleanupNetwork ?? config.cleanupNetworkOnClose) && !active) await network.destroyHost();
      })();
      return closing;
    },
  };
}
