import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { RomulusClient } from '@romulus/sdk';
import { pidAlive } from '@romulus/shared';
import type { Context } from '../context.ts';
import { CliError, EXIT } from '../io.ts';
import { emit, fields, tokens } from '../output.ts';
import type { RunningStack } from '../stack/launch.ts';
import { createStackLogs } from '../stack/logs.ts';
import { defaultImagesDir, defaultKernelPath, STACK_DEFAULTS, type StackOptions } from '../stack/options.ts';
import { readStackFile, removeStackFile } from '../stack/stack-file.ts';

type ContextOf = (cmd: Command) => Context;

interface UpFlags {
  host: string;
  gatewayPort: number;
  nodePort: number;
  chainPort: number;
  bridge: string;
  subnet: string;
  imagesDir?: string;
  kernel?: string;
  logLevel: string;
  fundTo?: string;
  fundTier?: string;
  nodeId: string;
}

const port = (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`not a port: ${v}`);
  return n;
};

export function registerStackCommands(program: Command, ctxOf: ContextOf): void {
  program
    .command('up')
    .description('run the single-node stack in the foreground: local chain, node daemon (root), gateway; Ctrl-C stops it')
    .option('--host <addr>', 'listen address of all three services', STACK_DEFAULTS.host)
    .option('--gateway-port <port>', 'gateway port (agent URLs use it too)', port, STACK_DEFAULTS.gatewayPort)
    .option('--node-port <port>', 'node daemon port', port, STACK_DEFAULTS.nodePort)
    .option('--chain-port <port>', 'local chain JSON-RPC port', port, STACK_DEFAULTS.chainPort)
    .option('--bridge <name>', 'bridge the VMs attach to', STACK_DEFAULTS.bridge)
    .option('--subnet <cidr>', 'subnet the VMs get their addresses from', STACK_DEFAULTS.subnet)
    .option('--node-id <id>', 'node id (also names its nftables table and TAP prefix)', STACK_DEFAULTS.nodeId)
    .option('--images-dir <dir>', 'images (default: $ROMULUS_IMAGES_DIR, else <data-dir>/images)')
    .option('--kernel <path>', 'guest kernel (default: $ROMULUS_KERNEL, else <images-dir>/kernel/vmlinux)')
    .option('--log-level <level>', 'level of <data-dir>/logs/stack.log', STACK_DEFAULTS.logLevel)
    .option('--fund-to <amount>', "top your keypair's wallet up to this many tokens on the local chain once it runs")
    .option('--fund-tier <tier>', "top your keypair's wallet up to the holding this tier needs (e.g. pro)")
    .action(async (flags: UpFlags, cmd: Command) => up(ctxOf(cmd), flags));

  program
    .command('down')
    .description('stop the running local stack (all its agents are stopped first)')
    .option('--timeout <seconds>', 'how long to wait for it to finish stopping', (v) => Number(v), 300)
    .action(async (o: { timeout: number }, cmd: Command) => down(ctxOf(cmd), o.timeout));
}

