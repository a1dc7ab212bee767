import { chmodSync, chownSync, createReadStream, createWriteStream, rmSync } from 'node:fs';
import net from 'node:net';
import { pipeline } from 'node:stream/promises';
import type { VmmIdentity } from './confine.ts';

/**
 * QEMU's migration stream over a unix socket in the VM's runtime dir, with the daemon at the other end
 * writing or reading the state file. A confined QEMU can neither see nor write the snapshot dir, and this
 * way it never spawns a shell either (the old `exec:cat > file` URI did).
 */
export interface MigrationSink {
  /** Resolves once the whole stream is in the file (rejects on a stream error). */
  done: Promise<void>;
  close(): void;
}

/** Listen on sockPath for QEMU's outgoing migration (`migrate unix:<sockPath>`) and write it to file. */
export async function receiveMigration(sockPath: string, file: string, owner: VmmIdentity | null): Promise<MigrationSink> {
  rmSync(sockPath, { force: true });
  let settle!: { resolve: () => void; reject: (e: Error) => void };
  const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
  done.catch(() => {}); // observed by the caller; never an unhandled rejection
  const server = net.createServer({ allowHalfOpen: false }, (conn) => {
    server.close(); // one stream only
    pipeline(conn, createWriteStream(file, { mode: 0o600 })).then(settle.resolve, settle.reject);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sockPath, () => resolve());
  });
  // Connecting needs write access to the socket: only the VM's own uid gets it.
  if (owner) chownSync(sockPath, owner.uid, owner.gid);
  chmodSync(sockPath, 0o600);
  return {
    done,
    close: () => {
      server.close();
      rmSync(sockPath, { force: true });
    },
  };
}

/** Stream file into the socket QEMU listens on after `migrate-incoming unix:<sockPath>`. */
export async function sendMigration(sockPath: string, file: string): Promise<void> {
  const conn = net.connect(sockPath);
  await new Promise<void>((resolve, reject) => {
    conn.once('connect', resolve);
    conn.once('error', reject);
  });
  const source = createReadStream(file);
  let readFailed = false;
  source.once('error', () => (readFailed = true));
  try {
    await pipeline(source, conn);
  } catch (err) {
    // QEMU closes its end as soon as it has parsed the stream's end marker, which can beat our own finish
    // (seen under load as ERR_STREAM_PREMATURE_CLOSE, or a reset on the last write). A peer that hung up is
    // not ours to judge: the caller learns the outcome from QEMU (query-migrate: completed, or failed if the
    // stream was cut short). Only failing to read the state file is our error.
    if (readFailed) throw err;
  }
}
