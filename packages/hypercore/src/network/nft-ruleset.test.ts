import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRuleset } from './nft-ruleset.ts';

const vm = { vmId: 'a', tap: 'rt12ab0011', mac: '02:11:22:33:44:55', ip: '10.9.0.2' };

test('ruleset: isolation, anti-spoofing, host input, default-deny egress', () => {
  const r = buildRuleset({ table: 'romulus_n1', bridge: 'rmbr0', egressAllow: [], vms: [vm] });
  assert.match(r, /iifname @taps oifname @taps drop/);
  assert.match(r, /iifname \. ether saddr \. ip saddr != @bindings drop/);
  assert.match(r, /arp saddr ip != @bindings drop/);
  assert.match(r, /iifname "rmbr0" ct state established,related accept\n\s+iifname "rmbr0" drop/);
  assert.match(r, /set egress_allow \{ type ipv4_addr; flags interval; \}/);
  assert.match(r, /"rt12ab0011" \. 02:11:22:33:44:55 \. 10\.9\.0\.2/);
  assert.match(r, /^add table bridge romulus_n1\ndelete table bridge romulus_n1/);
});

test('ruleset: allow-list and unsafe names', () => {
  const r = buildRuleset({ table: 't', bridge: 'br', egressAllow: ['1.2.3.0/24'], vms: [] });
  assert.match(r, /elements = \{ 1\.2\.3\.0\/24 \}/);
  assert.throws(() => buildRuleset({ table: 't', bridge: 'br"; flush ruleset', egressAllow: [], vms: [] }), /unsafe/);
});
