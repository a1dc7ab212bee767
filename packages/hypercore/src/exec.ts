import { execFile, spawn } from 'node:child_process';

/** The one way the node runs host tools (ip, nft, mkfs.ext4): argv only (no shell), stdin optional. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly argv: string[],
    readonly result: CommandResult,
  ) {
    super(`${argv.join(' ')} exited ${result.code}: ${result.stderr.trim().slice(0, 500)}`);
    this.name = 'CommandError';
  }
}

export type RunCommand = (argv: string[], opts?: { input?: string; allowFail?: boolean }) => Promise<CommandResult>;

export const runCommand: RunCommand = (argv, opts = {}) =>
  new Promise((resolve, reject) => {
    const [cmd, ...args] = argv;
    if (opts.input === undefined) {
      execFile(cmd, args, { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
        const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0;
        const result = { code, stdout: String(stdout), stderr: String(stderr || (err && code === 1 && !stderr ? err.message : '')) };
        if (code !== 0 && !opts.allowFail) reject(new CommandError(argv, result));
        else resolve(result);
      });
      return;
    }
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (e) => reject(e));
    child.on('close', (code) => {
      const result = { code: code ?? 1, stdout, stderr };
      if (result.code !== 0 && !opts.allowFail) reject(new CommandError(argv, result));
      else resolve(result);
    });
    child.stdin.end(opts.input);
  });
