/**
 * The guest agent's protocol, run on the host: real child processes, real FIFOs, a temp
 * manifest. Only the guest-global edges (clock, hostname, power-off) are recorded fakes.
 */
import { after, afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { GUEST_PROTOCOL_VERSION, type GuestToHost } from '@romulus/shared/guest-protocol';
import { GuestAgent, type AgentDeps } from './agent.ts';
import { LineSplitter } from './lines.ts';
import { FdTransport, type Transport } from './transport.ts';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'romulus-agent-test-'));
chmodSync(tmp, 0o755); // the workload runs as nobody and must reach its workdir below
after(() => rmSync(tmp, { recursive: true, force: true }));

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A workload like the base image's: HTTP on $PORT, one line on stdout and one on stderr. */
const SERVER = `
const http = require('node:http');
console.log('hello from stdout');
console.error('hello from stderr');
http.createServer((q, s) => s.end('ok')).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

function writeManifest(name: string, extra: Record<string, unknown>): string {
  const file = path.join(tmp, `${name}.json`);
  writeFileSync(
    file,
    JSON.stringify({ name: 'test', version: '1', minVcpus: 1, minMemoryMib: 128, diskMib: 64, agentPort: 0, expectedEnv: [], user: 'nobody', workdir: path.join(tmp, `work-${name}`), env: { FROM_MANIFEST: 'm' }, ...extra }),
  );
  return file;
}

/** The host end of a link: sends lines, collects messages, waits for one that matches. */
class HostEnd {
  readonly received: GuestToHost[] = [];
  private waiters: { pred: (m: GuestToHost) => boolean; resolve: (m: GuestToHost) => void }[] = [];
  readonly splitter = new LineSplitter((l) => this.onLine(l), 1 << 24);
  constructor(private readonly write: (s: string) => void) {}
  private onLine(l: string) {
    if (!l) return;
    const m = JSON.parse(l) as GuestToHost;
    this.received.push(m);
    for (const w of [...this.waiters]) if (w.pred(m)) {
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve(m);
    }
  }
  send(msg: unknown): void {
    this.write(typeof msg === 'string' ? msg + '\n' : JSON.stringify(msg) + '\n');
  }
  /** Resolves with the first message (already received after `since`, or future) matching pred. */
  waitFor<T extends GuestToHost['t']>(t: T, pred: (m: Extract<GuestToHost, { t: T }>) => boolean = () => true, since = 0, timeoutMs = 20000): Promise<Extract<GuestToHost, { t: T }>> {
    const match = (m: GuestToHost) => m.t === t && pred(m as Extract<GuestToHost, { t: T }>);
    const seen = this.received.slice(since).find(match);
    if (seen) return Promise.resolve(seen as Extract<GuestToHost, { t: T }>);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${t}; got ${this.received.map((m) => m.t).join(',')}`)), timeoutMs);
      this.waiters.push({ pred: match, resolve: (m) => { clearTimeout(timer); resolve(m as Extract<GuestToHost, { t: T }>); } });
    });
  }
}

interface Harness {
  agent: GuestAgent;
  host: HostEnd;
  calls: { clock: number[]; hostname: string[]; powerOff: number };
  close(): Promise<void>;
}

function deps(transport: Transport, manifestPath: string, calls: Harness['calls'], extra: Partial<AgentDeps> = {}): AgentDeps {
  return {
    transport,
    manifestPath,
    initStartedAtUptime: 1.25,
    uptime: () => process.uptime(),
    setClock: async (ms) => void calls.clock.push(ms),
    setHostname: async (n) => void calls.hostname.push(n),
    powerOff: () => void calls.powerOff++,
    log: () => {},
    helloIntervalMs: 100,
    stopGraceMs: 500,
    probeIntervalMs: 50,
    ...extra,
  };
}

/** Agent over FdTransport on two FIFOs (the virtio-serial code path, minus the device). */
async function fifoHarness(manifestPath: string, extra: Partial<AgentDeps> = {}): Promise<Harness> {
  const id = randomBytes(4).toString('hex');
  const toGuest = path.join(tmp, `to-guest-${id}`);
  const toHost = path.join(tmp, `to-host-${id}`);
  execFileSync('mkfifo', [toGuest, toHost]);
  const calls = { clock: [] as number[], hostname: [] as string[], powerOff: 0 };
  const agent = new GuestAgent(deps(new FdTransport(toGuest, toHost, 20), manifestPath, calls, extra));
  const [started, writer, reader] = await Promise.all([agent.start(), fsp.open(toGuest, 'w'), fsp.open(toHost, 'r')]);
  void started;
  const host = new HostEnd((s) => void writer.write(s));
  let open = true;
  void (async () => {
    const buf = Buffer.alloc(65536);
    while (open) {
      const { bytesRead } = await reader.read(buf, 0, buf.length, null).catch(() => ({ bytesRead: 0 }));
      if (bytesRead === 0) break;
      host.splitter.push(buf.subarray(0, bytesRead));
    }
  })();
  return {
    agent,
    host,
    calls,
    close: async () => {
      await agent.close();
      open = false;
      await writer.close(); // EOF unblocks the agent's reader
      await reader.close().catch(() => {});
    },
  };
}

