/**
 * The one error shape every Romulus HTTP API returns:
 *   { "success": false, "error": { "code": "SOME_CODE", "message": "human text" } }
 * Throw an ApiError anywhere in a handler; the shared Fastify error handler renders it.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ErrorBody {
  success: false;
  error: { code: string; message: string } & Record<string, unknown>;
}

export function errorBody(code: string, message: string, details?: Record<string, unknown>): ErrorBody {
  return { success: false, error: { code, message, ...(details ?? {}) } };
}

export const badRequest = (message: string, code = 'BAD_REQUEST', details?: Record<string, unknown>) =>
  new ApiError(400, code, message, details);
export const unauthorized = (message: string, code = 'UNAUTHORIZED') => new ApiError(401, code, message);
export const forbidden = (message: string, code = 'FORBIDDEN', details?: Record<string, unknown>) =>
  new ApiError(403, code, message, details);
export const notFound = (message: string, code = 'NOT_FOUND') => new ApiError(404, code, message);
export const conflict = (message: string, code = 'CONFLICT', details?: Record<string, unknown>) =>
  new ApiError(409, code, message, details);
export const unavailable = (message: string, code = 'UNAVAILABLE', details?: Record<string, unknown>) =>
  new ApiError(503, code, message, details);
