import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readOrCreateNodeToken } from './node-token.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'romulus-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the node token is created once with mode 0600 and reused', () => {
  const nodeDir = path.join(dir, 'node');
  const a = readOrCreateNodeToken(nodeDir);
  assert.match(a, /^[0-9a-f]{64}$/);
  assert.equal(statSync(path.join(nodeDir, 'token')).mode & 0o777, 0o600);
  assert.equal(readOrCreateNodeToken(nodeDir), a);
});

test('a loosened token file is tightened; an empty one is refused', () => {
  const nodeDir = path.join(dir, 'loose');
  const token = readOrCreateNodeToken(nodeDir);
  chmodSync(path.join(nodeDir, 'token'), 0o644);
  assert.equal(readOrCreateNodeToken(nodeDir), token);
  assert.equal(statSync(path.join(nodeDir, 'token')).mode & 0o777, 0o600);
  writeFileSync(path.join(nodeDir, 'token'), '\n');
  assert.throws(() => readOrCreateNodeToken(nodeDir), /no usable node token/);
});
