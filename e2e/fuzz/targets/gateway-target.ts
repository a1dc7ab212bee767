/**
 * The gateway under fuzz, in its own process: a real gateway (real SQLite store, real local chain for the
 * balances) with the gateway's fake node (over loopback HTTP), whose VMs run moments after they are created
 * and point at a real upstream HTTP + WebSocket server here (the agent behind agent URLs). No VM boots.
 */
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import { startLocalChain } from '@romulus/chain';
import { startGateway } from '@romulus/gateway';
import { createLogger } from '@romulus/shared';
import { FakeNode, testImage } from '@romulus/gateway/testing';
import { serveCalls } from '../lib/target.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'romulus-fuzz-gw-'));
let upstreamPort = 0;
/** The agent's own answers carry this header: the ingress suite does not hold them to the gateway's envelope. */
const MARK = 'x-fuzz-upstream';
const upstream = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'text/plain', [MARK]: '1' });
    res.end(`agent saw ${req.method} ${req.url}`);
  });
});
upstream.on('clientError', (_err, socket) => socket.end(`HTTP/1.1 400 Bad Request\r\n${MARK}: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`));
const wss = new WebSocketServer({ noServer: true });
upstream.on('upgrade', (req, socket, head) => {
  socket.on('error', () => socket.destroy());
  if (req.headers['sec-websocket-version'] !== '13' || !/^[A-Za-z0-9+/]{22}==$/.test(req.headers['sec-websocket-key'] ?? '')) {
    socket.end(`HTTP/1.1 400 Bad Request\r\n${MARK}: 1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    ws.on('error', () => ws.terminate()); // garbage frames from the fuzz: the agent hangs up, as a real one would
    ws.on('message', (m) => ws.send(`echo:${m}`));
  });
});
/** The fake node's VMs come up by themselves in moments and answer on the upstream's port. */
const node = new FakeNode([testImage('base'), testImage('agent-chat', 1, 1024), testImage('heavy', 4, 4096)], {
  boot: 'auto',
  stepMs: 1,
  agent: () => ({ ip: '127.0.0.1', port: upstreamPort }),
});

let gw: Awaited<ReturnType<typeof startGateway>>;
let chain: Awaited<ReturnType<typeof startLocalChain>>;

serveCalls({
  async init(p: { fund: Record<string, number> }) {
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
    upstreamPort = (upstream.address() as { port: number }).port;
    await node.start();
    const log = createLogger('fuzz-gateway', { level: 'warn' });
    chain = await startLocalChain({ port: 0, stateDir: path.join(dir, 'chain'), log: log.child({ c: 'chain' }) as never });
    for (const [addr, amount] of Object.entries(p.fund)) await chain.fund(addr, amount);
    gw = await startGateway(
      {
        listen: { host: '127.0.0.1', port: 0 },
        domain: 'localhost',
        node: { url: node.url, token: node.token, id: node.nodeId },
        chain: { rpcUrl: chain.url, mint: chain.mint },
        store: { kind: 'sqlite', path: path.join(dir, 'gateway.db') },
        lifecycle: { reconcileIntervalMs: 200, missingVmGraceMs: 5_000, startTimeoutMs: 60_000, nodeTimeoutMs: 5_000 },
        limits: {
          bodyLimitBytes: 16 * 1024,
          perIp: { burst: 1_000_000, perSec: 1_000_000 },
          perWallet: { burst: 1_000_000, perSec: 1_000_000 },
          headersTimeoutMs: 2_000,
          requestTimeoutMs: 4_000,
        },
        logLevel: 'warn',
      },
      { log },
    );
    return { port: gw.port, upstreamPort };
  },
  /** What the store and the fake node hold for these wallets. */
  async snapshot(p: { wallets: string[] }) {
    const wallets: Record<string, { agents: unknown[]; lock: string | null; spawnCount: number }> = {};
    for (const w of p.wallets) {
      wallets[w] = { agents: await gw.store.listAgentsByWallet(w), lock: await gw.store.getWalletLock(w), spawnCount: await gw.store.getSpawnCount(w) };
    }
    const active = await gw.store.listAgentsInStates(['starting', 'running', 'stopping']);
    return { wallets, active: active.map((a) => a.id), vms: [...node.vms.values()].map((v) => ({ id: v.id, state: v.state })) };
  },
  async close() {
    setImmediate(async () => {
      await gw?.close();
      await node.close();
      await chain?.stop();
      for (const c of wss.clients) c.terminate(); // wss.close() leaves its clients open
      wss.close();
      upstream.closeAllConnections();
      await new Promise((r) => upstream.close(r));
      rmSync(dir, { recursive: true, force: true });
      process.exit(0);
    });
    return null;
  },
});
