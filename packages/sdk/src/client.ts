import {
  AgentStatus,
  AgentTypeInfo,
  SpawnResponse,
  TierConfig,
  WalletUsage,
  readServerSentEvents,
  type AgentState,
  type SpawnRequest,
} from '@romulus/shared';
import { Type, type Static, type TSchema } from 'typebox';
import { Value } from 'typebox/value';
import { signedHeaders } from './auth.ts';
import { RomulusApiError, RomulusNetworkError, RomulusWaitError } from './errors.ts';
import type { Signer } from './signer.ts';

const StatusEnvelope = Type.Object({ success: Type.Literal(true), agent: AgentStatus });
const UsageEnvelope = Type.Object({ success: Type.Literal(true), usage: WalletUsage });
export const TiersResponse = Type.Object({
  success: Type.Literal(true),
  tiers: Type.Record(Type.String(), TierConfig),
  agent_types: Type.Array(AgentTypeInfo),
});
export type TiersResponse = Static<typeof TiersResponse>;
/** The gateway's health is free-form beyond `status`; keep whatever else it says. */
const HealthResponse = Type.Object({ status: Type.String() });
export type HealthResponse = { status: string } & Record<string, unknown>;

export interface RomulusClientOptions {
  /** Gateway base URL, e.g. http://127.0.0.1:8080 or https://api.romulus.ai */
  baseUrl: string;
  /** Needed for everything but tiers(), health() and public status(). */
  signer?: Signer;
  /** Per-request timeout (default 30 s). Spawn returns before the VM is ready, so this need not cover a boot. */
  requestTimeoutMs?: number;
  /** Injected for tests; defaults to the global fetch. */
  fetch?: typeof fetch;
}

export interface WaitOptions {
  timeoutMs?: number;
  /** Delay before the second poll (default 1 s); it grows by half each poll up to maxIntervalMs. */
  intervalMs?: number;
  /** Longest delay between polls (default 5 s): a slow boot is not polled every second for minutes. */
  maxIntervalMs?: number;
  /** Called with each status seen (e.g. to show progress). */
  onStatus?: (agent: AgentStatus) => void;
}

/** States an agent does not leave: waiting for anything else is over once one of these is reached. */
const TERMINAL: readonly string[] = ['stopped', 'failed'];

/**
 * Typed client of the gateway's API (packages/shared/src/gateway-api.ts). Every signed call signs a fresh
 * `romulus:<timestamp>`: the gateway accepts each signature only once.
 */
export class RomulusClient {
  readonly baseUrl: string;
  readonly signer: Signer | undefined;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;

