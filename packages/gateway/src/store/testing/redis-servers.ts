import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

/**
 * Real redis-server processes on loopback for tests and benchmarks: a single server, or a 3-master
 * Redis Cluster. No persistence, temp dirs only, and `stop()` kills every process and removes the dirs
 * (also registered on process exit, so an aborted run leaves nothing behind).
 */

const run = promisify(execFile);

async function portFree(port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A loopback port that is free, and (for cluster nodes) whose bus port +10000 is free too. */
async function pickPort(withBus: boolean): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    if ((await portFree(port)) && (!withBus || (await portFree(port + 10_000)))) return port;
  }
  throw new Error('no free loopback port found');
}

interface Proc {
  child: ChildProcess;
  port: number;
}

/** Starts redis-server and resolves once it accepts connections; rejects if it exits first. */
function startRedis(port: number, dir: string, extra: string[]): Promise<Proc> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', ...extra];
  const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const onData = (b: Buffer) => {
      out += b.toString();
      if (out.includes('Ready to accept connections')) {
        child.stdout!.off('data', onData);
        child.stdout!.resume(); // keep draining so the server never blocks on a full pipe
        resolve({ child, port });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.resume();
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`redis-server on ${port} exited (${code}): ${out.slice(-500)}`)));
  });
}

async function killAll(procs: Proc[]): Promise<void> {
  await Promise.all(
    procs.map(async ({ child }) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    }),
  );
}

export interface RunningRedis {
  /** redis://127.0.0.1:<port> (single) */
  url: string;
  /** "127.0.0.1:<port>" of every node */
  nodes: string[];
  stop(): Promise<void>;
}

async function withCleanup(start: (dirs: string[], procs: Proc[]) => Promise<{ url: string; nodes: string[] }>): Promise<RunningRedis> {
  const dirs: string[] = [];
  const procs: Proc[] = [];
  const emergency = () => {
    for (const p of procs) p.child.kill('SIGKILL');
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  process.once('exit', emergency);
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    process.off('exit', emergency);
    await killAll(procs);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  };
  try {
    return { ...(await start(dirs, procs)), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** One redis-server on a free loopback port (or on `port`, e.g. to bring a stopped server back). */
export async function startRedisServer(port?: number): Promise<RunningRedis> {
  return await withCleanup(async (dirs, procs) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'romulus-redis-'));
    dirs.push(dir);
    for (let attempt = 0; ; attempt++) {
      try {
        const p = await startRedis(port ?? (await pickPort(false)), dir, []);
        procs.push(p);
        return { url: `redis://127.0.0.1:${p.port}`, nodes: [`127.0.0.1:${p.port}`] };
      } catch (err) {
        if (port !== undefined || attempt >= 4) throw err; // port raced away: try another
      }
    }
  });
}

/** Three masters, all 16384 slots assigned, waited for until every node reports cluster_state:ok. */
export async function startRedisCluster(timeoutMs = 120_000): Promise<RunningRedis> {
  return await withCleanup(async (dirs, procs) => {
    for (let i = 0; i < 3; i++) {
      const dir = mkdtempSync(path.join(tmpdir(), `romulus-redis-cluster-${i}-`));
      dirs.push(dir);
      for (let attempt = 0; ; attempt++) {
        try {
          procs.push(await startRedis(await pickPort(true), dir, ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', '5000']));
          break;
        } catch (err) {
          if (attempt >= 4) throw err;
        }
      }
    }
    const nodes = procs.map((p) => `127.0.0.1:${p.port}`);
    await run('redis-cli', ['--cluster', 'create', ...nodes, '--cluster-replicas', '0', '--cluster-yes'], { timeout: timeoutMs });
    const deadline = Date.now() + timeoutMs;
    for (const p of procs) {
      for (;;) {
        const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(p.port), 'CLUSTER', 'INFO']);
        if (/cluster_state:ok/.test(stdout)) break;
        if (Date.now() > deadline) throw new Error(`cluster node ${p.port} not ok: ${stdout}`);
        await sleep(200);
      }
    }
    return { url: `redis://${nodes[0]}`, nodes };
  });
}
