import { ApiError, errorBody } from './errors.ts';

/** Minimal structural types so this file does not depend on fastify itself. */
interface ReplyLike {
  status(code: number): ReplyLike;
  send(body: unknown): unknown;
}
interface FastifyErrorLike extends Error {
  statusCode?: number;
  code?: string;
  validation?: unknown;
}
interface LoggerLike {
  error(obj: unknown, msg?: string): void;
}

/**
 * Maps any thrown error to the shared error envelope. Fastify's own errors (validation, body too large,
 * malformed JSON, unsupported media type) keep their status but get a stable code; anything unexpected
 * is a 500 with a generic message (the detail goes to the log, never to the client).
 */
export function renderError(err: FastifyErrorLike, reply: ReplyLike, log: LoggerLike): unknown {
  if (err instanceof ApiError) {
    return reply.status(err.status).send(errorBody(err.code, err.message, err.details));
  }
  if (err.validation) {
    return reply.status(400).send(errorBody('VALIDATION_FAILED', err.message));
  }
  const status = err.statusCode ?? 500;
  if (status < 500) {
    const code =
      status === 413
        ? 'PAYLOAD_TOO_LARGE'
        : status === 415
          ? 'UNSUPPORTED_MEDIA_TYPE'
          : status === 429
            ? 'RATE_LIMITED'
            : err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY'
              ? 'MALFORMED_JSON'
              : 'BAD_REQUEST';
    return reply.status(status).send(errorBody(code, err.message));
  }
  log.error({ err }, 'unhandled error');
  return reply.status(500).send(errorBody('INTERNAL', 'internal error'));
}
