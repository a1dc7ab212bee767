import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  ApiError,
  badRequest,
  conflict,
  notFound,
  TERMINAL_VM_STATES,
  VM_STATES,
  type Capacity,
  type CreateVmRequest,
  type ExecRequest,
  type ExecResult,
  type Vm,
  type VmChange,
  type VmChangeSource,
  type VmState,
} from '@romulus/shared';
import { secretRedactor } from '../guest/log-sink.ts';
import { macFor, tapNameFor } from '../network/names.ts';
import { publicVm, type VmRecord } from '../state/vm-record.ts';
import type { NodeContext, VmEntry } from './context.ts';
import { withLock } from './context.ts';
import { createSteps } from './create-plan.ts';
import { attachGuest } from './guest-session.ts';
import { runPlan, StepFailed } from './steps.ts';
import { teardown } from './teardown.ts';
import { failureOf, VmFailure } from './vm-failure.ts';

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** States that hold capacity (and, once past creating, host resources). */
const ACTIVE: readonly VmState[] = ['creating', 'starting', 'running', 'stopping'];

/**
 * The VM manager: explicit states (creating → starting → running → stopping → stopped, or failed with a
 * reason), capacity accounting, one lifecycle operation at a time per VM. HTTP-agnostic except that it
 * throws ApiError for what callers got wrong.
 */
export class VmManager implements VmChangeSource {
  readonly vms = new Map<string, VmEntry>();
  private readonly events = new EventEmitter();
  private liveness?: NodeJS.Timeout;
  private closed = false;

  constructor(readonly ctx: NodeContext) {
    this.events.setMaxListeners(0);
  }

  // ---- queries -------------------------------------------------------------------------------

  get(id: string): Vm {
    return publicVm(this.entry(id).rec);
  }

  list(): Vm[] {
    return [...this.vms.values()].map((e) => publicVm(e.rec)).sort((a, b) => a.createdAt - b.createdAt);
  }

  private entry(id: string): VmEntry {
    const e = this.vms.get(id);
    if (!e || e.deleted) throw notFound(`no VM with id ${id}`, 'VM_NOT_FOUND');
    return e;
  }

  allocated(): { vcpus: number; memoryMib: number } {
    let vcpus = 0;
    let memoryMib = 0;
    for (const e of this.vms.values()) {
      if (ACTIVE.includes(e.rec.state)) {
        vcpus += e.rec.vcpus;
        memoryMib += e.rec.memoryMib;
      }
    }
    return { vcpus, memoryMib };
  }

  capacity(): Capacity {
    const t = this.ctx.config.capacity;
    const a = this.allocated();
    const states = this.countByState();
    return {
      vcpus: { total: t.vcpus, allocated: a.vcpus, free: Math.max(0, t.vcpus - a.vcpus) },
      memoryMib: { total: t.memoryMib, allocated: a.memoryMib, free: Math.max(0, t.memoryMib - a.memoryMib) },
      vms: { total: this.vms.size, running: states.running },
      driver: this.ctx.driver.name,
      accel: this.ctx.accel,
      ...(this.accelWarning() ? { warning: this.accelWarning() } : {}),
    };
  }

  accelWarning(): string | undefined {
    return this.ctx.accel === 'tcg'
      ? 'running under TCG (software emulation): KVM is not usable on this host, guests run many times slower'
      : undefined;
  }

  countByState(): Record<VmState, number> {
    const out = Object.fromEntries(VM_STATES.map((s) => [s, 0])) as Record<VmState, number>;
    for (const e of this.vms.values()) out[e.rec.state]++;
    return out;
  }

  // ---- create --------------------------------------------------------------------------------

