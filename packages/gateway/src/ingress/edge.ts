import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { createGuardedServer, errorBody, rawErrorResponse, refuseSocket, type HttpLimits } from '@romulus/shared';
import type { Ingress } from './ingress.ts';

export type EdgeLimits = HttpLimits;

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/**
 * The gateway's HTTP server: the one place that routes by Host. `<id>.<domain>` goes to the ingress (its body
 * streams untouched to the VM); every other host goes to `api`, or, on the ingress-only listener (`api` null),
 * gets a 404. What Node answers by itself (parser errors, slow requests, a missing Host, CONNECT) gets the
 * error envelope from the shared guarded server.
 */
export function createEdgeServer(ingress: Ingress, api: Handler | null, limits: EdgeLimits): http.Server {
  return createGuardedServer(limits, {
    request(req, res) {
      const id = ingress.agentHost(req);
      if (id !== null) void ingress.handle(req, res, id);
      else if (api) api(req, res);
      else notAnAgentHost(res);
    },
    upgrade(req, socket, head) {
      const id = ingress.agentHost(req);
      if (id !== null) void ingress.upgrade(req, socket, head, id);
      else refuseUpgrade(socket);
    },
  });
}

function notAnAgentHost(res: http.ServerResponse): void {
  const body = JSON.stringify(errorBody('NOT_FOUND', 'not an agent host'));
  res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** The API has no WebSocket routes: an upgrade to a non-agent host is answered, not dropped. */
function refuseUpgrade(socket: Duplex): void {
  refuseSocket(socket, rawErrorResponse(404, 'Not Found', 'NOT_FOUND', 'no WebSocket endpoint here'));
}
