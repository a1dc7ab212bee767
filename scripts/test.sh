#!/usr/bin/env bash
# The one test command: installs everything (apt, Node, npm, kernel, images) and runs every suite, unit
# first, then the end-to-end suites with real microVMs (KVM where a probe boot shows it works, TCG otherwise).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --images all
source scripts/lib/host-node.sh
use_host_node
echo "[test] typecheck (node $(node --version))"
node node_modules/typescript/bin/tsc -p tsconfig.json --noEmit # not npx: npm 11 warns about keys in a user npmrc
node --import tsx scripts/run-tests.ts "$@"
