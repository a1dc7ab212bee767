/**
 * Host <-> guest agent channel: newline-delimited JSON, one message per line, UTF-8.
 *
 * Transport:
 *   - qemu: virtio-serial port named GUEST_CHANNEL_NAME. Host side is a unix socket chardev
 *     (<vm state dir>/agent.sock, mode 0600, root only) on which QEMU is the server and the node connects.
 *     Inside the guest the port (/dev/virtio-ports/<name>, or found via /sys/class/virtio-ports/*\/name)
 *     is opened by the guest agent (root) only; the workload runs unprivileged and cannot open it.
 *   - firecracker: its vsock device. The host side is a unix socket (<vm state dir>/vsock.sock, 0600) on
 *     which Firecracker is the server; the node connects and sends `CONNECT <GUEST_VSOCK_PORT>\n`, answered
 *     `OK <n>\n`. Node cannot open AF_VSOCK, so the guest's init listens on the port and relays the
 *     connection to the agent over an inherited unix socket. Only the host can reach a guest's vsock.
 *   Either way the guest's end is root-only and no key is needed; secrets only cross this channel.
 *
 * Sequence: host -> sync (on connect); guest -> hello; host -> configure; guest -> started, then ready (readiness probe passed) or
 * exit; any time: log lines, ping/pong, exec/exec-result, time; host -> shutdown ends it (guest stops the
 * workload, syncs, powers off).
 */
export const GUEST_CHANNEL_NAME = 'org.romulus.agent';
/** Below 1024, so only root in the guest may bind it (vsock reserves 0-1023 for CAP_NET_BIND_SERVICE). */
export const GUEST_VSOCK_PORT = 52;
/** 2: the TCP transport's handshake (`auth`, nonces, proofs, NOT_AUTHENTICATED) is gone. */
export const GUEST_PROTOCOL_VERSION = 2;

export type GuestToHost =
  | {
      t: 'hello';
      v: number;
      agentVersion: string;
      /** Seconds since guest kernel boot (from /proc/uptime) when init started and when this hello was sent. */
      initStartedAtUptime: number;
      helloAtUptime: number;
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
  | { t: 'error'; code: GuestErrorCode; message: string };

/**
 * Why the guest agent answered `error`. The host acts on the code; the message is for people (and never
 * echoes what the host sent, which may hold secrets).
 */
export const GUEST_ERROR_CODES = [
  /** A line that is not one JSON object with a string `t`. */
  'MALFORMED_MESSAGE',
  /** A `t` the agent does not know. */
  'UNKNOWN_MESSAGE',
  /** A message whose fields are wrong (e.g. `time.now` not ms since epoch, a `sync` without its nonce). */
  'BAD_MESSAGE',
  /** `configure` whose fields are wrong; nothing was started, a corrected configure may follow. */
  'BAD_CONFIGURE',
  /** A second `configure`: the first one stands (a `hello` with the state follows). */
  'ALREADY_CONFIGURED',
  /** The workload could not be started (manifest, user, spawn); an `exit` follows. */
  'WORKLOAD_START_FAILED',
  /** Setting the clock failed (`time`). */
  'SET_CLOCK_FAILED',
] as const;
export type GuestErrorCode = (typeof GUEST_ERROR_CODES)[number];

/** Error codes that end a `configure`: the workload will not run from it. */
export const CONFIGURE_FAILURE_CODES: readonly GuestErrorCode[] = ['BAD_CONFIGURE', 'ALREADY_CONFIGURED', 'WORKLOAD_START_FAILED'];

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
  /** 'virtio' (default) or 'vsock': added by the VMM driver, which owns the channel. */
  channel: 'romulus.channel',
} as const;
