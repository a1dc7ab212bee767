/**
 * Stress for the SQLite store at process exit: hundreds of short processes that open a SqliteStore on
 * one file, run statements and leave (normal exit after close, exit with the store open, process.exit
 * from a SIGTERM handler mid-work, a worker thread terminated mid-work). better-sqlite3 12 on Node 24
 * aborted in Statement::~Statement at exit; this is the check that the current pair does not.
 *   node --import tsx scripts/sqlite-exit-stress.ts [runs per mode, default 200] [concurrency, default 2]
 * Prints the count per mode and every failure; exits 1 if any run failed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildChild, stress } from '../packages/gateway/src/store/testing/sqlite-exit-stress.ts';

const runs = Number(process.argv[2] ?? 200);
const concurrency = Number(process.argv[3] ?? 2);
const { file, cleanup } = await buildChild();
const dir = mkdtempSync(path.join(tmpdir(), 'romulus-sqlite-exit-'));
const started = Date.now();
try {
  const { createRequire } = await import('node:module');
  const bs = createRequire(import.meta.url)('better-sqlite3/package.json') as { version: string };
  console.log(`[sqlite-exit] node ${process.version}, better-sqlite3 ${bs.version}: ${runs} runs per mode, ${concurrency} at a time`);
  const report = await stress({
    nodeBin: process.execPath, child: file, dir, runs, concurrency,
    onResult: (r, done, total) => {
      if (r.code !== 0 || r.signal || r.stderr) console.log(`[sqlite-exit] FAIL ${r.mode}: code ${r.code} signal ${r.signal}\n${r.stderr.trim()}`);
      if (done % 100 === 0 || done === total) console.log(`[sqlite-exit] ${done}/${total}`);
    },
  });
  for (const [mode, c] of Object.entries(report.byMode)) console.log(`[sqlite-exit] ${mode.padEnd(6)} ${c.runs} runs, ${c.failed} failed`);
  console.log(`[sqlite-exit] total ${report.runs} runs, ${report.failures.length} failed, ${((Date.now() - started) / 1000).toFixed(0)} s`);
  process.exitCode = report.failures.length === 0 ? 0 : 1;
} finally {
  cleanup();
  rmSync(dir, { recursive: true, force: true });
}
