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
  const q = queryOf(req.url ?? '/').get(TOKEN_QUERY);
  if (q) return { token: q, via: 'query' };
  const c = cookieValue(req.headers.cookie, TOKEN_COOKIE);
  if (c) return { token: c, via: 'cookie' };
  return { token: null, via: null };
}

function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeCookieValue(part.slice(i + 1).trim());
  }
  return null;
}

/** We set the cookie %-encoded; a value that does not decode (`%zz`) is taken as it is and simply will not match. */
function decodeCookieValue(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * The query of a request target, split off by hand: `new URL(target, base)` reads a target starting `//` as a
 * host ("//x/y" is host x) or throws on it, and an agent's paths are the agent's business, never reinterpreted.
 */
function splitTarget(rawUrl: string): { path: string; query: string | null } {
  const i = rawUrl.indexOf('?');
  return i < 0 ? { path: rawUrl, query: null } : { path: rawUrl.slice(0, i), query: rawUrl.slice(i + 1) };
}

function queryOf(rawUrl: string): URLSearchParams {
  return new URLSearchParams(splitTarget(rawUrl).query ?? '');
}

/** The request URL without the token query parameter (what the agent sees). */
export function urlWithoutToken(rawUrl: string): string {
  const { path, query } = splitTarget(rawUrl);
  if (query === null) return rawUrl;
  const params = new URLSearchParams(query);
  if (!params.has(TOKEN_QUERY)) return rawUrl;
  params.delete(TOKEN_QUERY);
  const rest = params.toString();
  return rest ? `${path}?${rest}` : path;
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