  /**
   * Validates and reserves synchronously (so concurrent creates cannot both take the last capacity), then
   * runs the create plan in the background. Throws ApiError (nothing created) for refused requests.
   */
  create(req: CreateVmRequest): Vm {
    if (this.closed) throw new ApiError(503, 'NODE_CLOSING', 'the node is shutting down');
    const image = this.ctx.images.get(req.image);
    if (!image) throw notFound(`unknown image ${JSON.stringify(req.image)}`, 'IMAGE_NOT_FOUND');
    const m = image.manifest;
    if (req.vcpus < m.minVcpus || req.memoryMib < m.minMemoryMib) {
      throw badRequest(
        `image ${m.name} needs at least ${m.minVcpus} vCPUs and ${m.minMemoryMib} MiB; the request asked for ${req.vcpus} vCPUs and ${req.memoryMib} MiB`,
        'BELOW_IMAGE_MINIMUM',
        { required: { vcpus: m.minVcpus, memoryMib: m.minMemoryMib }, requested: { vcpus: req.vcpus, memoryMib: req.memoryMib } },
      );
    }
    const diskMib = req.diskMib ?? m.diskMib;
    // The shared EnvMap schema has no additionalProperties:false, so bad names pass JSON-schema validation.
    for (const [what, map] of [['env', req.env], ['secrets', req.secrets]] as const) {
      const bad = Object.keys(map ?? {}).filter((k) => !ENV_NAME.test(k));
      if (bad.length) throw badRequest(`${what}: invalid variable names ${bad.map((b) => JSON.stringify(b.slice(0, 64))).join(', ')}`, 'VALIDATION_FAILED');
    }
    const overlap = Object.keys(req.secrets ?? {}).filter((k) => k in (req.env ?? {}));
    if (overlap.length) throw badRequest(`names given both as env and as secrets: ${overlap.join(', ')}`, 'ENV_SECRET_CLASH');
    const id = req.id ?? `vm-${randomBytes(6).toString('hex')}`;
    if (this.vms.has(id)) throw conflict(`a VM with id ${id} already exists`, 'VM_EXISTS');
    const cap = this.capacity();
    if (req.vcpus > cap.vcpus.free || req.memoryMib > cap.memoryMib.free) {
      throw new ApiError(
        409,
        'INSUFFICIENT_CAPACITY',
        `not enough capacity: asked for ${req.vcpus} vCPUs and ${req.memoryMib} MiB, free are ${cap.vcpus.free} vCPUs and ${cap.memoryMib.free} MiB (of ${cap.vcpus.total} and ${cap.memoryMib.total})`,
        { free: { vcpus: cap.vcpus.free, memoryMib: cap.memoryMib.free } },
      );
    }
    if (this.ctx.ips.free < 1) {
      throw new ApiError(409, 'INSUFFICIENT_CAPACITY', 'no free IP address left in the node subnet', {
        free: { vcpus: cap.vcpus.free, memoryMib: cap.memoryMib.free, ips: 0 },
      });
    }

    const rec: VmRecord = {
      id,
      image: m.name,
      vcpus: req.vcpus,
      memoryMib: req.memoryMib,
      diskMib,
      state: 'creating',
      phase: 'preparing',
      agentPort: m.agentPort,
      driver: this.ctx.driver.name,
      accel: this.ctx.accel,
      secretNames: Object.keys(req.secrets ?? {}).sort(),
      metadata: req.metadata ?? {},
      createdAt: Date.now(),
      timings: {},
      tap: tapNameFor(this.ctx.config.network.tapPrefix, id),
      mac: macFor(id),
      rootfsPath: image.rootfsPath,
    };
    const entry: VmEntry = {
      rec,
      lock: Promise.resolve(),
      stopping: false,
      redact: secretRedactor(req.secrets ?? {}),
      pendingSecrets: { ...(req.secrets ?? {}) },
      pendingEnv: { ...(req.env ?? {}) },
      abort: new AbortController(),
    };
    this.vms.set(id, entry);
    try {
      this.persist(entry);
    } catch (e) {
      this.vms.delete(id);
      this.ctx.store.removeVmDir(id);
      throw e;
    }
    this.background(entry, 'create', () => this.runCreate(entry));
    return publicVm(rec);
  }

