/** The `romulus` command: `node --import tsx packages/cli/src/main.ts <args>` (bin/romulus does this). */
import { run } from './program.ts';

// Exit explicitly: `up` leaves nothing running once it returns, and no stray handle should keep a finished
// command alive.
process.exit(await run(process.argv.slice(2)));
