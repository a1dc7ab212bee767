import type { Capacity, CreateVmRequest, Health, ImageManifest, NodeEvent, Vm } from '@romulus/shared';
import { NodeApiError, NodeUnavailableError, type NodeClient } from '../node-client.ts';

/** An in-memory node for unit tests: VMs change state only when the test says so. */
export class FakeNode implements NodeClient {
  readonly nodeId = 'fake-node';
  readonly vms = new Map<string, Vm>();
  /** Secrets as the node received them (to assert the gateway forwarded, not stored, them). */
  readonly receivedSecrets = new Map<string, Record<string, string>>();
  down = false;
  failCreate: NodeApiError | null = null;
  createCalls = 0;
  private readonly subscribers = new Set<(ev: NodeEvent) => void | Promise<void>>();

  constructor(readonly images: ImageManifest[]) {}

  private check(): void {
    if (this.down) throw new NodeUnavailableError('fake node down');
  }

  async createVm(req: CreateVmRequest): Promise<Vm> {
    this.check();
    this.createCalls++;
    if (this.failCreate) throw this.failCreate;
    if (!this.images.find((i) => i.name === req.image)) throw new NodeApiError(404, 'IMAGE_NOT_FOUND', `no image ${req.image}`);
    const id = req.id!;
    const vm: Vm = {
      id,
      image: req.image,
      vcpus: req.vcpus,
      memoryMib: req.memoryMib,
      diskMib: 256,
      state: 'starting',
      ip: '127.0.0.1',
      agentPort: 0,
      driver: 'fake',
      accel: 'tcg',
      secretNames: Object.keys(req.secrets ?? {}),
      metadata: req.metadata ?? {},
      createdAt: Date.now(),
      timings: {},
    };
    this.receivedSecrets.set(id, { ...(req.secrets ?? {}) });
    this.vms.set(id, vm);
    this.emit({ type: 'vm', vm: { ...vm } });
    return { ...vm };
  }

  /** Moves a VM to a state (test control) and wakes waiters. */
  setState(id: string, state: Vm['state'], extra: Partial<Vm> = {}): void {
    const vm = this.vms.get(id);
    if (!vm) throw new Error(`no vm ${id}`);
    Object.assign(vm, { state, ...extra });
    if (state === 'running') vm.readyAt = Date.now();
    this.emit({ type: 'vm', vm: { ...vm } });
  }

  private emit(ev: NodeEvent): void {
    if (this.down) return; // a down node's stream is cut: subscribers catch up from the list
    for (const s of this.subscribers) void s(ev);
  }

  /** Like the real stream: the current VMs and `synced` first, then each change, until the signal aborts. */
  async events(onEvent: (ev: NodeEvent) => void | Promise<void>, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    for (const vm of this.vms.values()) await onEvent({ type: 'vm', vm: { ...vm } });
    await onEvent({ type: 'synced' });
    this.subscribers.add(onEvent);
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    this.subscribers.delete(onEvent);
  }

  async getVm(id: string): Promise<Vm | null> {
    this.check();
    const vm = this.vms.get(id);
    return vm ? { ...vm } : null;
  }

  async listVms(): Promise<Vm[]> {
    this.check();
    return [...this.vms.values()].map((v) => ({ ...v }));
  }

  async stopVm(id: string): Promise<Vm | null> {
    this.check();
    const vm = this.vms.get(id);
    if (!vm) return null;
    this.setState(id, 'stopped');
    return { ...vm };
  }

  async deleteVm(id: string): Promise<void> {
    this.check();
    if (this.vms.has(id)) this.setState(id, 'stopped');
    if (this.vms.delete(id)) this.emit({ type: 'vm-deleted', id });
  }

  async listImages(): Promise<ImageManifest[]> {
    this.check();
    return this.images;
  }

  async capacity(): Promise<Capacity> {
    this.check();
    return {
      vcpus: { total: 8, allocated: 0, free: 8 },
      memoryMib: { total: 8192, allocated: 0, free: 8192 },
      vms: { total: this.vms.size, running: 0 },
      driver: 'fake',
      accel: 'tcg',
    };
  }

  async health(): Promise<Health> {
    this.check();
    return { status: 'degraded', nodeId: this.nodeId, version: 'test', driver: 'fake', accel: 'tcg', uptimeSec: 1 };
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
