# agent-browser: agent-coding + Debian's Chromium and playwright-core, pointed at /usr/bin/chromium
# (headless; Chromium's own sandbox is off because the microVM is the sandbox). Same content as
# packages/images/src/recipes/agent-browser.ts. Build agent-coding first, then:
#   docker build -f docker/agent-browser.Dockerfile -t romulus/agent-browser:2026.9.6 .
ARG CODING_IMAGE=romulus/agent-coding:2026.9.6
FROM ${CODING_IMAGE}

ARG PLAYWRIGHT_CORE_VERSION=1.63.0

RUN apt-get update \
 && apt-get install -y --no-install-recommends chromium fonts-liberation \
 && rm -rf /var/lib/apt/lists/*
RUN npm install -g --no-fund --no-audit "playwright-core@${PLAYWRIGHT_CORE_VERSION}" && npm cache clean --force
COPY --chown=agent:agent src/recipes/files/openclaw-browser.json /home/agent/.openclaw/openclaw.json

ENV CHROME_PATH=/usr/bin/chromium \
    PLAYWRIGHT_CHROMIUM_EXECUTABLE_PATH=/usr/bin/chromium \
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
    NODE_PATH=/usr/local/lib/node_modules
