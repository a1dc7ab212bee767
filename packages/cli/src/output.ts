import { RomulusApiError, RomulusNetworkError, RomulusWaitError } from '@romulus/sdk';
import { CliError, EXIT, type CliIo } from './io.ts';

/** Prints `value` as JSON (--json) or as the human text `human()` returns. */
export function emit(io: CliIo, json: boolean, value: unknown, human: () => string): void {
  io.stdout(json ? JSON.stringify(value, null, 2) + '\n' : human().replace(/\n?$/, '\n'));
}

/** Aligned `label  value` lines; undefined values are left out. */
export function fields(rows: [string, string | number | undefined | null][], indent = ''): string {
  const shown = rows.filter((r): r is [string, string | number] => r[1] !== undefined && r[1] !== null && r[1] !== '');
  const width = Math.max(0, ...shown.map(([k]) => k.length));
  return shown.map(([k, v]) => `${indent}${(k + ':').padEnd(width + 2)}${v}`).join('\n');
}

/** A plain text table with a header row. */
export function table(header: string[], rows: (string | number)[][]): string {
  const all = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')).join('\n');
}

export function duration(ms: number | undefined): string | undefined {
  if (ms === undefined) return undefined;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${(ms / 1000).toFixed(1)}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s % 60).padStart(2, '0')}s`;
}

export function timestamp(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** Whole tokens with thousands separators: 1000000 -> 1,000,000. */
export function tokens(n: number | bigint | string): string {
  return BigInt(n).toLocaleString('en-US');
}

/**
 * Prints any error the way the user can act on it and returns the exit code. With --json the error is the
 * gateway's own envelope on stdout, so scripts parse one shape whatever failed.
 */
export function reportError(io: CliIo, json: boolean, err: unknown, gatewayUrl?: string): number {
  let code: string;
  let message: string;
  let exit: number = EXIT.FAILED;
  let details: Record<string, unknown> = {};
  let hint: string | undefined;
  if (err instanceof RomulusApiError) {
    code = err.code;
    message = err.message;
    details = { status: err.status, ...err.details };
    if (err.code === 'AGENT_EXISTS' && err.agentId) hint = `your wallet already runs agent ${err.agentId}: \`romulus status ${err.agentId}\`, or \`romulus stop ${err.agentId}\` first`;
    if (err.code === 'INSUFFICIENT_BALANCE' || err.code === 'TIER_TOO_SMALL') hint = 'on the local stack, `romulus chain fund <amount>` adds tokens to your wallet';
  } else if (err instanceof RomulusNetworkError) {
    code = 'UNREACHABLE';
    message = err.message;
    exit = EXIT.UNREACHABLE;
    hint = `is the gateway running${gatewayUrl ? ` at ${gatewayUrl}` : ''}? Start the local stack with \`romulus up\`, or pass --gateway <url>`;
  } else if (err instanceof RomulusWaitError) {
    code = 'WAIT_FAILED';
    message = err.message;
    details = { last_status: err.lastStatus, reason: err.reason };
  } else if (err instanceof CliError) {
    code = err.code;
    message = err.message;
    exit = err.exitCode;
  } else {
    code = 'INTERNAL';
    message = err instanceof Error ? err.message : String(err);
  }
  if (json) {
    io.stdout(JSON.stringify({ success: false, error: { code, message, ...details } }, null, 2) + '\n');
  } else {
    io.stderr(`error: ${message}${code !== 'CLI_ERROR' && code !== 'INTERNAL' ? ` [${code}]` : ''}\n`);
    if (hint) io.stderr(`hint: ${hint}\n`);
  }
  return exit;
}
