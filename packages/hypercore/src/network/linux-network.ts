import { runCommand, type RunCommand } from '../exec.ts';
import { addVmElements, buildRuleset, q } from './nft-ruleset.ts';
import type { NetworkPort, VmNetworkSpec } from './types.ts';

export interface LinuxNetworkOptions {
  bridge: string;
  gateway: string;
  prefix: number;
  table: string;
  tapPrefix: string;
  egressAllow: string[];
  run?: RunCommand;
}

interface NftSetElem {
  elem: unknown;
}

/** Host networking through iproute2 and nft (adapter of NetworkPort). Every method is idempotent. */
export class LinuxNetwork implements NetworkPort {
  readonly bridge: string;
  readonly gateway: string;
  readonly prefix: number;
  private readonly run: RunCommand;

  constructor(private readonly o: LinuxNetworkOptions) {
    this.bridge = o.bridge;
    this.gateway = o.gateway;
    this.prefix = o.prefix;
    this.run = o.run ?? runCommand;
  }

  private async linkExists(name: string): Promise<boolean> {
    const r = await this.run(['ip', 'link', 'show', 'dev', name], { allowFail: true });
    return r.code === 0;
  }

  async ensureHost(vms: VmNetworkSpec[]): Promise<void> {
    if (!(await this.linkExists(this.bridge))) {
      await this.run(['ip', 'link', 'add', 'name', this.bridge, 'type', 'bridge']);
    }
    const addr = `${this.gateway}/${this.prefix}`;
    const shown = await this.run(['ip', '-j', 'addr', 'show', 'dev', this.bridge]);
    const has = (JSON.parse(shown.stdout || '[]') as { addr_info?: { local: string; prefixlen: number }[] }[]).some((l) =>
      (l.addr_info ?? []).some((a) => a.local === this.gateway && a.prefixlen === this.prefix),
    );
    if (!has) await this.run(['ip', 'addr', 'add', addr, 'dev', this.bridge]);
    await this.run(['ip', 'link', 'set', 'dev', this.bridge, 'up']);
    await this.run(['nft', '-f', '-'], {
      input: buildRuleset({ table: this.o.table, bridge: this.bridge, egressAllow: this.o.egressAllow, vms }),
    });
  }

  async destroyHost(): Promise<void> {
    await this.run(['nft', 'delete', 'table', 'bridge', this.o.table], { allowFail: true });
    await this.run(['nft', 'delete', 'table', 'inet', this.o.table], { allowFail: true });
    for (const tap of await this.listTaps()) await this.deleteTap(tap);
    if (await this.linkExists(this.bridge)) await this.run(['ip', 'link', 'del', 'dev', this.bridge]);
  }

  tapExists(tap: string): Promise<boolean> {
    return this.linkExists(tap);
  }

  async createTap(spec: VmNetworkSpec): Promise<void> {
    if (!(await this.linkExists(spec.tap))) {
      await this.run(['ip', 'tuntap', 'add', 'dev', spec.tap, 'mode', 'tap']);
    }
    await this.run(['ip', 'link', 'set', 'dev', spec.tap, 'master', this.bridge]);
    // Port isolation: the kernel bridge itself refuses to forward between isolated ports (belt and braces
    // next to the nftables drop).
    await this.run(['bridge', 'link', 'set', 'dev', spec.tap, 'isolated', 'on']);
    await this.run(['ip', 'link', 'set', 'dev', spec.tap, 'up']);
  }

  async deleteTap(tap: string): Promise<void> {
    if (await this.linkExists(tap)) await this.run(['ip', 'link', 'del', 'dev', tap]);
  }

  async listTaps(): Promise<string[]> {
    const r = await this.run(['ip', '-j', 'link', 'show']);
    return (JSON.parse(r.stdout || '[]') as { ifname: string }[])
      .map((l) => l.ifname)
      .filter((n) => n.startsWith(this.o.tapPrefix) && n !== this.bridge);
  }

  private async setElems(set: 'taps' | 'bindings'): Promise<unknown[]> {
    const r = await this.run(['nft', '-j', 'list', 'set', 'bridge', this.o.table, set], { allowFail: true });
    if (r.code !== 0) return [];
    const doc = JSON.parse(r.stdout) as { nftables: { set?: { elem?: unknown[] } }[] };
    return doc.nftables.find((x) => x.set)?.set?.elem ?? [];
  }

  /** Binding elements as [tap, mac, ip]. */
  private async bindings(): Promise<[string, string, string][]> {
    return (await this.setElems('bindings')).map((e) => {
      const c = (e as { concat: string[] }).concat ?? (e as { elem: { concat: string[] } }).elem?.concat;
      return c as [string, string, string];
    });
  }

  async hasVmRules(spec: VmNetworkSpec): Promise<boolean> {
    const taps = (await this.setElems('taps')) as string[];
    const b = await this.bindings();
    return taps.includes(spec.tap) && b.some(([t, m, i]) => t === spec.tap && m === spec.mac && i === spec.ip);
  }

  async addVmRules(spec: VmNetworkSpec): Promise<void> {
    await this.run(['nft', '-f', '-'], { input: addVmElements(this.o.table, spec) });
  }

  async removeVmRules(spec: Pick<VmNetworkSpec, 'tap'>): Promise<void> {
    let script = '';
    const taps = (await this.setElems('taps')) as string[];
    if (taps.includes(spec.tap)) script += `delete element bridge ${this.o.table} taps { ${q(spec.tap)} }\n`;
    for (const [t, m, i] of await this.bindings()) {
      if (t === spec.tap) script += `delete element bridge ${this.o.table} bindings { ${q(t)} . ${m} . ${i} }\n`;
    }
    if (script) await this.run(['nft', '-f', '-'], { input: script });
  }

  async listRuleTaps(): Promise<string[]> {
    const taps = new Set((await this.setElems('taps')) as string[]);
    for (const [t] of await this.bindings()) taps.add(t);
    return [...taps];
  }
}
