import { Command, CommanderError } from 'commander';
import { Context, type GlobalOptions } from './context.ts';
import { EXIT, processIo, type CliIo } from './io.ts';
import { reportError } from './output.ts';
import { registerAgentCommands } from './commands/agents.ts';
import { registerKeygenCommands } from './commands/keygen.ts';
import { registerStackCommands } from './commands/stack.ts';
import { registerChainCommands } from './commands/chain.ts';

/** Builds the `romulus` command tree. Each action gets its Context from the global options. */
export function buildProgram(io: CliIo): Command {
  const program = new Command('romulus')
    .description('Romulus: token-gated AI agents in microVMs')
    .option('--gateway <url>', 'gateway URL (default: $ROMULUS_GATEWAY, else the local stack, else http://127.0.0.1:8080)')
    .option('--keypair <path>', 'wallet keypair, Solana CLI format (default: $ROMULUS_KEYPAIR, else ~/.config/solana/id.json)')
    .option('--data-dir <dir>', 'local stack data dir (default: $ROMULUS_DATA_DIR, else /var/lib/romulus)')
    .option('--json', 'machine-readable output (errors too, as {"success":false,"error":{...}})')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride();
  const ctxOf = (cmd: Command) => new Context(cmd.optsWithGlobals<GlobalOptions>(), io);
  registerAgentCommands(program, ctxOf);
  registerKeygenCommands(program, ctxOf);
  registerStackCommands(program, ctxOf);
  registerChainCommands(program, ctxOf);
  const all = (c: Command): Command[] => [c, ...c.commands.flatMap(all)];
  for (const sub of all(program)) sub.exitOverride().configureOutput({ writeOut: io.stdout, writeErr: io.stderr });
  return program;
}

/** Runs one command line; resolves to the exit code (never throws). */
export async function run(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const program = buildProgram(io);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.OK;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version arrive here as "errors" with exit code 0; commander already printed the message.
      return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
    }
    const json = argv.includes('--json');
    return reportError(io, json, err, new Context(program.opts<GlobalOptions>(), io).gatewayUrl);
  }
}
