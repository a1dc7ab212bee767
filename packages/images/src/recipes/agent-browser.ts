import type { ImageRecipe } from '../lib/recipe.ts';
import { CREATE_AGENT_USER, PATCH_OPENCLAW_STARTUP_TIMEOUT, OPENCLAW_VERSION, PLAYWRIGHT_CORE_VERSION, agentFiles, filePath } from './agent-common.ts';
import { agentCoding } from './agent-coding.ts';

/**
 * agent-browser: agent-coding's tools plus Debian's Chromium and playwright-core (pinned), with the browser
 * tooling pointed at /usr/bin/chromium (headless, Chromium's own sandbox off: the microVM is the sandbox).
 * OpenClaw's browser plugin is enabled with the same executable. Needs the standard tier (2 GiB): Chromium
 * next to OpenClaw does not fit 1 GiB.
 */
export const CHROMIUM = '/usr/bin/chromium';

export const agentBrowser: ImageRecipe = {
  ...agentCoding,
  name: 'agent-browser',
  version: OPENCLAW_VERSION,
  description: `OpenClaw ${OPENCLAW_VERSION} browser agent: agent-coding + Chromium (Debian) + playwright-core ${PLAYWRIGHT_CORE_VERSION}`,
  debs: [...agentCoding.debs, 'chromium', 'fonts-liberation'],
  npmGlobal: [...(agentCoding.npmGlobal ?? []), `playwright-core@${PLAYWRIGHT_CORE_VERSION}`],
  files: [
    ...agentFiles('openclaw-browser.json'),
    { path: '/usr/local/bin/romulus-browser-title', from: filePath('browser-title.mjs'), mode: 0o755 },
  ],
  customize: [...CREATE_AGENT_USER, PATCH_OPENCLAW_STARTUP_TIMEOUT],
  manifest: {
    ...agentCoding.manifest,
    minMemoryMib: 2048,
    env: {
      ...agentCoding.manifest.env,
      CHROME_PATH: CHROMIUM,
      PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH: CHROMIUM,
      PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: '1',
      NODE_PATH: '/usr/local/lib/node_modules',
    },
  },
};

