/**
 * The JSON-RPC 2.0 HTTP front of the local chain (POST /, single and batch requests), with the status
 * codes and error objects of Solana's RPC. Plain node:http rather than Fastify: JSON-RPC answers errors
 * inside a 200 body in its own shape, so a route framework's error envelope would only be in the way.
 * Also GET /health -> "ok" like a validator's RPC port.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { stringifyJson } from './json.ts';
import type { LocalChain } from './local-chain.ts';
import { INTERNAL_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, PARSE_ERROR, RpcError } from './rpc-errors.ts';
import { METHODS } from './rpc-methods.ts';

/** The validator's own limit (agave MAX_REQUEST_BODY_SIZE). */
export const MAX_BODY_BYTES = 50 * 1024;
const MAX_BATCH = 100;

type Id = string | number | null;
interface RpcResponse {
  jsonrpc: '2.0';
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
  id: Id;
}

export interface RpcServerOptions {
  chain: LocalChain;
  adminToken: string;
  log?: Logger;
}

const isLoopback = (addr: string | undefined) => addr === '127.0.0.1' || addr === '::1' || addr === '::ffff:127.0.0.1';

function tokenMatches(header: string | undefined, token: string): boolean {
  if (!header?.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice(7));
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

const errorResponse = (id: Id, code: number, message: string, data?: unknown): RpcResponse => ({ jsonrpc: '2.0', error: data === undefined ? { code, message } : { code, message, data }, id });

export function createRpcServer(opts: RpcServerOptions): Server {
  const { chain, adminToken, log } = opts;

  async function call(request: unknown, admin: boolean): Promise<RpcResponse> {
    if (!request || typeof request !== 'object' || Array.isArray(request)) return errorResponse(null, INVALID_REQUEST, 'Invalid request');
    const r = request as Record<string, unknown>;
    const id: Id = typeof r.id === 'string' || typeof r.id === 'number' ? r.id : null;
    if (r.jsonrpc !== '2.0' || typeof r.method !== 'string') return errorResponse(id, INVALID_REQUEST, 'Invalid request');
    const handler = Object.hasOwn(METHODS, r.method) ? METHODS[r.method] : undefined;
    if (!handler) return errorResponse(id, METHOD_NOT_FOUND, 'Method not found');
    if (r.params !== undefined && r.params !== null && !Array.isArray(r.params)) {
      return errorResponse(id, -32602, 'Invalid params: expected a sequence of parameters');
    }
    try {
      const result = await handler((r.params as unknown[] | undefined) ?? [], { chain, admin });
      return { jsonrpc: '2.0', result, id };
    } catch (e) {
      if (e instanceof RpcError) return errorResponse(id, e.code, e.message, e.data);
      log?.error({ err: e, method: r.method }, 'rpc method failed');
      return errorResponse(id, INTERNAL_ERROR, 'Internal error');
    }
  }

  function send(res: ServerResponse, status: number, body: string, type = 'application/json; charset=utf-8'): void {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method === 'GET' && req.url === '/health') return send(res, 200, 'ok', 'text/plain; charset=utf-8');
    if (req.method !== 'POST') return send(res, 405, 'Used HTTP Method is not allowed. POST or OPTIONS is required', 'text/plain; charset=utf-8');
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/json\b/i.test(type)) return send(res, 415, 'Supplied content type is not allowed. Content-Type: application/json is required', 'text/plain; charset=utf-8');
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_BODY_BYTES) {
      // refuse before reading, so a well-behaved client sees the 413 rather than a reset
      res.setHeader('connection', 'close');
      send(res, 413, 'Payload Too Large', 'text/plain; charset=utf-8');
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        res.setHeader('connection', 'close');
        send(res, 413, 'Payload Too Large', 'text/plain; charset=utf-8');
        req.destroy();
        return;
      }
      chunks.push(chunk);
    }
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return send(res, 200, stringifyJson(errorResponse(null, PARSE_ERROR, 'Parse error')));
    }
    const admin = isLoopback(req.socket.remoteAddress) && tokenMatches(req.headers.authorization, adminToken);
    if (Array.isArray(body)) {
      if (body.length === 0 || body.length > MAX_BATCH) return send(res, 200, stringifyJson(errorResponse(null, INVALID_REQUEST, 'Invalid request')));
      const out: RpcResponse[] = [];
      for (const item of body) out.push(await call(item, admin)); // sequential: the chain is one ordered ledger
      return send(res, 200, stringifyJson(out));
    }
    return send(res, 200, stringifyJson(await call(body, admin)));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      log?.error({ err: e }, 'rpc request failed');
      if (!res.headersSent) send(res, 500, stringifyJson(errorResponse(null, INTERNAL_ERROR, 'Internal error')));
      else res.destroy();
    });
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  return server;
}
