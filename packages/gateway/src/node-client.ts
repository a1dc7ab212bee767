import type { CreateVmRequest, Health, ImageManifest, Vm } from '@romulus/shared';

/**
 * The gateway's client of one hypercore node (packages/shared/src/node-api.ts). Transport failures become
 * NodeUnavailableError (→ 503); the node's own 4xx/5xx become NodeApiError with its code and status.
 */
export interface NodeClient {
  readonly nodeId: string;
  createVm(req: CreateVmRequest): Promise<Vm>;
  getVm(id: string): Promise<Vm | null>;
  listVms(): Promise<Vm[]>;
  deleteVm(id: string): Promise<void>;
  /** Resolves with the Vm once in `state` or a terminal state; null if it did not get there within timeoutMs. */
  waitVm(id: string, state: Vm['state'], timeoutMs: number, signal?: AbortSignal): Promise<Vm | null>;
  listImages(): Promise<ImageManifest[]>;
  health(): Promise<Health>;
}

export class NodeUnavailableError extends Error {
  constructor(message: string, readonly cause?: unknown) {
    super(message);
    this.name = 'NodeUnavailableError';
  }
}

export class NodeApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly body?: unknown) {
    super(message);
    this.name = 'NodeApiError';
  }
}

export class HttpNodeClient implements NodeClient {
  private readonly base: string;

  constructor(private readonly opts: { url: string; token: string; nodeId: string; timeoutMs: number }) {
    this.base = opts.url.replace(/\/+$/, '');
  }

  get nodeId(): string {
    return this.opts.nodeId;
  }

  createVm(req: CreateVmRequest): Promise<Vm> {
    return this.call<Vm>('POST', '/v1/vms', req);
  }

  async getVm(id: string): Promise<Vm | null> {
    return this.orNull(() => this.call<Vm>('GET', `/v1/vms/${encodeURIComponent(id)}`));
  }

  async listVms(): Promise<Vm[]> {
    return (await this.call<{ vms: Vm[] }>('GET', '/v1/vms')).vms;
  }

  async deleteVm(id: string): Promise<void> {
    await this.orNull(() => this.call('DELETE', `/v1/vms/${encodeURIComponent(id)}`, undefined, 120_000));
  }

  async waitVm(id: string, state: Vm['state'], timeoutMs: number, signal?: AbortSignal): Promise<Vm | null> {
    const q = `state=${state}&timeoutMs=${Math.max(1, Math.floor(timeoutMs))}`;
    try {
      return await this.call<Vm>('GET', `/v1/vms/${encodeURIComponent(id)}/wait?${q}`, undefined, timeoutMs + this.opts.timeoutMs, signal);
    } catch (err) {
      if (err instanceof NodeApiError && err.status === 408) return null;
      throw err;
    }
  }

  async listImages(): Promise<ImageManifest[]> {
    return (await this.call<{ images: ImageManifest[] }>('GET', '/v1/images')).images;
  }

  health(): Promise<Health> {
    return this.call<Health>('GET', '/v1/health');
  }

  private async orNull<T>(fn: () => Promise<T>): Promise<T | null> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof NodeApiError && err.status === 404) return null;
      throw err;
    }
  }

  private async call<T>(method: string, path: string, body?: unknown, timeoutMs = this.opts.timeoutMs, signal?: AbortSignal): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: {
          authorization: `Bearer ${this.opts.token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new NodeUnavailableError(`node ${this.opts.nodeId} unreachable: ${(err as Error).message}`, err);
    }
    const text = await res.text().catch(() => '');
    let parsed: any = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // A non-JSON answer is reported below by status.
    }
    if (!res.ok) {
      const code = parsed?.error?.code ?? `HTTP_${res.status}`;
      const message = parsed?.error?.message ?? `node answered ${res.status}`;
      if (res.status >= 500 && res.status !== 503 && res.status !== 507) throw new NodeUnavailableError(`node ${this.opts.nodeId}: ${message}`);
      throw new NodeApiError(res.status, code, message, parsed);
    }
    return parsed as T;
  }
}
