import { mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { GUEST_PROTOCOL_VERSION, type GuestToHost, type HostToGuest } from '@romulus/shared';
import type { RunningVm, VmLaunchSpec, VmmDriver, VmmProbeResult } from '../vmm/types.ts';
import { onJsonLines } from '../vmm/json-lines.ts';

/** How the fake guest behaves (per VM, chosen from the launch spec by the test). */
export interface FakeGuestBehaviour {
  /** Never answer sync (hello timeout). */
  silent?: boolean;
  /** Exit the workload instead of becoming ready. */
  exitBeforeReady?: boolean;
  /** Start the workload but never report it ready. */
  neverReady?: boolean;
  /** Log these lines once configured (to test redaction). */
  logLines?: (env: Record<string, string>) => string[];
}

interface FakeVm {
  spec: VmLaunchSpec;
  running: RunningVm;
  server: net.Server;
  alive: boolean;
  configured: boolean;
  ready: boolean;
  env: Record<string, string>;
  sockets: Set<net.Socket>;
}

let nextPid = 100000;

/**
 * An in-process stand-in for a VMM plus guest agent: "starting a VM" opens a unix socket server at
 * <stateDir>/agent.sock that speaks the real guest protocol. Unit tests only (e2e uses real QEMU).
 */
export class FakeDriver implements VmmDriver {
  readonly name = 'qemu' as const;
  readonly vms = new Map<string, FakeVm>();
  readonly started: VmLaunchSpec[] = [];

  constructor(private readonly behaviour: (spec: VmLaunchSpec) => FakeGuestBehaviour = () => ({})) {}

  async available(): Promise<boolean> {
    return true;
  }

  async probe(): Promise<VmmProbeResult> {
    return { accel: 'tcg', reason: 'fake driver', vmmVersion: 'fake 1.0', usable: true };
  }

  async start(spec: VmLaunchSpec): Promise<RunningVm> {
    this.started.push(spec);
    mkdirSync(spec.stateDir, { recursive: true });
    const sockPath = path.join(spec.stateDir, 'agent.sock');
    rmSync(sockPath, { force: true });
    const b = this.behaviour(spec);
    const spawnedAt = Date.now();
    const vm: FakeVm = {
      spec,
      running: {
        id: spec.id,
        pid: nextPid++,
        pidStartTime: String(spawnedAt),
        accel: 'tcg',
        channel: { kind: 'unix', path: sockPath },
        consoleLogPath: path.join(spec.stateDir, 'console.log'),
        spawnedAt,
        vmmUpAt: spawnedAt + 5,
      },
      server: net.createServer(),
      alive: true,
      configured: false,
      ready: false,
      env: {},
      sockets: new Set(),
    };
    vm.server.on('connection', (sock) => this.serve(vm, sock, b));
    await new Promise<void>((r) => vm.server.listen(sockPath, r));
    this.vms.set(spec.stateDir, vm);
    return vm.running;
  }

  private serve(vm: FakeVm, sock: net.Socket, b: FakeGuestBehaviour): void {
    vm.sockets.add(sock);
    sock.on('close', () => vm.sockets.delete(sock));
    sock.on('error', () => {});
    const send = (m: GuestToHost) => sock.write(`${JSON.stringify(m)}\n`);
    onJsonLines(sock, (msg) => {
      const m = msg as HostToGuest;
      if (b.silent) return;
      if (m.t === 'sync') {
        send({ t: 'hello', v: GUEST_PROTOCOL_VERSION, agentVersion: 'fake', initStartedAtUptime: 0.5, helloAtUptime: 0.9, configured: vm.configured, ready: vm.ready, workloadPid: vm.configured ? 42 : null });
      } else if (m.t === 'configure') {
        vm.configured = true;
        vm.env = { ...m.env, ...m.secrets };
        send({ t: 'started', pid: 42 });
        for (const line of b.logLines?.(vm.env) ?? []) send({ t: 'log', stream: 'stdout', line });
        if (b.exitBeforeReady) send({ t: 'exit', code: 3, signal: null });
        else if (!b.neverReady) {
          vm.ready = true;
          send({ t: 'ready', atUptime: 1.2 });
        }
      } else if (m.t === 'exec') {
        const [cmd, ...args] = m.argv;
        if (cmd === 'printenv') send({ t: 'exec-result', id: m.id, code: 0, stdout: `${vm.env[args[0]] ?? ''}\n`, stderr: '' });
        else send({ t: 'exec-result', id: m.id, code: 0, stdout: m.argv.join(' '), stderr: '' });
      } else if (m.t === 'shutdown') {
        void this.die(vm);
      }
    });
  }

  private async die(vm: FakeVm): Promise<void> {
    if (!vm.alive) return;
    vm.alive = false;
    for (const s of vm.sockets) s.destroy();
    await new Promise<void>((r) => vm.server.close(() => r()));
  }

  /** Test hook: the VMM "process" dies (like SIGKILL). */
  async crash(stateDir: string): Promise<void> {
    const vm = this.vms.get(stateDir);
    if (vm) await this.die(vm);
  }

  async adopt(stateDir: string): Promise<RunningVm | null> {
    const vm = this.vms.get(stateDir);
    return vm?.alive ? vm.running : null;
  }

  isAlive(r: RunningVm): boolean {
    for (const vm of this.vms.values()) if (vm.running.pid === r.pid) return vm.alive;
    return false;
  }

  async stop(r: RunningVm): Promise<void> {
    await this.kill(r);
  }

  async kill(r: RunningVm): Promise<void> {
    for (const vm of this.vms.values()) if (vm.running.pid === r.pid) await this.die(vm);
  }

  close(): void {}

  liveCount(): number {
    return [...this.vms.values()].filter((v) => v.alive).length;
  }
}
