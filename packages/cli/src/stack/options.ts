import path from 'node:path';

/** What `romulus up` runs, with the single-node defaults (README: "embedded defaults"). */
export interface StackOptions {
  dataDir: string;
  /** Listen address of all three services (loopback by default: the stack is for this machine). */
  host: string;
  gatewayPort: number;
  nodePort: number;
  chainPort: number;
  /** Agent URLs are http://<id>.<domain>:<gatewayPort>; *.localhost resolves to loopback. */
  domain: string;
  nodeId: string;
  bridge: string;
  subnet: string;
  imagesDir: string;
  kernelPath: string;
  logLevel: string;
  /** Extra node config (tests shrink capacity, skip the subnet overlap check, ...). */
  nodeOverrides?: Record<string, unknown>;
}

export const STACK_DEFAULTS = {
  host: '127.0.0.1',
  gatewayPort: 8080,
  nodePort: 7070,
  chainPort: 8899,
  domain: 'localhost',
  nodeId: 'local',
  bridge: 'rmbr0',
  subnet: '10.213.0.0/24',
  logLevel: 'info',
} as const;

/** Images default to <data>/images (where scripts/setup.sh builds them), overridable like everywhere else. */
export function defaultImagesDir(dataDir: string, env: NodeJS.ProcessEnv): string {
  return path.resolve(env.ROMULUS_IMAGES_DIR ?? path.join(dataDir, 'images'));
}

export function defaultKernelPath(imagesDir: string, env: NodeJS.ProcessEnv): string {
  return path.resolve(env.ROMULUS_KERNEL ?? path.join(imagesDir, 'kernel', 'vmlinux'));
}

export const stackDirs = (dataDir: string) => ({
  chain: path.join(dataDir, 'chain'),
  node: path.join(dataDir, 'node'),
  gateway: path.join(dataDir, 'gateway'),
  sqlite: path.join(dataDir, 'gateway', 'romulus.db'),
});
