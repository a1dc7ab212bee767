import { Type, type Static } from 'typebox';
import { TierConfig } from './tiers.ts';

/**
 * The gateway's public API (the architecture document's paths and shapes).
 *
 * Auth headers on every signed request: X-Wallet (base58 32-byte pubkey), X-Signature (base58 or base64,
 * 64 bytes), X-Timestamp (ms). Signed message: `romulus:<X-Timestamp>`.
 *
 *   POST /spawn            SpawnRequest -> 201 SpawnResponse
 *   POST /stop/:id         -> 200 { success: true, agent: AgentStatus }   (owner only, idempotent)
 *   GET  /status/:id       -> 200 { success: true, agent: AgentStatus }   (owner: full; others: public view)
 *   GET  /usage/:wallet    -> 200 { success: true, usage: WalletUsage }   (owner only)
 *   GET  /tiers            -> 200 { success: true, tiers: Record<name, TierConfig>, agent_types: AgentTypeInfo[] }
 *   GET  /health, GET /metrics, GET /docs (OpenAPI UI), GET /openapi.json
 *
 * Agent URL: http(s)://<agent-id>.<domain>/...  with `Authorization: Bearer <access_token>` (or
 * `?romulus_token=` on the first request, which trades it for an HttpOnly cookie) -> proxied to the agent's port in its VM.
 */

export const AGENT_STATES = ['starting', 'running', 'stopping', 'stopped', 'failed'] as const;
export type AgentState = (typeof AGENT_STATES)[number];

export const SpawnRequest = Type.Object(
  {
    agent_type: Type.String({ minLength: 1, maxLength: 64, description: 'chat | coding | browser | a custom image name' }),
    /** Model API keys etc.: passed to the agent as env, held only in the VM. */
    // additionalProperties: false makes the key pattern binding (a Record alone only constrains matching keys).
    secrets: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$' }), Type.String({ maxLength: 16384 }), { maxProperties: 32, additionalProperties: false })),
    env: Type.Optional(Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$' }), Type.String({ maxLength: 4096 }), { maxProperties: 32, additionalProperties: false })),
  },
  { additionalProperties: false },
);
export type SpawnRequest = Static<typeof SpawnRequest>;

export const SpawnedAgent = Type.Object({
  id: Type.String(),
  url: Type.String(),
  wallet: Type.String(),
  tier: Type.String(),
  spawned_at: Type.Integer(),
  agent_type: Type.String(),
  status: Type.String(),
  /** Bearer token for the agent URL; returned once, to the owner, at spawn. */
  access_token: Type.String(),
});
export type SpawnedAgent = Static<typeof SpawnedAgent>;

export const SpawnResponse = Type.Object({
  success: Type.Literal(true),
  agent: SpawnedAgent,
  tier_config: TierConfig,
});
export type SpawnResponse = Static<typeof SpawnResponse>;

export const AgentStatus = Type.Object({
  id: Type.String(),
  status: Type.String(),
  url: Type.String(),
  agent_type: Type.String(),
  tier: Type.Optional(Type.String()),
  wallet: Type.Optional(Type.String()),
  spawned_at: Type.Integer(),
  ready_at: Type.Optional(Type.Integer()),
  stopped_at: Type.Optional(Type.Integer()),
  reason: Type.Optional(Type.String()),
  /** Owner view of a starting agent: what its VM waits for (the node's VM_PHASES), when the node answered. */
  phase: Type.Optional(Type.String()),
  cores: Type.Optional(Type.Integer()),
  memory: Type.Optional(Type.Integer()),
  uptime_ms: Type.Optional(Type.Integer()),
});
export type AgentStatus = Static<typeof AgentStatus>;

export const UsageFigures = Type.Object({
  spawn_count: Type.Integer(),
  uptime_ms: Type.Integer(),
  vcpu_seconds: Type.Number(),
  mib_seconds: Type.Number(),
});
export type UsageFigures = Static<typeof UsageFigures>;

export const WalletUsage = Type.Object({
  wallet: Type.String(),
  totals: UsageFigures,
  agents: Type.Array(Type.Intersect([Type.Object({ id: Type.String(), agent_type: Type.String(), status: Type.String() }), UsageFigures])),
});
export type WalletUsage = Static<typeof WalletUsage>;

export const AgentTypeInfo = Type.Object({
  name: Type.String(),
  image: Type.String(),
  min_cores: Type.Integer(),
  min_memory: Type.Integer(),
});
export type AgentTypeInfo = Static<typeof AgentTypeInfo>;

/** The built-in agent types and their images. Custom images are spawnable by their image name. */
export const AGENT_TYPE_IMAGES: Record<string, string> = {
  chat: 'agent-chat',
  coding: 'agent-coding',
  browser: 'agent-browser',
};
