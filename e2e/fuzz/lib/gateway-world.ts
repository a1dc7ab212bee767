import path from 'node:path';
import { TestWallet } from '@romulus/gateway/testing';
import { toRaw, jsonSpec, type Spec } from './generators.ts';
import type { Rng } from './prng.ts';
import { RawClient, type RawResponse } from './raw-http.ts';
import { startTarget, type Target } from './target.ts';

/** The gateway target and the wallets the suites sign with. */
export interface GatewayWorld {
  target: Target;
  port: number;
  client: RawClient;
  /** Signs nothing in the fuzz run: holds the agent the ingress suite aims at. */
  owner: TestWallet;
  /** Funded (standard tier), spawn and stop freely. */
  rich: TestWallet[];
  /** Below the lowest tier. */
  poor: TestWallet;
  /** Never funded (no token account at all). */
  broke: TestWallet;
  /** The owner's running agent. */
  agent: { id: string; token: string };
  host(id: string): string;
  signedHeaders(r: Rng, w: TestWallet): [string, string][];
  /** One well-formed request, sent and answered (setup and cleanup, not the fuzz itself). */
  request(method: string, p: string, opts?: { wallet?: TestWallet; body?: unknown; host?: string }): Promise<RawResponse>;
  close(): Promise<number | null>;
}

export async function startGatewayWorld(): Promise<GatewayWorld> {
  const owner = new TestWallet();
  const rich = [new TestWallet(), new TestWallet()];
  const poor = new TestWallet();
  const broke = new TestWallet();
  const fund: Record<string, number> = { [owner.address]: 600_000, [rich[0].address]: 600_000, [rich[1].address]: 600_000, [poor.address]: 50 };
  const { target, ready } = await startTarget(path.join(import.meta.dirname, '..', 'targets', 'gateway-target.ts'), { fund });
  const port = ready.port as number;
  const client = new RawClient(port);
  const world: GatewayWorld = {
    target,
    port,
    client,
    owner,
    rich,
    poor,
    broke,
    agent: { id: '', token: '' },
    host: (id) => `${id}.localhost:${port}`,
    signedHeaders(r, w) {
      const form = r.weighted([
        [6, 'raw'],
        [1, 'cli'],
        [1, 'v0'],
        [1, 'v1'],
      ] as const);
      return Object.entries(w.headers({ form, encoding: r.bool(0.8) ? 'base58' : 'base64' }));
    },
    async request(method, p, opts = {}) {
      const spec: Spec = jsonSpec(method, p, opts.host ?? `localhost:${port}`, opts.wallet ? Object.entries(opts.wallet.headers()) : [], opts.body);
      const out = await client.send(toRaw(spec), false);
      if (out.kind !== 'response') throw new Error(`${method} ${p}: ${out.kind}`);
      return out.res;
    },
    close: () => {
      client.close();
      return target.close();
    },
  };
  const spawned = await world.request('POST', '/spawn', { wallet: owner, body: { agent_type: 'base' } });
  if (spawned.status !== 201) throw new Error(`owner spawn: ${spawned.status} ${spawned.body}`);
  const a = JSON.parse(spawned.body.toString()).agent;
  world.agent = { id: a.id, token: a.access_token };
  for (let i = 0; ; i++) {
    const s = await world.request('GET', `/status/${a.id}`, { wallet: owner });
    if (s.status === 200 && JSON.parse(s.body.toString()).agent.status === 'running') break;
    if (i > 200) throw new Error(`owner agent not running: ${s.body}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return world;
}

export function json(res: RawResponse): any {
  try {
    return JSON.parse(res.body.toString('utf8'));
  } catch {
    return undefined;
  }
}
