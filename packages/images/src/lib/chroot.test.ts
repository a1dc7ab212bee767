import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { assertNothingMounted, cleanStaleWorkDirs } from './chroot.ts';

/** A pid that is not running (pid_max is below 2^22 on Linux). */
function deadPid(): number {
  for (let p = 4_000_000; ; p++) {
    try {
      process.kill(p, 0);
    } catch {
      return p;
    }
  }
}

describe('stale build work trees', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'romulus-work-test-'));
  after(() => {
    for (const m of readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m?.startsWith(root))) {
      try { execFileSync('umount', ['-l', m]); } catch { /* already gone */ }
    }
    rmSync(root, { recursive: true, force: true });
  });

  it('unmounts and removes the tree of a dead build, keeps a live one', async () => {
    const dead = path.join(root, `base-${deadPid()}`);
    const live = path.join(root, `base-${process.pid}`);
    mkdirSync(path.join(dead, 'root', 'proc'), { recursive: true });
    mkdirSync(path.join(live, 'root'), { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'romulus-test', path.join(dead, 'root', 'proc')]);
    assert.throws(() => assertNothingMounted(dead), /still mounted/);
    await cleanStaleWorkDirs(root);
    assert.equal(existsSync(dead), false);
    assert.equal(existsSync(live), true);
    assert.doesNotThrow(() => assertNothingMounted(root));
  });
});
