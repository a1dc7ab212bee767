import type { CreateVmRequest, Health, ImageManifest, Vm } from '@romulus/shared';
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
  private waiters: (() => void)[] = [];

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
    return { ...vm };
  }

  /** Moves a VM to a state (test control) and wakes waiters. */
  setState(id: string, state: Vm['state'], extra: Partial<Vm> = {}): void {
    const vm = this.vms.get(id);
    if (!vm) throw new Error(`no vm ${id}`);
    Object.assign(vm, { state, ...extra });
    if (state === 'running') vm.readyAt = Date.now();
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
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

  async deleteVm(id: string): Promise<void> {
    this.check();
    if (this.vms.has(id)) this.setState(id, 'stopped');
    this.vms.delete(id);
  }

  async waitVm(id: string, state: Vm['state'], timeoutMs: number, signal?: AbortSignal): Promise<Vm | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.check();
      const vm = this.vms.get(id);
      if (!vm) throw new NodeApiError(404, 'VM_NOT_FOUND', 'gone');
      if (vm.state === state || vm.state === 'failed' || vm.state === 'stopped') return { ...vm };
      if (Date.now() >= deadline || signal?.aborted) return null;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          signal?.removeEventListener('abort', done);
          resolve();
        };
        const t = setTimeout(done, Math.min(200, deadline - Date.now()));
        this.waiters.push(done);
        signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  async listImages(): Promise<ImageManifest[]> {
    this.check();
    return this.images;
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