  constructor(opts: RomulusClientOptions) {
    let url: URL;
    try {
      url = new URL(opts.baseUrl);
    } catch {
      throw new TypeError(`invalid gateway URL ${JSON.stringify(opts.baseUrl)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new TypeError(`gateway URL must be http(s): ${opts.baseUrl}`);
    this.baseUrl = url.toString().replace(/\/+$/, '');
    this.signer = opts.signer;
    this.timeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.fetchImpl = opts.fetch ?? fetch;
  }

  /** The signer's wallet address. */
  get wallet(): string {
    return this.requireSigner().publicKey;
  }

  /** POST /spawn: returns as soon as the gateway accepted it (status "starting"); see waitForStatus. */
  async spawn(req: SpawnRequest): Promise<SpawnResponse> {
    return this.request('POST', '/spawn', SpawnResponse, { body: req, signed: true });
  }

  /** POST /stop/:id (owner only; stopping a stopped agent is not an error). */
  async stop(id: string): Promise<AgentStatus> {
    return (await this.request('POST', `/stop/${encodeURIComponent(id)}`, StatusEnvelope, { signed: true })).agent;
  }

  /** GET /status/:id: full view when signed by the owner, the public view otherwise. */
  async status(id: string, opts: { signed?: boolean } = {}): Promise<AgentStatus> {
    const signed = opts.signed ?? this.signer !== undefined;
    return (await this.request('GET', `/status/${encodeURIComponent(id)}`, StatusEnvelope, { signed })).agent;
  }

  /** GET /usage/:wallet (owner only): defaults to the signer's own wallet. */
  async usage(wallet?: string): Promise<WalletUsage> {
    const w = wallet ?? this.wallet;
    return (await this.request('GET', `/usage/${encodeURIComponent(w)}`, UsageEnvelope, { signed: true })).usage;
  }

  /** GET /tiers (public). */
  async tiers(): Promise<TiersResponse> {
    return this.request('GET', '/tiers', TiersResponse, { signed: false });
  }

  /** GET /health (public). */
  async health(): Promise<HealthResponse> {
    return (await this.request('GET', '/health', HealthResponse, { signed: false, acceptAnyStatus: true })) as HealthResponse;
  }

  /**
   * GET /events/:id (owner only): the agent's status each time it changes, pushed by the gateway; the
   * iteration ends after a stopped or failed status, or when `signal` aborts.
   */
  async *statusEvents(id: string, signal?: AbortSignal): AsyncGenerator<AgentStatus> {
    const url = `${this.baseUrl}/events/${encodeURIComponent(id)}`;
    let res: Response;
    try {
      res = await this.fetchImpl(url, { headers: { accept: 'text/event-stream', ...(await signedHeaders(this.requireSigner())) }, signal });
    } catch (err) {
      throw new RomulusNetworkError(url, err);
    }
    if (!res.ok || !res.body) {
      const text = await res.text().catch(() => '');
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      throw toApiError(res.status, json, text);
    }
    for await (const { event, data } of readServerSentEvents(res.body)) {
      if (event !== 'status') continue;
      const agent: unknown = JSON.parse(data);
      if (!Value.Check(AgentStatus, agent)) throw new RomulusApiError(res.status, 'BAD_RESPONSE', `unexpected event from GET /events/${id}`);
      yield agent;
    }
  }

  /**
   * Resolves once the agent is in `state`. Follows the gateway's pushed events (statusEvents) when signed,
   * and polls GET /status/:id when it cannot (unsigned, an older gateway, a dropped stream). Rejects with
   * RomulusWaitError if the agent reaches another terminal state (failed, stopped: it will not come back) or
   * time runs out.
   */
  async waitForStatus(id: string, state: AgentState, opts: WaitOptions = {}): Promise<AgentStatus> {
    const timeoutMs = opts.timeoutMs ?? 300_000;
    const deadline = Date.now() + timeoutMs;
    const settle = (last: AgentStatus): AgentStatus | null => {
      opts.onStatus?.(last);
      if (last.status === state) return last;
      if (TERMINAL.includes(last.status)) {
        throw new RomulusWaitError(
          `agent ${id} is ${last.status}${last.reason ? ` (${last.reason})` : ''}; it will not become ${state}`,
          last.status,
          last.reason,
        );
      }
      return null;
    };
    let last: AgentStatus | undefined;
    if (this.signer) {
      try {
        for await (const agent of this.statusEvents(id, AbortSignal.timeout(timeoutMs))) {
          last = agent;
          const done = settle(agent);
          if (done) return done;
        }
      } catch (err) {
        if (err instanceof RomulusWaitError) throw err;
        if (Date.now() >= deadline) throw new RomulusWaitError(`agent ${id} still ${last?.status ?? 'unknown'} after ${timeoutMs} ms`, last?.status ?? 'unknown', last?.reason);
        // Otherwise poll: it reports a real refusal (403, 404) the same way, and works with any gateway.
      }
    }
    let intervalMs = opts.intervalMs ?? 1000;
    const maxIntervalMs = Math.max(intervalMs, opts.maxIntervalMs ?? 5000);
    for (;;) {
      last = await this.status(id);
      const done = settle(last);
      if (done) return done;
      if (Date.now() + intervalMs > deadline) {
        throw new RomulusWaitError(`agent ${id} still ${last.status} after ${timeoutMs} ms`, last.status, last.reason);
      }
      await new Promise((r) => setTimeout(r, intervalMs));
      intervalMs = Math.min(maxIntervalMs, Math.ceil(intervalMs * 1.5));
    }
  }

  private requireSigner(): Signer {
    if (!this.signer) throw new TypeError('this call needs a signer (a wallet keypair)');
    return this.signer;
  }

  private async request<S extends TSchema>(
    method: 'GET' | 'POST',
    path: string,
    schema: S,
    opts: { body?: unknown; signed: boolean; acceptAnyStatus?: boolean },
  ): Promise<Static<S>> {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (opts.signed) Object.assign(headers, await signedHeaders(this.requireSigner()));
    let body: string | undefined;
    if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    const url = this.baseUrl + path;
    let res: Response;
    try {
      res = await this.fetchImpl(url, { method, headers, body, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      throw new RomulusNetworkError(url, err);
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text.length ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    const valid = Value.Check(schema, json);
    // A degraded health answer is still an answer (503 with its own body); every other non-2xx is an error.
    if (!res.ok && !(opts.acceptAnyStatus && valid)) throw toApiError(res.status, json, text);
    if (!valid) {
      const first = [...Value.Errors(schema, json)][0];
      throw new RomulusApiError(
        res.status,
        'BAD_RESPONSE',
        `unexpected response from ${method} ${path}${first ? `: ${first.instancePath || '/'} ${first.message}` : ''}`,
      );
    }
    return json as Static<S>;
  }
}

/** Maps an error response (the shared envelope, or anything else a proxy may have sent) to RomulusApiError. */
export function toApiError(status: number, json: unknown, text: string): RomulusApiError {
  const error = (json as { error?: unknown } | undefined)?.error;
  if (error && typeof error === 'object') {
    const { code, message, ...details } = error as Record<string, unknown>;
    return new RomulusApiError(
      status,
      typeof code === 'string' ? code : `HTTP_${status}`,
      typeof message === 'string' ? message : `HTTP ${status}`,
      details,
    );
  }
  const snippet = text.slice(0, 200).trim();
  return new RomulusApiError(status, `HTTP_${status}`, snippet ? `HTTP ${status}: ${snippet}` : `HTTP ${status}`);
}
