#!/usr/bin/env bash
# The README's main command: from a fresh Debian machine (as root) to a running single-node Romulus stack
# and a funded wallet.
#   1. scripts/setup.sh --images all: Debian packages, the host Node, npm dependencies, the bundles and
#      `romulus` on the PATH, guest kernel, base + agent images (cached: a second run reuses everything)
#   2. a wallet keypair at ~/.config/solana/id.json (or $ROMULUS_KEYPAIR) if there is none; an existing one
#      is used as it is, never overwritten
#   3. `romulus up` in the foreground: local chain, node daemon, gateway; the wallet is topped up to the
#      `pro` tier's holding on the local chain (only the missing difference is minted); Ctrl-C stops it all.
# Extra arguments go to `romulus up` (e.g. --gateway-port 9080). ROMULUS_SETUP_IMAGES=base skips the agent
# images for a quicker first start (then only the "base" image is spawnable).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "[start] run as root: the node daemon creates a bridge, TAP devices, nftables rules and cgroups" >&2
  exit 1
fi
bash scripts/setup.sh --images "${ROMULUS_SETUP_IMAGES:-all}"
source scripts/lib/host-node.sh
use_host_node

keypair="${ROMULUS_KEYPAIR:-$HOME/.config/solana/id.json}"
if [ -f "$keypair" ]; then
  echo "[start] wallet $(./bin/romulus --keypair "$keypair" wallet) (keypair $keypair)"
else
  echo "[start] creating a wallet keypair at $keypair"
  ./bin/romulus --keypair "$keypair" keygen
fi

echo "[start] starting the stack (Ctrl-C stops every agent, then the stack)"
exec ./bin/romulus --keypair "$keypair" up --fund-tier "${ROMULUS_FUND_TIER:-pro}" "$@"
