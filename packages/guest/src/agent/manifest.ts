import { readFileSync } from 'node:fs';
import type { ImageManifest, ReadinessProbe } from '@romulus/shared';

/** The part of the image manifest the guest agent acts on. */
export type WorkloadSpec = Pick<ImageManifest, 'command' | 'user' | 'workdir' | 'env' | 'readiness'>;

/**
 * Reads /etc/romulus/image.json. Checked by hand (the agent bundle carries no schema library): a broken
 * manifest must fail loudly at configure time, not start something half-specified.
 */
export function readWorkloadSpec(path: string): WorkloadSpec {
  const raw: unknown = JSON.parse(readFileSync(path, 'utf8'));
  if (!raw || typeof raw !== 'object') throw new Error(`${path}: not a JSON object`);
  const m = raw as Record<string, unknown>;
  const command = m.command;
  if (!Array.isArray(command) || command.length === 0 || !command.every((c) => typeof c === 'string')) {
    throw new Error(`${path}: command must be a non-empty array of strings`);
  }
  if (typeof m.user !== 'string' || !m.user) throw new Error(`${path}: user must be a string`);
  if (typeof m.workdir !== 'string' || !m.workdir.startsWith('/')) throw new Error(`${path}: workdir must be absolute`);
  const env = m.env ?? {};
  if (typeof env !== 'object' || Array.isArray(env) || !Object.values(env).every((v) => typeof v === 'string')) {
    throw new Error(`${path}: env must map names to strings`);
  }
  return {
    command: command as string[],
    user: m.user,
    workdir: m.workdir,
    env: env as Record<string, string>,
    readiness: checkProbe(m.readiness, path),
  };
}

function checkProbe(p: unknown, path: string): ReadinessProbe {
  const probe = (p ?? { type: 'none' }) as Record<string, unknown>;
  const portOk = (x: unknown) => Number.isInteger(x) && (x as number) >= 1 && (x as number) <= 65535;
  if (probe.type === 'none') return { type: 'none' };
  if (probe.type === 'tcp' && portOk(probe.port)) return { type: 'tcp', port: probe.port as number };
  if (probe.type === 'http' && portOk(probe.port) && typeof probe.path === 'string' && probe.path.startsWith('/')) {
    return { type: 'http', port: probe.port as number, path: probe.path };
  }
  throw new Error(`${path}: bad readiness probe ${JSON.stringify(p)}`);
}
