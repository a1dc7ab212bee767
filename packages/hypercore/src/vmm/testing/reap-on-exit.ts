import { rmdirSync } from 'node:fs';
import { detectCgroups, VmCgroup, V1_CONTROLLERS } from '../cgroups.ts';
import { isProcessAlive } from '../proc.ts';
import type { RunningVm } from '../types.ts';
import path from 'node:path';

/**
 * VMMs are detached on purpose (they survive their parent). A test or script that is interrupted
 * (Ctrl-C, a runner's timeout SIGTERM) must not leave them running: every VM registered here gets a
 * synchronous SIGKILL when the process exits or is signalled, then its cgroup (and, if asked, the
 * test's own parent cgroup) is removed.
 */
interface Tracked {
  vm: RunningVm;
  cgroupParent?: string;
  removeParent?: boolean;
}
const tracked = new Map<number, Tracked>();
let installed = false;

/** Sleep without spinning, usable inside an 'exit' handler (no event loop there). */
function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function rmdirQuiet(p: string): void {
  try {
    rmdirSync(p);
  } catch {
    /* busy, absent or not ours */
  }
}

function reapAll(): void {
  const layout = detectCgroups();
  for (const { vm, cgroupParent, removeParent } of tracked.values()) {
    if (isProcessAlive(vm.pid, vm.pidStartTime)) {
      try {
        process.kill(vm.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
      for (let i = 0; i < 100 && isProcessAlive(vm.pid, vm.pidStartTime); i++) sleepSync(20);
    }
    if (layout && cgroupParent) {
      for (const d of new VmCgroup(layout, cgroupParent, vm.id).dirs()) rmdirQuiet(d);
      if (removeParent) {
        const parents = layout.version === 'v2' ? [path.join(layout.root, cgroupParent)] : V1_CONTROLLERS.map((c) => path.join(layout.root, c, cgroupParent));
        for (const d of parents) rmdirQuiet(d);
      }
    }
  }
  tracked.clear();
}

export function reapOnExit(vm: RunningVm, o: { cgroupParent?: string; removeParent?: boolean } = {}): RunningVm {
  tracked.set(vm.pid, { vm, ...o });
  if (!installed) {
    installed = true;
    process.on('exit', reapAll);
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      process.once(sig, () => {
        reapAll();
        process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
      });
    }
  }
  return vm;
}
