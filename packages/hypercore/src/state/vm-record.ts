import type { Vm } from '@romulus/shared';
import type { RunningVm } from '../vmm/types.ts';

/**
 * What the node persists per VM (vm.json): the public Vm plus what it needs to find its pieces again.
 * Never any secret value: only `secretNames` (in Vm).
 */
export interface VmRecord extends Vm {
  tap?: string;
  mac?: string;
  /** The VMM process as the driver reported it (pid + start time guard against pid reuse). */
  vmm?: RunningVm;
  rootfsPath: string;
}

export function publicVm(r: VmRecord): Vm {
  const { tap: _t, mac: _m, vmm: _v, rootfsPath: _r, phase, ...vm } = r;
  // vm.json keeps the last phase of a VM that failed on the way (where it stopped); the API shows a phase
  // only while the VM is on its way to running.
  return structuredClone(phase && (r.state === 'creating' || r.state === 'starting') ? { ...vm, phase } : vm);
}
