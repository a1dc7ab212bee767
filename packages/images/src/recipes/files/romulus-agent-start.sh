#!/bin/sh
# Entry point of the agent images (agent-chat, agent-coding, agent-browser), run by the guest agent as
# the workload. It starts as root only to do what needs root, then drops to the unprivileged `agent` user
# for the agent itself:
#   1. compressed swap on zram (lz4): OpenClaw idles at ~0.7-0.9 GiB anonymous memory, which does not fit
#      a 1 GiB guest next to the kernel and the guest agent; its cold heap compresses well;
#   2. the workspace on the VM's own disk (the overlay's upper layer is /dev/vdb);
#   3. the OpenClaw gateway token: OPENCLAW_GATEWAY_TOKEN if the caller set one, else the agent's access
#      token (ROMULUS_ACCESS_TOKEN, delivered by the gateway as a secret over the guest channel), so one token
#      opens both the Romulus ingress and OpenClaw. It refuses to start OpenClaw without a token.
# Secrets arrive as environment variables only; nothing here writes them to disk or prints them.
set -eu

AGENT_USER=agent
AGENT_HOME=/home/agent

say() { echo "romulus-agent-start: $*" >&2; }

setup_zram() {
  if [ "${ROMULUS_ZRAM:-on}" = off ]; then say "zram disabled (ROMULUS_ZRAM=off)"; return 0; fi
  if [ ! -e /sys/block/zram0/disksize ]; then say "no zram in this kernel: running without compressed swap"; return 0; fi
  if grep -q '^/dev/zram0 ' /proc/swaps; then return 0; fi
  mem_kib=$(sed -n 's/^MemTotal: *\([0-9]*\) kB$/\1/p' /proc/meminfo)
  # As large as RAM: at lz4's ~3:1 on a JS heap a full device costs about a third of RAM.
  size_kib=${ROMULUS_ZRAM_KIB:-$mem_kib}
  echo lz4 > /sys/block/zram0/comp_algorithm 2>/dev/null || say "lz4 unavailable, using the kernel's default compressor"
  echo "${size_kib}K" > /sys/block/zram0/disksize
  mkswap /dev/zram0 > /dev/null
  swapon -p 100 /dev/zram0
  # Swap cold anonymous pages (compressed in RAM) rather than drop the page cache that holds code; no
  # readahead on zram (every page is a separate decompression).
  echo 100 > /proc/sys/vm/swappiness
  echo 0 > /proc/sys/vm/page-cluster
  say "zram swap on: $((size_kib / 1024)) MiB (RAM $((mem_kib / 1024)) MiB)"
}

# The Romulus ingress is this agent's auth boundary: it checks the access token, strips any client-made
# X-Forwarded-* and adds none, so OpenClaw sees plain requests from the host's end of the VM link and checks
# its own token. Do not set gateway.trustedProxies: OpenClaw then demands forwarded client attribution from
# that address and refuses every request without it (403 proxy_attribution_required), and loopback clients
# of the local stack even with it.

if [ "$(id -u)" = 0 ]; then
  setup_zram || say "zram setup failed; continuing without compressed swap"
  mkdir -p "$AGENT_HOME/workspace"
  chown "$AGENT_USER:$AGENT_USER" "$AGENT_HOME" "$AGENT_HOME/workspace"
fi

if [ -z "${OPENCLAW_GATEWAY_TOKEN:-}" ]; then
  if [ -n "${ROMULUS_ACCESS_TOKEN:-}" ]; then
    OPENCLAW_GATEWAY_TOKEN=$ROMULUS_ACCESS_TOKEN
  else
    say "no OPENCLAW_GATEWAY_TOKEN and no ROMULUS_ACCESS_TOKEN: refusing to start an unauthenticated gateway"
    exit 64
  fi
fi
export OPENCLAW_GATEWAY_TOKEN
unset ROMULUS_ACCESS_TOKEN

export HOME="$AGENT_HOME" USER="$AGENT_USER" LOGNAME="$AGENT_USER"
cd "$AGENT_HOME/workspace"
if [ "$(id -u)" = 0 ]; then
  exec setpriv --reuid="$AGENT_USER" --regid="$AGENT_USER" --init-groups --inh-caps=-all -- "$@"
fi
exec "$@"
