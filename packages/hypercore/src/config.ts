import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { dataDir, imagesDir, kernelPath } from '@romulus/shared';
import { cidrToString, gatewayOf, parseCidr, type Cidr } from './network/cidr.ts';
import { tapPrefixFor } from './network/names.ts';

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

const cidrString = z.string().refine(
  (s) => {
    try {
      parseCidr(s);
      return true;
    } catch {
      return false;
    }
  },
  { message: 'must be an IPv4 CIDR with no host bits set, e.g. 10.213.0.0/24' },
);

const ifName = z.string().regex(/^[A-Za-z0-9_-]{1,15}$/, 'must be a Linux interface name (1-15 of [A-Za-z0-9_-])');

/** What a config file may say (everything but the token has a default). */
export const NodeConfigInput = z
  .object({
    listen: z
      .object({
        host: z.string().min(1).default('127.0.0.1'),
        port: z.number().int().min(0).max(65535).default(7070),
      })
      .strict()
      .default({ host: '127.0.0.1', port: 7070 }),
    /** The API's slow-client limits: incomplete headers (slow-loris) and incomplete bodies are cut off with a 408. */
    http: z
      .object({
        headersTimeoutMs: z.number().int().min(100).default(10_000),
        requestTimeoutMs: z.number().int().min(100).default(60_000),
      })
      .strict()
      .default({ headersTimeoutMs: 10_000, requestTimeoutMs: 60_000 }),
    /** Required (or ROMULUS_NODE_TOKEN): the node refuses anonymous access. */
    nodeToken: z.string().min(16, 'node token must be at least 16 characters').max(512),
    nodeId: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'node id: 1-32 of [a-z0-9-], starting with a letter or digit')
      .optional(),
    stateDir: z.string().min(1).optional(),
    imagesDir: z.string().min(1).optional(),
    kernelPath: z.string().min(1).optional(),
    driver: z.enum(['qemu', 'firecracker']).default('qemu'),
    /** Passed through to the driver factory (binary paths, accel override, ...). */
    driverOptions: z.record(z.string(), z.unknown()).default({}),
    /**
     * Least privilege for the VMMs (vmm/confine.ts): each runs as a uid of its own, with no capabilities,
     * in a mount namespace holding only its own files. On by default whenever the daemon runs as root;
     * `enabled: false` runs VMMs as the daemon's user (root) as before; `enabled: true` refuses to start
     * a daemon that is not root.
     */
    vmmConfinement: z
      .object({
        enabled: z.boolean().optional(),
        uidBase: z.number().int().min(1000).max(0xfffe0000).optional(),
        uidCount: z.number().int().min(1).max(1 << 20).optional(),
      })
      .strict()
      .default({}),
    capacity: z
      .object({
        vcpus: z.number().int().min(1).optional(),
        memoryMib: z.number().int().min(64).optional(),
        /** vCPUs offered per host core when `vcpus` is not given. */
        vcpuOvercommit: z.number().min(1).max(16).default(4),
        /** Host memory kept for the host itself when `memoryMib` is not given. */
        memoryReserveMib: z.number().int().min(0).default(1024),
      })
      .strict()
      .default({ vcpuOvercommit: 4, memoryReserveMib: 1024 }),
    network: z
      .object({
        bridge: ifName.default('rmbr0'),
        subnet: cidrString.default('10.213.0.0/24'),
        /** Destinations VMs may reach through the host (forwarding); default: none. */
        egressAllow: z.array(cidrString).max(256).default([]),
        /** Prefix of this node's TAP names (derived from the node id if absent). */
        tapPrefix: z.string().regex(/^[a-z][a-z0-9]{1,8}$/, 'tap prefix: 2-9 of [a-z0-9]').optional(),
        /** Skip the check that the subnet overlaps nothing on the host (tests that know better). */
        skipOverlapCheck: z.boolean().default(false),
      })
      .strict()
      .default({ bridge: 'rmbr0', subnet: '10.213.0.0/24', egressAllow: [], skipOverlapCheck: false }),
    channel: z
      .object({
        connectTimeoutMs: z.number().int().min(100).default(30_000),
        helloTimeoutMs: z.number().int().min(100).default(120_000),
        readyTimeoutMs: z.number().int().min(100).default(600_000),
        stopTimeoutMs: z.number().int().min(100).default(20_000),
      })
      .strict()
      .default({ connectTimeoutMs: 30_000, helloTimeoutMs: 120_000, readyTimeoutMs: 600_000, stopTimeoutMs: 20_000 }),
    guestLogMaxBytes: z.number().int().min(4096).default(1024 * 1024),
    livenessIntervalMs: z.number().int().min(50).max(60_000).default(1000),
    /** How often the node sweeps host resources (TAPs, rules, leases, VMMs) that no capacity-holding VM owns. */
    reconcileIntervalMs: z.number().int().min(50).max(600_000).default(10_000),
    bodyLimitBytes: z.number().int().min(1024).max(16 * 1024 * 1024).default(256 * 1024),
    /** On a clean daemon shutdown also remove the bridge and nftables tables (only when no VM runs). */
    cleanupNetworkOnClose: z.boolean().default(false),
  })
  .strict();
