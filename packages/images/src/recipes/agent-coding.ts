import type { ImageRecipe } from '../lib/recipe.ts';
import { agentChat } from './agent-chat.ts';
import { OPENCLAW_VERSION, TYPESCRIPT_VERSION } from './agent-common.ts';

/**
 * agent-coding: agent-chat plus git, Python 3, build essentials and TypeScript's `tsc` (pinned) on the
 * agent's PATH; the workspace (/home/agent/workspace) lives on the VM's own disk, so diskMib is larger.
 */
export const CODING_DEBS = ['git', 'python3', 'python3-venv', 'build-essential', 'openssh-client', 'less', 'xz-utils', 'unzip'];

export const agentCoding: ImageRecipe = {
  ...agentChat,
  name: 'agent-coding',
  version: OPENCLAW_VERSION,
  description: `OpenClaw ${OPENCLAW_VERSION} coding agent: git, Python 3, build-essential, TypeScript ${TYPESCRIPT_VERSION}`,
  debs: [...agentChat.debs, ...CODING_DEBS],
  npmGlobal: [...(agentChat.npmGlobal ?? []), `typescript@${TYPESCRIPT_VERSION}`],
  manifest: { ...agentChat.manifest, diskMib: 4096 },
};
