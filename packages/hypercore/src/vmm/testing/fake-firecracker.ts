/**
 * A stand-in `firecracker` executable for tests on hosts without Firecracker or KVM. It serves the API on
 * --api-sock, checks every request against Firecracker's OpenAPI description (testing/firecracker-spec.ts)
 * plus the rules Firecracker enforces beyond the schema (pre-boot-only resources, path id = body id, files
 * that must exist, snapshot only while paused, load only on a fresh process), answers as Firecracker does
 * (204, 200 with JSON, 400 with fault_message), and records every call to <api-sock>.calls.jsonl.
 * Like Firecracker it refuses an --id outside [A-Za-z0-9-]{1,64} at start. Its vsock device binds uds_path
 * and speaks Firecracker's host protocol (`CONNECT <port>\n` → `OK <n>\n`); once the "guest" runs, port
 * GUEST_VSOCK_PORT answers `sync` with a `hello` (a scripted guest agent, nothing more).
 * With --no-api --config-file it plays a probe boot: prints a kernel's root-mount panic and exits
 * (or, with FAKE_FC_PROBE=internal-error, what Firecracker logs when KVM cannot run the guest).
 * With FAKE_FC_ROOT (set by testing/fake-jailer.ts) every path it is given is inside that dir, as in the
 * jailer's chroot: a host path handed to a jailed Firecracker is not found.
 * No VM runs: this exercises the driver's HTTP and channel sequences, not a guest.
 */
import { appendFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import net from 'node:net';
import { GUEST_PROTOCOL_VERSION, GUEST_VSOCK_PORT } from '@romulus/shared';
import { FirecrackerSpec } from './firecracker-spec.ts';

const argv = process.argv.slice(2);
const arg = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};

if (argv.includes('--version')) {
  console.log('Firecracker v1.16.1');
  process.exit(0);
}

const spec = new FirecrackerSpec();
const ROOT = process.env.FAKE_FC_ROOT;
/** A path as Firecracker sees it, on the host: inside the jail's root when jailed. */
const at = (p: string) => (ROOT ? path.join(ROOT, p) : p);

if (argv.includes('--no-api')) {
  const config = JSON.parse(readFileSync(arg('--config-file')!, 'utf8'));
  const boot = spec.check('PUT', '/boot-source', config['boot-source']);
  const machine = spec.check('PUT', '/machine-config', config['machine-config']);
  if (!boot.ok || !machine.ok || !existsSync(config['boot-source'].kernel_image_path)) {
    console.error('fake firecracker: bad config file');
    process.exit(1);
  }
  console.log('[    0.000000] Linux version 6.1.0-fake');
  if (process.env.FAKE_FC_PROBE === 'internal-error') {
    console.log('2026-12-02T09:00:00.000000000 [romulus-probe:fc_vcpu 0] Received KVM_EXIT_INTERNAL_ERROR signal');
    process.exit(1);
  }
  console.log('[    0.400000] VFS: Cannot open root device "nonexistent" or unknown-block(0,0): error -6');
  console.log('[    0.400001] Kernel panic - not syncing: VFS: Unable to mount root fs on unknown-block(0,0)');
  process.exit(0);
}

const sockArg = arg('--api-sock');
const sockPath = sockArg === undefined ? undefined : at(sockArg);
const id = arg('--id') ?? 'anonymous-instance';
if (!sockPath) {
  console.error('fake firecracker: --api-sock required');
  process.exit(1);
}
const callsFile = `${sockPath}.calls.jsonl`;
if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) {
  console.error(`Invalid instance ID: ${id}`); // what Firecracker says for an id with `_`
  process.exit(1);
}

let state: 'Not started' | 'Running' | 'Paused' = 'Not started';
const configured = new Set<string>(); // resources other than the logger set on this process

const PRE_BOOT_ONLY = new Set(['putGuestBootSource', 'putGuestDriveByID', 'putMachineConfiguration', 'putGuestNetworkInterfaceByID', 'putSerialDevice', 'putLogger', 'putGuestVsock']);

let vsockServer: net.Server | null = null;
let vsockPath: string | null = null;
/** Binds the vsock device's host socket as Firecracker does; connections reach the "guest" once it runs. */
function bindVsock(udsPath: string): void {
  vsockServer?.close();
  vsockServer = net.createServer((sock) => {
    sock.on('error', () => {});
    let buf = '';
    let port: number | null = null;
    sock.on('data', (d) => {
      buf += d;
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (port === null) {
          const m = /^CONNECT (\d+)$/.exec(line);
          // Nothing in the guest listens before it runs, nor on another port: Firecracker closes.
          if (!m || Number(m[1]) !== GUEST_VSOCK_PORT || state !== 'Running') return void sock.destroy();
          port = Number(m[1]);
          sock.write('OK 1073741824\n');
          continue;
        }
        let msg: { t?: string };
        try {
          msg = JSON.parse(line);
        } catch {
          continue;
        }
        if (msg.t === 'sync') {
          sock.write(`${JSON.stringify({ t: 'hello', v: GUEST_PROTOCOL_VERSION, agentVersion: 'fake-firecracker', initStartedAtUptime: 0.1, helloAtUptime: 0.2, configured: false, ready: false, workloadPid: null })}\n`);
        }
      }
    });
  });
  rmSync(udsPath, { force: true });
  vsockServer.listen(udsPath);
  vsockPath = udsPath;
}

