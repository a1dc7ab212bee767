import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { run } from '../program.ts';
import { readStackFile, removeStackFile, stackFilePath, writeStackFile, type StackFile } from './stack-file.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'romulus-stackfile-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const sample = (pid: number): StackFile => ({
  version: 1,
  pid,
  startedAt: 1,
  dataDir: dir,
  gateway: { url: 'http://127.0.0.1:8080' },
  node: { url: 'http://127.0.0.1:7070' },
  chain: { url: 'http://127.0.0.1:8899', mint: 'M', stateDir: path.join(dir, 'chain') },
  domain: 'localhost',
});

async function cli(args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await run(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), env: { HOME: dir, ROMULUS_DATA_DIR: dir } });
  return { code, stdout, stderr };
}

test('the stack file round-trips and is removed only by the process it describes', () => {
  writeStackFile(dir, sample(4242));
  assert.equal(readStackFile(dir)?.pid, 4242);
  removeStackFile(dir, 1);
  assert.ok(existsSync(stackFilePath(dir)), 'another pid does not remove it');
  removeStackFile(dir, 4242);
  assert.equal(readStackFile(dir), null);
});

test('a corrupt stack file reads as no stack', () => {
  writeFileSync(stackFilePath(dir), '{not json');
  assert.equal(readStackFile(dir), null);
  rmSync(stackFilePath(dir));
});

test('the gateway URL comes from the running stack when no flag or env names one', async () => {
  writeStackFile(dir, { ...sample(process.pid), gateway: { url: 'http://127.0.0.1:9' } });
  const r = await cli(['--json', 'tiers']);
  assert.equal(r.code, 3);
  assert.match(JSON.parse(r.stdout).error.message, /127\.0\.0\.1:9\//);
  rmSync(stackFilePath(dir));
});

test('down with no stack, and with the stack file of a dead process, succeeds and tidies up', async () => {
  const none = await cli(['--json', 'down']);
  assert.equal(none.code, 0);
  assert.equal(JSON.parse(none.stdout).running, false);
  // A pid that cannot exist (above the kernel's pid_max default range).
  writeStackFile(dir, sample(2 ** 22 + 17));
  const stale = await cli(['down']);
  assert.equal(stale.code, 0);
  assert.match(stale.stdout, /removed the stale stack file/);
  assert.equal(readStackFile(dir), null);
});
