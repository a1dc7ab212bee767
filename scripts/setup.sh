#!/usr/bin/env bash
# Installs everything Romulus needs on this host and builds the guest kernel and images (cached by content
# hash under ${ROMULUS_CACHE_DIR:-/var/cache/romulus}; a second run reuses them).
#   scripts/setup.sh                 base image only (what the node's own tests need)
#   scripts/setup.sh --images all    base + agent-chat, agent-coding, agent-browser
set -euo pipefail
cd "$(dirname "$0")/.."
images="base"
while [ $# -gt 0 ]; do
  case "$1" in
    --images) images="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
node_ok=$(node -e 'const [a,b]=process.versions.node.split(".").map(Number); console.log(a>20||(a===20&&b>=18)?1:0)' 2>/dev/null || echo 0)
if [ "$node_ok" != 1 ]; then
  echo "[setup] Node.js >= 20.18 with npm is needed (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi
bash scripts/install-system.sh
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[npm] installing dependencies"
  npm ci --no-audit --no-fund
else
  echo "[npm] dependencies up to date"
fi
node --import tsx packages/images/src/cli.ts build --images "$images"
