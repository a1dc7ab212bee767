export { startGateway, type Gateway, type GatewayOverrides } from './gateway.ts';
export { parseConfig, configFromEnv, GatewayConfigSchema, type GatewayConfig, type GatewayConfigInput } from './config.ts';
export { HttpNodeClient, NodeApiError, NodeUnavailableError, type NodeClient } from './node-client.ts';
export { SignatureVerifier, decodeSignature, AuthError, type VerifiedWallet } from './auth/verifier.ts';
export { candidateMessages, cliEnvelope, v0Envelope, v1Envelope } from './auth/offchain.ts';
export { newAgentId, isAgentId, AGENT_ID_PATTERN } from './ids.ts';
