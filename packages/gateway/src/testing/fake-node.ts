import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import {
  CreateVmRequest,
  ExecRequest,
  TERMINAL_VM_STATES,
  VM_STATES,
  errorBody,
  nodeError,
  renderError,
  VmEventStreams,
  type Capacity,
  type Health,
  type ImageManifest,
  type NodeErrorCode,
  type Vm,
  type VmChange,
  type VmState,
} from '@romulus/shared';

export interface FakeNodeOptions {
  /** Total capacity (default: far more than any unit test asks for). */
  capacity?: { vcpus: number; memoryMib: number };
  /**
   * `manual` (default): a VM stays `creating` until the test moves it with setState. `auto`: it goes
   * creating → starting → running by itself, one step per `stepMs`, the way a real node's VMs do.
   */
  boot?: 'manual' | 'auto';
  stepMs?: number;
  /** Where a running VM's agent answers (default 127.0.0.1 and the image's agentPort). */
  agent?: () => { ip: string; port: number };
  token?: string;
}

const IdParams = Type.Object({ id: Type.String({ pattern: '^[a-z0-9][a-z0-9-]{2,62}$' }) });
const WaitQuery = Type.Object(
  { state: Type.Union(VM_STATES.map((s) => Type.Literal(s))), timeoutMs: Type.Optional(Type.String({ pattern: '^[0-9]{1,7}$' })) },
  { additionalProperties: false },
);
const MAX_WAIT_MS = 15 * 60 * 1000;
const ACTIVE: readonly VmState[] = ['creating', 'starting', 'running', 'stopping'];
const BODY_LIMIT = 256 * 1024;

/**
 * A stand-in node daemon for gateway and CLI tests: the node API over real HTTP on loopback (same routes,
 * schemas, envelope and codes as packages/hypercore/src/api/server.ts, held to them by the conformance
 * suite in fake-node.test.ts), with in-memory "VMs" that never boot anything. The gateway reaches it with
 * its real HttpNodeClient. A VM is answered `creating` without an address, like the real node.
 */
export class FakeNode {
  readonly nodeId = 'fake-node';
  readonly token: string;
  readonly vms = new Map<string, Vm>();
  /** Secrets as the node received them (to assert the gateway forwarded, not stored, them). */
  readonly receivedSecrets = new Map<string, Record<string, string>>();
  /** Connections are dropped unanswered, open event streams too (the gateway sees the node unreachable). */
  get down(): boolean {
    return this.isDown;
  }
  set down(value: boolean) {
    this.isDown = value;
    if (value) this.streams?.closeAll();
  }
  private isDown = false;
  private streams?: VmEventStreams;
  /** The next creates are refused with this code (and the status NODE_ERRORS gives it). */
  failCreate: NodeErrorCode | null = null;
  createCalls = 0;
  private readonly changes = new EventEmitter();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly app: FastifyInstance;
  private readonly startedAt = Date.now();
  private baseUrl = '';

  constructor(
    readonly images: ImageManifest[],
    private readonly opts: FakeNodeOptions = {},
  ) {
    this.token = opts.token ?? `fake-node-${randomBytes(12).toString('hex')}`;
    this.changes.setMaxListeners(0);
    this.app = this.buildApp();
  }

  get url(): string {
    if (!this.baseUrl) throw new Error('FakeNode: call start() first');
    return this.baseUrl;
  }

