import { AGENT_TYPE_IMAGES, type AgentTypeInfo, type ImageManifest } from '@romulus/shared';
import type { NodeClient } from '../node-client.ts';

/**
 * Agent types → images. The built-in types map through AGENT_TYPE_IMAGES; any other image the node has is
 * spawnable by its own name (custom images). The node's image list is cached briefly: spawn needs it on
 * every request and images change rarely.
 */
export class ImageCatalog {
  private cached: { at: number; images: Map<string, ImageManifest> } | null = null;
  private inflight: Promise<Map<string, ImageManifest>> | null = null;

  constructor(private readonly node: NodeClient, private readonly ttlMs = 10_000, private readonly now: () => number = Date.now) {}

  static imageNameOf(agentType: string): string {
    return Object.hasOwn(AGENT_TYPE_IMAGES, agentType) ? AGENT_TYPE_IMAGES[agentType] : agentType;
  }

  /** The manifest for an agent type, or null if no such image exists on the node. Throws if the node is unreachable. */
  async resolve(agentType: string): Promise<ImageManifest | null> {
    const images = await this.images();
    return images.get(ImageCatalog.imageNameOf(agentType)) ?? null;
  }

  async agentTypes(): Promise<AgentTypeInfo[]> {
    const images = await this.images();
    const out: AgentTypeInfo[] = [];
    const builtin = new Set(Object.values(AGENT_TYPE_IMAGES));
    for (const [name, image] of Object.entries(AGENT_TYPE_IMAGES)) {
      const m = images.get(image);
      if (m) out.push({ name, image, min_cores: m.minVcpus, min_memory: m.minMemoryMib });
    }
    for (const m of images.values()) {
      if (!builtin.has(m.name)) out.push({ name: m.name, image: m.name, min_cores: m.minVcpus, min_memory: m.minMemoryMib });
    }
    return out;
  }

  private async images(): Promise<Map<string, ImageManifest>> {
    if (this.cached && this.now() - this.cached.at < this.ttlMs) return this.cached.images;
    if (!this.inflight) {
      this.inflight = this.node
        .listImages()
        .then((list) => {
          const images = new Map(list.map((m) => [m.name, m] as const));
          this.cached = { at: this.now(), images };
          return images;
        })
        .finally(() => {
          this.inflight = null;
        });
    }
    return this.inflight;
  }
}
