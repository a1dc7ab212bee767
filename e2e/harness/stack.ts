import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startLocalChain, type LocalChainHandle } from '@romulus/chain';
import { startNode, type RunningNode } from '@romulus/hypercore';
import { createLogger, imagesDir, kernelPath } from '@romulus/shared';
import { HttpNodeClient, startGateway, type Gateway, type GatewayConfigInput } from '@romulus/gateway';
import { TestWallet } from '@romulus/gateway/testing';
import { pickTestNetwork, sweepLeftovers } from './host-net.ts';
import { prepareImagesDir, type DerivedImage } from './images.ts';

/**
 * A whole single-node Romulus on this host for end-to-end suites: a real local chain (LiteSVM JSON-RPC),
 * a real node daemon (QEMU microVMs on its own bridge and /24) and a real gateway, all on loopback, all
 * under one temp dir. `close()` deletes every VM, stops all three, removes the bridge, TAPs and nft
 * table and the temp dir, also after a failed test (call it from `after`).
 *
 *   const stack = await startStack();
 *   const w = await stack.newWallet(600_000);       // a funded Ed25519 wallet
 *   await stack.request('POST', '/spawn', { wallet: w, body: { agent_type: 'base' } });
 */
export interface StackOptions {
  /** Gateway config on top of the harness defaults (node, chain, listen and store are filled in). */
  gateway?: Partial<GatewayConfigInput>;
  /** Store for the gateway; default SQLite in the stack's temp dir. */
  store?: GatewayConfigInput['store'];
  /** Node capacity (default: what the node computes from the host). */
  nodeCapacity?: { vcpus?: number; memoryMib?: number };
  /** Images the suite needs; start fails early and clearly if one is not built (default ['base']). */
  requireImages?: string[];
  /** Node config on top of the defaults (e.g. driverOptions). */
  node?: Record<string, unknown>;
  /** Test images derived from built ones (see images.ts); the node then serves a per-stack images dir. */
  derivedImages?: DerivedImage[];
}

export interface Stack {
  dir: string;
  chain: LocalChainHandle;
  node: RunningNode;
  nodeClient: HttpNodeClient;
  gateway: Gateway;
  /** The gateway config actually used (for restarts with changes). */
  gatewayConfig: GatewayConfigInput;
  /** A new wallet funded with `wholeTokens` on the local chain (0 = unfunded). */
  newWallet(wholeTokens?: number): Promise<TestWallet>;
  /** Signed (when `wallet` is given) JSON request to the gateway API. */
  request(method: string, p: string, opts?: { wallet?: TestWallet; body?: unknown; ts?: number; headers?: Record<string, string> }): Promise<{ status: number; json: any }>;
  /** Stops the gateway and starts a new one on the same store (and, by default, the same port). */
  restartGateway(over?: Partial<GatewayConfigInput>): Promise<Gateway>;
  close(): Promise<void>;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  for (const img of opts.requireImages ?? ['base']) {
    const p = path.join(imagesDir(), img, 'rootfs.ext4');
    if (!existsSync(p)) throw new Error(`image "${img}" is not built (${p} missing): run scripts/setup.sh first`);
  }
  if (!existsSync(kernelPath())) throw new Error(`guest kernel missing at ${kernelPath()}: run scripts/setup.sh first`);

  const dir = mkdtempSync(path.join(tmpdir(), 'romulus-stack-'));
  const net = pickTestNetwork();
  const log = createLogger('e2e-stack', { level: process.env.ROMULUS_E2E_LOG ?? 'warn' });
  let chain: LocalChainHandle | undefined;
  let node: RunningNode | undefined;
  let gateway: Gateway | undefined;
  let nodeClient: HttpNodeClient | undefined;

