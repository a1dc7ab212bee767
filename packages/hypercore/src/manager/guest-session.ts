import path from 'node:path';
import type { GuestToHost } from '@romulus/shared';
import { ChannelAuthError, GuestChannel, type Hello } from '../guest/channel.ts';
import { GuestLogSink } from '../guest/log-sink.ts';
import type { NodeContext, VmEntry } from './context.ts';

export type { Hello };

/**
 * Connects to a VM's guest agent, wires its log lines into the VM's bounded log file (secrets redacted)
 * and waits for `hello` after sending `sync`. Used at create and when adopting after a node restart.
 */
export async function attachGuest(
  ctx: NodeContext,
  entry: VmEntry,
  opts: { signal?: AbortSignal; onExit?: (m: Extract<GuestToHost, { t: 'exit' }>) => void },
): Promise<{ hello: Hello; helloAt: number }> {
  const vmm = entry.rec.vmm;
  if (!vmm) throw new Error('no VMM to attach to');
  const t = ctx.config.channel;
  const ch = await GuestChannel.connect(vmm.channel, t.connectTimeoutMs, opts.signal);
  entry.channel?.close();
  entry.channel = ch;
  entry.logSink ??= new GuestLogSink(path.join(ctx.store.vmDir(entry.rec.id), 'guest.log'), ctx.config.guestLogMaxBytes, (l) => entry.redact(l));
  ch.on('message', (m: GuestToHost) => {
    if (m.t === 'log') entry.logSink?.write(m.stream, String(m.line));
    else if (m.t === 'exit') {
      entry.logSink?.write('agent', `workload exited code=${m.code} signal=${m.signal}`);
      entry.workloadExit = `workload exited (code ${m.code ?? 'none'}${m.signal ? `, signal ${m.signal}` : ''})`;
      opts.onExit?.(m);
    } else if (m.t === 'error') {
      ctx.metrics.channelErrors.inc({ kind: 'guest_error' });
      entry.logSink?.write('agent', `guest agent error: ${entry.redact(String(m.message))}`);
    }
  });
  ch.on('garbage', () => ctx.metrics.channelErrors.inc({ kind: 'garbage' }));
  try {
    return { hello: await ch.handshake(t.helloTimeoutMs, opts.signal), helloAt: Date.now() };
  } catch (e) {
    if (e instanceof ChannelAuthError) {
      ctx.metrics.channelErrors.inc({ kind: 'auth' });
      throw e;
    }
    ctx.metrics.channelErrors.inc({ kind: 'no_hello' });
    const message = (e as Error).message;
    throw new Error(/did not arrive/.test(message) ? `guest agent did not answer within ${Math.round(t.helloTimeoutMs / 1000)}s` : message);
  }
}

/** The host's proof for the TCP transport (configure.auth / auth), or undefined on virtio. */
export function hostProof(entry: VmEntry): string | undefined {
  return entry.channel?.hostProof();
}
