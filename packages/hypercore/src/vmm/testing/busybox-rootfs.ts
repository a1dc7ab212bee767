import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * A tiny ext4 root disk (busybox-static + a shell init) for booting the guest kernel without the base
 * image: init prints one marker line with what the guest sees (vCPUs, memory, which disk is read-only)
 * to the serial console, then prints `tick <n>` every second. Used by the kernel-only boot test and the measurement script.
 */
export const BUSYBOX_MARKER = /ROMULUS-PROBE (.*) END/;
export const BUSYBOX_CMDLINE = 'console=ttyS0 reboot=k panic=-1 root=/dev/vda ro rootfstype=ext4 init=/init';

export function buildBusyboxRootfs(workDir: string, busybox = '/bin/busybox'): string {
  const root = path.join(workDir, 'bbroot');
  for (const d of ['bin', 'proc', 'sys', 'dev']) mkdirSync(path.join(root, d), { recursive: true });
  copyFileSync(busybox, path.join(root, 'bin/busybox'));
  chmodSync(path.join(root, 'bin/busybox'), 0o755);
  const bb = '/bin/busybox';
  writeFileSync(
    path.join(root, 'init'),
    [
      `#!${bb} sh`,
      `${bb} mount -t proc proc /proc`,
      `${bb} mount -t sysfs sys /sys`,
      `echo "ROMULUS-PROBE nproc=$(${bb} nproc) $(${bb} grep MemTotal /proc/meminfo | ${bb} tr -s " ") vda_ro=$(${bb} cat /sys/block/vda/ro) vdb_ro=$(${bb} cat /sys/block/vdb/ro) END"`,
      // A heartbeat on the console proves the guest is running (e.g. after a snapshot restore).
      'i=0; while true; do i=$((i+1)); echo "tick $i"; ' + `${bb} sleep 1; done`,
      '',
    ].join('\n'),
  );
  chmodSync(path.join(root, 'init'), 0o755);
  const img = path.join(workDir, 'busybox-rootfs.ext4');
  execFileSync('mkfs.ext4', ['-q', '-F', '-d', root, img, '16M'], { stdio: 'ignore' });
  return img;
}
