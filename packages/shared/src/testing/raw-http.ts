import net from 'node:net';

/** Sends raw bytes to a loopback port and resolves with everything answered until the server closes. */
export function exchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d) => (got += d.toString()));
    s.on('close', () => resolve(got));
    s.on('error', reject);
    s.write(bytes);
  });
}

/** A raw HTTP/1.1 answer's status and its envelope's error code. */
export const codeOf = (answer: string): [number, string] => [
  Number(answer.slice(9, 12)),
  JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).error.code,
];
