import { Type, type Static } from 'typebox';

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
 *   GET    /v1/images              -> { images: ImageManifest[] }
 *   GET    /v1/capacity            -> Capacity
 *   GET    /v1/health              -> Health (no auth; no secrets in it)
 *   GET    /metrics                -> Prometheus text (auth)
 */

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
  /** Why it failed (or why it stopped, when not asked to). */
  reason: Type.Optional(Type.String()),
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
