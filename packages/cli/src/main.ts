/** The `romulus` command: `node --import tsx packages/cli/src/main.ts <args>` (bin/romulus does this). */
import { run } from './program.ts';

process.exitCode = await run(process.argv.slice(2));
