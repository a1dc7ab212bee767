import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { createProxyServer } from 'http-proxy-3';
import { errorBody, rawErrorResponse, refuseSocket, type ErrorBody, type Logger } from '@romulus/shared';
import { isAgentId } from '../ids.ts';
import type { GatewayMetrics } from '../metrics.ts';
import { StoreUnavailableError } from '../store/errors.ts';
import type { AgentRecord, Store } from '../store/types.ts';
import { TOKEN_COOKIE, cookiesWithoutToken, credentialsOf, urlWithoutToken } from './credentials.ts';

type Verdict = { ok: true; agent: AgentRecord; target: string } | { ok: false; status: number; code: string; message: string };

/**
 * Agent URLs: `<agent-id>.<domain>` → the agent's IP and port inside its VM, for HTTP and WebSocket.
 * A request reaches the VM only with the agent's access token (Bearer header, `?romulus_token=` or the
 * cookie that query sets); the token is stripped before forwarding so the agent never sees it (unless the
 * operator asks for it to be passed on). Everything else is answered here with the error envelope.
 */
export class Ingress {
  private readonly proxy: ReturnType<typeof createProxyServer>;
  private readonly suffix: string;
  /** Upgraded (WebSocket) sockets, client and upstream: the HTTP server does not track them, so close() ends them itself. */
  private readonly upgraded = new Set<Duplex>();
  /** Client sockets that got the agent's 101: past that point an error can only end the connection. */
  private readonly switched = new WeakSet<Duplex>();

  constructor(
    private readonly opts: { domain: string; secureCookie: boolean; passTokenToAgent: boolean; forwardedHeaders: boolean },
    private readonly store: Store,
    private readonly log: Logger,
    private readonly metrics: GatewayMetrics,
  ) {
    // X-Forwarded-* only when the operator asks: agents that honour them (OpenClaw) refuse forwarded requests
    // from a proxy they were not told to trust, and the ingress is the agent's auth boundary anyway.
    this.proxy = createProxyServer({ ws: true, xfwd: opts.forwardedHeaders, proxyTimeout: 300_000 });
    this.suffix = `.${opts.domain.toLowerCase()}`;
    // Pair each upgraded client socket with its upstream socket: when the client goes, the upstream goes
    // too (http-proxy only half-closes it, and a VM that died never answers the FIN, leaving it open forever).
    this.proxy.on('proxyReqWs', (proxyReq, _req, socket) => {
      proxyReq.on('upgrade', (_res, upstream) => {
        this.switched.add(socket);
        this.upgraded.add(upstream);
        upstream.once('close', () => this.upgraded.delete(upstream));
        socket.once('close', () => upstream.destroy());
      });
    });
    this.proxy.on('error', (err, _req, resOrSocket) => {
      this.metrics.ingress.inc({ result: 'upstream_error' });
      this.log.warn({ err: (err as Error).message }, 'agent upstream error');
      if (resOrSocket && 'writeHead' in resOrSocket && typeof resOrSocket.writeHead === 'function') {
        const res = resOrSocket as ServerResponse;
        if (!res.headersSent) sendJson(res, 502, errorBody('AGENT_UNREACHABLE', 'the agent did not answer'));
        else res.destroy();
      } else {
        // A WebSocket whose agent never answered the handshake gets the 502 a plain request would get.
        const socket = resOrSocket as Duplex | undefined;
        if (socket && socket.writable && !this.switched.has(socket)) refuseSocket(socket, rawErrorResponse(502, 'Bad Gateway', 'AGENT_UNREACHABLE', 'the agent did not answer'));
        else socket?.destroy();
      }
    });
  }

  /** The agent id this Host header addresses, or null when the request is for the API. */
  agentHost(req: IncomingMessage): string | null {
    const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
    if (!host.endsWith(this.suffix)) return null;
    const label = host.slice(0, -this.suffix.length);
    return label && !label.includes('.') ? label : null;
  }

