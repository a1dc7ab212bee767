import http from 'node:http';

/** Firecracker's HTTP API over its unix socket: one JSON request, one answer, errors as thrown faults. */
export interface FcAnswer {
  status: number;
  body: unknown;
}

export function fcRequest(socketPath: string, method: string, urlPath: string, body?: unknown, timeoutMs = 10_000): Promise<FcAnswer> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        socketPath,
        method,
        path: urlPath,
        headers: {
          Accept: 'application/json',
          ...(payload !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}),
        },
        timeout: timeoutMs,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let parsed: unknown = text;
          try {
            parsed = text ? JSON.parse(text) : null;
          } catch {
            /* keep the text */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`firecracker API ${method} ${urlPath}: timeout`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/** Like fcRequest, but a non-2xx answer throws with Firecracker's fault_message. */
export async function fcCall(socketPath: string, method: string, urlPath: string, body?: unknown): Promise<unknown> {
  const a = await fcRequest(socketPath, method, urlPath, body);
  if (a.status < 200 || a.status > 299) {
    const fault = (a.body as { fault_message?: string } | null)?.fault_message ?? JSON.stringify(a.body);
    throw new Error(`firecracker API ${method} ${urlPath} -> ${a.status}: ${fault}`);
  }
  return a.body;
}
