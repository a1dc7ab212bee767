import type { Socket } from 'node:net';

/**
 * Reads newline-delimited JSON from a socket (the guest channel and QMP both speak it): calls onMessage
 * for every line that parses, skips blank and malformed lines, then afterChunk once per chunk read.
 */
export function onJsonLines(sock: Socket, onMessage: (msg: unknown) => void, afterChunk?: () => void): void {
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
        continue; // not a protocol line
      }
      onMessage(msg);
    }
    afterChunk?.();
  });
}
