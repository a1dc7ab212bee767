import { existsSync } from 'node:fs';
import type { GuestToHost, HostToGuest } from '@romulus/shared/guest-protocol';
import { GUEST_PROTOCOL_VERSION } from '@romulus/shared/guest-protocol';
import { runExec } from './exec.ts';
import { readWorkloadSpec, type WorkloadSpec } from './manifest.ts';
import { waitReady } from './probe.ts';
import type { LineKind, Link, Transport } from './transport.ts';
import { resolveUser, type UserInfo } from './users.ts';
import { Workload } from './workload.ts';

export const AGENT_VERSION = '0.1.0';

/** Everything the agent touches outside its own memory, injectable so tests run it on the host. */
export interface AgentDeps {
  transport: Transport;
  manifestPath: string;
  passwdPath?: string;
  initStartedAtUptime: number;
  uptime(): number;
  setClock(ms: number): Promise<void>;
  setHostname(name: string): Promise<void>;
  /** Ask PID 1 to sync and power off. */
  powerOff(): void;
  /** Diagnostics for the console (never given a secret). */
  log(message: string): void;
  helloIntervalMs?: number;
  stopGraceMs?: number;
  probeIntervalMs?: number;
  /** Host the readiness probe dials (127.0.0.1 in the guest). */
  probeHost?: string;
}

const MAX_EXEC_TIMEOUT_MS = 15 * 60 * 1000;
const MAX_CONCURRENT_EXECS = 8;
const HOSTNAME_RE = /^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

type State = 'waiting' | 'configuring' | 'running' | 'ready' | 'exited' | 'stopping';

/**
 * The guest agent's protocol logic (packages/shared/src/guest-protocol.ts): waits for `configure`, starts
 * the workload from the image manifest with the host's env and secrets, reports started/ready/exit,
 * forwards logs, serves exec/ping/time, and powers the VM off on `shutdown`.
 */
export class GuestAgent {
  private state: State = 'waiting';
  private link: Link | null = null;
  private readonly links = new Set<Link>();
  private workload = new Workload();
  private spec: WorkloadSpec | null = null;
  private user: UserInfo | null = null;
  private workloadEnv: Record<string, string> = {};
  private helloTimer: NodeJS.Timeout | null = null;
  private runningExecs = 0;
  private stopped = false;

  constructor(private readonly deps: AgentDeps) {}

  get configured(): boolean {
    return this.state !== 'waiting';
  }

  async start(): Promise<void> {
    await this.deps.transport.start({
      onConnect: (link) => this.onConnect(link),
      onLine: (link, line) => void this.onLine(link, line),
      onClose: (link) => this.onClose(link),
    });
    // Until configured, say hello every interval: a host that attaches late (virtio-serial) learns we are
    // up without having to ask.
    this.helloTimer = setInterval(() => {
      if (this.configured) return this.stopHelloTimer();
      for (const l of this.links) this.sendHello(l);
    }, this.deps.helloIntervalMs ?? 1000);
  }

  /** Stops timers and the transport (tests); the workload is left to the caller's `shutdown`. */
  async close(): Promise<void> {
    this.stopped = true;
    this.stopHelloTimer();
    await this.deps.transport.close();
  }

  private stopHelloTimer(): void {
    if (this.helloTimer) clearInterval(this.helloTimer);
    this.helloTimer = null;
  }

  private onConnect(link: Link): void {
    this.links.add(link);
    this.link = link;
    this.sendHello(link);
  }

  private onClose(link: Link): void {
    this.links.delete(link);
    if (this.link === link) this.link = null;
  }

  private send(link: Link | null, msg: GuestToHost, kind: LineKind = 'control'): void {
    link?.send(JSON.stringify(msg), kind);
  }

  /** Events go to the link the host last spoke on. */
  private emit(msg: GuestToHost, kind: LineKind = 'control'): void {
    this.send(this.link, msg, kind);
  }

