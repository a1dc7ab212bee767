import { Type, type Static } from 'typebox';
import { ApiError } from './errors.ts';

/**
 * The hypercore node daemon's HTTP API (all under /v1, all but /v1/health need
 * `Authorization: Bearer <node token>`).
 *
 *   POST   /v1/vms                 CreateVmRequest -> 201 Vm (state "creating"/"starting")
 *   GET    /v1/vms                 -> { vms: Vm[] }
 *   GET    /v1/vms/:id             -> Vm
 *   POST   /v1/vms/:id/stop        -> 202 Vm (idempotent)
 *   DELETE /v1/vms/:id             -> 200 { success: true } (stops first if needed; removes disk + state)
 *   GET    /v1/vms/:id/wait?state=running&timeoutMs=60000 -> Vm once in that state (or a terminal one);
 *                                     408 WAIT_TIMEOUT with the Vm in error.vm if it did not get there
 *   POST   /v1/vms/:id/exec        { argv: string[], timeoutMs? } -> { code, stdout, stderr } (via guest agent)
 *   GET    /v1/events              -> text/event-stream of NodeEvent: every VM, `synced`, then each change
 *   GET    /v1/images              -> { images: ImageManifest[] }
 *   GET    /v1/capacity            -> Capacity
 *   GET    /v1/health              -> Health (no auth; no secrets in it)
 *   GET    /metrics                -> Prometheus text (auth)
 */

/**
 * Every error code the node API answers with, and its HTTP status (the envelope is the shared one:
 * { success: false, error: { code, message, ...details } }). Clients act on the code.
 */
export const NODE_ERRORS = {
  /** The body, params or query do not fit the schema (or a rule beyond it, e.g. env names). */
  VALIDATION_FAILED: 400,
  MALFORMED_JSON: 400,
  BAD_REQUEST: 400,
  /** The request asked for less than the image's minimum vCPUs/memory (details: required, requested). */
  BELOW_IMAGE_MINIMUM: 400,
  /** A name given both as env and as a secret. */
  ENV_SECRET_CLASH: 400,
  UNAUTHORIZED: 401,
  /** No such route. */
  NOT_FOUND: 404,
  VM_NOT_FOUND: 404,
  IMAGE_NOT_FOUND: 404,
  /** wait: the VM did not reach the state in time (details: vm). */
  WAIT_TIMEOUT: 408,
  VM_EXISTS: 409,
  /** exec on a VM that is not running. */
  VM_NOT_RUNNING: 409,
  /** Not enough free vCPUs, memory or IP addresses (details: free). */
  INSUFFICIENT_CAPACITY: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  /** exec: the guest agent did not answer (channel closed or timed out). */
  EXEC_FAILED: 502,
  /** The node is shutting down; another attempt after its restart may succeed. */
  NODE_CLOSING: 503,
} as const satisfies Record<string, number>;
export type NodeErrorCode = keyof typeof NODE_ERRORS;

/** An ApiError with a node error code and the status that code has. */
export function nodeError(code: NodeErrorCode, message: string, details?: Record<string, unknown>): ApiError {
  return new ApiError(NODE_ERRORS[code], code, message, details);
}

/**
 * Why a VM failed (Vm.reasonCode; Vm.reason says it in words). Host-side steps, the VMM, the guest channel
 * and the workload fail in different ways, and a client (or an operator's alert) can tell them apart.
 */
export const VM_FAILURE_CODES = [
  /** IP lease, disk, firewall rules or TAP could not be set up. */
  'HOST_SETUP_FAILED',
  /** The VMM did not start. */
  'VMM_START_FAILED',
  /** The VMM process went away (during boot or later). */
  'VMM_EXITED',
  /** The guest channel could not be opened, or the guest agent sent no hello in time. */
  'GUEST_UNREACHABLE',
  /** The guest channel closed before the guest agent finished what the node was waiting for. */
  'GUEST_CHANNEL_CLOSED',
  /** The guest agent refused the configure (its GuestErrorCode is in the reason). */
  'CONFIGURE_REFUSED',
  /** The guest agent could not start the workload. */
  'WORKLOAD_START_FAILED',
  /** The workload exited (before it was ready, or while running). */
  'WORKLOAD_EXITED',
  /** The workload did not pass its readiness probe in time. */
  'READY_TIMEOUT',
  /** The node restarted mid-create and could not finish it. */
  'INTERRUPTED',
  'INTERNAL',
] as const;
export type VmFailureCode = (typeof VM_FAILURE_CODES)[number];

export const VM_STATES = ['creating', 'starting', 'running', 'stopping', 'stopped', 'failed'] as const;
// Spelled out (not VM_STATES.map) so Static<typeof Vm>['state'] is the literal union rather than never.
export const VmState = Type.Union([
  Type.Literal('creating'),
  Type.Literal('starting'),
  Type.Literal('running'),
  Type.Literal('stopping'),
  Type.Literal('stopped'),
  Type.Literal('failed'),
]);
export type VmState = (typeof VM_STATES)[number];
export const TERMINAL_VM_STATES: readonly VmState[] = ['stopped', 'failed'];

