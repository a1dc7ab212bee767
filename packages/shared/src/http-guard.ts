import http from 'node:http';
import type { Duplex } from 'node:stream';
import { errorBody } from './errors.ts';
import { answerClientError, rawErrorResponse } from './fastify-errors.ts';

export interface HttpLimits {
  /** A request's headers must be complete within this (slow-loris on headers). */
  headersTimeoutMs: number;
  /** The whole request, body included, must be complete within this. */
  requestTimeoutMs: number;
}

export interface GuardedHandlers {
  request: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** WebSocket (or other) upgrades; without it an upgrade request is an ordinary request. */
  upgrade?: (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void;
}

/**
 * The HTTP server every Romulus listener runs on (gateway edge, node API). Node's own http server answers a
 * few things itself, outside any handler, and not in the error envelope: a missing Host (400, empty body),
 * an `Expect` it does not know (417, empty body), parser errors (400/431, via clientError), and it drops a
 * CONNECT without a word when nobody listens for it. Here each gets the envelope, and slow requests are cut
 * off in seconds (Node checks its timeouts only every 30 s by default).
 */
export function createGuardedServer(limits: HttpLimits, h: GuardedHandlers): http.Server {
  const requestTimeout = limits.requestTimeoutMs;
  const server = http.createServer({
    requestTimeout,
    headersTimeout: Math.min(limits.headersTimeoutMs, requestTimeout),
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4))),
    // Answered below, in the envelope, instead of Node's bodiless 400.
    requireHostHeader: false,
  });
  server.on('request', (req, res) => {
    if (req.httpVersionMajor !== 1) {
      // The parser takes any digit (`HTTP/2.0`, `HTTP/9.9`); a proxy would echo it back in a status line.
      req.resume();
      sendError(res, 400, 'UNSUPPORTED_HTTP_VERSION', `HTTP/${req.httpVersion} is not spoken here; use HTTP/1.1`, true);
      return;
    }
    if (req.headers.host === undefined && req.httpVersionMajor === 1 && req.httpVersionMinor >= 1) {
      req.resume();
      sendError(res, 400, 'MISSING_HOST', 'an HTTP/1.1 request needs a Host header', true);
      return;
    }
    h.request(req, res);
  });
  server.on('checkExpectation', (req, res) => {
    req.resume();
    sendError(res, 417, 'EXPECTATION_FAILED', `unsupported Expect: ${String(req.headers.expect).slice(0, 100)}`, true);
  });
  const upgrade = h.upgrade;
  if (upgrade) {
    server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      if (req.httpVersionMajor === 1 && req.httpVersionMinor >= 1 && req.headers.host !== undefined) return upgrade(req, socket, head);
      refuseSocket(socket, rawErrorResponse(400, 'Bad Request', 'BAD_REQUEST', 'an upgrade needs HTTP/1.1 and a Host header'));
    });
  }
  server.on('connect', (_req, socket: Duplex) => {
    refuseSocket(socket, rawErrorResponse(405, 'Method Not Allowed', 'METHOD_NOT_ALLOWED', 'CONNECT is not supported'));
  });
  server.on('clientError', answerClientError);
  // Every socket, also those the HTTP layer let go of (upgrades, CONNECT): closeWithin ends them all.
  const sockets = new Set<Duplex>();
  server.on('connection', (socket: Duplex) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  openSockets.set(server, sockets);
  return server;
}

const openSockets = new WeakMap<http.Server, Set<Duplex>>();

/**
 * Answers a socket the HTTP layer has handed over (upgrade, CONNECT, a parser error) and closes it once the
 * answer is out: end() alone half-closes, and a client that never closes its side would keep it open.
 */
export function refuseSocket(socket: Duplex, response: string): void {
  socket.on('error', () => socket.destroy());
  socket.end(response, () => socket.destroy());
}

function sendError(res: http.ServerResponse, status: number, code: string, message: string, close: boolean): void {
  const body = JSON.stringify(errorBody(code, message));
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...(close ? { connection: 'close' } : {}),
  });
  res.end(body);
}

/**
 * Closes a server without letting a client hold the close: stops accepting, lets requests in flight finish
 * for up to `graceMs`, then ends every connection left. Needed because server.close() also stops Node's
 * header and request timeout checks, so a half-sent request would otherwise keep the close waiting forever.
 */
export async function closeWithin(server: http.Server, close: () => Promise<unknown>, graceMs: number): Promise<void> {
  const closing = close();
  server.closeIdleConnections();
  const force = setTimeout(() => {
    server.closeAllConnections();
    // Sockets the HTTP layer no longer tracks (upgraded, CONNECT) would still hold server.close().
    for (const socket of openSockets.get(server) ?? []) socket.destroy();
  }, graceMs);
  try {
    await closing;
  } finally {
    clearTimeout(force);
  }
}