  private async runCreate(entry: VmEntry): Promise<void> {
    const rec = entry.rec;
    const signal = entry.abort!.signal;
    const log = this.ctx.log.child({ vm: rec.id });
    try {
      await runPlan(createSteps(this.ctx, entry, signal, () => this.persist(entry)), {
        signal,
        onStep: (name, phase, ms, err) => {
          if (phase === 'undo-failed') log.error({ step: name, err: (err as Error)?.message }, 'rollback step failed');
          else log.debug({ step: name, phase, ms }, 'step');
        },
      });
      const t = rec.timings;
      const ph = this.ctx.metrics.phaseSeconds;
      if (t.vmmStartMs !== undefined) ph.observe({ phase: 'vmm_start' }, t.vmmStartMs / 1000);
      if (t.kernelBootMs !== undefined) ph.observe({ phase: 'kernel_boot' }, t.kernelBootMs / 1000);
      if (t.initMs !== undefined) ph.observe({ phase: 'init' }, t.initMs / 1000);
      if (t.agentReadyMs !== undefined) ph.observe({ phase: 'agent_ready' }, t.agentReadyMs / 1000);
      this.ctx.metrics.createSeconds.observe({ result: 'ready' }, (t.totalMs ?? 0) / 1000);
      log.info({ timings: t, ip: rec.ip, accel: rec.accel }, 'vm ready');
      this.watchChannel(entry);
    } catch (err) {
      const step = err instanceof StepFailed ? err.step : 'unknown';
      const cause = err instanceof StepFailed ? err.cause : err;
      // The plan's rollback is the one cleanup: each undo removes what its do made. What a failing undo
      // left (logged as rollback step failed) is the continuous reconcile pass's to release (sweeper.ts).
      entry.pendingSecrets = undefined;
      entry.pendingEnv = undefined;
      if (entry.stopping) {
        rec.state = 'stopped';
        rec.reason = 'stopped before it became ready';
      } else {
        this.ctx.metrics.stepFailures.inc({ step });
        this.ctx.metrics.createSeconds.observe({ result: 'failed' }, (Date.now() - rec.createdAt) / 1000);
        rec.state = 'failed';
        const failure = failureOf(step, cause);
        rec.reason = failure.reason;
        rec.reasonCode = failure.code;
        log.warn({ step, reason: rec.reason }, 'vm create failed');
      }
      rec.stoppedAt = Date.now();
      rec.ip = undefined;
      if (!entry.deleted) this.persist(entry);
    } finally {
      entry.abort = undefined;
    }
  }

  /** After ready: a closed channel with a live VMM is re-attached (qemu keeps the socket server). */
  watchChannel(entry: VmEntry): void {
    const ch = entry.channel;
    ch?.once('close', () => {
      if (this.closed || entry.stopping || entry.rec.state !== 'running' || entry.channel !== ch) return;
      this.ctx.metrics.channelErrors.inc({ kind: 'closed' });
      setTimeout(() => {
        if (this.closed || entry.stopping || entry.rec.state !== 'running' || !entry.rec.vmm) return;
        if (!this.ctx.driver.isAlive(entry.rec.vmm)) return; // liveness loop handles it
        this.background(entry, 're-attach', async () => {
          try {
            await attachGuest(this.ctx, entry, {});
            this.watchChannel(entry);
          } catch (e) {
            this.ctx.log.warn({ vm: entry.rec.id, err: (e as Error).message }, 'guest channel re-attach failed');
          }
        });
      }, 1000).unref();
    });
  }

  // ---- stop / delete -------------------------------------------------------------------------

  /** Idempotent. Returns once the VM is marked stopping (or already terminal); finishes in background. */
  stop(id: string): { vm: Vm; done: Promise<void> } {
    const entry = this.entry(id);
    if (TERMINAL_VM_STATES.includes(entry.rec.state)) return { vm: publicVm(entry.rec), done: Promise.resolve() };
    if (!entry.stopping) {
      entry.stopping = true;
      entry.abort?.abort(new Error('stop requested'));
      if (entry.rec.state === 'running' || entry.rec.state === 'starting') {
        entry.rec.state = 'stopping';
        this.persist(entry);
      }
    }
    const done = withLock(entry, async () => {
      if (TERMINAL_VM_STATES.includes(entry.rec.state)) return;
      entry.rec.state = 'stopping';
      this.persist(entry);
      const errors = await teardown(this.ctx, entry, true);
      entry.rec.state = 'stopped';
      entry.rec.stoppedAt = Date.now();
      entry.rec.ip = undefined;
      if (errors.length) entry.rec.reason = `stopped; cleanup problems: ${errors.join('; ')}`;
      this.persist(entry);
    });
    return { vm: publicVm(entry.rec), done };
  }

  async delete(id: string): Promise<void> {
    const entry = this.entry(id);
    await this.stop(id).done;
    await withLock(entry, async () => {
      entry.deleted = true;
      this.vms.delete(id);
      this.ctx.store.removeVmDir(id);
      this.events.emit('change', id);
    });
  }

  // ---- wait / exec ---------------------------------------------------------------------------

  /** Resolves with the VM once it is in `state` or a terminal state; 408 WAIT_TIMEOUT otherwise. */
  wait(id: string, state: VmState, timeoutMs: number): Promise<Vm> {
    const entry = this.entry(id);
    const reached = () => entry.rec.state === state || TERMINAL_VM_STATES.includes(entry.rec.state) || entry.deleted;
    if (reached()) return Promise.resolve(publicVm(entry.rec));
    return new Promise((resolve, reject) => {
      const onChange = (changed: string) => {
        if (changed === id && reached()) finish(() => resolve(publicVm(entry.rec)));
      };
      const timer = setTimeout(
        () =>
          finish(() =>
            reject(
              new ApiError(408, 'WAIT_TIMEOUT', `VM ${id} did not reach ${state} within ${timeoutMs} ms (it is ${entry.rec.state})`, {
                vm: publicVm(entry.rec),
              }),
            ),
          ),
        timeoutMs,
      );
      const finish = (f: () => void) => {
        clearTimeout(timer);
        this.events.off('change', onChange);
        f();
      };
      this.events.on('change', onChange);
    });
  }