async function up(ctx: Context, flags: UpFlags): Promise<void> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new CliError('romulus up must run as root: the node daemon creates a bridge, TAP devices, nftables rules and cgroups', EXIT.FAILED, 'NOT_ROOT');
  }
  const dataDir = ctx.dataDir;
  const existing = readStackFile(dataDir);
  if (existing && existing.pid !== process.pid && pidAlive(existing.pid)) {
    throw new CliError(`a stack is already running (pid ${existing.pid}, gateway ${existing.gateway.url}); \`romulus down\` stops it`, EXIT.FAILED, 'ALREADY_RUNNING');
  }
  const imagesDir = flags.imagesDir ? path.resolve(flags.imagesDir) : defaultImagesDir(dataDir, ctx.io.env);
  const kernelPath = flags.kernel ? path.resolve(flags.kernel) : defaultKernelPath(imagesDir, ctx.io.env);
  if (!existsSync(kernelPath)) {
    throw new CliError(`no guest kernel at ${kernelPath}: build the kernel and images first with \`bash scripts/setup.sh --images all\``, EXIT.FAILED, 'NO_KERNEL');
  }
  // Resolve the wallet before starting anything, so a missing keypair fails fast.
  const funding = flags.fundTo !== undefined || flags.fundTier !== undefined;
  const fundWallet = funding ? ctx.signer().publicKey : undefined;

  const opts: StackOptions = {
    dataDir,
    host: flags.host,
    gatewayPort: flags.gatewayPort,
    nodePort: flags.nodePort,
    chainPort: flags.chainPort,
    domain: STACK_DEFAULTS.domain,
    nodeId: flags.nodeId,
    bridge: flags.bridge,
    subnet: flags.subnet,
    imagesDir,
    kernelPath,
    logLevel: flags.logLevel,
  };
  const logs = createStackLogs(dataDir, flags.logLevel);
  const logFile = logs.file;
  const log = logs.forService('stack');
  const say = (text: string) => {
    if (!ctx.json) ctx.io.stderr(text + '\n');
  };
  say(`starting the Romulus stack in ${dataDir} (log: ${logFile})`);

  // Signals during start-up are remembered and honoured as soon as there is something to stop.
  let stopRequested: (() => void) | undefined;
  const stopSignal = new Promise<string>((resolve) => {
    stopRequested = () => resolve('signal');
  });
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) say(`\n${sig}: stopping agents and services…`);
    else if (signals === 2) say(`${sig}: still stopping (agents are being stopped; their VMs shut down cleanly). Once more to quit at once.`);
    else {
      // The user insists: leave now. VMs still running are adopted by the node at the next `romulus up`,
      // and the gateway's reconciler settles their agents.
      say(`${sig}: quitting without finishing; the next \`romulus up\` adopts or cleans up what is left`);
      logs.flush();
      process.exit(130);
    }
    stopRequested?.();
  };
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);

  // The services' modules (fastify, litesvm, the VMM drivers) load only for `up`, keeping other commands quick.
  const { startStack } = await import('../stack/launch.ts');
  let stack: RunningStack | undefined;
  try {
    try {
      stack = await startStack(opts, logs);
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { port?: number };
      if (e.code === 'EADDRINUSE') {
        throw new CliError(`${e.message}: another process uses that port (choose others with --gateway-port, --node-port, --chain-port)`, EXIT.FAILED, 'PORT_IN_USE');
      }
      throw err;
    }
    const health = await waitForHealth(stack.file.gateway.url, stack.file.node.url);
    let funded: { wallet: string; balance: string } | undefined;
    if (fundWallet) funded = await topUp(stack, fundWallet, fundTarget(stack, flags));

    const summary = { success: true, stack: stack.file, node: health.node, logFile, ...(funded ? { funded } : {}) };
    emit(ctx.io, ctx.json, summary, () => upText(stack!, health.node, logFile, funded));
    log.info({ stack: stack.file }, 'stack ready');
    await stopSignal;
  } finally {
    for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(s, onSignal);
    if (stack) {
      await stack.stop();
      say('stack stopped');
    }
    logs.flush();
  }
}

interface NodeHealth {
  status: string;
  driver: string;
  accel: string;
  warning?: string;
}

