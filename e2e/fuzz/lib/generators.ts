import type { Rng } from './prng.ts';
import type { RawRequest } from './raw-http.ts';

/**
 * Building blocks of hostile HTTP: a request is a Spec (method, target, headers in order, body), turned into
 * bytes by `toRaw`. `clean` specs have sound framing (one request, exact content-length) and may share a
 * keep-alive connection; anything that plays with the framing or the header syntax gets a connection of its own.
 */
export interface Spec {
  method: string;
  target: string;
  headers: [string, string][];
  body?: Buffer | string;
  version?: string;
  /** Leave content-length/transfer-encoding as given (framing is the mutation). */
  rawFraming?: boolean;
  /** The client hangs up after sending (a request it left incomplete on purpose). */
  halfClose?: boolean;
  /** Sound framing: safe on a shared keep-alive connection. */
  clean: boolean;
  /** What was done to it, for the failure report. */
  notes: string[];
}

export function toRaw(s: Spec): RawRequest {
  const headers = [...s.headers];
  const has = (n: string) => headers.some(([k]) => k.toLowerCase() === n);
  if (s.body !== undefined && !s.rawFraming && !has('content-length') && !has('transfer-encoding')) {
    headers.push(['content-length', String(Buffer.byteLength(s.body))]);
  }
  const head = `${s.method} ${s.target} ${s.version ?? 'HTTP/1.1'}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  const bytes = Buffer.concat([Buffer.from(head, 'utf8'), s.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(s.body) ? s.body : Buffer.from(s.body, 'utf8')]);
  const label = `${s.method.slice(0, 20)} ${s.target.slice(0, 120)}${s.target.length > 120 ? `…(${s.target.length})` : ''} [${s.notes.join(', ')}]`;
  return { label, bytes, halfClose: s.halfClose, head: s.method === 'HEAD' };
}

export const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS', 'TRACE', 'get', 'FOO', 'PROPFIND', 'M-SEARCH', 'CONNECT'];

/** Hostile variants of a path (the base is a real route or anything). */
export function weirdPath(r: Rng, base: string): string {
  return r.weighted<() => string>([
    [3, () => base],
    [2, () => `/${base}`], // `//x`
    [2, () => `${base}/%zz`],
    [1, () => `${base}%`],
    [1, () => `/%E0%A4%A${base}`],
    [2, () => `${base}/${r.str(r.pick([101, 500, 4000, 9000]), 'abcxyz')}`],
    [2, () => `/${r.str(r.pick([101, 300, 3000]))}`],
    [2, () => `${base}/${r.pick(['ñ', '☃', '𝔘', 'é/../x', '\u202e', '日本'])}`],
    [2, () => r.pick(['/../..', '/./', '/a/../../b', '/%2e%2e/%2e%2e', '/..%2f..%2f', '/.//..']) + base],
    [1, () => `${base}%00`],
    [1, () => `${base}%2F..%2F`],
    [1, () => base.replace(/\//g, '\\')],
    [1, () => r.pick(['*', '', 'http://evil.example/x', `http://localhost${base}`, '?', '#x', '/?', '/#'])],
    [1, () => `${base}${base}${base}`],
    [1, () => base.toUpperCase()],
    [1, () => `${base};jsessionid=1`],
  ])();
}

/** Query strings: duplicates, bad escapes, huge, empty pieces. */
export function weirdQuery(r: Rng): string {
  return r.weighted<() => string>([
    [3, () => ''],
    [1, () => '?'],
    [1, () => '?a=%zz'],
    [1, () => '?&&=&=='],
    [1, () => `?x=${r.str(r.pick([100, 3000, 8000]))}`],
    [1, () => '?state=running&state=stopped&timeoutMs=1'],
    [1, () => '?__proto__[x]=1&constructor[prototype][y]=2'],
    [1, () => `?timeoutMs=${r.pick(['-1', '1e9', '99999999999', 'NaN', '0x10', '', '1.5'])}&state=${r.pick(['running', 'RUNNING', 'x', ''])}`],
    [1, () => '?romulus_token=%E0%A4%A'],
    [1, () => `?${encodeURIComponent('ñ☃')}=${encodeURIComponent('𝔘')}`],
  ])();
}

