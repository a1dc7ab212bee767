import net from 'node:net';

/** One request as bytes on the wire, and what the sender may expect of it. */
export interface RawRequest {
  /** Short description for failure reports (method, target, what was mutated). */
  label: string;
  bytes: Buffer;
  /** The client hangs up mid-request on purpose (incomplete headers or body): the server may close unanswered. */
  halfClose?: boolean;
  /** HEAD: the answer has no body whatever its headers say. */
  head?: boolean;
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

export type Outcome =
  | { kind: 'response'; res: RawResponse }
  /** The connection closed (or was reset) before a complete answer. */
  | { kind: 'dropped'; partial: string; error?: string }
  /** Nothing within the sender's own deadline. */
  | { kind: 'hung' };

/**
 * Minimal HTTP/1.1 response reader over a socket: status line, headers, then a body by content-length,
 * chunked encoding or close. A 101 ends the exchange (the socket is then a WebSocket). Returns how many
 * bytes the response used, or null when more are needed.
 */
export function parseResponse(buf: Buffer, head: boolean, closed: boolean): { res: RawResponse; used: number } | null {
  let start = 0;
  for (;;) {
    const end = buf.indexOf('\r\n\r\n', start);
    if (end < 0) return null;
    const lines = buf.subarray(start, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(lines[0].slice(0, 80))}`);
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (const l of lines.slice(1)) {
      const i = l.indexOf(':');
      if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const bodyAt = end + 4;
    if (status >= 100 && status < 200 && status !== 101) {
      start = bodyAt; // 100 Continue and friends: the real answer follows
      continue;
    }
    if (status === 101 || head || status === 204 || status === 304) return { res: { status, headers, body: Buffer.alloc(0) }, used: bodyAt };
    if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
      const chunks: Buffer[] = [];
      let p = bodyAt;
      for (;;) {
        const le = buf.indexOf('\r\n', p);
        if (le < 0) return null;
        const size = parseInt(buf.subarray(p, le).toString('latin1'), 16);
        if (Number.isNaN(size)) throw new Error('bad chunk size');
        if (size === 0) {
          const te = buf.indexOf('\r\n\r\n', le);
          if (te >= 0) return { res: { status, headers, body: Buffer.concat(chunks) }, used: te + 4 };
          if (buf.length >= le + 4 && buf.subarray(le, le + 4).toString() === '\r\n\r\n') return { res: { status, headers, body: Buffer.concat(chunks) }, used: le + 4 };
          return null;
        }
        if (buf.length < le + 2 + size + 2) return null;
        chunks.push(buf.subarray(le + 2, le + 2 + size));
        p = le + 2 + size + 2;
      }
    }
    if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (buf.length < bodyAt + n) return null;
      return { res: { status, headers, body: buf.subarray(bodyAt, bodyAt + n) }, used: bodyAt + n };
    }
    return closed ? { res: { status, headers, body: buf.subarray(bodyAt) }, used: buf.length } : null;
  }
}

/**
 * Sends requests over a pool of keep-alive connections (well-formed requests) or one fresh connection each
 * (malformed ones: what the parser makes of them must not be read as the answer to the next request).
 */
export class RawClient {
  private idle: net.Socket[] = [];
  private readonly guarded = new WeakSet<net.Socket>();
  constructor(
    private readonly port: number,
    private readonly deadlineMs = 30_000,
  ) {}

  send(req: RawRequest, reuse: boolean): Promise<Outcome> {
    const pooled = reuse ? this.idle.pop() : undefined;
    const sock = pooled ?? net.connect({ host: '127.0.0.1', port: this.port });
    return new Promise((resolve) => {
      let buf = Buffer.alloc(0);
      let done = false;
      const finish = (o: Outcome, keep: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        sock.off('data', onData);
        sock.off('close', onClose);
        sock.off('error', onError);
        if (keep && !sock.destroyed) {
          if (!this.guarded.has(sock)) {
            this.guarded.add(sock);
            sock.on('error', () => sock.destroy()); // an idle pooled socket the server resets
          }
          this.idle.push(sock);
        } else sock.destroy();
        resolve(o);
      };
      const tryParse = (closed: boolean) => {
        try {
          const r = parseResponse(buf, !!req.head, closed);
          if (!r) return false;
          const keep = reuse && r.res.status !== 101 && !/close/i.test(r.res.headers.connection ?? '') && r.used === buf.length;
          finish({ kind: 'response', res: r.res }, keep);
          return true;
        } catch (err) {
          finish({ kind: 'dropped', partial: buf.subarray(0, 200).toString('latin1'), error: (err as Error).message }, false);
          return true;
        }
      };
      const onData = (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        tryParse(false);
      };
      const onClose = () => {
        if (!tryParse(true)) finish({ kind: 'dropped', partial: buf.subarray(0, 200).toString('latin1'), error: lastError }, false);
      };
      let lastError: string | undefined;
      const onError = (e: Error) => {
        lastError = (e as NodeJS.ErrnoException).code ?? e.message;
        if (pooled && buf.length === 0 && !done) {
          // A pooled socket the server closed while idle: not this request's fault, retry on a fresh one.
          done = true;
          clearTimeout(timer);
          sock.destroy();
          void this.send(req, reuse).then(resolve);
        }
      };
      const timer = setTimeout(() => finish({ kind: 'hung' }, false), this.deadlineMs);
      sock.on('data', onData);
      sock.on('close', onClose);
      sock.on('error', onError);
      sock.write(req.bytes, () => {
        if (req.halfClose) sock.end();
      });
    });
  }

  close(): void {
    for (const s of this.idle) s.destroy();
    this.idle = [];
  }
}

/** Builds request bytes: request line, headers as given (order, case and duplicates kept), body. */
export function rawBytes(method: string, target: string, headers: [string, string][], body?: Buffer | string, version = 'HTTP/1.1'): Buffer {
  const head = `${method} ${target} ${version}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return Buffer.concat([Buffer.from(head, 'utf8'), body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8')]);
}
