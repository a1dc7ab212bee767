/** What the VM manager needs from host networking (the port; linux-network.ts is the adapter). */
export interface VmNetworkSpec {
  vmId: string;
  tap: string;
  mac: string;
  ip: string;
}

export interface NetworkPort {
  readonly bridge: string;
  /** Host address on the bridge (the VMs' gateway) and the subnet's prefix length. */
  readonly gateway: string;
  readonly prefix: number;
  /**
   * Create the bridge and the node's nftables tables (idempotent). `vms` are the VMs that must keep their
   * rules (adopted after a restart): the ruleset is replaced atomically with their entries already in it.
   */
  ensureHost(vms: VmNetworkSpec[]): Promise<void>;
  /** Remove the node's tables and the bridge (clean shutdown option, test teardown). */
  destroyHost(): Promise<void>;
  tapExists(tap: string): Promise<boolean>;
  createTap(spec: VmNetworkSpec): Promise<void>;
  deleteTap(tap: string): Promise<void>;
  /** TAP devices on this host whose name carries the node's prefix. */
  listTaps(): Promise<string[]>;
  hasVmRules(spec: VmNetworkSpec): Promise<boolean>;
  addVmRules(spec: VmNetworkSpec): Promise<void>;
  removeVmRules(spec: Pick<VmNetworkSpec, 'tap'>): Promise<void>;
  /** TAP names that currently have rule entries (to find orphans). */
  listRuleTaps(): Promise<string[]>;
}
