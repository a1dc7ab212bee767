import { Command, InvalidArgumentError } from 'commander';
import { importOciImage } from './import.ts';

/**
 * `import <path> --name <name>`: OCI layout dir, docker-save tarball or OCI archive -> a Romulus VM image.
 * Usable alone (`node --import tsx packages/images/src/oci/cli.ts import ...`) and mounted as the
 * `import` subcommand of packages/images/src/cli.ts.
 */
function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

export function importCommand(): Command {
  return new Command('import')
    .description('import an OCI image layout directory or a docker save / OCI archive tarball as a VM image')
    .argument('<path>', 'OCI layout directory, or .tar / .tar.gz from docker save or an oci-archive')
    .requiredOption('--name <name>', 'image name to register (what spawn asks for)')
    .option('--min-vcpus <n>', 'smallest vCPU count the image runs with', positiveInt)
    .option('--min-memory <mib>', 'smallest memory (MiB) the image runs with', positiveInt)
    .option('--disk <mib>', 'default size of the per-VM writable disk (MiB)', positiveInt)
    .option('--port <port>', 'agent port (default: the lowest exposed TCP port)', positiveInt)
    .option('--replace', 'replace an existing image of that name', false)
    .action(async (input: string, o: { name: string; minVcpus?: number; minMemory?: number; disk?: number; port?: number; replace: boolean }) => {
      const r = await importOciImage({
        input,
        name: o.name,
        minVcpus: o.minVcpus,
        minMemoryMib: o.minMemory,
        diskMib: o.disk,
        agentPort: o.port,
        replace: o.replace,
        onProgress: (m) => console.log(`[import] ${m}`),
      });
      console.log(JSON.stringify({ name: r.manifest.name, command: r.manifest.command, user: r.manifest.user, agentPort: r.manifest.agentPort, rootfs: r.rootfsPath }));
    });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const program = new Command('romulus-images').addCommand(importCommand());
  program.parseAsync(process.argv).catch((err: Error) => {
    console.error(`[import] failed: ${err.message}`);
    process.exit(1);
  });
}
