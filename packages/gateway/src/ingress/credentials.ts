import type { IncomingMessage } from 'node:http';

/** The cookie the ingress sets after a `?romulus_token=` visit (host-only, HttpOnly). */
export const TOKEN_COOKIE = 'romulus_token';
export const TOKEN_QUERY = 'romulus_token';

export interface AgentCredentials {
  token: string | null;
  via: 'header' | 'query' | 'cookie' | null;
}

/** Finds the agent access token in the Authorization header, the query string or the cookie (in that order). */
export function credentialsOf(req: IncomingMessage): AgentCredentials {
  const auth = req.headers.authorization;
  if (auth && /^bearer\s+/i.test(auth)) return { token: auth.replace(/^bearer\s+/i, '').trim(), via: 'header' };
  const url = new URL(req.url ?? '/', 'http://x');
  const q = url.searchParams.get(TOKEN_QUERY);
  if (q) return { token: q, via: 'query' };
  const c = cookieValue(req.headers.cookie, TOKEN_COOKIE);
  if (c) return { token: c, via: 'cookie' };
  return { token: null, via: null };
}

function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return null;
}

/** The request URL without the token query parameter (what the agent sees). */
export function urlWithoutToken(rawUrl: string): string {
  const url = new URL(rawUrl, 'http://x');
  if (!url.searchParams.has(TOKEN_QUERY)) return rawUrl;
  url.searchParams.delete(TOKEN_QUERY);
  return url.pathname + url.search;
}

/** The Cookie header without our token cookie; undefined when nothing is left. */
export function cookiesWithoutToken(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const rest = header
    .split(';')
    .map((p) => p.trim())
    .filter((p) => p && !p.startsWith(`${TOKEN_COOKIE}=`));
  return rest.length ? rest.join('; ') : undefined;
}
