import path from 'node:path';
import type { ImageManifest } from '@romulus/shared';
import type { RecipeFile } from '../lib/recipe.ts';

/**
 * What the three agent images share: the pinned OpenClaw release, the unprivileged `agent` user, the entry
 * point that sets up compressed swap and drops privileges, and the environment they expect.
 * Pins live here only; the Dockerfiles in packages/images/docker/ repeat them as ARG defaults.
 */
export const OPENCLAW_VERSION = '2026.9.6';
export const TYPESCRIPT_VERSION = '5.9.3';
export const PLAYWRIGHT_CORE_VERSION = '1.63.0';
export const OPENCLAW_PORT = 18789;
export const AGENT_UID = 1000;
export const AGENT_HOME = '/home/agent';
export const WORKSPACE = `${AGENT_HOME}/workspace`;

const FILES = path.join(import.meta.dirname, 'files');
export const filePath = (name: string) => path.join(FILES, name);

/** Debian packages every agent image needs beyond minbase: useradd (passwd), swapon (mount), curl for probes. */
export const AGENT_DEBS = ['passwd', 'mount', 'curl'];

/** Creates the workload user and its home; the home lands on the VM's own disk at run time (overlay upper). */
export const CREATE_AGENT_USER = [
  `getent passwd agent >/dev/null || useradd --uid ${AGENT_UID} --user-group --home-dir ${AGENT_HOME} --no-create-home --shell /bin/bash agent`,
  `mkdir -p ${WORKSPACE} ${AGENT_HOME}/.openclaw && chown -R agent:agent ${AGENT_HOME} && chmod 0750 ${AGENT_HOME}`,
];

/**
 * OpenClaw 2026.9.6 gives its state-lease heartbeat worker a hard-coded 5 s to start (not configurable).
 * Under TCG (no usable KVM: 15-20x slower CPU) a new worker isolate takes longer, and the gateway exits
 * with "state lease heartbeat did not become ready (... timeoutMs=5000 ...)" (seen in e2e/images). The
 * pinned release is patched to 120 s; the lease itself lasts minutes, so nothing else changes. The step
 * fails the build if the constant is not found exactly as expected (a new release must be re-checked).
 */
export const PATCH_OPENCLAW_STARTUP_TIMEOUT = [
  'f=$(ls /usr/local/lib/node_modules/openclaw/dist/openclaw-state-lease-heartbeat-shared-*.mjs)',
  "grep -q 'LEASE_HEARTBEAT_START_TIMEOUT_MS = 5e3;' \"$f\"",
  "sed -i 's/LEASE_HEARTBEAT_START_TIMEOUT_MS = 5e3;/LEASE_HEARTBEAT_START_TIMEOUT_MS = 12e4;/' \"$f\"",
  "grep -q 'LEASE_HEARTBEAT_START_TIMEOUT_MS = 12e4;' \"$f\"",
].join('\n');

export function agentFiles(openclawConfig: string): RecipeFile[] {
  return [
    { path: '/opt/agent/bin/romulus-agent-start', from: filePath('romulus-agent-start.sh'), mode: 0o755 },
    // Readable by the agent only: it is OpenClaw's config (no secrets in it; the token comes from env).
    { path: `${AGENT_HOME}/.openclaw/openclaw.json`, from: filePath(openclawConfig), mode: 0o600, owner: `${AGENT_UID}:${AGENT_UID}` },
  ];
}

/**
 * `root` on purpose: romulus-agent-start needs it for zram (swapon) and the workspace, then execs OpenClaw
 * as `agent` with setpriv (no capabilities kept). See packages/images/README.md.
 */
export const OPENCLAW_COMMAND = [
  '/opt/agent/bin/romulus-agent-start',
  '/usr/local/bin/openclaw',
  'gateway',
  'run',
  '--port',
  String(OPENCLAW_PORT),
  '--bind',
  'lan',
  '--auth',
  'token',
];

/** Model keys OpenClaw picks up from its environment (all optional: it starts without any). */
const MODEL_KEYS: [string, string][] = [
  ['ANTHROPIC_API_KEY', 'Anthropic (Claude) models'],
  ['OPENAI_API_KEY', 'OpenAI models'],
  ['GEMINI_API_KEY', 'Google Gemini models'],
  ['OPENROUTER_API_KEY', 'OpenRouter'],
  ['XAI_API_KEY', 'xAI (Grok) models'],
];

export const OPENCLAW_EXPECTED_ENV: ImageManifest['expectedEnv'] = [
  ...MODEL_KEYS.map(([name, description]) => ({ name, required: false, secret: true, description })),
  {
    name: 'OPENCLAW_GATEWAY_TOKEN',
    required: false,
    secret: true,
    description: "OpenClaw's gateway token; defaults to the agent's access token (ROMULUS_ACCESS_TOKEN), which the gateway delivers",
  },
];

export const OPENCLAW_ENV: Record<string, string> = {
  // A cap, not a target: the heap stays well below it at idle (see README); without a cap V8 sizes the
  // old generation from the VM's RAM and grows it before collecting, which zram then has to absorb.
  NODE_OPTIONS: '--max-old-space-size=512',
};