/**
 * What a VM on its way to running waits for (only while `creating` or `starting`):
 *   preparing        IP lease, disk, nftables entries, TAP, VMM launch (state creating)
 *   booting          the VMM runs; the kernel boots until the guest agent says hello
 *   starting-workload  the guest is up and configured; the workload is being started
 *   awaiting-ready   the workload started; waiting for its readiness check
 */
export const VM_PHASES = ['preparing', 'booting', 'starting-workload', 'awaiting-ready'] as const;
export type VmPhase = (typeof VM_PHASES)[number];

export const Accel = Type.Union([Type.Literal('kvm'), Type.Literal('tcg')]);
export type Accel = Static<typeof Accel>;

// additionalProperties: false makes the key pattern binding (a Record alone only constrains matching keys).
const EnvMap = Type.Record(Type.String({ pattern: '^[A-Za-z_][A-Za-z0-9_]{0,127}$' }), Type.String({ maxLength: 16384 }), {
  maxProperties: 64,
  additionalProperties: false,
});

export const CreateVmRequest = Type.Object(
  {
    /** Caller-chosen id (the gateway uses the agent id); generated if absent. */
    id: Type.Optional(Type.String({ pattern: '^[a-z0-9][a-z0-9-]{2,62}$' })),
    image: Type.String({ minLength: 1, maxLength: 64 }),
    vcpus: Type.Integer({ minimum: 1, maximum: 64 }),
    memoryMib: Type.Integer({ minimum: 64, maximum: 262144 }),
    /** Size of the per-VM writable disk; the image's default if absent. */
    diskMib: Type.Optional(Type.Integer({ minimum: 16, maximum: 1048576 })),
    /** Plain environment for the workload. */
    env: Type.Optional(EnvMap),
    /** Secrets: delivered to the workload as env over the guest channel only; never persisted, never logged. */
    secrets: Type.Optional(EnvMap),
    metadata: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 1024 }), { maxProperties: 32 })),
  },
  { additionalProperties: false },
);
export type CreateVmRequest = Static<typeof CreateVmRequest>;

/** Where the time between create and ready went (ms). Absent until known. */
export const VmTimings = Type.Object({
  vmmStartMs: Type.Optional(Type.Number()),
  kernelBootMs: Type.Optional(Type.Number()),
  initMs: Type.Optional(Type.Number()),
  agentReadyMs: Type.Optional(Type.Number()),
  totalMs: Type.Optional(Type.Number()),
});
export type VmTimings = Static<typeof VmTimings>;

export const Vm = Type.Object({
  id: Type.String(),
  image: Type.String(),
  vcpus: Type.Integer(),
  memoryMib: Type.Integer(),
  diskMib: Type.Integer(),
  state: VmState,
  /** What it waits for on its way to running (VM_PHASES); absent in every other state. */
  phase: Type.Optional(Type.Unsafe<VmPhase>({ type: 'string', enum: [...VM_PHASES] })),
  /** Why it failed (or why it stopped, when not asked to). */
  reason: Type.Optional(Type.String()),
  /** Why it failed, as a code (one of VM_FAILURE_CODES) when the node knows it. */
  reasonCode: Type.Optional(Type.Unsafe<VmFailureCode>({ type: 'string', enum: [...VM_FAILURE_CODES] })),
  ip: Type.Optional(Type.String()),
  /** Port of the agent inside the VM (from the image manifest). */
  agentPort: Type.Integer(),
  driver: Type.String(),
  accel: Accel,
  /** Names (never values) of the secrets that were delivered. */
  secretNames: Type.Array(Type.String()),
  metadata: Type.Record(Type.String(), Type.String()),
  createdAt: Type.Integer(),
  startedAt: Type.Optional(Type.Integer()),
  readyAt: Type.Optional(Type.Integer()),
  stoppedAt: Type.Optional(Type.Integer()),
  timings: VmTimings,
});
export type Vm = Static<typeof Vm>;

/** One event of GET /v1/events (SSE: `event: <type>`, `data: <this, as JSON>`). */
export type NodeEvent = { type: 'vm'; vm: Vm } | { type: 'vm-deleted'; id: string } | { type: 'synced' };

export const Capacity = Type.Object({
  vcpus: Type.Object({ total: Type.Integer(), allocated: Type.Integer(), free: Type.Integer() }),
  memoryMib: Type.Object({ total: Type.Integer(), allocated: Type.Integer(), free: Type.Integer() }),
  vms: Type.Object({ total: Type.Integer(), running: Type.Integer() }),
  driver: Type.String(),
  accel: Accel,
  /** Human-readable note when the node runs degraded (e.g. TCG fallback). */
  warning: Type.Optional(Type.String()),
});
export type Capacity = Static<typeof Capacity>;

export const Health = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('degraded')]),
  nodeId: Type.String(),
  version: Type.String(),
  driver: Type.String(),
  accel: Accel,
  warning: Type.Optional(Type.String()),
  uptimeSec: Type.Number(),
});
export type Health = Static<typeof Health>;

export const ExecRequest = Type.Object(
  {
    argv: Type.Array(Type.String(), { minItems: 1, maxItems: 256 }),
    timeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600000 })),
    /** Run as root (default) or as the workload's user. */
    asWorkloadUser: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ExecRequest = Static<typeof ExecRequest>;
export const ExecResult = Type.Object({ code: Type.Integer(), stdout: Type.String(), stderr: Type.String() });
export type ExecResult = Static<typeof ExecResult>;
