import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Value } from 'typebox/value';
import { DEFAULT_TIERS, ImageManifest } from '@romulus/shared';
import { checkRecipe, recipeHash } from '../lib/recipe.ts';
import { agentBrowser } from './agent-browser.ts';
import { agentChat } from './agent-chat.ts';
import { agentCoding } from './agent-coding.ts';
import { OPENCLAW_VERSION, PLAYWRIGHT_CORE_VERSION, TYPESCRIPT_VERSION } from './agent-common.ts';

const all = [agentChat, agentCoding, agentBrowser];
const dockerDir = path.resolve(import.meta.dirname, '..', '..', 'docker');

describe('agent image recipes', () => {
  it('pass the builder checks and carry valid manifests', () => {
    for (const r of all) {
      checkRecipe(r);
      const m = { name: r.name, version: r.version, description: r.description, ...r.manifest };
      assert.ok(Value.Check(ImageManifest, m), `${r.name}: ${JSON.stringify([...Value.Errors(ImageManifest, m)][0])}`);
      for (const f of r.files ?? []) if (f.from) assert.ok(existsSync(f.from), `${r.name}: ${f.from} exists`);
    }
  });

  it('layer their tools: coding adds to chat, browser adds to coding', () => {
    for (const d of agentChat.debs) assert.ok(agentCoding.debs.includes(d));
    for (const d of agentCoding.debs) assert.ok(agentBrowser.debs.includes(d));
    assert.ok(agentCoding.debs.includes('git') && agentCoding.debs.includes('python3') && agentCoding.debs.includes('build-essential'));
    assert.ok(agentBrowser.debs.includes('chromium'));
    assert.deepEqual(agentBrowser.npmGlobal, [`openclaw@${OPENCLAW_VERSION}`, `typescript@${TYPESCRIPT_VERSION}`, `playwright-core@${PLAYWRIGHT_CORE_VERSION}`]);
    assert.equal(agentBrowser.manifest.env.PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH, '/usr/bin/chromium');
  });

  it('declare what they need, and each fits a tier', () => {
    const fits = (r: typeof agentChat) => Object.values(DEFAULT_TIERS).some((t) => t.cores >= r.manifest.minVcpus && t.memory >= r.manifest.minMemoryMib);
    for (const r of all) assert.ok(fits(r), `${r.name} fits some tier`);
    assert.equal(agentChat.manifest.minMemoryMib, DEFAULT_TIERS.basic.memory, 'agent-chat runs in the basic tier');
    for (const r of all) {
      assert.equal(r.manifest.agentPort, 18789);
      assert.deepEqual(r.manifest.readiness, { type: 'http', port: 18789, path: '/readyz' });
      assert.ok(r.manifest.expectedEnv.some((e) => e.name === 'ANTHROPIC_API_KEY' && e.secret));
    }
  });

  it('hash differently when a pin changes (so the image is rebuilt)', () => {
    const inputs = { runtimeHash: 'r', builderHash: 'b', fileHashes: Object.fromEntries((agentChat.files ?? []).map((f) => [f.from!, 'h'])) };
    const a = recipeHash(agentChat, inputs);
    assert.equal(recipeHash({ ...agentChat }, inputs), a);
    assert.notEqual(recipeHash({ ...agentChat, npmGlobal: ['openclaw@2026.9.5'] }, inputs), a);
  });

  it('the Dockerfiles pin the same versions', () => {
    const chat = readFileSync(path.join(dockerDir, 'agent-chat.Dockerfile'), 'utf8');
    assert.match(chat, new RegExp(`OPENCLAW_VERSION=${OPENCLAW_VERSION.replace(/\./g, '\\.')}`));
    assert.match(readFileSync(path.join(dockerDir, 'agent-coding.Dockerfile'), 'utf8'), new RegExp(`TYPESCRIPT_VERSION=${TYPESCRIPT_VERSION}`));
    assert.match(readFileSync(path.join(dockerDir, 'agent-browser.Dockerfile'), 'utf8'), new RegExp(`PLAYWRIGHT_CORE_VERSION=${PLAYWRIGHT_CORE_VERSION}`));
  });
});
