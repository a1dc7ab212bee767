# agent-coding: agent-chat + git, Python 3, build essentials and TypeScript (tsc), workspace in the agent's
# home. Same content as packages/images/src/recipes/agent-coding.ts. Build agent-chat first, then:
#   docker build -f docker/agent-coding.Dockerfile -t romulus/agent-coding:2026.9.6 .
ARG CHAT_IMAGE=romulus/agent-chat:2026.9.6
FROM ${CHAT_IMAGE}

ARG TYPESCRIPT_VERSION=5.9.3

RUN apt-get update \
 && apt-get install -y --no-install-recommends git python3 python3-venv build-essential openssh-client \
 && rm -rf /var/lib/apt/lists/*
RUN npm install -g --no-fund --no-audit "typescript@${TYPESCRIPT_VERSION}" && npm cache clean --force \
 && tsc --version
