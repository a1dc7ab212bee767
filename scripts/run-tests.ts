/**
 * Runs the test suites with node's own test runner (through tsx): every `*.test.ts` beside the code under
 * packages/, then each end-to-end suite under e2e/ in turn. One file at a time: the e2e suites share the
 * host's VM capacity. Exits non-zero if any suite failed.
 *   node --import tsx scripts/run-tests.ts            all
 *   node --import tsx scripts/run-tests.ts unit       unit tests only
 *   node --import tsx scripts/run-tests.ts e2e/node   one e2e suite
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');

function findTests(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

const suites: { name: string; files: string[] }[] = [];
suites.push({ name: 'unit', files: findTests(path.join(root, 'packages')) });
const e2eRoot = path.join(root, 'e2e');
/** Folders under e2e/ that are libraries for the suites, not suites (every other folder must hold tests). */
const E2E_SUPPORT_DIRS = new Set(['harness']);
for (const name of readdirSync(e2eRoot).sort()) {
  const dir = path.join(e2eRoot, name);
  if (statSync(dir).isDirectory() && !E2E_SUPPORT_DIRS.has(name)) suites.push({ name: `e2e/${name}`, files: findTests(dir) });
}

const wanted = process.argv.slice(2);
const selected = wanted.length ? suites.filter((s) => wanted.includes(s.name)) : suites;
if (wanted.length && selected.length !== wanted.length) {
  console.error(`unknown suite in ${wanted.join(', ')}; known: ${suites.map((s) => s.name).join(', ')}`);
  process.exit(2);
}

const failed: string[] = [];
/** Failed tests of every suite (from failure-digest-reporter.mjs), reprinted at the end. */
const digest: { suite: string; name: string; file?: string; failureType?: string; message: string; stack: string[] }[] = [];
const digestDir = mkdtempSync(path.join(tmpdir(), 'romulus-test-digest-'));
for (const suite of selected) {
  if (suite.files.length === 0) {
    console.error(`[test] suite ${suite.name} has no test files`);
    failed.push(suite.name);
    continue;
  }
  console.log(`\n[test] ${suite.name}: ${suite.files.length} files`);
  const digestFile = path.join(digestDir, `${suite.name.replace(/\W+/g, '-')}.jsonl`);
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      '--test-concurrency=1',
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      `--test-reporter=${path.join(root, 'scripts', 'failure-digest-reporter.mjs')}`,
      `--test-reporter-destination=${digestFile}`,
      ...suite.files.map((f) => path.relative(root, f)),
    ],
    { cwd: root, stdio: 'inherit', env: process.env },
  );
  if (r.status !== 0) failed.push(suite.name);
  if (existsSync(digestFile)) {
    for (const line of readFileSync(digestFile, 'utf8').split('\n').filter(Boolean)) digest.push({ suite: suite.name, ...JSON.parse(line) });
  }
}
rmSync(digestDir, { recursive: true, force: true });
if (failed.length) {
  console.error(`\n[test] ${digest.length} failed tests:`);
  for (const f of digest) {
    // The file only: under tsx the reported line is not the source line (the stack below has it).
    const where = f.file ? path.relative(root, f.file) : '?';
    console.error(`\n[test] ✖ ${f.suite} › ${f.name} (${where})${f.failureType ? ` [${f.failureType}]` : ''}`);
    console.error(f.message.split('\n').map((l) => `    ${l}`).join('\n'));
    for (const s of f.stack) console.error(`      ${s}`);
  }
  console.error(`\n[test] FAILED suites: ${failed.join(', ')}`);
  process.exit(1);
}
console.log(`\n[test] all ${selected.length} suites passed`);
