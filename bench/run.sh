#!/usr/bin/env bash
# Runs every benchmark in bench/ and prints its figures. Needs the images built (scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/host-node.sh
use_host_node
for b in bench/*.ts; do
  echo "=== $b"
  node --import tsx "$b"
done
