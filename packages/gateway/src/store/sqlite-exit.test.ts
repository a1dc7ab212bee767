import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, it } from 'node:test';
import { buildChild, stress } from './testing/sqlite-exit-stress.ts';

/**
 * Processes that use the SQLite store exit cleanly however they leave: better-sqlite3 12 on Node 24
 * aborted at exit (Statement::~Statement during environment teardown), at random. A few runs per mode
 * here; scripts/sqlite-exit-stress.ts runs hundreds.
 */
const dir = mkdtempSync(path.join(tmpdir(), 'romulus-sqlite-exit-test-'));
let child: Awaited<ReturnType<typeof buildChild>>;
before(async () => {
  child = await buildChild();
});
after(() => {
  child?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

it('close, open, process.exit from a signal handler, terminated worker: every process exits 0, silent', { timeout: 120_000 }, async () => {
  const report = await stress({ nodeBin: process.execPath, child: child.file, dir, runs: 10 });
  assert.deepEqual(report.failures, []);
  assert.equal(report.runs, 40);
});