  async start(): Promise<this> {
    await this.app.listen({ host: '127.0.0.1', port: 0 });
    this.baseUrl = `http://127.0.0.1:${(this.app.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.changes.emit('close');
    await this.app.close();
  }

  /** Moves a VM to a state (test control), with what the real node sets along with it, and wakes waiters. */
  setState(id: string, state: VmState, extra: Partial<Vm> = {}): void {
    const vm = this.vms.get(id);
    if (!vm) throw new Error(`no vm ${id}`);
    vm.state = state;
    const now = Date.now();
    if (state === 'starting') vm.startedAt ??= now;
    if (state === 'running') {
      const agent = this.opts.agent?.() ?? { ip: '127.0.0.1', port: vm.agentPort };
      vm.startedAt ??= now;
      vm.readyAt = now;
      vm.ip = agent.ip;
      vm.agentPort = agent.port;
    }
    if (TERMINAL_VM_STATES.includes(state)) {
      vm.stoppedAt = now;
      delete vm.ip;
    }
    Object.assign(vm, extra);
    this.changes.emit('change', id);
  }

  /** Removes a VM as if the node lost it (killed, state gone). */
  forget(id: string): void {
    this.vms.delete(id);
    this.changes.emit('change', id);
  }

  private capacity(): Capacity {
    const t = this.opts.capacity ?? { vcpus: 256, memoryMib: 1024 * 1024 };
    let vcpus = 0;
    let memoryMib = 0;
    let running = 0;
    for (const vm of this.vms.values()) {
      if (ACTIVE.includes(vm.state)) {
        vcpus += vm.vcpus;
        memoryMib += vm.memoryMib;
      }
      if (vm.state === 'running') running++;
    }
    return {
      vcpus: { total: t.vcpus, allocated: vcpus, free: Math.max(0, t.vcpus - vcpus) },
      memoryMib: { total: t.memoryMib, allocated: memoryMib, free: Math.max(0, t.memoryMib - memoryMib) },
      vms: { total: this.vms.size, running },
      driver: 'fake',
      accel: 'tcg',
      warning: 'fake node: no VMs boot',
    };
  }

  private vm(id: string): Vm {
    const vm = this.vms.get(id);
    if (!vm) throw nodeError('VM_NOT_FOUND', `no VM with id ${id}`);
    return vm;
  }

  private later(fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, this.opts.stepMs ?? 20);
    this.timers.add(t);
  }

  private create(req: CreateVmRequest): Vm {
    this.createCalls++;
    if (this.failCreate) throw nodeError(this.failCreate, `fake node refuses creates with ${this.failCreate}`, this.failCreate === 'INSUFFICIENT_CAPACITY' ? { free: { vcpus: 0, memoryMib: 0 } } : undefined);
    const image = this.images.find((i) => i.name === req.image);
    if (!image) throw nodeError('IMAGE_NOT_FOUND', `unknown image ${JSON.stringify(req.image)}`);
    if (req.vcpus < image.minVcpus || req.memoryMib < image.minMemoryMib) {
      throw nodeError('BELOW_IMAGE_MINIMUM', `image ${image.name} needs at least ${image.minVcpus} vCPUs and ${image.minMemoryMib} MiB`, {
        required: { vcpus: image.minVcpus, memoryMib: image.minMemoryMib },
        requested: { vcpus: req.vcpus, memoryMib: req.memoryMib },
      });
    }
    const clash = Object.keys(req.secrets ?? {}).filter((k) => k in (req.env ?? {}));
    if (clash.length) throw nodeError('ENV_SECRET_CLASH', `names given both as env and as secrets: ${clash.join(', ')}`);
    const id = req.id ?? `vm-${randomBytes(6).toString('hex')}`;
    if (this.vms.has(id)) throw nodeError('VM_EXISTS', `a VM with id ${id} already exists`);
    const cap = this.capacity();
    if (req.vcpus > cap.vcpus.free || req.memoryMib > cap.memoryMib.free) {
      throw nodeError('INSUFFICIENT_CAPACITY', `not enough capacity`, { free: { vcpus: cap.vcpus.free, memoryMib: cap.memoryMib.free } });
    }
    const vm: Vm = {
      id,
      image: image.name,
      vcpus: req.vcpus,
      memoryMib: req.memoryMib,
      diskMib: req.diskMib ?? image.diskMib,
      state: 'creating',
      agentPort: image.agentPort,
      driver: 'fake',
      accel: 'tcg',
      secretNames: Object.keys(req.secrets ?? {}).sort(),
      metadata: req.metadata ?? {},
      createdAt: Date.now(),
      timings: {},
    };
    this.receivedSecrets.set(id, { ...(req.secrets ?? {}) });
    this.vms.set(id, vm);
    this.changes.emit('change', id);
    if (this.opts.boot === 'auto') {
      const step = (from: VmState, to: VmState, next?: () => void) =>
        this.later(() => {
          if (this.vms.get(id) !== vm || vm.state !== from) return;
          this.setState(id, to);
          next?.();
        });
      step('creating', 'starting', () => step('starting', 'running'));
    }
    return { ...vm };
  }

  private stop(id: string): Vm {
    const vm = this.vm(id);
    if (TERMINAL_VM_STATES.includes(vm.state)) return { ...vm };
    if (vm.state === 'running' || vm.state === 'starting') this.setState(id, 'stopping');
    const answer = { ...vm };
    this.later(() => {
      if (this.vms.get(id) === vm && !TERMINAL_VM_STATES.includes(vm.state)) this.setState(id, 'stopped');
    });
    return answer;
  }

  private wait(id: string, state: VmState, timeoutMs: number): Promise<Vm> {
    const vm = this.vm(id);
    const reached = () => vm.state === state || TERMINAL_VM_STATES.includes(vm.state) || this.vms.get(id) !== vm;
    if (reached()) return Promise.resolve({ ...vm });
    return new Promise((resolve, reject) => {
      const onChange = (changed: string) => {
        if (changed === id && reached()) finish(() => resolve({ ...vm }));
      };
      const timeout = () =>
        finish(() => reject(nodeError('WAIT_TIMEOUT', `VM ${id} did not reach ${state} within ${timeoutMs} ms (it is ${vm.state})`, { vm: { ...vm } })));
      const timer = setTimeout(timeout, timeoutMs);
      const finish = (f: () => void) => {
        clearTimeout(timer);
        this.changes.off('change', onChange);
        this.changes.off('close', timeout);
        f();
      };
      this.changes.on('change', onChange);
      this.changes.once('close', timeout);
    });
  }

  private buildApp(): FastifyInstance {
    const app = Fastify({
      bodyLimit: BODY_LIMIT,
      forceCloseConnections: true,
      ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
      serverFactory: (handler) =>
        http.createServer((req, res) => {
          if (this.isDown) req.socket.destroy();
          else handler(req, res);
        }),
    });
    app.setErrorHandler((err, _req, reply) => renderError(err as Parameters<typeof renderError>[0], reply, { error: () => {} }));
    app.setNotFoundHandler((req, reply) => reply.status(404).send(errorBody('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`)));
    app.addHook('onRequest', async (req) => {
      if (req.url === '/v1/health' || req.url.startsWith('/v1/health?')) return;
      if (req.headers.authorization !== `Bearer ${this.token}`) throw nodeError('UNAUTHORIZED', 'wrong or missing node token');
    });
    const idOf = (req: { params: unknown }) => (req.params as { id: string }).id;

    app.get('/v1/health', async (): Promise<Health> => ({
      status: 'degraded',
      nodeId: this.nodeId,
      version: 'fake',
      driver: 'fake',
      accel: 'tcg',
      warning: 'fake node: no VMs boot',
      uptimeSec: Math.round((Date.now() - this.startedAt) / 1000),
    }));
    app.get('/v1/capacity', async () => this.capacity());
    app.get('/v1/images', async () => ({ images: this.images }));
    app.post('/v1/vms', { schema: { body: CreateVmRequest } }, async (req, reply) => reply.status(201).send(this.create(req.body as CreateVmRequest)));
    app.get('/v1/vms', async () => ({ vms: [...this.vms.values()].sort((a, b) => a.createdAt - b.createdAt).map((v) => ({ ...v })) }));
    app.get('/v1/vms/:id', { schema: { params: IdParams } }, async (req) => ({ ...this.vm(idOf(req)) }));
    app.post('/v1/vms/:id/stop', { schema: { params: IdParams } }, async (req, reply) => reply.status(202).send(this.stop(idOf(req))));
    app.delete('/v1/vms/:id', { schema: { params: IdParams } }, async (req) => {
      const id = idOf(req);
      const vm = this.vm(id);
      if (!TERMINAL_VM_STATES.includes(vm.state)) this.setState(id, 'stopped');
      this.forget(id);
      return { success: true };
    });
    app.get('/v1/vms/:id/wait', { schema: { params: IdParams, querystring: WaitQuery } }, async (req) => {
      const q = req.query as { state: VmState; timeoutMs?: string };
      const timeoutMs = q.timeoutMs === undefined ? 60_000 : Number(q.timeoutMs);
      if (timeoutMs > MAX_WAIT_MS) throw nodeError('VALIDATION_FAILED', `timeoutMs must be at most ${MAX_WAIT_MS}`);
      return this.wait(idOf(req), q.state, timeoutMs);
    });
    app.post('/v1/vms/:id/exec', { schema: { params: IdParams, body: ExecRequest } }, async (req) => {
      const vm = this.vm(idOf(req));
      if (vm.state !== 'running') throw nodeError('VM_NOT_RUNNING', `VM ${vm.id} is ${vm.state}; exec needs a running VM`);
      throw nodeError('EXEC_FAILED', 'a fake node has no guest agent');
    });
    const streams = (this.streams = new VmEventStreams({
      list: () => [...this.vms.values()].sort((a, b) => a.createdAt - b.createdAt).map((v) => ({ ...v })),
      subscribe: (listener: (c: VmChange) => void) => {
        const onChange = (id: string) => {
          const vm = this.vms.get(id);
          listener(vm ? { id, vm: { ...vm } } : { id, deleted: true });
        };
        this.changes.on('change', onChange);
        return () => this.changes.off('change', onChange);
      },
    }));
    app.addHook('preClose', async () => streams.closeAll());
    app.get('/v1/events', async (req, reply) => {
      reply.hijack();
      streams.serve(req.raw, reply.raw);
    });
    app.get('/metrics', async (_req, reply) => {
      reply.header('content-type', 'text/plain; version=0.0.4; charset=utf-8');
      return `# fake node\nromulus_fake_node_vms ${this.vms.size}\n`;
    });
    return app;
  }
}

export function testImage(name: string, minVcpus = 1, minMemoryMib = 128): ImageManifest {
  return {
    name,
    version: '1',
    minVcpus,
    minMemoryMib,
    diskMib: 64,
    agentPort: 8080,
    readiness: { type: 'none' },
    command: ['/bin/true'],
    user: 'root',
    workdir: '/',
    env: {},
    expectedEnv: [],
  };
}