  const close = async () => {
    await gateway?.close().catch(() => {});
    if (node && nodeClient) {
      // The node keeps VMs across its own restarts by design, so the harness deletes them explicitly.
      const vms = await nodeClient.listVms().catch(() => []);
      await Promise.allSettled(vms.map((vm) => nodeClient!.deleteVm(vm.id)));
    }
    await node?.close({ cleanupNetwork: true }).catch(() => {});
    await chain?.stop().catch(() => {});
    const left = sweepLeftovers({ marker: dir, bridge: net.bridge, nodeId: net.nodeId });
    if (left.length) log.warn({ left }, 'harness swept leftovers the stack did not remove');
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const images = opts.derivedImages?.length ? prepareImagesDir(imagesDir(), path.join(dir, 'images'), opts.derivedImages) : imagesDir();
    chain = await startLocalChain({ port: 0, stateDir: path.join(dir, 'chain') });
    node = await startNode({
      listen: { host: '127.0.0.1', port: 0 },
      nodeToken: `test-node-token-${Math.random().toString(36).slice(2)}${Date.now()}`,
      nodeId: net.nodeId,
      stateDir: path.join(dir, 'node'),
      imagesDir: images,
      kernelPath: kernelPath(),
      network: { bridge: net.bridge, subnet: net.subnet },
      ...(opts.nodeCapacity ? { capacity: { ...opts.nodeCapacity, vcpuOvercommit: 4, memoryReserveMib: 0 } } : {}),
      ...(opts.node ?? {}),
    } as any);
    nodeClient = new HttpNodeClient({ url: node.url, token: node.token, nodeId: node.nodeId, timeoutMs: 30_000 });

    const gatewayConfig: GatewayConfigInput = {
      listen: { host: '127.0.0.1', port: 0 },
      domain: 'localhost',
      node: { url: node.url, token: node.token, id: node.nodeId },
      chain: { rpcUrl: chain.url, mint: chain.mint, ttlMs: 500, insufficientTtlMs: 200, maxStaleMs: 0 },
      store: opts.store ?? { kind: 'sqlite', path: path.join(dir, 'gateway', 'romulus.db') },
      lifecycle: { reconcileIntervalMs: 1000, missingVmGraceMs: 30_000, startTimeoutMs: 600_000, nodeTimeoutMs: 30_000 },
      limits: { bodyLimitBytes: 16 * 1024, perIp: { burst: 1000, perSec: 1000 }, perWallet: { burst: 1000, perSec: 1000 } },
      logLevel: process.env.ROMULUS_E2E_LOG ?? 'warn',
      ...(opts.gateway ?? {}),
    } as GatewayConfigInput;
    gateway = await startGateway(gatewayConfig);

    const stack: Stack = {
      dir,
      chain,
      node,
      nodeClient,
      gateway,
      gatewayConfig,
      async newWallet(wholeTokens = 0) {
        const w = new TestWallet();
        if (wholeTokens > 0) await chain!.fund(w.address, wholeTokens);
        return w;
      },
      async request(method, p, o = {}) {
        const headers: Record<string, string> = { ...(o.wallet ? o.wallet.headers({ ts: o.ts }) : {}), ...(o.headers ?? {}) };
        if (o.body !== undefined) headers['content-type'] = 'application/json';
        const res = await fetch(`${stack.gateway.url}${p}`, {
          method,
          headers,
          body: o.body === undefined ? undefined : typeof o.body === 'string' ? o.body : JSON.stringify(o.body),
        });
        const text = await res.text();
        let json: any;
        try {
          json = JSON.parse(text);
        } catch {
          json = { raw: text };
        }
        return { status: res.status, json };
      },
      async restartGateway(over = {}) {
        const port = stack.gateway.port;
        await stack.gateway.close();
        const cfg = { ...stack.gatewayConfig, listen: { host: '127.0.0.1', port }, ...over } as GatewayConfigInput;
        stack.gateway = await startGateway(cfg);
        gateway = stack.gateway;
        return stack.gateway;
      },
      close,
    };
    return stack;
  } catch (err) {
    await close();
    throw err;
  }
}
