/**
 * Host <-> guest agent channel: newline-delimited JSON, one message per line, UTF-8.
 *
 * Transport:
 *   - qemu: virtio-serial port named GUEST_CHANNEL_NAME. Host side is a unix socket chardev
 *     (<vm state dir>/agent.sock, mode 0600, root only) on which QEMU is the server and the node connects.
 *     Inside the guest the port (/dev/virtio-ports/<name>, or found via /sys/class/virtio-ports/*\/name)
 *     is opened by the guest agent (root) only; the workload runs unprivileged and cannot open it.
 *   - firecracker: vsock is not reachable from Node in the guest, so the guest agent listens on TCP
 *     GUEST_TCP_PORT on the VM's own IP and both sides authenticate with an HMAC challenge (see
 *     `hello.challenge`/`auth`) keyed by the per-VM channel key. Either way secrets only cross this channel.
 *
 * Sequence: host -> sync (on connect); guest -> hello; host -> configure; guest -> started, then ready (readiness probe passed) or
 * exit; any time: log lines, ping/pong, exec/exec-result, time; host -> shutdown ends it (guest stops the
 * workload, syncs, powers off).
 */
export const GUEST_CHANNEL_NAME = 'org.romulus.agent';
export const GUEST_TCP_PORT = 10789;
export const GUEST_PROTOCOL_VERSION = 1;

export type GuestToHost =
  | {
      t: 'hello';
      v: number;
      agentVersion: string;
      /** Seconds since guest kernel boot (from /proc/uptime) when init started and when this hello was sent. */
      initStartedAtUptime: number;
      helloAtUptime: number;
      /** Present only on the TCP transport: HMAC-SHA256(key, nonce) proves the guest holds the channel key. */
      challenge?: string;
      /** State, so a node that reconnects (e.g. after its own restart) can adopt without reconfiguring. */
      configured: boolean;
      ready: boolean;
      workloadPid: number | null;
    }
  | { t: 'started'; pid: number }
  | { t: 'ready'; atUptime: number }
  | { t: 'log'; stream: 'stdout' | 'stderr' | 'agent'; line: string }
  | { t: 'exit'; code: number | null; signal: string | null }
  | { t: 'pong'; id: string; now: number }
  | { t: 'exec-result'; id: string; code: number; stdout: string; stderr: string }
  | { t: 'error'; message: string };

export type HostToGuest =
  /** Sent by the host on every (re)connect; the guest answers with `hello`. The guest also sends `hello`
   *  unprompted every second until it is configured (virtio-serial drops writes while no host is attached). */
  | { t: 'sync' }
  | {
      t: 'configure';
      /** Host wall clock (ms since epoch): the guest sets its clock from it (microvm has no RTC). */
      now: number;
      hostname: string;
      env: Record<string, string>;
      secrets: Record<string, string>;
      /** Present only on the TCP transport (answer to the guest's challenge). */
      auth?: string;
    }
  | { t: 'time'; now: number }
  | { t: 'ping'; id: string }
  | { t: 'exec'; id: string; argv: string[]; timeoutMs: number; asWorkloadUser?: boolean }
  | { t: 'shutdown' };

/** Kernel command-line keys the node passes (no secrets here, ever: the cmdline is visible to the host's ps). */
export const CMDLINE = {
  vmId: 'romulus.id',
  /** Host wall clock at VM start (ms since epoch), a first guess until `configure` arrives. */
  time: 'romulus.time',
  /** Device of the per-VM writable disk that becomes the overlay's upper layer. */
  disk: 'romulus.disk',
  /** 'virtio' (default) or 'tcp'. */
  channel: 'romulus.channel',
  /** TCP transport only (Firecracker, whose cmdline travels over its API socket, not argv): channel HMAC key. */
  channelKey: 'romulus.chkey',
} as const;
