export { RomulusClient, toApiError, TiersResponse, type RomulusClientOptions, type WaitOptions, type HealthResponse } from './client.ts';
export { KeypairSigner, KeypairError, type Signer } from './signer.ts';
export { signedHeaders, authMessage, nextTimestamp, type AuthHeaders } from './auth.ts';
export { RomulusApiError, RomulusNetworkError, RomulusWaitError } from './errors.ts';
export { agentFetch, agentBaseUrl, type AgentFetchInit, type AgentResponse } from './agent-fetch.ts';
export { encodeBase58, decodeBase58 } from '@romulus/shared';
export type { SpawnRequest, SpawnResponse, AgentStatus, WalletUsage, TierConfig, AgentState } from '@romulus/shared';
