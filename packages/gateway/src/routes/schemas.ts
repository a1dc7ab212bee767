import { Type } from 'typebox';
import { AGENT_ID_PATTERN } from '../ids.ts';

/** Route-level schemas that are not part of the shared contract (params, headers, error body). */
export const AgentIdParams = Type.Object({ id: Type.String({ pattern: AGENT_ID_PATTERN, description: 'agent id' }) });
export const WalletParams = Type.Object({ wallet: Type.String({ pattern: '^[1-9A-HJ-NP-Za-km-z]{32,44}$', description: 'base58 wallet' }) });

export const ErrorResponse = Type.Object(
  {
    success: Type.Literal(false),
    error: Type.Object({ code: Type.String(), message: Type.String() }, { additionalProperties: true }),
  },
  { description: 'error envelope' },
);

export const SignedHeaders = Type.Object({
  'x-wallet': Type.Optional(Type.String({ description: 'base58 Ed25519 public key (32 bytes)' })),
  'x-signature': Type.Optional(Type.String({ description: 'base58 or base64 signature (64 bytes) of romulus:<timestamp>' })),
  'x-timestamp': Type.Optional(Type.String({ description: 'ms since epoch, within ±5 minutes' })),
});

export const errors = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, ErrorResponse]));
