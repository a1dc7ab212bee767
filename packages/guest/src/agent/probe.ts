import http from 'node:http';
import net from 'node:net';
import type { ReadinessProbe } from '@romulus/shared';

/**
 * One readiness check inside the guest against 127.0.0.1. HTTP counts as ready on a 2xx/3xx answer (a
 * /readyz that says 503 is not ready yet); TCP on an accepted connection.
 */
export function probeOnce(probe: ReadinessProbe, timeoutMs = 2000, host = '127.0.0.1'): Promise<boolean> {
  if (probe.type === 'none') return Promise.resolve(true);
  return new Promise((resolve) => {
    let settled = false;
    const done = (ok: boolean) => {
      if (!settled) {
        settled = true;
        resolve(ok);
      }
    };
    if (probe.type === 'tcp') {
      const sock = net.connect({ host, port: probe.port });
      sock.setTimeout(timeoutMs, () => { sock.destroy(); done(false); });
      sock.once('connect', () => { sock.destroy(); done(true); });
      sock.once('error', () => done(false));
      return;
    }
    const req = http.get({ host, port: probe.port, path: probe.path, timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      done(status >= 200 && status < 400);
    });
    req.once('timeout', () => { req.destroy(); done(false); });
    req.once('error', () => done(false));
  });
}

/** Probes every intervalMs until ready (true) or until shouldStop() says to give up (false). */
export async function waitReady(
  probe: ReadinessProbe,
  shouldStop: () => boolean,
  intervalMs = 200,
  host = '127.0.0.1',
): Promise<boolean> {
  for (;;) {
    if (shouldStop()) return false;
    if (await probeOnce(probe, 2000, host)) return !shouldStop();
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
