import { spawn, type SpawnOptions } from 'node:child_process';
import { LineBuffer } from './line-buffer.ts';

export interface RunOptions extends Pick<SpawnOptions, 'cwd' | 'env'> {
  /** Called for every output line (stdout and stderr), e.g. to drive a progress bar. */
  onLine?: (line: string) => void;
  /** Lines of output kept for the error message when the command fails. */
  tailLines?: number;
  input?: string;
}

/** Runs a command to completion; rejects with the last lines of its output when it exits non-zero. */
export function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<string> {
  const keep = opts.tailLines ?? 40;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const tail: string[] = [];
    let stdout = '';
    const take = (line: string) => {
      tail.push(line);
      if (tail.length > keep) tail.shift();
      opts.onLine?.(line);
    };
    const outLines = new LineBuffer(take);
    const errLines = new LineBuffer(take);
    child.stdout!.on('data', (d: Buffer) => {
      if (stdout.length < 1 << 20) stdout += d.toString();
      outLines.push(d);
    });
    child.stderr!.on('data', (d: Buffer) => errLines.push(d));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      outLines.end();
      errLines.end();
      if (code === 0) resolve(stdout);
      else reject(new Error(`${cmd} ${args.slice(0, 3).join(' ')}… failed (${signal ?? `exit ${code}`}):\n${tail.join('\n')}`));
    });
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => {}); // a command that exits without reading its input is not our error
      child.stdin!.end(opts.input);
    }
  });
}
