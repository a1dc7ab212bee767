import { ApiError, NODE_ERRORS, type NodeErrorCode } from '@romulus/shared';
import { NodeApiError, NodeUnavailableError } from '../node-client.ts';

/**
 * How the gateway answers when the node refused or failed a request, by the node's error code
 * (packages/shared/src/node-api.ts NODE_ERRORS). The five outcomes a client can act on differ:
 *   NO_CAPACITY      503: the node is full; retry later (or, in a cluster, elsewhere).
 *   UNKNOWN_AGENT_TYPE 400: the node does not hold that image.
 *   NODE_REJECTED    400: the node refused what the user asked for (e.g. an env name also given as a secret).
 *   NODE_UNAVAILABLE 503: the node cannot be reached or is shutting down; retry shortly.
 *   NODE_ERROR       502: the node failed, or refused something the gateway got wrong (a bug, not the user's).
 */
type GatewayAnswer = { status: number; code: 'NO_CAPACITY' | 'UNKNOWN_AGENT_TYPE' | 'NODE_REJECTED' | 'NODE_UNAVAILABLE' | 'NODE_ERROR' };

const NO_CAPACITY: GatewayAnswer = { status: 503, code: 'NO_CAPACITY' };
const UNKNOWN_AGENT_TYPE: GatewayAnswer = { status: 400, code: 'UNKNOWN_AGENT_TYPE' };
const REJECTED: GatewayAnswer = { status: 400, code: 'NODE_REJECTED' };
const UNAVAILABLE: GatewayAnswer = { status: 503, code: 'NODE_UNAVAILABLE' };
const FAILED: GatewayAnswer = { status: 502, code: 'NODE_ERROR' };

/** Every node code has an entry, so a code added to NODE_ERRORS without a decision here fails the typecheck. */
export const NODE_ERROR_ANSWERS: Record<NodeErrorCode, GatewayAnswer> = {
  INSUFFICIENT_CAPACITY: NO_CAPACITY,
  RATE_LIMITED: NO_CAPACITY,
  IMAGE_NOT_FOUND: UNKNOWN_AGENT_TYPE,
  BELOW_IMAGE_MINIMUM: REJECTED,
  ENV_SECRET_CLASH: REJECTED,
  PAYLOAD_TOO_LARGE: REJECTED,
  NODE_CLOSING: UNAVAILABLE,
  // The gateway built the request: a schema refusal, a wrong token or an id clash is the gateway's bug or a
  // misconfiguration, not something the user can fix.
  VALIDATION_FAILED: FAILED,
  MALFORMED_JSON: FAILED,
  BAD_REQUEST: FAILED,
  UNSUPPORTED_MEDIA_TYPE: FAILED,
  UNAUTHORIZED: FAILED,
  NOT_FOUND: FAILED,
  VM_NOT_FOUND: FAILED,
  VM_EXISTS: FAILED,
  VM_NOT_RUNNING: FAILED,
  WAIT_TIMEOUT: FAILED,
  EXEC_FAILED: FAILED,
  INTERNAL: FAILED,
};

const isNodeCode = (code: string): code is NodeErrorCode => Object.hasOwn(NODE_ERRORS, code);

/** The gateway's ApiError for a node failure; anything that is not a node failure passes through unchanged. */
export function gatewayErrorForNode(err: unknown): unknown {
  if (err instanceof ApiError) return err;
  if (err instanceof NodeUnavailableError) {
    return new ApiError(UNAVAILABLE.status, UNAVAILABLE.code, 'the node is unreachable; retry shortly');
  }
  if (!(err instanceof NodeApiError)) return err;
  // A code this gateway does not know (a newer node) is a node failure: the gateway cannot act on it.
  const answer = isNodeCode(err.code) ? NODE_ERROR_ANSWERS[err.code] : FAILED;
  const message = {
    NO_CAPACITY: `no capacity for this agent right now: ${err.message}`,
    UNKNOWN_AGENT_TYPE: `image not available on the node: ${err.message}`,
    NODE_REJECTED: `the node refused the request: ${err.message}`,
    NODE_UNAVAILABLE: `the node is not taking requests; retry shortly: ${err.message}`,
    NODE_ERROR: `the node failed the request: ${err.message}`,
  }[answer.code];
  return new ApiError(answer.status, answer.code, message, { node_code: err.code });
}
