import path from 'node:path';

/**
 * Where things live on a host. Everything is under one data dir (default /var/lib/romulus, override with
 * ROMULUS_DATA_DIR) and one cache dir (default /var/cache/romulus, override with ROMULUS_CACHE_DIR).
 *
 *   <data>/images/kernel/vmlinux           guest kernel (ELF, for qemu microvm and firecracker)
 *   <data>/images/kernel/bzImage
 *   <data>/images/<name>/rootfs.ext4       read-only base root filesystem of image <name>
 *   <data>/images/<name>/manifest.json     its ImageManifest
 *   <data>/node/vms/<id>/                  per-VM state: vm.json, disk.ext4, agent.sock, console.log, ...
 *   <data>/gateway/romulus.db              gateway's SQLite store (embedded default)
 *   <cache>/...                            build caches (kernel build tree, mmdebstrap tarballs, npm pkgs)
 */
export function dataDir(): string {
  return process.env.ROMULUS_DATA_DIR ?? '/var/lib/romulus';
}
export function cacheDir(): string {
  return process.env.ROMULUS_CACHE_DIR ?? '/var/cache/romulus';
}
export function imagesDir(): string {
  return process.env.ROMULUS_IMAGES_DIR ?? path.join(dataDir(), 'images');
}
export function kernelPath(): string {
  return process.env.ROMULUS_KERNEL ?? path.join(imagesDir(), 'kernel', 'vmlinux');
}