  private sendHello(link: Link): void {
    const hello: GuestToHost = {
      t: 'hello',
      v: GUEST_PROTOCOL_VERSION,
      agentVersion: AGENT_VERSION,
      initStartedAtUptime: this.deps.initStartedAtUptime,
      helloAtUptime: this.deps.uptime(),
      configured: this.configured,
      ready: this.state === 'ready',
      workloadPid: this.workload.running ? this.workload.pid : null,
    };
    this.send(link, hello, 'hello');
  }

  private async onLine(link: Link, line: string): Promise<void> {
    if (!line.trim()) return;
    let msg: HostToGuest;
    try {
      msg = JSON.parse(line) as HostToGuest;
      if (!msg || typeof msg !== 'object' || typeof (msg as { t?: unknown }).t !== 'string') throw new Error();
    } catch {
      // Never echo the line: it may carry secrets.
      this.send(link, { t: 'error', code: 'MALFORMED_MESSAGE', message: 'malformed message (expected one JSON object per line)' });
      return;
    }

    switch (msg.t) {
      case 'sync':
        this.link = link;
        this.sendHello(link);
        return;
      case 'configure':
        return this.configure(link, msg);
      case 'time':
        if (!Number.isFinite(msg.now) || msg.now <= 0) return this.send(link, { t: 'error', code: 'BAD_MESSAGE', message: 'time.now must be ms since epoch' });
        return void this.deps.setClock(Math.round(msg.now)).catch((e) => this.send(link, { t: 'error', code: 'SET_CLOCK_FAILED', message: `set clock: ${(e as Error).message}` }));
      case 'ping':
        return this.send(link, { t: 'pong', id: String(msg.id ?? ''), now: Date.now() });
      case 'exec':
        return this.exec(link, msg);
      case 'shutdown':
        return this.shutdown();
      default:
        this.send(link, { t: 'error', code: 'UNKNOWN_MESSAGE', message: `unknown message type ${JSON.stringify(String((msg as { t: unknown }).t)).slice(0, 40)}` });
    }
  }

  private async configure(link: Link, msg: Extract<HostToGuest, { t: 'configure' }>): Promise<void> {
    if (this.configured) {
      this.send(link, { t: 'error', code: 'ALREADY_CONFIGURED', message: 'already configured' });
      this.sendHello(link);
      return;
    }
    const problem = checkConfigure(msg);
    if (problem) return this.send(link, { t: 'error', code: 'BAD_CONFIGURE', message: `bad configure: ${problem}` });
    this.state = 'configuring';
    this.link = link;
    this.stopHelloTimer();
    try {
      await this.deps.setClock(Math.round(msg.now));
    } catch (e) {
      this.emit({ t: 'log', stream: 'agent', line: `cannot set the clock: ${(e as Error).message}` }, 'log');
    }
    try {
      await this.deps.setHostname(msg.hostname);
      this.spec = readWorkloadSpec(this.deps.manifestPath);
      this.user = resolveUser(this.spec.user, this.deps.passwdPath);
    } catch (e) {
      this.state = 'exited';
      this.emit({ t: 'error', code: 'WORKLOAD_START_FAILED', message: `cannot start the workload: ${(e as Error).message}` });
      this.emit({ t: 'exit', code: null, signal: null });
      return;
    }
    this.workloadEnv = {
      PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      HOME: this.user.home,
      USER: this.user.name,
      LOGNAME: this.user.name,
      LANG: 'C.UTF-8',
      HOSTNAME: msg.hostname,
      ...this.spec.env,
      ...msg.env,
      ...msg.secrets,
    };
    let pid: number;
    try {
      pid = this.workload.start({
        command: this.spec.command,
        user: this.user,
        workdir: this.spec.workdir,
        env: this.workloadEnv,
        onLog: (stream, line) => this.emit({ t: 'log', stream, line }, 'log'),
        onExit: (code, signal) => {
          if (this.state !== 'stopping') this.state = 'exited';
          this.emit({ t: 'exit', code, signal });
        },
      });
    } catch (e) {
      this.state = 'exited';
      this.emit({ t: 'error', code: 'WORKLOAD_START_FAILED', message: `cannot start the workload: ${(e as Error).message}` });
      this.emit({ t: 'exit', code: null, signal: null });
      return;
    }
    if (pid < 0) return; // spawn failed; onExit reports it
    this.state = 'running';
    this.emit({ t: 'started', pid });
    const ready = await waitReady(
      this.spec.readiness,
      () => this.state !== 'running' || this.stopped,
      this.deps.probeIntervalMs ?? 200,
      this.deps.probeHost,
    );
    if (ready) {
      this.state = 'ready';
      this.emit({ t: 'ready', atUptime: this.deps.uptime() });
    }
  }

