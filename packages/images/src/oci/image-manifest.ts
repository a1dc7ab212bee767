import type { ImageManifest } from '@romulus/shared';
import { OciFormatError, type OciImageConfig } from './resolve.ts';

/**
 * Turns an OCI image config into the Romulus ImageManifest the guest agent runs:
 *   Entrypoint + Cmd -> command (as `docker run` would), Env -> env, User -> user (root when unset, as in
 *   a container), WorkingDir -> workdir ("/" when unset), the lowest exposed TCP port -> agentPort with a
 *   TCP readiness probe on it (no exposed port: agentPort 0, readiness "none": ready once started).
 */
export interface ImportOptions {
  name: string;
  minVcpus?: number;
  minMemoryMib?: number;
  diskMib?: number;
  /** Overrides the exposed port (e.g. an image exposing several). */
  agentPort?: number;
  description?: string;
}

export const IMPORT_DEFAULTS = { minVcpus: 1, minMemoryMib: 256, diskMib: 1024 } as const;

/** Parses ExposedPorts keys ("8080/tcp", "53/udp", "9000") into TCP port numbers, ascending. */
export function exposedTcpPorts(exposed: Record<string, unknown> | null | undefined): number[] {
  const ports = new Set<number>();
  for (const key of Object.keys(exposed ?? {})) {
    const m = /^(\d{1,5})(?:\/(tcp|udp|sctp))?$/i.exec(key.trim());
    if (!m || (m[2] && m[2].toLowerCase() !== 'tcp')) continue;
    const port = Number(m[1]);
    if (port >= 1 && port <= 65535) ports.add(port);
  }
  return [...ports].sort((a, b) => a - b);
}

/** Env entries "KEY=VALUE" (VALUE may contain '='); a bare "KEY" means empty. */
export function parseEnv(list: string[] | null | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of list ?? []) {
    const i = item.indexOf('=');
    const key = i < 0 ? item : item.slice(0, i);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) continue;
    env[key] = i < 0 ? '' : item.slice(i + 1);
  }
  return env;
}

export function manifestFromConfig(config: OciImageConfig, opts: ImportOptions, version: string): ImageManifest {
  const c = config.config ?? {};
  if (config.os && config.os !== 'linux') throw new OciFormatError(`image is for ${config.os}, not linux`);
  if (config.architecture && config.architecture !== 'amd64') {
    throw new OciFormatError(`image is for ${config.architecture}; this host runs x86_64 (amd64) VMs`);
  }
  const command = [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])];
  if (command.length === 0) throw new OciFormatError('image has neither Entrypoint nor Cmd: nothing to run');
  const ports = exposedTcpPorts(c.ExposedPorts);
  const agentPort = opts.agentPort ?? ports[0] ?? 0;
  const env = parseEnv(c.Env);
  env.PATH ??= '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  return {
    name: opts.name,
    version,
    description: opts.description ?? 'imported OCI image',
    minVcpus: opts.minVcpus ?? IMPORT_DEFAULTS.minVcpus,
    minMemoryMib: opts.minMemoryMib ?? IMPORT_DEFAULTS.minMemoryMib,
    diskMib: opts.diskMib ?? IMPORT_DEFAULTS.diskMib,
    agentPort,
    readiness: agentPort ? { type: 'tcp', port: agentPort } : { type: 'none' },
    command,
    user: c.User && c.User.trim() ? c.User.trim() : 'root',
    workdir: c.WorkingDir && c.WorkingDir.trim() ? c.WorkingDir.trim() : '/',
    env,
    expectedEnv: [],
  };
}
