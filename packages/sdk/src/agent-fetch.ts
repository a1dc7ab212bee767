import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import { RomulusNetworkError } from './errors.ts';

export interface AgentFetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  timeoutMs?: number;
}

export interface AgentResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  text(): string;
  json<T = unknown>(): T;
}

/**
 * `*.localhost` names are loopback by definition (RFC 6761), but glibc's resolver does not always know that,
 * so agent URLs of the local stack (http://<id>.localhost:8080) would fail to resolve. Resolve them to
 * 127.0.0.1 ourselves and let everything else go through the system resolver.
 */
const lookupLocalhost: LookupFunction = (hostname, options, callback) => {
  if (hostname === 'localhost' || hostname.endsWith('.localhost')) {
    if ((options as { all?: boolean }).all) (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [{ address: '127.0.0.1', family: 4 }]);
    else (callback as (e: null, a: string, f: number) => void)(null, '127.0.0.1', 4);
    return;
  }
  dns.lookup(hostname, options, callback as never);
};

/** The agent URL as an absolute URL: the gateway may return it bare (`<id>.romulus.ai`, as in the spec). */
export function agentBaseUrl(agentUrl: string): URL {
  if (/^https?:\/\//i.test(agentUrl)) return new URL(agentUrl);
  const host = agentUrl.split('/')[0].split(':')[0];
  return new URL(`${host.endsWith('.localhost') ? 'http' : 'https'}://${agentUrl}`);
}

/**
 * A request to an agent through the gateway's ingress, with the agent's access token as a bearer token.
 * Uses node:http rather than fetch so the Host header is the agent's name even where it must be resolved
 * by hand (`*.localhost`).
 */
export function agentFetch(agentUrl: string, accessToken: string, path = '/', init: AgentFetchInit = {}): Promise<AgentResponse> {
  const base = agentBaseUrl(agentUrl);
  const target = new URL(path, base);
  const lib = target.protocol === 'https:' ? https : http;
  const headers: Record<string, string> = { ...(init.headers ?? {}) };
  if (accessToken) headers.authorization = `Bearer ${accessToken}`;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      target,
      { method: init.method ?? 'GET', headers, lookup: lookupLocalhost, timeout: init.timeoutMs ?? 30_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => reject(new RomulusNetworkError(target.toString(), err)));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            text: () => body.toString('utf8'),
            json: <T>() => JSON.parse(body.toString('utf8')) as T,
          });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => reject(new RomulusNetworkError(target.toString(), err)));
    req.end(init.body);
  });
}
