import type { Logger } from '@romulus/shared';
import type { Accel } from '@romulus/shared';
import type { NodeConfig } from '../config.ts';
import type { RunCommand } from '../exec.ts';
import type { GuestChannel } from '../guest/channel.ts';
import type { GuestLogSink } from '../guest/log-sink.ts';
import type { ImageStore } from '../images.ts';
import type { NodeMetrics } from '../metrics.ts';
import type { IpAllocator } from '../network/ip-allocator.ts';
import type { NetworkPort } from '../network/types.ts';
import type { StateStore } from '../state/state-store.ts';
import type { VmRecord } from '../state/vm-record.ts';
import type { VmmDriver } from '../vmm/types.ts';

/** Everything the lifecycle plans reach (the ports plus node-wide config). */
export interface NodeContext {
  config: NodeConfig;
  driver: VmmDriver;
  network: NetworkPort;
  store: StateStore;
  images: ImageStore;
  ips: IpAllocator;
  metrics: NodeMetrics;
  log: Logger;
  accel: Accel;
  run: RunCommand;
}

/** The in-memory side of one VM. Secrets live only in `pendingSecrets` (until delivered) and `redact`. */
export interface VmEntry {
  rec: VmRecord;
  channel?: GuestChannel;
  logSink?: GuestLogSink;
  redact: (line: string) => string;
  pendingSecrets?: Record<string, string>;
  pendingEnv?: Record<string, string>;
  /** Aborts an in-flight create (stop/delete during boot, VMM death during boot). */
  abort?: AbortController;
  /** Serialises lifecycle operations on this VM. */
  lock: Promise<void>;
  /** Set once stop/delete was asked, so the liveness loop does not call the exit unexpected. */
  stopping: boolean;
  deleted?: boolean;
  /** Last `exit` the guest reported for the workload (explains a VM that powered off by itself). */
  workloadExit?: string;
}

export function withLock<T>(entry: VmEntry, fn: () => Promise<T>): Promise<T> {
  const run = entry.lock.then(fn, fn);
  entry.lock = run.then(
    () => undefined,
    () => undefined,
  );
  return run;
}
