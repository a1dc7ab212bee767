/** JSON-RPC 2.0 errors with the codes Solana's RPC uses. */
export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: unknown,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;
/** Solana: sendTransaction preflight failure. */
export const SEND_TRANSACTION_PREFLIGHT_FAILURE = -32002;
/** Solana: signature verification failure. */
export const TRANSACTION_SIGNATURE_VERIFICATION_FAILURE = -32003;
/** Solana: minContextSlot not reached. */
export const MIN_CONTEXT_SLOT_NOT_REACHED = -32016;
/** Not in Solana: the romulus_* admin methods without the state dir's token. */
export const ADMIN_UNAUTHORIZED = -32401;

export const invalidParams = (message: string) => new RpcError(INVALID_PARAMS, message);