/** A random JSON-ish value, including nasty ones. */
export function weirdValue(r: Rng, depth = 0): unknown {
  return r.weighted<() => unknown>([
    [2, () => null],
    [2, () => r.bool()],
    [2, () => r.int(-5, 5)],
    [1, () => r.pick([1e308, -1e308, 2 ** 53 + 1, -0, 0.5, 1e-320, 4294967296, 65])],
    [3, () => r.str(r.int(0, 20))],
    [1, () => r.str(r.pick([1000, 20000]))],
    [1, () => r.pick(['', ' ', '\u0000', '../../etc/passwd', '%zz', '☃', 'base', 'BASE', 'a'.repeat(65), '__proto__'])],
    [depth < 3 ? 1 : 0, () => Array.from({ length: r.int(0, 4) }, () => weirdValue(r, depth + 1))],
    [depth < 3 ? 1 : 0, () => Object.fromEntries(Array.from({ length: r.int(0, 4) }, () => [r.pick(['a', 'A_B', '1x', '', '__proto__', 'constructor', r.str(5)]), weirdValue(r, depth + 1)]))],
  ])();
}

/** Body text: JSON variants that break parsers and validators (truncated, deep, huge numbers, junk). */
export function weirdBody(r: Rng, valid: unknown): Buffer | string {
  const text = JSON.stringify(valid ?? {});
  return r.weighted<() => Buffer | string>([
    [3, () => text.slice(0, r.int(0, Math.max(0, text.length - 1)))],
    [2, () => JSON.stringify(weirdValue(r))],
    [1, () => '['.repeat(r.pick([100, 5000, 20000]))],
    [1, () => `${'{"a":'.repeat(2000)}1${'}'.repeat(2000)}`],
    [1, () => '{"agent_type":1e99999,"vcpus":123456789012345678901234567890}'],
    [1, () => `${text}${text}`],
    [1, () => `\ufeff${text}`],
    [1, () => r.bytes(r.int(1, 200))],
    [1, () => Buffer.concat([Buffer.from('{"agent_type":"'), Buffer.from([0xc3, 0x28, 0xff, 0xfe]), Buffer.from('"}')])],
    [1, () => '{"__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}}}'],
    [1, () => `{"agent_type":"base","agent_type":${JSON.stringify(weirdValue(r))}}`],
    [1, () => ''],
    [1, () => 'null'],
    [1, () => 'x'.repeat(r.pick([17 * 1024, 300 * 1024]))],
  ])();
}

export const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=latin1',
  'APPLICATION/JSON',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/octet-stream',
  'application/json;;;',
  '',
  ';',
  'application/vnd.api+json',
  'application/json, text/plain',
  '*/*',
];

/** A header line that is itself the problem. */
export function weirdHeader(r: Rng): [string, string] {
  return r.weighted<() => [string, string]>([
    [2, () => ['cookie', r.pick(['romulus_token=%E0%A4%A', 'romulus_token=', 'romulus_token', '=;=;', 'a=b; romulus_token=%zz; c', `romulus_token=${'x'.repeat(5000)}`, ';;;'])]],
    [2, () => ['authorization', r.pick(['Bearer', 'Bearer ', 'Bearer %E0%A4%A', 'Basic Zm9vOmJhcg==', 'bearer  x y', `Bearer ${'t'.repeat(6000)}`, 'Bearer \u00ff'])]],
    [1, () => ['upgrade', r.pick(['websocket', 'h2c', 'WebSocket', 'foo'])]],
    [1, () => ['connection', r.pick(['upgrade', 'close', 'keep-alive, Upgrade', 'x'])]],
    [1, () => ['expect', r.pick(['100-continue', 'x'])]],
    [1, () => ['content-encoding', r.pick(['gzip', 'br', 'deflate', 'x'])]],
    [1, () => ['accept', r.pick(['*/*', 'text/html', '', 'application/xml'])]],
    [1, () => ['x-forwarded-for', r.pick(['1.2.3.4', 'garbage', '::1, 10.0.0.1'])]],
    [1, () => ['x-' + r.str(8), r.str(r.int(0, 50))]],
    [1, () => ['x-huge', 'h'.repeat(r.pick([8000, 20000]))]],
    [1, () => ['x-wallet', r.pick(['', '0', 'I'.repeat(44), '1'.repeat(32), 'ñ'])]],
    [1, () => ['x-timestamp', r.pick(['', 'NaN', '-1', '1e999', '99999999999999999999', String(Date.now()), '0x1'])]],
    [1, () => ['x-signature', r.pick(['', '0', 'A'.repeat(88), '='.repeat(10), 'zz', '1'.repeat(200)])]],
  ])();
}

