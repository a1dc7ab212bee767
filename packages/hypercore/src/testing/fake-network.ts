import type { NetworkPort, VmNetworkSpec } from '../network/types.ts';

/** In-memory NetworkPort for unit tests: records what exists so tests can assert nothing is left. */
export class FakeNetwork implements NetworkPort {
  readonly bridge = 'fakebr0';
  readonly gateway = '10.213.0.1';
  readonly prefix = 24;
  readonly taps = new Set<string>();
  readonly rules = new Map<string, VmNetworkSpec>();
  hostUp = false;
  failCreateTap = false;

  async ensureHost(vms: VmNetworkSpec[]): Promise<void> {
    this.hostUp = true;
    this.rules.clear();
    for (const v of vms) this.rules.set(v.tap, v);
  }
  async destroyHost(): Promise<void> {
    this.hostUp = false;
    this.rules.clear();
    this.taps.clear();
  }
  async tapExists(tap: string): Promise<boolean> {
    return this.taps.has(tap);
  }
  async createTap(spec: VmNetworkSpec): Promise<void> {
    if (this.failCreateTap) throw new Error('fake: cannot create tap');
    this.taps.add(spec.tap);
  }
  async deleteTap(tap: string): Promise<void> {
    this.taps.delete(tap);
  }
  async listTaps(): Promise<string[]> {
    return [...this.taps];
  }
  async hasVmRules(spec: VmNetworkSpec): Promise<boolean> {
    const r = this.rules.get(spec.tap);
    return !!r && r.ip === spec.ip && r.mac === spec.mac;
  }
  async addVmRules(spec: VmNetworkSpec): Promise<void> {
    this.rules.set(spec.tap, spec);
  }
  async removeVmRules(spec: Pick<VmNetworkSpec, 'tap'>): Promise<void> {
    this.rules.delete(spec.tap);
  }
  async listRuleTaps(): Promise<string[]> {
    return [...this.rules.keys()];
  }
}
