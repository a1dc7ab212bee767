import type { Command } from 'commander';
import type { AgentStatus, SpawnResponse, WalletUsage } from '@romulus/sdk';
import type { Context } from '../context.ts';
import { collect, parseAssignments, secretsFromEnv } from '../kv.ts';
import { duration, emit, fields, table, timestamp, tokens } from '../output.ts';
import { SpawnProgress, waitingFor } from './spawn-progress.ts';
import type { TiersResponse } from '@romulus/sdk';

type ContextOf = (cmd: Command) => Context;

/** spawn, stop, status, usage, tiers: the gateway's API, one command each. */
export function registerAgentCommands(program: Command, ctxOf: ContextOf): void {
  program
    .command('spawn')
    .description('spawn an agent: chat, coding, browser, or a custom image name (e.g. base)')
    .argument('<agent_type>', 'chat | coding | browser | <image name>')
    .option('--secret <KEY=VALUE>', 'a secret for the agent (repeatable); prefer --secret-env to keep it out of shell history', collect, [])
    .option('--secret-env <NAME>', 'a secret whose value is read from this environment variable (repeatable)', collect, [])
    .option('--env <KEY=VALUE>', 'plain environment for the agent (repeatable)', collect, [])
    .option('--wait', 'wait until the agent is running')
    .option('--timeout <seconds>', 'with --wait: give up after this long', parseSeconds, 600)
    .action(async (agentType: string, o: { secret: string[]; secretEnv: string[]; env: string[]; wait?: boolean; timeout: number }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const secrets = { ...parseAssignments(o.secret, '--secret'), ...secretsFromEnv(o.secretEnv, ctx.io.env) };
      const env = parseAssignments(o.env, '--env');
      const client = ctx.client({ signed: true });
      const startedAt = Date.now(); // this machine's clock: elapsed times do not depend on the gateway's
      const res = await client.spawn({
        agent_type: agentType,
        ...(Object.keys(secrets).length ? { secrets } : {}),
        ...(Object.keys(env).length ? { env } : {}),
      });
      if (!ctx.json) ctx.io.stdout(spawnedText(res) + '\n');
      let final: AgentStatus | undefined;
      if (o.wait) {
        const progress = new SpawnProgress(ctx.io.stderr, startedAt);
        final = await client.waitForStatus(res.agent.id, 'running', {
          timeoutMs: o.timeout * 1000,
          onStatus: (s) => {
            if (!ctx.json) progress.seen(s, Date.now());
          },
        });
      }
      if (ctx.json) {
        emit(ctx.io, true, final ? { ...res, agent: { ...res.agent, status: final.status, ...(final.ready_at ? { ready_at: final.ready_at } : {}) } } : res, () => '');
      } else if (final) {
        const took = final.ready_at ? ` (ready ${duration(final.ready_at - res.agent.spawned_at)} after spawn)` : '';
        ctx.io.stdout(`Agent ${final.id} is running${took}.\n`);
      }
    });

  program
    .command('stop')
    .description('stop one of your agents (stopping a stopped agent is fine)')
    .argument('<id>', 'agent id')
    .option('--wait', 'wait until the agent has stopped (stop is asynchronous: it answers while the agent is stopping)')
    .option('--timeout <seconds>', 'with --wait: give up after this long', parseSeconds, 180)
    .action(async (id: string, o: { wait?: boolean; timeout: number }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      let agent = await ctx.client({ signed: true }).stop(id);
      if (o.wait && agent.status === 'stopping') {
        agent = await ctx.client({ signed: true }).waitForStatus(id, 'stopped', { timeoutMs: o.timeout * 1000 });
      }
      emit(ctx.io, ctx.json, { success: true, agent }, () => `Agent ${agent.id}: ${agent.status}`);
    });

  program
    .command('status')
    .description("an agent's status (full details when it is yours)")
    .argument('<id>', 'agent id')
    .option('--public', 'ask without signing (the public view)')
    .action(async (id: string, o: { public?: boolean }, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const agent = await ctx.client({ signed: !o.public }).status(id);
      emit(ctx.io, ctx.json, { success: true, agent }, () => statusText(agent));
    });

  program
    .command('usage')
    .description("a wallet's usage: spawns, uptime, vCPU- and MiB-seconds (your own wallet by default)")
    .argument('[wallet]', 'wallet address (base58); only its owner may see it')
    .action(async (wallet: string | undefined, _o: unknown, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const usage = await ctx.client({ signed: true }).usage(wallet);
      emit(ctx.io, ctx.json, { success: true, usage }, () => usageText(usage));
    });

  program
    .command('tiers')
    .description('the tiers (holdings needed, cores, memory) and the agent types')
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = ctxOf(cmd);
      const res = await ctx.client({ signed: false }).tiers();
      emit(ctx.io, ctx.json, res, () => tiersText(res));
    });
}

function parseSeconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`not a positive number of seconds: ${v}`);
  return n;
}

export function spawnedText(res: SpawnResponse): string {
  const a = res.agent;
  const url = a.url;
  return [
    `Spawned agent ${a.id}`,
    fields(
      [
        ['type', a.agent_type],
        ['tier', `${a.tier} (${res.tier_config.cores} cores, ${res.tier_config.memory} MiB)`],
        ['status', a.status],
        ['url', url],
        ['token', a.access_token],
      ],
      '  ',
    ),
    '',
    'The access token is shown only this once: keep it. The agent URL answers only with it:',
    `  curl -H "Authorization: Bearer ${a.access_token}" ${url}/`,
    '',
  ].join('\n');
}

export function statusText(a: AgentStatus): string {
  return fields([
    ['id', a.id],
    ['status', a.reason ? `${a.status} (${a.reason})` : a.phase ? `${a.status} (${waitingFor(a)})` : a.status],
    ['type', a.agent_type],
    ['url', a.url],
    ['wallet', a.wallet],
    ['tier', a.tier !== undefined ? `${a.tier}${a.cores ? ` (${a.cores} cores, ${a.memory} MiB)` : ''}` : undefined],
    ['spawned', timestamp(a.spawned_at)],
    ['ready', timestamp(a.ready_at)],
    ['stopped', timestamp(a.stopped_at)],
    ['uptime', duration(a.uptime_ms)],
  ]);
}

export function usageText(u: WalletUsage): string {
  const t = u.totals;
  const head = fields([
    ['wallet', u.wallet],
    ['spawns', t.spawn_count],
    ['uptime', duration(t.uptime_ms)],
    ['vCPU-seconds', t.vcpu_seconds.toFixed(1)],
    ['MiB-seconds', t.mib_seconds.toFixed(0)],
  ]);
  if (u.agents.length === 0) return head;
  const rows = u.agents.map((a) => [a.id, a.agent_type, a.status, duration(a.uptime_ms) ?? '0.0s', a.vcpu_seconds.toFixed(1)]);
  return `${head}\n\n${table(['AGENT', 'TYPE', 'STATUS', 'UPTIME', 'VCPU-S'], rows)}`;
}

export function tiersText(res: TiersResponse): string {
  const tiers = Object.entries(res.tiers).sort((a, b) => a[1].min - b[1].min);
  const tierTable = table(['TIER', 'MIN TOKENS', 'CORES', 'MEMORY'], tiers.map(([name, t]) => [name, tokens(t.min), t.cores, `${t.memory} MiB`]));
  const types = table(['AGENT TYPE', 'IMAGE', 'MIN CORES', 'MIN MEMORY'], res.agent_types.map((t) => [t.name, t.image, t.min_cores, `${t.min_memory} MiB`]));
  return `${tierTable}\n\n${types}`;
}
