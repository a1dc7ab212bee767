import type { ImageRecipe } from '../lib/index.ts';
import { RUNTIME_PREFIX } from '../lib/index.ts';

/**
 * "base": Debian bookworm minbase + ca-certificates, iproute2, procps, the /opt/romulus runtime and a tiny
 * HTTP server as its workload (answers GET / with hostname, uptime, nproc, memTotal). Every VM test of the
 * project boots this image; agent images build on the same runtime.
 */
export const baseRecipe: ImageRecipe = {
  name: 'base',
  version: '1.0.0',
  description: 'Debian bookworm minbase with the Romulus guest runtime and a hello HTTP server on :8080',
  debs: [],
  manifest: {
    minVcpus: 1,
    minMemoryMib: 128,
    diskMib: 256,
    agentPort: 8080,
    readiness: { type: 'http', port: 8080, path: '/' },
    command: [`${RUNTIME_PREFIX}/node/bin/node`, `${RUNTIME_PREFIX}/examples/hello-server.js`],
    user: 'agent',
    workdir: '/home/agent',
    env: { PORT: '8080', NODE_ENV: 'production' },
    expectedEnv: [],
  },
};
