export { startNode, type RunningNode, type NodeOverrides } from './node.ts';
export { parseConfig, loadConfigFile, ConfigError, type NodeConfig, type NodeConfigInput } from './config.ts';
export type { VmmDriver, RunningVm, VmLaunchSpec } from './vmm/types.ts';
