export * from './types.ts';
export { QemuDriver, type QemuDriverOptions } from './qemu.ts';
export { FirecrackerDriver, type FirecrackerDriverOptions } from './firecracker.ts';
export {
  detectCgroups,
  VmCgroup,
  vmmOverheadMib,
  removeCgroupParent,
  cgroupExecArgv,
  realCgroupFs,
  type CgroupFs,
  type CgroupLayout,
  type CgroupLimits,
  type CgroupVersion,
} from './cgroups.ts';
export { runDriverSuite, type DriverSuiteEnv } from './driver-suite.ts';
export { isProcessAlive, pidStartTime, processPssKib } from './proc.ts';
export { createDriver, type DriverName, type CreateDriverOptions } from './create-driver.ts';
