import { Type, type Static } from 'typebox';

/**
 * An image's manifest. Stored as <imagesDir>/<name>/manifest.json next to rootfs.ext4, and baked into the
 * image itself as /etc/romulus/image.json (the guest agent reads the workload from there).
 */
export const ReadinessProbe = Type.Union([
  Type.Object({ type: Type.Literal('http'), port: Type.Integer({ minimum: 1, maximum: 65535 }), path: Type.String() }),
  Type.Object({ type: Type.Literal('tcp'), port: Type.Integer({ minimum: 1, maximum: 65535 }) }),
  Type.Object({ type: Type.Literal('none') }),
]);
export type ReadinessProbe = Static<typeof ReadinessProbe>;

export const ImageManifest = Type.Object({
  name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,62}$' }),
  version: Type.String(),
  description: Type.Optional(Type.String()),
  /** The smallest VM the image runs in; spawn refuses anything smaller. */
  minVcpus: Type.Integer({ minimum: 1 }),
  minMemoryMib: Type.Integer({ minimum: 64 }),
  /** Default size of the per-VM writable disk. */
  diskMib: Type.Integer({ minimum: 16 }),
  /** The port the agent listens on inside the VM (the agent URL routes here); 0 = none. */
  agentPort: Type.Integer({ minimum: 0, maximum: 65535 }),
  readiness: ReadinessProbe,
  /** The workload the guest agent starts: argv, user (name or uid), working dir, fixed env. */
  command: Type.Array(Type.String(), { minItems: 1 }),
  user: Type.String(),
  workdir: Type.String(),
  env: Type.Record(Type.String(), Type.String()),
  /** Env variables the workload expects from the caller (e.g. model API keys): documentation + checks. */
  expectedEnv: Type.Array(
    Type.Object({ name: Type.String(), required: Type.Boolean(), secret: Type.Boolean(), description: Type.Optional(Type.String()) }),
  ),
  /** Content hash of the recipe + inputs that produced this image (build cache key). */
  contentHash: Type.Optional(Type.String()),
  builtAt: Type.Optional(Type.String()),
  sizeBytes: Type.Optional(Type.Integer()),
});
export type ImageManifest = Static<typeof ImageManifest>;
