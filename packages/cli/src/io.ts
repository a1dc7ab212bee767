/** Where the CLI writes and what it reads: the real process in main.ts, captured buffers in tests. */
export interface CliIo {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  env: NodeJS.ProcessEnv;
}

export const processIo: CliIo = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
  env: process.env,
};

/** Exit codes, documented in the README. */
export const EXIT = {
  OK: 0,
  /** The gateway (or chain) answered with an error, or the command failed. */
  FAILED: 1,
  /** Bad command line: unknown option, malformed KEY=VALUE, missing argument. */
  USAGE: 2,
  /** The gateway, node or chain could not be reached. */
  UNREACHABLE: 3,
} as const;

/** A failure the user caused or can fix; printed without a stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.FAILED,
    readonly code: string = 'CLI_ERROR',
  ) {
    super(message);
    this.name = 'CliError';
  }
}
