#!/usr/bin/env node
// romulus-browser-title <url>: loads <url> in the image's Chromium through playwright-core and prints the
// page title. A smoke test of the browser tooling (used by e2e/images), and an example for agents.
import { createRequire } from 'node:module';

const require = createRequire('/usr/local/lib/node_modules/');
const { chromium } = require('playwright-core');

const url = process.argv[2];
if (!url) {
  console.error('usage: romulus-browser-title <url>');
  process.exit(2);
}
const browser = await chromium.launch({
  executablePath: process.env.PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH || '/usr/bin/chromium',
  headless: true,
  // The VM is the sandbox; Chromium's own needs user namespaces the guest does not offer to the agent.
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
});
try {
  const page = await browser.newPage();
  await page.goto(url, { waitUntil: 'load', timeout: 300_000 });
  console.log(await page.title());
} finally {
  await browser.close();
}
