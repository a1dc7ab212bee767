import type { ImageRecipe } from '../lib/recipe.ts';
import { AGENT_DEBS, CREATE_AGENT_USER, PATCH_OPENCLAW_STARTUP_TIMEOUT, OPENCLAW_COMMAND, OPENCLAW_ENV, OPENCLAW_EXPECTED_ENV, OPENCLAW_PORT, OPENCLAW_VERSION, WORKSPACE, agentFiles } from './agent-common.ts';

/**
 * agent-chat: the OpenClaw gateway (pinned) on the image's Node 24, listening on the VM's interface with
 * token auth, started by the guest agent; ready when /readyz answers. Fits the basic tier (1 vCPU,
 * 1024 MiB) with zram swap: figures in packages/images/README.md.
 */
export const agentChat: ImageRecipe = {
  name: 'agent-chat',
  version: OPENCLAW_VERSION,
  description: `OpenClaw ${OPENCLAW_VERSION} chat agent (gateway on :${OPENCLAW_PORT}, token auth)`,
  debs: [...AGENT_DEBS],
  npmGlobal: [`openclaw@${OPENCLAW_VERSION}`],
  files: agentFiles('openclaw-chat.json'),
  customize: [...CREATE_AGENT_USER, PATCH_OPENCLAW_STARTUP_TIMEOUT],
  manifest: {
    minVcpus: 1,
    minMemoryMib: 1024,
    diskMib: 2048,
    agentPort: OPENCLAW_PORT,
    readiness: { type: 'http', port: OPENCLAW_PORT, path: '/readyz' },
    command: OPENCLAW_COMMAND,
    user: 'root',
    workdir: WORKSPACE,
    env: { ...OPENCLAW_ENV },
    expectedEnv: OPENCLAW_EXPECTED_ENV,
  },
};