/** The services are listening once startStack returns; this confirms they answer (and reads the accel). */
async function waitForHealth(gatewayUrl: string, nodeUrl: string): Promise<{ node: NodeHealth }> {
  const gateway = new RomulusClient({ baseUrl: gatewayUrl });
  let lastError: unknown;
  for (let attempt = 0; attempt < 30; attempt++) {
    try {
      await gateway.health();
      const res = await fetch(`${nodeUrl}/v1/health`, { signal: AbortSignal.timeout(10_000) });
      if (res.ok) return { node: (await res.json()) as NodeHealth };
      lastError = new Error(`node health HTTP ${res.status}`);
    } catch (err) {
      lastError = err;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new CliError(`the stack started but does not answer health checks: ${(lastError as Error)?.message}`, EXIT.FAILED, 'UNHEALTHY');
}

/** --fund-to wins; --fund-tier reads the tier's minimum from the gateway's own configuration. */
function fundTarget(stack: RunningStack, flags: UpFlags): string {
  if (flags.fundTo !== undefined) return flags.fundTo;
  const tiers = stack.gateway.config.tiers;
  const tier = tiers[flags.fundTier!];
  if (!tier) throw new CliError(`--fund-tier: no tier ${JSON.stringify(flags.fundTier)} (tiers: ${Object.keys(tiers).join(', ')})`, EXIT.USAGE, 'BAD_ARGUMENT');
  return String(tier.min);
}

/** Idempotent funding: mints only the difference between the wallet's balance and the target. */
async function topUp(stack: RunningStack, wallet: string, target: string): Promise<{ wallet: string; balance: string }> {
  const { chain } = stack;
  const { formatUnits, parseUnits } = await import('@romulus/chain');
  let want: bigint;
  try {
    want = parseUnits(target, chain.decimals);
  } catch (err) {
    throw new CliError(`--fund-to: ${(err as Error).message}`, EXIT.USAGE, 'BAD_ARGUMENT');
  }
  const have = chain.balance(wallet);
  if (have < want) await chain.fund(wallet, formatUnits(want - have, chain.decimals));
  return { wallet, balance: formatUnits(chain.balance(wallet), chain.decimals) };
}

function upText(stack: RunningStack, node: NodeHealth, logFile: string, funded?: { wallet: string; balance: string }): string {
  const f = stack.file;
  const gw = new URL(f.gateway.url);
  const lines = [
    'Romulus is up.',
    fields(
      [
        ['gateway', `${f.gateway.url}   (API docs: ${f.gateway.url}/docs)`],
        ['agent URLs', `http://<agent-id>.${f.domain}:${gw.port}`],
        ['node', `${f.node.url}   (driver ${node.driver}, ${node.accel.toUpperCase()}${node.accel === 'tcg' ? ': software emulation, slow boots' : ''})`],
        ['chain', `${f.chain.url}   (mint ${f.chain.mint})`],
        ['data', f.dataDir],
        ['log', logFile],
        ['wallet', funded ? `${funded.wallet} holds ${tokens(funded.balance.split('.')[0])} tokens` : undefined],
      ],
      '  ',
    ),
  ];
  if (node.warning) lines.push(`  warning: ${node.warning}`);
  lines.push(
    '',
    'Try, in another terminal:',
    '  romulus tiers',
    '  romulus spawn chat --secret-env ANTHROPIC_API_KEY --wait',
    '  romulus status <agent-id>',
    `  curl -H "Authorization: Bearer <access-token>" http://<agent-id>.${f.domain}:${gw.port}/`,
    '  romulus stop <agent-id>',
    '',
    'Ctrl-C (or `romulus down`) stops every agent, then the stack.',
  );
  return lines.join('\n');
}

async function down(ctx: Context, timeoutSec: number): Promise<void> {
  const dataDir = ctx.dataDir;
  const stack = readStackFile(dataDir);
  if (!stack) {
    emit(ctx.io, ctx.json, { success: true, running: false }, () => `no local stack is running (no ${path.join(dataDir, 'stack.json')})`);
    return;
  }
  if (!pidAlive(stack.pid)) {
    removeStackFile(dataDir, stack.pid);
    emit(ctx.io, ctx.json, { success: true, running: false, removedStale: true }, () => `no local stack is running (removed the stale stack file of pid ${stack.pid})`);
    return;
  }
  process.kill(stack.pid, 'SIGTERM');
  if (!ctx.json) ctx.io.stderr(`stopping the stack (pid ${stack.pid}): agents first, then the services…\n`);
  const deadline = Date.now() + timeoutSec * 1000;
  while (pidAlive(stack.pid)) {
    if (Date.now() > deadline) {
      throw new CliError(`the stack (pid ${stack.pid}) is still stopping after ${timeoutSec}s; see ${path.join(dataDir, 'logs', 'stack.log')}`, EXIT.FAILED, 'STOP_TIMEOUT');
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  emit(ctx.io, ctx.json, { success: true, running: false, stoppedPid: stack.pid }, () => 'stack stopped');
}
