import http from 'node:http';
import type { Duplex } from 'node:stream';
import { answerClientError, errorBody } from '@romulus/shared';
import type { Ingress } from './ingress.ts';

export interface EdgeLimits {
  /** A request's headers must be complete within this (slow-loris on headers). */
  headersTimeoutMs: number;
  /** The whole request, body included, must be complete within this. */
  requestTimeoutMs: number;
}

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/**
 * The gateway's HTTP server: the one place that routes by Host. `<id>.<domain>` goes to the ingress (its body
 * streams untouched to the VM); every other host goes to `api`, or, on the ingress-only listener (`api` null),
 * gets a 404. Parser-level garbage and requests that do not arrive in time are answered with the error envelope.
 */
export function createEdgeServer(ingress: Ingress, api: Handler | null, limits: EdgeLimits): http.Server {
  const requestTimeout = limits.requestTimeoutMs;
  const server = http.createServer({
    requestTimeout,
    headersTimeout: Math.min(limits.headersTimeoutMs, requestTimeout),
    // Node checks both timeouts on this interval (default 30 s): check often enough that "in seconds" holds.
    connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4))),
  });
  server.on('request', (req, res) => {
    const id = ingress.agentHost(req);
    if (id !== null) void ingress.handle(req, res, id);
    else if (api) api(req, res);
    else notAnAgentHost(res);
  });
  server.on('upgrade', (req, socket, head) => {
    const id = ingress.agentHost(req);
    if (id !== null) void ingress.upgrade(req, socket, head, id);
    else refuseUpgrade(socket);
  });
  server.on('clientError', answerClientError);
  return server;
}

function notAnAgentHost(res: http.ServerResponse): void {
  const body = JSON.stringify(errorBody('NOT_FOUND', 'not an agent host'));
  res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The API has no WebSocket routes: an upgrade to a non-agent host is answered, not dropped. */
function refuseUpgrade(socket: Duplex): void {
  socket.on('error', () => socket.destroy());
  const body = JSON.stringify(errorBody('NOT_FOUND', 'no WebSocket endpoint here'));
  socket.end(`HTTP/1.1 404 Not Found\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
}
