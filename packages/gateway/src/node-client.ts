import type { CreateVmRequest, Health, ImageManifest, NodeEvent, Vm } from '@romulus/shared';
import { followNodeEvents } from './node-events.ts';

/**
 * The gateway's client of one hypercore node (packages/shared/src/node-api.ts). Transport failures, and answers
 * that are not the node's envelope (a proxy's 502, a half-dead process), become NodeUnavailableError; the node's
 * own errors become NodeApiError with its code (agents/node-errors.ts maps them).
 */
export interface NodeClient {
  readonly nodeId: string;
  createVm(req: CreateVmRequest): Promise<Vm>;
  getVm(id: string): Promise<Vm | null>;
  listVms(): Promise<Vm[]>;
  deleteVm(id: string): Promise<void>;
  /**
   * Follows the node's VM events until `signal` aborts (resolves then). Each (re)connection starts with every
   * VM as it is and a `synced` event; `onDisconnect` hears of each drop before the reconnect.
   */
  events(onEvent: (ev: NodeEvent) => void | Promise<void>, signal: AbortSignal, onDisconnect?: (err: unknown) => void): Promise<void>;
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

  events(onEvent: (ev: NodeEvent) => void | Promise<void>, signal: AbortSignal, onDisconnect?: (err: unknown) => void): Promise<void> {
    return followNodeEvents({ url: this.base, token: this.opts.token, onEvent, onDisconnect, signal });
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
      if (err instanceof NodeApiError && err.code === 'VM_NOT_FOUND') return null;
      throw err;
    }
  }

  private async call<T>(method: string, path: string, body?: unknown, timeoutMs = this.opts.timeoutMs): Promise<T> {
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method,
        headers: {
          authorization: `Bearer ${this.opts.token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(timeoutMs),
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
      const error = parsed?.error;
      if (typeof error?.code !== 'string') throw new NodeUnavailableError(`node ${this.opts.nodeId} answered ${res.status} without an error envelope`);
      throw new NodeApiError(res.status, error.code, typeof error.message === 'string' ? error.message : `node answered ${res.status}`, parsed);
    }
    return parsed as T;
  }
}
