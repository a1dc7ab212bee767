import { FirecrackerDriver, type FirecrackerDriverOptions } from './firecracker.ts';
import { QemuDriver, type QemuDriverOptions } from './qemu.ts';
import type { VmmDriver } from './types.ts';

export type DriverName = 'qemu' | 'firecracker';
export type CreateDriverOptions = QemuDriverOptions & FirecrackerDriverOptions;

/** The one place that maps the node config's `driver` name to an adapter. */
export function createDriver(name: DriverName, opts: CreateDriverOptions = {}): VmmDriver {
  switch (name) {
    case 'qemu':
      return new QemuDriver(opts);
    case 'firecracker':
      return new FirecrackerDriver(opts);
    default:
      throw new Error(`unknown VMM driver ${JSON.stringify(name)} (known: qemu, firecracker)`);
  }
}
