import path from 'node:path';
import type { GuestToHost } from '@romulus/shared';
import { ChannelError, GuestChannel, type Hello } from '../guest/channel.ts';
import { GuestLogSink } from '../guest/log-sink.ts';
import type { NodeContext, VmEntry } from './context.ts';
import { VmFailure, workloadExited } from './vm-failure.ts';

export type { Hello };

/**
 * Connects to a VM's guest agent, wires its log lines into the VM's bounded log file (secrets redacted)
 * and waits for `hello` after sending `sync`. Used at create and when adopting after a node restart.
 * A channel that cannot be opened or brings no hello in time is a VmFailure GUEST_UNREACHABLE.
 */
export async function attachGuest(
  ctx: NodeContext,
  entry: VmEntry,
  opts: { signal?: AbortSignal; onExit?: (m: Extract<GuestToHost, { t: 'exit' }>) => void },
): Promise<{ hello: Hello; helloAt: number }> {
  const vmm = entry.rec.vmm;
  if (!vmm) throw new Error('no VMM to attach to');
  const t = ctx.config.channel;
  let ch: GuestChannel;
  try {
    ch = await GuestChannel.connect(vmm.channel, t.connectTimeoutMs, opts.signal);
  } catch (e) {
    if (e instanceof ChannelError) throw new VmFailure('GUEST_UNREACHABLE', e.message);
    throw e;
  }
  entry.channel?.close();
  entry.channel = ch;
  entry.logSink ??= new GuestLogSink(path.join(ctx.store.vmDir(entry.rec.id), 'guest.log'), ctx.config.guestLogMaxBytes, (l) => entry.redact(l));
  ch.on('message', (m: GuestToHost) => {
    if (m.t === 'log') entry.logSink?.write(m.stream, String(m.line));
    else if (m.t === 'exit') {
      entry.logSink?.write('agent', `workload exited code=${m.code} signal=${m.signal}`);
      entry.workloadExit = workloadExited(m);
      opts.onExit?.(m);
    } else if (m.t === 'error') {
      ctx.metrics.channelErrors.inc({ kind: 'guest_error' });
      entry.logSink?.write('agent', `guest agent error ${String(m.code)}: ${entry.redact(String(m.message))}`);
    }
  });
  ch.on('garbage', () => ctx.metrics.channelErrors.inc({ kind: 'garbage' }));
  try {
    return { hello: await ch.handshake(t.helloTimeoutMs, opts.signal), helloAt: Date.now() };
  } catch (e) {
    if (!(e instanceof ChannelError)) throw e; // an abort: its reason says why
    ctx.metrics.channelErrors.inc({ kind: 'no_hello' });
    if (e.fault === 'timeout') throw new VmFailure('GUEST_UNREACHABLE', `guest agent did not answer within ${Math.round(t.helloTimeoutMs / 1000)}s`);
    throw new VmFailure('GUEST_CHANNEL_CLOSED', `guest channel closed before the guest agent said hello`);
  }
}