function handle(method: string, url: string, body: unknown): { status: number; json?: unknown } {
  const v = spec.check(method, url, body);
  const fault = (status: number, message: string) => ({ status, json: { fault_message: message } });
  if (!v.ok) return fault(v.status, v.errors.join('; '));
  const b = (body ?? {}) as Record<string, unknown>;
  if (PRE_BOOT_ONLY.has(v.operationId) && state !== 'Not started') return fault(400, 'The requested operation is not supported after starting the microVM.');
  switch (v.operationId) {
    case 'describeInstance':
      return { status: 200, json: { app_name: 'Firecracker', id, state, vmm_version: '1.16.1' } };
    case 'getFirecrackerVersion':
      return { status: 200, json: { firecracker_version: '1.16.1' } };
    case 'putLogger':
      if (typeof b.log_path === 'string' && !existsSync(at(b.log_path))) return fault(400, `Logger: no such file ${b.log_path}`);
      return { status: 204 };
    case 'putGuestBootSource':
      if (!existsSync(at(String(b.kernel_image_path)))) return fault(400, 'Boot source: kernel image not found');
      configured.add('boot-source');
      return { status: 204 };
    case 'putGuestDriveByID':
      if (v.params.drive_id !== b.drive_id) return fault(400, 'The id from the path does not match the id from the body!');
      if (!existsSync(at(String(b.path_on_host)))) return fault(400, `Drive: no such file ${String(b.path_on_host)}`);
      configured.add(`drive:${b.drive_id}`);
      return { status: 204 };
    case 'putGuestNetworkInterfaceByID':
      if (v.params.iface_id !== b.iface_id) return fault(400, 'The id from the path does not match the id from the body!');
      configured.add(`net:${b.iface_id}`);
      return { status: 204 };
    case 'putMachineConfiguration':
      configured.add('machine-config');
      return { status: 204 };
    case 'putGuestVsock':
      if (existsSync(at(String(b.uds_path)))) return fault(400, `Vsock: cannot bind ${String(b.uds_path)}: Address in use`);
      configured.add('vsock');
      bindVsock(at(String(b.uds_path)));
      return { status: 204 };
    case 'createSyncAction':
      if (b.action_type === 'InstanceStart') {
        if (state !== 'Not started') return fault(400, 'The microVM is already running.');
        if (!configured.has('boot-source')) return fault(400, 'Cannot start microvm without kernel configuration.');
        state = 'Running';
        process.stdout.write('[    0.000000] Linux version 6.1.0-fake (fake guest console)\n');
        return { status: 204 };
      }
      if (b.action_type === 'SendCtrlAltDel') {
        if (state !== 'Running') return fault(400, 'The microVM is not running.');
        setTimeout(() => process.exit(0), 100); // the guest reboots; Firecracker exits on reset
        return { status: 204 };
      }
      return { status: 204 };
    case 'patchVm':
      if (state === 'Not started') return fault(400, 'The microVM is not running.');
      state = b.state === 'Paused' ? 'Paused' : 'Running';
      return { status: 204 };
    case 'createSnapshot':
      if (state !== 'Paused') return fault(400, 'Cannot create a snapshot of a running microVM: pause it first.');
      writeFileSync(at(String(b.snapshot_path)), JSON.stringify({ fake: 'vmstate', id, vsockPath }));
      writeFileSync(at(String(b.mem_file_path)), 'fake guest memory');
      return { status: 204 };
    case 'loadSnapshot': {
      if (state !== 'Not started' || configured.size > 0) return fault(400, 'Loading a snapshot is only allowed on a fresh microVM.');
      const hasFile = b.mem_file_path !== undefined;
      const hasBackend = b.mem_backend !== undefined;
      if (hasFile === hasBackend) return fault(400, 'Exactly one of mem_file_path and mem_backend is required.');
      const mem = hasFile ? String(b.mem_file_path) : String((b.mem_backend as { backend_path: string }).backend_path);
      if (!existsSync(at(String(b.snapshot_path))) || !existsSync(at(mem))) return fault(400, 'Snapshot files not found.');
      state = b.resume_vm ? 'Running' : 'Paused';
      // The snapshot remembers its vsock socket path; the override replaces it (else two VMs want one path).
      const saved = JSON.parse(readFileSync(at(String(b.snapshot_path)), 'utf8')) as { vsockPath?: string | null };
      const override = (b.vsock_override as { uds_path?: string } | undefined)?.uds_path;
      const vsock = override !== undefined ? at(override) : saved.vsockPath; // saved: already a host path
      if (vsock) bindVsock(vsock);
      return { status: 204 };
    }
    default:
      return { status: 204 };
  }
}

const server = http.createServer((req, res) => {
  let raw = '';
  req.setEncoding('utf8');
  req.on('data', (d) => (raw += d));
  req.on('end', () => {
    let body: unknown;
    let out: { status: number; json?: unknown };
    try {
      body = raw ? JSON.parse(raw) : undefined;
      out = handle(req.method ?? 'GET', req.url ?? '/', body);
    } catch (e) {
      out = { status: 400, json: { fault_message: `invalid JSON: ${(e as Error).message}` } };
    }
    appendFileSync(callsFile, JSON.stringify({ method: req.method, path: req.url, body: body ?? null, status: out.status, fault: (out.json as { fault_message?: string })?.fault_message ?? null }) + '\n');
    res.writeHead(out.status, out.json === undefined ? {} : { 'Content-Type': 'application/json' });
    res.end(out.json === undefined ? undefined : JSON.stringify(out.json));
  });
});
rmSync(sockPath, { force: true });
server.listen(sockPath);
process.on('SIGTERM', () => process.exit(0));