  private async exec(link: Link, msg: Extract<HostToGuest, { t: 'exec' }>): Promise<void> {
    const id = String(msg.id ?? '');
    const fail = (message: string) => this.send(link, { t: 'exec-result', id, code: 2, stdout: '', stderr: message });
    if (!Array.isArray(msg.argv) || msg.argv.length === 0 || !msg.argv.every((a) => typeof a === 'string')) {
      return fail('argv must be a non-empty array of strings');
    }
    if (!Number.isInteger(msg.timeoutMs) || msg.timeoutMs < 1 || msg.timeoutMs > MAX_EXEC_TIMEOUT_MS) {
      return fail(`timeoutMs must be an integer in 1..${MAX_EXEC_TIMEOUT_MS}`);
    }
    if (this.runningExecs >= MAX_CONCURRENT_EXECS) return fail(`too many concurrent execs (max ${MAX_CONCURRENT_EXECS})`);
    let user: UserInfo | undefined;
    let env: Record<string, string> = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', LANG: 'C.UTF-8' };
    if (msg.asWorkloadUser) {
      try {
        user = this.user ?? resolveUser(readWorkloadSpec(this.deps.manifestPath).user, this.deps.passwdPath);
      } catch (e) {
        return fail((e as Error).message);
      }
      env = { ...env, HOME: user.home, USER: user.name, LOGNAME: user.name };
    }
    this.runningExecs++;
    try {
      const r = await runExec({ argv: msg.argv, timeoutMs: msg.timeoutMs, uid: user?.uid, gid: user?.gid, env, cwd: user ? safeCwd(user.home) : '/' });
      this.send(link, { t: 'exec-result', id, ...r });
    } finally {
      this.runningExecs--;
    }
  }

  private async shutdown(): Promise<void> {
    if (this.state === 'stopping') return;
    const wasRunning = this.workload.running;
    this.state = 'stopping';
    this.stopHelloTimer();
    if (wasRunning) await this.workload.stop(this.deps.stopGraceMs ?? 5000);
    this.emit({ t: 'log', stream: 'agent', line: 'workload stopped; powering off' }, 'control');
    // Give the last lines a chance to reach the host before the VM goes away.
    await Promise.race([this.link?.flush() ?? Promise.resolve(), new Promise((r) => setTimeout(r, 1000))]);
    this.deps.powerOff();
  }
}

function checkConfigure(msg: Extract<HostToGuest, { t: 'configure' }>): string | null {
  if (!Number.isFinite(msg.now) || msg.now <= 0) return 'now must be ms since epoch';
  if (typeof msg.hostname !== 'string' || !HOSTNAME_RE.test(msg.hostname) || msg.hostname.length > 64) return 'hostname is not a valid host name';
  for (const [field, rec] of [['env', msg.env], ['secrets', msg.secrets]] as const) {
    if (!rec || typeof rec !== 'object' || Array.isArray(rec)) return `${field} must be an object`;
    for (const [k, v] of Object.entries(rec)) {
      if (!ENV_NAME_RE.test(k)) return `${field}: ${JSON.stringify(k.slice(0, 64))} is not a valid variable name`;
      if (typeof v !== 'string' || v.includes('\0')) return `${field}.${k} must be a string without NUL`;
    }
  }
  return null;
}

/** The user's home when it exists (passwd homes like /nonexistent are common), else /. */
function safeCwd(dir: string): string {
  return dir && dir.startsWith('/') && existsSync(dir) ? dir : '/';
}
