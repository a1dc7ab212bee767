/**
 * Guest agent entry point, run by init as root: `/opt/romulus/node/bin/node /opt/romulus/guest-agent.js`.
 * Wires the real guest (kernel command line, virtio-serial port or init's vsock relay, clock, hostname, PID 1)
 * into GuestAgent. Paths and ports come from the environment so the same bundle can be exercised on a host.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { CMDLINE, GUEST_CHANNEL_NAME } from '@romulus/shared/guest-protocol';
import { GuestAgent } from './agent.ts';
import { parseCmdline } from './cmdline.ts';
import { FdTransport, findVirtioPort, SocketTransport, type Transport } from './transport.ts';

const env = process.env;
const INIT = env.ROMULUS_INIT_PATH ?? '/opt/romulus/init';
const MANIFEST = env.ROMULUS_MANIFEST ?? '/etc/romulus/image.json';

function log(message: string): void {
  process.stderr.write(`romulus-agent: ${message}\n`);
}

function uptime(): number {
  try {
    return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  } catch {
    return process.uptime();
  }
}

async function waitForPort(name: string, attempts = 50): Promise<string> {
  for (let i = 0; i < attempts; i++) {
    const dev = findVirtioPort(name);
    if (dev) return dev;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`virtio-serial port ${name} not found under /sys/class/virtio-ports`);
}

async function main(): Promise<void> {
  log(`node up at uptime ${uptime().toFixed(3)}`); // init logs when it exec'd us: the gap is Node's start-up
  const cmdline = parseCmdline(readFileSync(env.ROMULUS_CMDLINE ?? '/proc/cmdline', 'utf8'));
  const channel = cmdline[CMDLINE.channel] ?? 'virtio';
  let transport: Transport;
  if (channel === 'vsock') {
    // init accepts the host's vsock connections and relays them to this root-only socket (see init.c).
    transport = new SocketTransport(env.ROMULUS_CHANNEL_SOCKET ?? '/run/romulus/channel.sock');
  } else if (channel === 'virtio') {
    const dev = env.ROMULUS_PORT_PATH ?? (await waitForPort(GUEST_CHANNEL_NAME));
    transport = new FdTransport(dev);
  } else {
    throw new Error(`unknown ${CMDLINE.channel}=${channel}`);
  }
  const agent = new GuestAgent({
    transport,
    manifestPath: MANIFEST,
    initStartedAtUptime: Number(env.ROMULUS_INIT_STARTED_AT_UPTIME ?? 0),
    uptime,
    setClock: (ms) =>
      new Promise((resolve, reject) =>
        execFile(INIT, ['set-time', String(ms)], (err, _o, stderr) => (err ? reject(new Error(stderr.trim() || err.message)) : resolve())),
      ),
    setHostname: async (name) => writeFileSync('/proc/sys/kernel/hostname', name),
    powerOff: () => {
      log('asking init to power off');
      try {
        process.kill(1, 'SIGUSR2');
      } catch {
        process.exit(0); // not PID 1's child on a host run: just stop
      }
    },
    log,
  });
  // The secrets live in this process: do not let a bug turn into a core dump or a crash loop.
  process.on('uncaughtException', (e) => log(`uncaught: ${e.stack ?? e}`));
  process.on('unhandledRejection', (e) => log(`unhandled rejection: ${(e as Error)?.stack ?? e}`));
  // init sends SIGTERM only while powering off: leave at once. Not process.exit(): it joins libuv's thread
  // pool, where a read on the virtio port blocks forever, so it would hang until init's SIGKILL.
  process.on('SIGTERM', () => process.kill(process.pid, 'SIGKILL'));
  for (const sig of ['SIGINT', 'SIGHUP'] as const) process.on(sig, () => log(`ignoring ${sig}`));
  await agent.start();
  log(`listening on ${channel} at uptime ${uptime().toFixed(3)}`);
}

main().catch((e) => {
  log(`fatal: ${(e as Error).message}`);
  process.exit(1); // init powers the VM off when we exit
});
