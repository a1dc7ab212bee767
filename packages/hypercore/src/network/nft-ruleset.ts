import type { VmNetworkSpec } from './types.ts';

/**
 * The node's nftables ruleset (pure text builder). Two tables named after the node:
 *
 *  bridge <t>: sees frames between bridge ports.
 *    - a TAP may send only IPv4 and ARP, and only from its own MAC + IP (anti-spoofing, `bindings` set);
 *    - frames from one VM's TAP to another VM's TAP are dropped (VM<->VM isolation).
 *  inet <t>: sees what reaches the host's IP stack from the bridge.
 *    - input from the bridge: only replies to connections the host opened (VMs cannot open host ports);
 *    - forward from the bridge (egress): dropped unless the destination is in `egress_allow`;
 *      forward towards the bridge: only replies. The node never enables ip_forward or NAT itself.
 */
export interface RulesetParams {
  table: string;
  bridge: string;
  egressAllow: string[];
  vms: VmNetworkSpec[];
}

export function q(s: string): string {
  if (!/^[A-Za-z0-9_.:-]+$/.test(s)) throw new Error(`unsafe nft token: ${s}`);
  return `"${s}"`;
}

export function bindingElement(vm: Pick<VmNetworkSpec, 'tap' | 'mac' | 'ip'>): string {
  return `${q(vm.tap)} . ${vm.mac} . ${vm.ip}`;
}

export function buildRuleset(p: RulesetParams): string {
  const taps = p.vms.map((v) => q(v.tap));
  const bindings = p.vms.map(bindingElement);
  const elems = (xs: string[]) => (xs.length ? ` elements = { ${xs.join(', ')} }` : '');
  const b = q(p.bridge);
  for (const c of p.egressAllow) if (!/^[\d./]+$/.test(c)) throw new Error(`bad egress CIDR: ${c}`);
  return `add table bridge ${p.table}
delete table bridge ${p.table}
add table inet ${p.table}
delete table inet ${p.table}
table bridge ${p.table} {
  set taps { type ifname;${elems(taps)} }
  set bindings { type ifname . ether_addr . ipv4_addr;${elems(bindings)} }
  chain prerouting {
    type filter hook prerouting priority -300; policy accept;
    iifname @taps ether type != { ip, arp } drop
    iifname @taps ether type ip iifname . ether saddr . ip saddr != @bindings drop
    iifname @taps ether type arp iifname . ether saddr . arp saddr ip != @bindings drop
  }
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname @taps oifname @taps drop
  }
}
table inet ${p.table} {
  set egress_allow { type ipv4_addr; flags interval;${elems(p.egressAllow)} }
  chain input {
    type filter hook input priority 0; policy accept;
    iifname ${b} ct state established,related accept
    iifname ${b} drop
  }
  chain forward {
    type filter hook forward priority 0; policy accept;
    iifname ${b} oifname ${b} drop
    iifname ${b} ct state established,related accept
    iifname ${b} ip daddr @egress_allow accept
    iifname ${b} drop
    oifname ${b} ct state established,related accept
    oifname ${b} drop
  }
}
`;
}

export function addVmElements(table: string, vm: VmNetworkSpec): string {
  return `add element bridge ${table} bindings { ${bindingElement(vm)} }\nadd element bridge ${table} taps { ${q(vm.tap)} }\n`;
}
