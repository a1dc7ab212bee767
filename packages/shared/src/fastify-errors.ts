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

/**
 * Fastify's router errors (a URL that does not decode, a path parameter over maxParamLength, an async
 * constraint failure) in the shared envelope; pass as Fastify's `frameworkErrors` option.
 */
export function renderFrameworkError(err: FastifyErrorLike, _req: unknown, reply: ReplyLike): unknown {
  const code = err.code === 'FST_ERR_BAD_URL' ? 'BAD_URL' : err.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'PARAM_TOO_LONG' : 'BAD_REQUEST';
  const status = err.statusCode && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400;
  return reply.status(status).send(errorBody(code, err.message));
}

interface SocketLike {
  readonly destroyed: boolean;
  readonly writable: boolean;
  end(data: string, cb?: () => void): void;
  destroy(): void;
}

/**
 * What the HTTP parser refuses before any handler runs (garbage, headers too large, a request that did not
 * arrive within requestTimeout/headersTimeout), answered with the shared envelope and the connection
 * closed. Use as the server's `clientError` listener (Fastify: the `clientErrorHandler` option).
 */
export function answerClientError(err: Error & { code?: string }, socket: SocketLike): void {
  // A reset socket has nobody to answer; one that already carries a response must not get a second one.
  const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === 'ECONNRESET' || socket.destroyed || !socket.writable || inFlight?.headersSent) {
    socket.destroy();
    return;
  }
  const [status, reason, code, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout', 'REQUEST_TIMEOUT', 'the request did not arrive in time']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'HEADERS_TOO_LARGE', 'request headers too large']
        : [400, 'Bad Request', 'BAD_REQUEST', 'malformed HTTP request'];
  socket.end(rawErrorResponse(status, reason, code, message), () => socket.destroy());
}

/** A whole HTTP/1.1 error response in the envelope, for a socket no ServerResponse owns; it closes the connection. */
export function rawErrorResponse(status: number, reason: string, code: string, message: string): string {
  const body = JSON.stringify(errorBody(code, message));
  return (
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json; charset=utf-8\r\n` +
    `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`
  );
}
