import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configMismatches, KERNEL_FRAGMENT, parseConfig } from './build-kernel.ts';

describe('kernel config fragment', () => {
  it('parses set and unset options', () => {
    const m = parseConfig('CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=64\n# a comment\n');
    assert.deepEqual([...m], [['CONFIG_A', 'y'], ['CONFIG_B', 'n'], ['CONFIG_C', '64']]);
  });

  it('reports options the resolved config does not honour', () => {
    const fragment = 'CONFIG_A=y\nCONFIG_B=n\nCONFIG_C=64\nCONFIG_D=y\n';
    const resolved = 'CONFIG_A=y\nCONFIG_B=y\nCONFIG_C=32\n';
    assert.deepEqual(configMismatches(fragment, resolved), ['CONFIG_B: wanted n, got y', 'CONFIG_C: wanted 64, got 32', 'CONFIG_D: wanted y, got n']);
  });

  it('the repo fragment asks for what the guest boot contract needs', () => {
    const f = parseConfig(readFileSync(KERNEL_FRAGMENT, 'utf8'));
    for (const opt of ['PVH', 'VIRTIO_MMIO', 'VIRTIO_MMIO_CMDLINE_DEVICES', 'VIRTIO_BLK', 'VIRTIO_NET', 'VIRTIO_CONSOLE', 'EXT4_FS', 'OVERLAY_FS', 'IP_PNP', 'CGROUPS', 'MEMCG', 'SECCOMP_FILTER', 'USER_NS', 'ZRAM', 'SWAP', 'SERIAL_8250_CONSOLE', 'DEVTMPFS', 'X86_MPPARSE']) {
      assert.equal(f.get(`CONFIG_${opt}`), 'y', opt);
    }
    assert.equal(f.get('CONFIG_MODULES'), 'n');
    assert.equal(f.get('CONFIG_BLK_DEV_INITRD'), 'n');
    assert.ok(Number(f.get('CONFIG_NR_CPUS')) >= 64);
  });
});