  async handle(req: IncomingMessage, res: ServerResponse, id: string): Promise<void> {
    try {
      const v = await this.authorize(req, id);
      if (!v.ok) {
        this.metrics.ingress.inc({ result: String(v.status) });
        sendJson(res, v.status, errorBody(v.code, v.message), v.status === 401 ? { 'www-authenticate': 'Bearer' } : {});
        req.resume();
        return;
      }
      const creds = credentialsOf(req);
      if (creds.via === 'query') {
        const cookie = `${TOKEN_COOKIE}=${encodeURIComponent(creds.token!)}; Path=/; HttpOnly; SameSite=Lax${this.opts.secureCookie ? '; Secure' : ''}`;
        if (req.method === 'GET' || req.method === 'HEAD') {
          // Trade the token in the URL for a cookie and send the browser to the clean URL (keeps it out of history).
          this.metrics.ingress.inc({ result: 'token_redirect' });
          res.writeHead(302, { location: urlWithoutToken(req.url ?? '/'), 'set-cookie': cookie, 'cache-control': 'no-store' });
          res.end();
          return;
        }
        res.setHeader('set-cookie', cookie);
      }
      this.strip(req, creds.token!);
      this.metrics.ingress.inc({ result: 'proxied' });
      this.proxy.web(req, res, { target: v.target });
    } catch (err) {
      const [status, body] = this.failure(err);
      if (!res.headersSent) sendJson(res, status, body);
      else res.destroy();
    }
  }

  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer, id: string): Promise<void> {
    socket.on('error', () => socket.destroy());
    this.upgraded.add(socket);
    socket.once('close', () => this.upgraded.delete(socket));
    if (!isWebSocketUpgrade(req)) {
      // Node hands every `Connection: upgrade` here; the proxy would drop anything but a WebSocket unanswered.
      this.metrics.ingress.inc({ result: 'ws_400' });
      refuseSocket(socket, rawErrorResponse(400, 'Bad Request', 'UNSUPPORTED_UPGRADE', 'only WebSocket upgrades (GET with Upgrade: websocket) reach an agent'));
      return;
    }
    try {
      const v = await this.authorize(req, id);
      if (!v.ok) {
        this.metrics.ingress.inc({ result: `ws_${v.status}` });
        const body = JSON.stringify(errorBody(v.code, v.message));
        refuseSocket(
          socket,
          `HTTP/1.1 ${v.status} ${v.status === 401 ? 'Unauthorized' : 'Error'}\r\ncontent-type: application/json\r\n` +
            `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
        );
        return;
      }
      this.strip(req, credentialsOf(req).token!);
      this.metrics.ingress.inc({ result: 'ws_proxied' });
      this.proxy.ws(req, socket, head, { target: v.target });
    } catch (err) {
      const [status, body] = this.failure(err);
      const text = JSON.stringify(body);
      if (socket.writable) refuseSocket(socket, `HTTP/1.1 ${status} Error\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}\r\nconnection: close\r\n\r\n${text}`);
      else socket.destroy();
    }
  }

  /** A store outage is a documented 503; anything else is a bug, logged, and answered without detail. */
  private failure(err: unknown): [number, ErrorBody] {
    if (err instanceof StoreUnavailableError) {
      this.log.error({ err: err.message, backend: err.backendCode }, 'store unavailable');
      return [503, errorBody(err.code, 'state store unavailable; retry shortly')];
    }
    this.log.error({ err }, 'ingress failure');
    return [500, errorBody('INTERNAL', 'internal error')];
  }

  close(): void {
    for (const s of this.upgraded) s.destroy();
    this.upgraded.clear();
    this.proxy.close();
  }

  private async authorize(req: IncomingMessage, id: string): Promise<Verdict> {
    if (!isAgentId(id)) return { ok: false, status: 404, code: 'AGENT_NOT_FOUND', message: `no agent ${id}` };
    const { token } = credentialsOf(req);
    if (!token) return { ok: false, status: 401, code: 'MISSING_TOKEN', message: 'this agent needs its access token (Authorization: Bearer <token>)' };
    const agent = await this.store.getAgent(id);
    // Same answer for an unknown agent and a wrong token: the URL alone reveals nothing.
    if (!agent || !tokenMatches(token, agent.accessTokenHash)) {
      return { ok: false, status: 401, code: 'INVALID_TOKEN', message: 'access token does not match this agent' };
    }
    if (agent.state !== 'running' || !agent.target) {
      return { ok: false, status: 503, code: 'AGENT_NOT_RUNNING', message: `agent is ${agent.state}` };
    }
    return { ok: true, agent, target: `http://${agent.target.host}:${agent.target.port}` };
  }

  /** Removes our credentials, and any forwarding headers the client made up, from what the agent receives. */
  private strip(req: IncomingMessage, token: string): void {
    req.url = urlWithoutToken(req.url ?? '/');
    for (const name of Object.keys(req.headers)) if (isForwardingHeader(name)) delete req.headers[name];
    const cookies = cookiesWithoutToken(req.headers.cookie);
    if (cookies) req.headers.cookie = cookies;
    else delete req.headers.cookie;
    if (this.opts.passTokenToAgent) req.headers.authorization = `Bearer ${token}`;
    else delete req.headers.authorization;
    // rawHeaders are what http-proxy copies on upgrades; keep them consistent with headers.
    const raw: string[] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) {
      const name = req.rawHeaders[i].toLowerCase();
      if (name === 'authorization' || name === 'cookie' || isForwardingHeader(name)) continue;
      raw.push(req.rawHeaders[i], req.rawHeaders[i + 1]);
    }
    if (req.headers.cookie) raw.push('cookie', req.headers.cookie);
    if (req.headers.authorization) raw.push('authorization', req.headers.authorization);
    req.rawHeaders.splice(0, req.rawHeaders.length, ...raw);
  }
}

function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return req.method === 'GET' && (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

/** Client-supplied proxy headers: never passed on as if the ingress had vouched for them. */
function isForwardingHeader(lowerName: string): boolean {
  return lowerName === 'forwarded' || lowerName === 'x-real-ip' || lowerName.startsWith('x-forwarded-');
}

function tokenMatches(token: string, expectedHex: string): boolean {
  const got = createHash('sha256').update(token).digest();
  const want = Buffer.from(expectedHex, 'hex');
  return want.length === got.length && timingSafeEqual(got, want);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}
