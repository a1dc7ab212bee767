import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_TIERS } from '@romulus/shared';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { configFromEnv, parseConfig } from './config.ts';

const minimal = { node: { url: 'http://127.0.0.1:7070', token: 't'.repeat(16) }, chain: { rpcUrl: 'http://127.0.0.1:8899', mint: '11111111111111111111111111111111' } };

describe('gateway config', () => {
  it('fills the defaults: document tiers, 5-minute window, 16 KiB bodies, localhost domain', () => {
    const c = parseConfig(minimal);
    assert.deepEqual(c.tiers, DEFAULT_TIERS);
    assert.equal(c.auth.windowMs, 300_000);
    assert.equal(c.limits.bodyLimitBytes, 16 * 1024);
    assert.equal(c.domain, 'localhost');
    assert.equal(c.limits.headersTimeoutMs, 10_000);
    assert.equal(c.limits.requestTimeoutMs, 60_000);
  });
  it("honours the config file's logLevel; ROMULUS_LOG_LEVEL overrides it; a bad level is refused", () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'romulus-gw-config-'));
    try {
      const file = path.join(dir, 'gateway.json');
      writeFileSync(file, JSON.stringify({ ...minimal, logLevel: 'warn' }));
      assert.equal(configFromEnv({ ROMULUS_GATEWAY_CONFIG: file }).logLevel, 'warn');
      assert.equal(configFromEnv({ ROMULUS_GATEWAY_CONFIG: file, ROMULUS_LOG_LEVEL: 'debug' }).logLevel, 'debug');
      assert.throws(() => parseConfig({ ...minimal, logLevel: 'loud' }), /logLevel/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('refuses unknown keys, bad URLs and empty tiers with the path in the message', () => {
    assert.throws(() => parseConfig({ ...minimal, colour: 'red' }), /invalid gateway config/);
    assert.throws(() => parseConfig({ ...minimal, node: { url: 'nope', token: 'x' } }), /node\.url/);
    assert.throws(() => parseConfig({ ...minimal, tiers: {} }), /tiers/);
    assert.throws(() => parseConfig({ ...minimal, store: { kind: 'mongo' } }), /store/);
  });
});