function configureMsg(extra: Record<string, unknown> = {}) {
  return { t: 'configure', now: 1_900_000_000_000, hostname: 'vm-test', env: { FROM_CONFIGURE: 'c' }, secrets: { MODEL_KEY: 'sk-test-secret-1234' }, ...extra };
}

describe('guest agent over a serial-like link', () => {
  let h: Harness | null = null;
  afterEach(async () => {
    await h?.close();
    h = null;
  });

  it('says hello unprompted and answers sync, before being configured', async () => {
    h = await fifoHarness(writeManifest('hello', { command: ['true'], readiness: { type: 'none' } }));
    const first = await h.host.waitFor('hello');
    assert.equal(first.v, GUEST_PROTOCOL_VERSION);
    assert.equal(first.configured, false);
    assert.equal(first.initStartedAtUptime, 1.25);
    const n = h.host.received.length;
    h.host.send({ t: 'sync' });
    const again = await h.host.waitFor('hello', () => true, n);
    assert.equal(again.ready, false);
    assert.equal(again.workloadPid, null);
  });

  it('configure starts the workload unprivileged with env + secrets, forwards logs, probes to ready', async () => {
    const port = await freePort();
    h = await fifoHarness(writeManifest('server', { command: [process.execPath, '-e', SERVER], env: { PORT: String(port), FROM_MANIFEST: 'm' }, readiness: { type: 'http', port, path: '/' } }));
    h.host.send(configureMsg());
    const started = await h.host.waitFor('started');
    await h.host.waitFor('ready');
    assert.deepEqual(h.calls.clock, [1_900_000_000_000]);
    assert.deepEqual(h.calls.hostname, ['vm-test']);
    assert.equal(statSync(path.join(tmp, 'work-server')).uid, 65534, 'workdir created for the workload user');
    await h.host.waitFor('log', (m) => m.stream === 'stdout' && m.line === 'hello from stdout');
    await h.host.waitFor('log', (m) => m.stream === 'stderr' && m.line === 'hello from stderr');

    const environ = readFileSync(`/proc/${started.pid}/environ`, 'utf8').split('\0');
    assert.ok(environ.includes('MODEL_KEY=sk-test-secret-1234'));
    assert.ok(environ.includes('FROM_CONFIGURE=c'));
    assert.ok(environ.includes('FROM_MANIFEST=m'));
    assert.ok(!environ.some((e) => e.startsWith('ROMULUS_')), 'the agent’s own env does not leak into the workload');
    const status = readFileSync(`/proc/${started.pid}/status`, 'utf8');
    assert.match(status, /^Uid:\s+65534\s+65534\s+65534\s+65534$/m);
    assert.match(status, /^Groups:\s*$/m, 'no supplementary groups');
    // its own process group and session
    assert.equal(Number(readFileSync(`/proc/${started.pid}/stat`, 'utf8').split(') ')[1].split(' ')[3]), started.pid);
    // nothing the agent said carries the secret
    assert.ok(!JSON.stringify(h.host.received).includes('sk-test-secret-1234'));

    const n = h.host.received.length;
    h.host.send({ t: 'sync' });
    const hello = await h.host.waitFor('hello', () => true, n);
    assert.equal(hello.configured, true);
    assert.equal(hello.ready, true);
    assert.equal(hello.workloadPid, started.pid);

    h.host.send(configureMsg());
    await h.host.waitFor('error', (m) => m.code === 'ALREADY_CONFIGURED');

    h.host.send({ t: 'shutdown' });
    const exit = await h.host.waitFor('exit');
    assert.equal(exit.code, 0);
    await waitUntil(() => h!.calls.powerOff === 1);
    assert.throws(() => process.kill(started.pid, 0), 'workload is gone');
  });

  it('a workload that ignores SIGTERM is killed after the grace period on shutdown', async () => {
    h = await fifoHarness(writeManifest('stubborn', { command: [process.execPath, '-e', "process.on('SIGTERM',()=>{}); setInterval(()=>{},1000); console.log('up')"], readiness: { type: 'none' } }));
    h.host.send(configureMsg());
    const started = await h.host.waitFor('started');
    await h.host.waitFor('ready');
    await h.host.waitFor('log', (m) => m.line === 'up'); // its SIGTERM handler is installed
    h.host.send({ t: 'shutdown' });
    const exit = await h.host.waitFor('exit');
    assert.equal(exit.signal, 'SIGKILL');
    await waitUntil(() => h!.calls.powerOff === 1);
    assert.throws(() => process.kill(started.pid, 0));
  });

  it('reports the exit of a workload that stops by itself, and a workload that cannot start', async () => {
    h = await fifoHarness(writeManifest('quits', { command: [process.execPath, '-e', 'process.exit(3)'], readiness: { type: 'tcp', port: await freePort() } }));
    h.host.send(configureMsg());
    await h.host.waitFor('started');
    const exit = await h.host.waitFor('exit');
    assert.equal(exit.code, 3);
    assert.ok(!h.host.received.some((m) => m.t === 'ready'), 'never ready: the probe stops when the workload exits');
    await h.close();

    h = await fifoHarness(writeManifest('missing', { command: ['/nonexistent/binary'], readiness: { type: 'none' } }));
    h.host.send(configureMsg());
    const exit2 = await h.host.waitFor('exit');
    assert.equal(exit2.code, 127);
    await h.host.waitFor('log', (m) => m.line.includes('cannot start workload'));
  });

  it('refuses a bad configure and an unknown user without starting anything', async () => {
    h = await fifoHarness(writeManifest('baduser', { command: ['true'], user: 'no-such-user', readiness: { type: 'none' } }));
    h.host.send(configureMsg({ hostname: 'bad host!' }));
    await h.host.waitFor('error', (m) => m.code === 'BAD_CONFIGURE' && m.message.includes('hostname'));
    h.host.send(configureMsg({ secrets: { 'BAD-NAME': 'x' } }));
    await h.host.waitFor('error', (m) => m.code === 'BAD_CONFIGURE' && m.message.includes('not a valid variable name'));
    h.host.send(configureMsg({ env: { A: 5 } }));
    await h.host.waitFor('error', (m) => m.code === 'BAD_CONFIGURE' && m.message.includes('env.A'));
    assert.equal(h.calls.clock.length, 0, 'nothing applied from a bad configure');
    h.host.send(configureMsg());
    await h.host.waitFor('error', (m) => m.code === 'WORKLOAD_START_FAILED' && m.message.includes('no-such-user'));
    const exit = await h.host.waitFor('exit');
    assert.equal(exit.code, null);
    assert.ok(!h.host.received.some((m) => m.t === 'started'));
  });

  it('serves exec (root and workload user), ping, time, and rejects junk without echoing it', async () => {
    h = await fifoHarness(writeManifest('exec', { command: ['true'], readiness: { type: 'none' } }));
    h.host.send({ t: 'exec', id: 'e1', argv: ['sh', '-c', 'echo out; echo err >&2; exit 7'], timeoutMs: 10000 });
    const r1 = await h.host.waitFor('exec-result', (m) => m.id === 'e1');
    assert.deepEqual([r1.code, r1.stdout, r1.stderr], [7, 'out\n', 'err\n']);

    h.host.send({ t: 'exec', id: 'e2', argv: ['id', '-u'], timeoutMs: 10000, asWorkloadUser: true });
    assert.equal((await h.host.waitFor('exec-result', (m) => m.id === 'e2')).stdout.trim(), '65534');
    h.host.send({ t: 'exec', id: 'e3', argv: ['id', '-u'], timeoutMs: 10000 });
    assert.equal((await h.host.waitFor('exec-result', (m) => m.id === 'e3')).stdout.trim(), String(process.getuid!()));

    h.host.send({ t: 'exec', id: 'e4', argv: ['sleep', '30'], timeoutMs: 300 });
    const r4 = await h.host.waitFor('exec-result', (m) => m.id === 'e4');
    assert.equal(r4.code, 124);
    assert.match(r4.stderr, /timed out/);

    h.host.send({ t: 'exec', id: 'e5', argv: ['/nonexistent/x'], timeoutMs: 1000 });
    assert.equal((await h.host.waitFor('exec-result', (m) => m.id === 'e5')).code, 127);

    h.host.send({ t: 'exec', id: 'e6', argv: ['head', '-c', '3000000', '/dev/zero'], timeoutMs: 10000 });
    const r6 = await h.host.waitFor('exec-result', (m) => m.id === 'e6');
    assert.equal(r6.code, 0);
    assert.ok(r6.stdout.length < 1100 * 1024, 'output capped');
    assert.match(r6.stdout, /bytes truncated/);

    h.host.send({ t: 'exec', id: 'e7', argv: [], timeoutMs: 1000 });
    assert.match((await h.host.waitFor('exec-result', (m) => m.id === 'e7')).stderr, /argv/);
    h.host.send({ t: 'exec', id: 'e8', argv: ['true'], timeoutMs: -5 });
    assert.match((await h.host.waitFor('exec-result', (m) => m.id === 'e8')).stderr, /timeoutMs/);

    h.host.send({ t: 'ping', id: 'p1' });
    const pong = await h.host.waitFor('pong', (m) => m.id === 'p1');
    assert.ok(Math.abs(pong.now - Date.now()) < 60_000);
    h.host.send({ t: 'time', now: 1_800_000_000_123 });
    await waitUntil(() => h!.calls.clock.includes(1_800_000_000_123));

    h.host.send('{"t":"configure","secrets":{"K":"leaky-secret"'); // truncated JSON
    const err = await h.host.waitFor('error', (m) => m.code === 'MALFORMED_MESSAGE');
    assert.ok(!err.message.includes('leaky-secret'));
    h.host.send({ t: 'frobnicate' });
    await h.host.waitFor('error', (m) => m.code === 'UNKNOWN_MESSAGE');
  });
});

async function waitUntil(cond: () => boolean, timeoutMs = 15000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