  /**
   * Calls `listener` with every VM change from now on: the VM as it now is, or `{ id, deleted: true }` once it
   * is gone. Returns the unsubscribe. The node's event stream (api/events.ts) is built on it.
   */
  subscribe(listener: (change: VmChange) => void): () => void {
    const onChange = (id: string) => {
      const e = this.vms.get(id);
      listener(e && !e.deleted ? { id, vm: publicVm(e.rec) } : { id, deleted: true });
    };
    this.events.on('change', onChange);
    return () => this.events.off('change', onChange);
  }

  async exec(id: string, req: ExecRequest): Promise<ExecResult> {
    const entry = this.entry(id);
    if (entry.rec.state !== 'running' || !entry.channel || entry.channel.isClosed) {
      throw conflict(`VM ${id} is ${entry.rec.state}; exec needs a running VM`, 'VM_NOT_RUNNING');
    }
    try {
      return await entry.channel.exec(req.argv, req.timeoutMs ?? 30_000, req.asWorkloadUser);
    } catch (e) {
      this.ctx.metrics.channelErrors.inc({ kind: 'exec' });
      throw new ApiError(502, 'EXEC_FAILED', `exec failed: ${(e as Error).message}`);
    }
  }

  /** Runs a lifecycle operation under the VM's lock without awaiting it; a failure is logged, never thrown. */
  private background(entry: VmEntry, what: string, fn: () => Promise<void>): void {
    withLock(entry, fn).catch((e: unknown) => {
      this.ctx.log.error({ vm: entry.rec.id, op: what, err: (e as Error)?.message }, 'background operation failed');
    });
  }

  // ---- persistence, liveness, shutdown -------------------------------------------------------

  persist(entry: VmEntry): void {
    if (entry.deleted) return;
    this.ctx.store.saveVm(entry.rec);
    this.events.emit('change', entry.rec.id);
  }

  /** Adds a record loaded from disk (reconciler). */
  adoptEntry(entry: VmEntry): void {
    this.vms.set(entry.rec.id, entry);
  }

  startLiveness(): void {
    this.liveness = setInterval(() => this.checkLiveness(), this.ctx.config.livenessIntervalMs);
    this.liveness.unref();
  }

  /** Cheap: pid + start time per VM. A dead VMM becomes failed and its resources are released. */
  checkLiveness(): void {
    for (const entry of this.vms.values()) {
      const rec = entry.rec;
      if (entry.stopping || !rec.vmm || !(rec.state === 'starting' || rec.state === 'running')) continue;
      if (this.ctx.driver.isAlive(rec.vmm)) continue;
      if (entry.abort) {
        // Mid-create: abort the plan; its rollback ends the VM in failed with this reason.
        entry.abort.abort(new VmFailure('VMM_EXITED', 'vmm process exited unexpectedly during boot'));
        continue;
      }
      entry.stopping = true;
      this.ctx.metrics.reconcilerActions.inc({ action: 'vmm_died' });
      this.ctx.log.warn({ vm: rec.id, pid: rec.vmm.pid }, 'vmm process exited unexpectedly');
      this.background(entry, 'vmm-died', async () => {
        await teardown(this.ctx, entry, false);
        rec.state = 'failed';
        rec.reason = entry.workloadExit ? `${entry.workloadExit}; the VM powered off` : 'vmm process exited unexpectedly';
        rec.reasonCode = entry.workloadExit ? 'WORKLOAD_EXITED' : 'VMM_EXITED';
        rec.stoppedAt = Date.now();
        rec.ip = undefined;
        this.persist(entry);
      });
    }
  }

  /** Leaves VMs running (a daemon restart must not kill them); only drops connections and timers. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.liveness) clearInterval(this.liveness);
    for (const e of this.vms.values()) e.abort?.abort(new VmFailure('INTERRUPTED', 'node shutting down'));
    await Promise.all([...this.vms.values()].map((e) => e.lock));
    for (const e of this.vms.values()) {
      e.channel?.close();
      e.channel = undefined;
    }
  }
}
