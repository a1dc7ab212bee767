import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from './atomic-write.ts';
import type { VmRecord } from './vm-record.ts';

/**
 * The node's state dir:
 *   <state>/vms/<id>/vm.json   one record per VM (atomic writes)
 *   <state>/vms/<id>/...       the VM's disk, sockets, logs (driver files live here too)
 *   <state>/leases.json        IP leases { ip: vmId }
 */
export class StateStore {
  readonly vmsDir: string;

  constructor(readonly root: string) {
    this.vmsDir = path.join(root, 'vms');
    mkdirSync(this.vmsDir, { recursive: true, mode: 0o700 });
  }

  vmDir(id: string): string {
    if (!/^[a-z0-9][a-z0-9-]{2,62}$/.test(id)) throw new Error(`bad vm id ${id}`);
    return path.join(this.vmsDir, id);
  }

  ensureVmDir(id: string): string {
    const dir = this.vmDir(id);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  saveVm(rec: VmRecord): void {
    const dir = this.ensureVmDir(rec.id);
    writeFileAtomic(path.join(dir, 'vm.json'), JSON.stringify(rec, null, 2));
  }

  /** All records that parse; dirs without a readable vm.json are returned as `unreadable` (orphans). */
  loadAll(): { records: VmRecord[]; unreadable: string[] } {
    const records: VmRecord[] = [];
    const unreadable: string[] = [];
    for (const name of readdirSync(this.vmsDir)) {
      const file = path.join(this.vmsDir, name, 'vm.json');
      try {
        const rec = JSON.parse(readFileSync(file, 'utf8')) as VmRecord;
        if (rec.id !== name) throw new Error('id mismatch');
        records.push(rec);
      } catch {
        unreadable.push(name);
      }
    }
    return { records, unreadable };
  }

  removeVmDir(id: string): void {
    rmSync(path.join(this.vmsDir, id), { recursive: true, force: true });
  }

  loadLeases(): Record<string, string> {
    const file = path.join(this.root, 'leases.json');
    if (!existsSync(file)) return {};
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
    } catch {
      return {};
    }
  }

  saveLeases(leases: Record<string, string>): void {
    writeFileAtomic(path.join(this.root, 'leases.json'), JSON.stringify(leases, null, 2));
  }
}
