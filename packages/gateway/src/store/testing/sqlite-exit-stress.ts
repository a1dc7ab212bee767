/**
 * The SQLite exit stress: many short processes (sqlite-exit-child.ts, bundled by esbuild so each one
 * starts in tens of milliseconds, as the gateway's bundle does) that open a store on one shared file, run
 * statements and leave in one of the child's modes. A run fails when the process does not exit with code
 * 0 (a native abort shows as SIGABRT/SIGSEGV), or prints anything on stderr.
 * Used by sqlite-exit.test.ts (a few runs per mode) and scripts/sqlite-exit-stress.ts (hundreds).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';

export const EXIT_MODES = ['close', 'open', 'signal', 'worker'] as const;
export type ExitMode = (typeof EXIT_MODES)[number];

export interface RunResult {
  mode: ExitMode;
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

export interface StressReport {
  runs: number;
  failures: RunResult[];
  byMode: Record<string, { runs: number; failed: number }>;
}

const ROOT = path.resolve(import.meta.dirname, '../../../../..');

/**
 * Bundles the child into a fresh directory under node_modules/.cache (inside the checkout, so the
 * external better-sqlite3 resolves from the project's node_modules as it does for the real bundles).
 * Returns the bundle's path and a cleanup function.
 */
export async function buildChild(): Promise<{ file: string; dir: string; cleanup: () => void }> {
  const cache = path.join(ROOT, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(path.join(cache, 'romulus-sqlite-exit-'));
  const file = path.join(dir, 'child.mjs');
  await build({
    entryPoints: [path.join(import.meta.dirname, 'sqlite-exit-child.ts')],
    outfile: file,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    logLevel: 'warning',
    plugins: [
      {
        name: 'external-dependencies',
        setup(b) {
          b.onResolve({ filter: /^[^./]/ }, (args) =>
            args.path.startsWith('@romulus/') || args.path.startsWith('node:') ? undefined : { path: args.path, external: true },
          );
        },
      },
    ],
  });
  return { file, dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** One child process: waits for its `ready`, sends SIGTERM in signal mode, and reports how it ended. */
export function runOnce(nodeBin: string, child: string, db: string, mode: ExitMode): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(nodeBin, [child, db, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (mode === 'signal' && stdout.includes('ready\n')) p.kill('SIGTERM');
    });
    p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.once('error', reject);
    p.once('close', (code, signal) => {
      if (!stdout.includes('ready\n') && !stderr) stderr = 'exited before ready';
      resolve({ mode, code, signal, stderr });
    });
  });
}

/**
 * `runs` processes per mode, `concurrency` at a time, on one database file in `dir` (the modes
 * interleave, so some processes exit while another one writes).
 */
export async function stress(opts: { nodeBin: string; child: string; dir: string; runs: number; modes?: readonly ExitMode[]; concurrency?: number; onResult?: (r: RunResult, done: number, total: number) => void }): Promise<StressReport> {
  const modes = opts.modes ?? EXIT_MODES;
  const db = path.join(opts.dir, 'stress.db');
  const queue: ExitMode[] = [];
  for (let i = 0; i < opts.runs; i++) queue.push(...modes);
  const total = queue.length;
  const report: StressReport = { runs: 0, failures: [], byMode: Object.fromEntries(modes.map((m) => [m, { runs: 0, failed: 0 }])) };
  const lane = async (): Promise<void> => {
    for (let mode = queue.shift(); mode; mode = queue.shift()) {
      const r = await runOnce(opts.nodeBin, opts.child, db, mode);
      const failed = r.code !== 0 || r.signal !== null || r.stderr !== '';
      report.runs++;
      report.byMode[mode].runs++;
      if (failed) {
        report.byMode[mode].failed++;
        report.failures.push(r);
      }
      opts.onResult?.(r, report.runs, total);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, opts.concurrency ?? 2) }, lane));
  return report;
}
