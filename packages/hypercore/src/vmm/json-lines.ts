import type { Socket } from 'node:net';

export interface JsonLinesOptions {
  /** Called with the start of a non-blank line that is not JSON. */
  onGarbage?: (sample: string) => void;
  /** Longest partial line kept before onOverflow is called (a peer must not make us buffer without bound). */
  maxLineBytes?: number;
  onOverflow?: () => void;
}

/**
 * Reads newline-delimited JSON from a socket (the guest channel and QMP both speak it): calls onMessage
 * for every line that parses and skips blank lines.
 */
export function onJsonLines(sock: Socket, onMessage: (msg: unknown) => void, opts: JsonLinesOptions = {}): void {
  let buf = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => {
    buf += d;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (!line) continue;
      let msg: unknown;
      try {
        msg = JSON.parse(line);
      } catch {
        opts.onGarbage?.(line.slice(0, 200));
        continue;
      }
      onMessage(msg);
    }
    if (opts.maxLineBytes !== undefined && buf.length > opts.maxLineBytes) {
      buf = '';
      opts.onOverflow?.();
    }
  });
}