export type NodeConfigInput = z.input<typeof NodeConfigInput>;

/** The parsed config with every default resolved. */
export interface NodeConfig {
  listen: { host: string; port: number };
  http: { headersTimeoutMs: number; requestTimeoutMs: number };
  nodeToken: string;
  nodeId: string;
  stateDir: string;
  imagesDir: string;
  kernelPath: string;
  driver: 'qemu' | 'firecracker';
  driverOptions: Record<string, unknown>;
  vmmConfinement: { enabled?: boolean; uidBase?: number; uidCount?: number };
  capacity: { vcpus: number; memoryMib: number };
  network: {
    bridge: string;
    subnet: Cidr;
    subnetText: string;
    gateway: string;
    egressAllow: string[];
    tapPrefix: string;
    skipOverlapCheck: boolean;
  };
  channel: { connectTimeoutMs: number; helloTimeoutMs: number; readyTimeoutMs: number; stopTimeoutMs: number };
  guestLogMaxBytes: number;
  livenessIntervalMs: number;
  reconcileIntervalMs: number;
  bodyLimitBytes: number;
  cleanupNetworkOnClose: boolean;
}

export interface HostFacts {
  cpus: number;
  memoryMib: number;
  hostname: string;
}

export function hostFacts(): HostFacts {
  return { cpus: os.cpus().length, memoryMib: Math.floor(os.totalmem() / 1048576), hostname: os.hostname() };
}

function formatIssues(err: z.ZodError): string {
  return err.issues.map((i) => `  ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('\n');
}

/** Parse (and default) a config object. Throws ConfigError listing every problem. */
export function parseConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env, host: HostFacts = hostFacts()): NodeConfig {
  const obj = { ...((raw ?? {}) as Record<string, unknown>) };
  if (env.ROMULUS_NODE_TOKEN) obj.nodeToken = env.ROMULUS_NODE_TOKEN;
  if (obj.nodeToken === undefined) {
    throw new ConfigError('no node token: set nodeToken in the config file or ROMULUS_NODE_TOKEN (the node refuses anonymous access)');
  }
  const r = NodeConfigInput.safeParse(obj);
  if (!r.success) throw new ConfigError(`invalid node config:\n${formatIssues(r.error)}`);
  const c = r.data;
  const nodeId = c.nodeId ?? (host.hostname.toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+/, '').slice(0, 32) || 'node');
  const subnet = parseCidr(c.network.subnet);
  if (subnet.prefix > 29) throw new ConfigError('invalid node config:\n  network.subnet: must be /29 or larger');
  const tapPrefix = c.network.tapPrefix ?? tapPrefixFor(nodeId);
  if (c.network.bridge.startsWith(tapPrefix)) {
    throw new ConfigError(`invalid node config:\n  network.bridge: must not start with the TAP prefix ${tapPrefix}`);
  }
  const memTotal = c.capacity.memoryMib ?? Math.max(0, host.memoryMib - c.capacity.memoryReserveMib);
  if (memTotal < 64) throw new ConfigError('invalid node config:\n  capacity: less than 64 MiB left for VMs after the reserve');
  const stateDir = c.stateDir ?? path.join(dataDir(), 'node');
  return {
    listen: c.listen,
    http: c.http,
    nodeToken: c.nodeToken,
    nodeId,
    stateDir: path.resolve(stateDir),
    imagesDir: path.resolve(c.imagesDir ?? imagesDir()),
    kernelPath: path.resolve(c.kernelPath ?? kernelPath()),
    driver: c.driver,
    driverOptions: c.driverOptions,
    vmmConfinement: c.vmmConfinement,
    capacity: {
      vcpus: c.capacity.vcpus ?? Math.floor(host.cpus * c.capacity.vcpuOvercommit),
      memoryMib: memTotal,
    },
    network: {
      bridge: c.network.bridge,
      subnet,
      subnetText: cidrToString(subnet),
      gateway: gatewayOf(subnet),
      egressAllow: c.network.egressAllow,
      tapPrefix,
      skipOverlapCheck: c.network.skipOverlapCheck,
    },
    channel: c.channel,
    guestLogMaxBytes: c.guestLogMaxBytes,
    livenessIntervalMs: c.livenessIntervalMs,
    reconcileIntervalMs: c.reconcileIntervalMs,
    bodyLimitBytes: c.bodyLimitBytes,
    cleanupNetworkOnClose: c.cleanupNetworkOnClose,
  };
}

/** Reads a JSON or YAML config file (or none) and parses it. */
export function loadConfigFile(file: string | undefined, env: NodeJS.ProcessEnv = process.env): NodeConfig {
  let raw: unknown = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`);
    }
    try {
      raw = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
    } catch (e) {
      throw new ConfigError(`config file ${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(e as Error).message}`);
    }
  }
  return parseConfig(raw, env);
}