/** Hosts, for a server that routes on Host. */
export function weirdHost(r: Rng, port: number, agentIds: string[]): string | null {
  return r.weighted<() => string | null>([
    [2, () => null],
    [2, () => `localhost:${port}`],
    [1, () => ''],
    [1, () => `${r.pick(agentIds)}.localhost:${port}`],
    [1, () => `${r.pick(agentIds).toUpperCase()}.LOCALHOST`],
    [1, () => `x.${r.pick(agentIds)}.localhost`],
    [1, () => '.localhost'],
    [1, () => `${r.str(12, 'abcdef0123')}-${r.str(12, 'abcdef0123')}.localhost`],
    [1, () => 'ä.localhost'],
    [1, () => 'a b'],
    [1, () => `${'h'.repeat(300)}.localhost`],
    [1, () => 'localhost:99999'],
    [1, () => '[::1]:1'],
    [1, () => 'evil.example'],
  ])();
}

/** Framing and syntax damage to an otherwise finished spec. Always makes it unclean. */
export function breakFraming(r: Rng, s: Spec): Spec {
  const body = s.body ?? '{}';
  const len = Buffer.byteLength(body);
  const out: Spec = { ...s, headers: [...s.headers], clean: false, notes: [...s.notes] };
  const kind = r.pick([
    'cl-short',
    'cl-long',
    'cl-dup',
    'cl-bad',
    'te-and-cl',
    'chunked',
    'chunked-bad',
    'bad-line',
    'bare-lf',
    'no-colon',
    'space-before-colon',
    'nul',
    'version',
    'huge-headers',
    'many-headers',
    'incomplete-headers',
    'obs-fold',
  ] as const);
  out.notes.push(kind);
  const drop = (n: string) => (out.headers = out.headers.filter(([k]) => k.toLowerCase() !== n));
  switch (kind) {
    case 'cl-short':
      out.rawFraming = true;
      out.body = body;
      out.headers.push(['content-length', String(Math.max(0, len - r.int(1, 5)))]);
      break;
    case 'cl-long':
      out.rawFraming = true;
      out.body = body;
      out.headers.push(['content-length', String(len + r.int(1, 1000))]);
      out.halfClose = true;
      break;
    case 'cl-dup':
      out.rawFraming = true;
      out.body = body;
      out.headers.push(['content-length', String(len)], ['content-length', String(len + 1)]);
      break;
    case 'cl-bad':
      out.rawFraming = true;
      out.body = body;
      out.headers.push(['content-length', r.pick(['-1', 'abc', '1e3', '99999999999999999999', ' 2', '0x10'])]);
      break;
    case 'te-and-cl':
      out.rawFraming = true;
      out.body = `${len.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
      out.headers.push(['transfer-encoding', 'chunked'], ['content-length', String(len)]);
      break;
    case 'chunked':
      out.rawFraming = true;
      out.body = `${len.toString(16)}\r\n${body}\r\n0\r\n\r\n`;
      out.headers.push(['transfer-encoding', r.pick(['chunked', 'Chunked', 'gzip, chunked'])]);
      break;
    case 'chunked-bad':
      out.rawFraming = true;
      out.body = r.pick([`zz\r\n${body}\r\n0\r\n\r\n`, `${len.toString(16)}\r\n${body}`, `ffffffffffffffff\r\nx\r\n`, `${len.toString(16)};ext=1\r\n${body}\r\n0\r\n\r\n`]);
      out.headers.push(['transfer-encoding', r.pick(['chunked', 'chunked, identity', 'identity', 'x'])]);
      out.halfClose = true;
      break;
    case 'bad-line':
      out.method = r.pick(['G ET', 'GET\t', '', 'GET /', 'ÄÖ', 'GET\u0000']);
      break;
    case 'bare-lf':
      out.headers.push(['x-a', 'b\nx-c: d']);
      break;
    case 'no-colon':
      out.headers.push(['x-a', 'b\r\nthis line has no colon']);
      break;
    case 'space-before-colon':
      out.headers.push(['host ', 'localhost']);
      break;
    case 'nul':
      out.headers.push(['x-nul', 'a\u0000b']);
      break;
    case 'version':
      out.version = r.pick(['HTTP/1.0', 'HTTP/2.0', 'HTTP/0.9', 'HTTP/1.1x', 'HTTPS/1.1', 'http/1.1', 'HTTP/9.9']);
      break;
    case 'huge-headers':
      out.headers.push(['x-big', 'b'.repeat(r.pick([17_000, 40_000, 70_000]))]);
      break;
    case 'many-headers':
      for (let i = 0; i < r.pick([200, 2500]); i++) out.headers.push([`x-h${i}`, 'v']);
      break;
    case 'incomplete-headers':
      out.rawFraming = true;
      out.halfClose = true;
      out.body = undefined;
      drop('content-length');
      out.headers.push(['x-unfinished', 'no blank line follows']);
      out.target = out.target + ' HTTP/1.1\r\nx-trailing: 1\r\nx-more: 2'; // request line and headers never end
      out.version = '';
      break;
    case 'obs-fold':
      out.headers.push(['x-folded', 'a\r\n b']);
      break;
  }
  return out;
}

/** A JSON request spec (host, content-type, body) before any damage. */
export function jsonSpec(method: string, target: string, host: string | null, headers: [string, string][], body?: unknown): Spec {
  const h: [string, string][] = host === null ? [] : [['host', host]];
  h.push(...headers);
  if (body !== undefined) h.push(['content-type', 'application/json']);
  return { method, target, headers: h, body: body === undefined ? undefined : JSON.stringify(body), clean: true, notes: [] };
}

/** Mutations that keep the framing sound: body, content-type, headers, path and method. */
export function mutate(r: Rng, s: Spec, bodyOf: unknown): Spec {
  const out: Spec = { ...s, headers: [...s.headers], notes: [...s.notes] };
  const n = r.int(1, 3);
  for (let i = 0; i < n; i++) {
    const kind = r.pick(['body-field', 'body-text', 'content-type', 'drop-header', 'add-header', 'path', 'method', 'query', 'no-body'] as const);
    out.notes.push(kind);
    switch (kind) {
      case 'body-field': {
        const obj = (bodyOf && typeof bodyOf === 'object' ? structuredClone(bodyOf) : {}) as Record<string, unknown>;
        const keys = Object.keys(obj);
        const op = r.pick(['retype', 'drop', 'add', 'nest']);
        if (op === 'retype' && keys.length) obj[r.pick(keys)] = weirdValue(r);
        else if (op === 'drop' && keys.length) delete obj[r.pick(keys)];
        else if (op === 'nest' && keys.length) obj[r.pick(keys)] = { [r.pick(['A', 'a-b', '1', 'OK_KEY'])]: weirdValue(r) };
        else obj[r.pick(['extra', 'id', 'vcpus', 'secrets', 'env', 'image', '__proto__'])] = weirdValue(r);
        out.body = JSON.stringify(obj);
        setHeader(out, 'content-type', 'application/json');
        break;
      }
      case 'body-text':
        out.body = weirdBody(r, bodyOf);
        setHeader(out, 'content-type', 'application/json');
        break;
      case 'content-type':
        setHeader(out, 'content-type', r.pick(CONTENT_TYPES));
        if (out.body === undefined) out.body = JSON.stringify(bodyOf ?? {});
        break;
      case 'drop-header':
        if (out.headers.length) out.headers.splice(r.int(0, out.headers.length - 1), 1);
        break;
      case 'add-header':
        out.headers.push(weirdHeader(r));
        break;
      case 'path':
        out.target = weirdPath(r, out.target.split('?')[0]);
        if (out.target === '' || out.target.includes(' ')) out.clean = false;
        break;
      case 'method':
        out.method = r.pick(METHODS);
        break;
      case 'query':
        out.target = out.target.split('?')[0] + weirdQuery(r);
        break;
      case 'no-body':
        out.body = undefined;
        break;
    }
  }
  // Headers whose syntax the parser refuses end the connection: give them one of their own.
  if (out.headers.some(([k, v]) => /[^\x20-\x7e\t]/.test(v) || v.length > 7000 || k.includes(' '))) out.clean = false;
  if (/[^\x21-\x7e]/.test(out.target) || out.target === '' || out.method === 'CONNECT') out.clean = false;
  return out;
}

export function setHeader(s: Spec, name: string, value: string): void {
  s.headers = s.headers.filter(([k]) => k.toLowerCase() !== name);
  s.headers.push([name, value]);
}
