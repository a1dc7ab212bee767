import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync } from 'node:fs';
import path from 'node:path';

/**
 * Least privilege for a VMM process (the libvirt / Firecracker-jailer model, done with util-linux):
 *   - every VMM runs as a uid/gid of its own, allocated from a range (no /etc/passwd entry needed) and
 *     registered under `registryDir` as a symlink `<uid>` -> the VM's state dir, so two VMs (also of two
 *     nodes on one host) never share one;
 *   - in a mount namespace of its own whose root (chroot) is a fresh tmpfs holding only read-only /usr
 *     (binaries, libraries, firmware), the few device nodes it needs (made for its uid only), its kernel and
 *     base rootfs (read-only binds), its disk and console log (binds of files chowned to its uid) and its
 *     runtime dir (sockets, pid file). Other VMs' files, the node's state, token and config are not even
 *     visible there;
 *   - with no capabilities (effective, permitted, inheritable, ambient and bounding set all empty), no
 *     supplementary groups and no_new_privs, set by `setpriv` just before exec.
 * The prelude runs as root: join cgroups (cgroups.ts), `unshare --mount`, build the jail, `chroot`,
 * `setpriv`, exec the VMM. Every step execs, so the pid the driver records is the VMM's own.
 */
export interface ConfineOptions {
  /** Default: on when the daemon runs as root (an unprivileged daemon cannot drop to other uids anyway). */
  enabled?: boolean;
  /** First uid (= gid) of the range; default 400000. */
  uidBase?: number;
  /** Size of the range; default 65536. */
  uidCount?: number;
  /** Where uids are registered; default /run/romulus/vmm-uids (tmpfs: a host reboot ends every VMM too). */
  registryDir?: string;
  /** Empty directory each VMM's namespace mounts its jail on (invisible outside it); default /run/romulus/jail. */
  jailDir?: string;
}

export interface VmmIdentity {
  uid: number;
  gid: number;
}

/** What one VMM may see inside its jail, by host path (the paths are the same inside). */
export interface JailPlan {
  identity: VmmIdentity;
  readOnlyFiles: string[];
  writableFiles: string[];
  writableDirs: string[];
  /** Host device nodes re-created in the jail, owned by the VMM's uid, mode 0600. */
  privateDevices: string[];
}

export const DEFAULT_UID_BASE = 400_000;
export const DEFAULT_UID_COUNT = 65_536;
/** Device nodes every process may use (made 0666 in the jail, as on the host). */
const PUBLIC_DEVICES = ['/dev/null', '/dev/zero', '/dev/random', '/dev/urandom'];

export class VmmConfinement {
  readonly uidBase: number;
  readonly uidCount: number;
  readonly registryDir: string;
  readonly jailDir: string;

  constructor(o: ConfineOptions = {}) {
    this.uidBase = o.uidBase ?? DEFAULT_UID_BASE;
    this.uidCount = o.uidCount ?? DEFAULT_UID_COUNT;
    if (!Number.isInteger(this.uidBase) || this.uidBase < 1000 || this.uidBase + this.uidCount > 0xfffffffe) {
      throw new Error(`confine.uidBase/uidCount out of range: ${this.uidBase}+${this.uidCount}`);
    }
    this.registryDir = o.registryDir ?? '/run/romulus/vmm-uids';
    this.jailDir = o.jailDir ?? '/run/romulus/jail';
  }

  /** Is confinement wanted and possible here? */
  static enabled(o: ConfineOptions | undefined): boolean {
    if (o?.enabled === false) return false;
    const root = process.getuid?.() === 0;
    if (o?.enabled === true && !root) throw new Error('confine.enabled needs the node daemon to run as root');
    return root;
  }

  /** The identity of the VM in stateDir, allocating one the first time (idempotent). */
  identityFor(stateDir: string): VmmIdentity {
    const dir = path.resolve(stateDir);
    mkdirSync(this.registryDir, { recursive: true, mode: 0o700 });
    const mine = this.lookup(dir);
    if (mine) return mine;
    for (let i = 0; i < this.uidCount; i++) {
      const uid = this.uidBase + i;
      const entry = path.join(this.registryDir, String(uid));
      try {
        symlinkSync(dir, entry); // atomic: exactly one caller gets each uid
        return { uid, gid: uid };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        // The VM that held it is gone without releasing it (its dir was deleted): take it over.
        if (!existsSync(readTarget(entry) ?? '/nonexistent')) {
          rmSync(entry, { force: true });
          i--;
        }
      }
    }
    throw new Error(`no free VMM uid in ${this.uidBase}..${this.uidBase + this.uidCount - 1}`);
  }

  lookup(stateDir: string): VmmIdentity | null {
    const dir = path.resolve(stateDir);
    let names: string[];
    try {
      names = readdirSync(this.registryDir);
    } catch {
      return null;
    }
    for (const n of names) {
      if (readTarget(path.join(this.registryDir, n)) === dir) return { uid: Number(n), gid: Number(n) };
    }
    return null;
  }

  /** Free the VM's uid and give the files it was handed back to root. Idempotent. */
  release(stateDir: string, handedOver: string[]): void {
    const id = this.lookup(stateDir);
    for (const f of handedOver) {
      try {
        if (!lstatSync(f).isSymbolicLink()) chownSync(f, 0, 0);
      } catch {
        /* already gone */
      }
    }
    rmSync(runtimeDirOf(stateDir), { recursive: true, force: true });
    if (id) rmSync(path.join(this.registryDir, String(id.uid)), { force: true });
  }

  /**
   * Hand the VM's own files to its uid and check that what it only reads is readable by anyone (the
   * kernel and base images carry nothing private). Returns the plan the prelude builds the jail from.
   */
  prepare(stateDir: string, o: { readOnlyFiles: string[]; writableFiles: string[]; devices: string[] }): JailPlan {
    const identity = this.identityFor(stateDir);
    const { uid, gid } = identity;
    for (const f of o.readOnlyFiles) {
      if ((statSync(f).mode & 0o004) === 0) throw new Error(`${f} must be world-readable for a confined VMM (it runs as uid ${uid})`);
    }
    for (const f of o.writableFiles) {
      chownSync(f, uid, gid);
      chmodSync(f, 0o600);
    }
    const run = runtimeDirOf(stateDir);
    rmSync(run, { recursive: true, force: true }); // whatever a previous VMM left there is not trusted
    mkdirSync(run, { mode: 0o700 });
    chownSync(run, uid, gid);
    mkdirSync(this.jailDir, { recursive: true, mode: 0o700 });
    return { identity, readOnlyFiles: o.readOnlyFiles, writableFiles: o.writableFiles, writableDirs: [run], privateDevices: o.devices.filter((d) => existsSync(d)) };
  }

  /** argv (after the cgroup prelude) that builds the jail and execs `argv` inside it, unprivileged. */
  launcherArgv(plan: JailPlan): string[] {
    return ['unshare', '--mount', '--propagation', 'private', '--', '/bin/sh', '-c', jailScript(this.jailDir, plan), 'romulus-jail'];
  }
}

/** The VM's runtime dir (sockets, pid file): the one directory its VMM may create files in. */
export function runtimeDirOf(stateDir: string): string {
  return path.join(stateDir, 'vmm');
}

function readTarget(p: string): string | null {
  try {
    return readlinkSync(p);
  } catch {
    return null;
  }
}

/** Single-quote for sh: the script is passed as one argv element, never through another shell. */
export function shq(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

function deviceNumbers(dev: string): { major: number; minor: number } {
  const st = statSync(dev);
  if (!st.isCharacterDevice()) throw new Error(`${dev} is not a character device`);
  const r = st.rdev;
  return { major: Math.floor(r / 256) & 0xfff, minor: (r & 0xff) | (Math.floor(r / 4096) & 0xfff00) };
}

/**
 * The jail, built in the VMM's fresh mount namespace (`set -e`: any failure ends the launch, its message in
 * the VMM's stderr log). The tmpfs root is root-owned 0755 and nosuid; /usr is bound read-only and nosuid.
 */
export function jailScript(jailDir: string, plan: JailPlan): string {
  const J = shq(jailDir);
  const { uid, gid } = plan.identity;
  const lines = [
    'set -e',
    'umask 022', // the jail's skeleton must be traversable by the VMM's uid
    `mount -t tmpfs -o mode=0755,nosuid,size=1m romulus-jail ${J}`,
    `cd ${J}`,
    'mkdir -m 0755 usr dev',
    'mount --bind -o ro,nosuid /usr usr',
  ];
  // Merged-/usr hosts have /bin -> usr/bin etc.; older layouts get read-only binds.
  for (const d of ['bin', 'sbin', 'lib', 'lib64']) {
    let st;
    try {
      st = lstatSync(`/${d}`);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) lines.push(`ln -s ${shq(readlinkSync(`/${d}`))} ${d}`);
    else lines.push(`mkdir ${d}`, `mount --bind -o ro,nosuid /${d} ${d}`);
  }
  for (const d of PUBLIC_DEVICES) {
    const n = deviceNumbers(d);
    lines.push(`mknod -m 0666 ${shq(`.${d}`)} c ${n.major} ${n.minor}`);
  }
  for (const d of plan.privateDevices) {
    const n = deviceNumbers(d);
    lines.push(`mkdir -p ${shq(`.${path.dirname(d)}`)}`, `mknod -m 0600 ${shq(`.${d}`)} c ${n.major} ${n.minor}`, `chown ${uid}:${gid} ${shq(`.${d}`)}`);
  }
  const bindFile = (f: string, opts: string) => {
    const at = shq(`.${f}`);
    lines.push(`mkdir -p ${shq(`.${path.dirname(f)}`)}`, `: > ${at}`, `mount --bind -o ${opts} ${shq(f)} ${at}`);
  };
  for (const f of plan.readOnlyFiles) bindFile(f, 'ro,nosuid,nodev');
  for (const f of plan.writableFiles) bindFile(f, 'nosuid,nodev');
  for (const d of plan.writableDirs) {
    const at = shq(`.${d}`);
    lines.push(`mkdir -p ${at}`, `mount --bind -o nosuid,nodev ${shq(d)} ${at}`);
  }
  lines.push(
    'cd /',
    'umask 077', // what the VMM creates (sockets, pid file) is private to its uid
    `exec chroot ${J} setpriv --reuid ${uid} --regid ${gid} --clear-groups --inh-caps=-all --ambient-caps=-all --bounding-set=-all --no-new-privs -- "$@"`,
  );
  return lines.join('\n');
}

/**
 * Give an existing (persistent) TAP to the VMM's uid/gid so the VMM can attach to it without
 * CAP_NET_ADMIN. `ip tuntap add` cannot change an existing device (it attaches with IFF_TUN_EXCL), so this
 * attaches once as root and issues TUNSETOWNER/TUNSETGROUP; perl-base is part of every Debian system.
 */
export function setTapOwner(tap: string, id: VmmIdentity): void {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(tap)) throw new Error(`invalid TAP name ${JSON.stringify(tap)}`);
  const script = [
    'my ($name, $uid, $gid) = @ARGV;',
    'open(my $tun, "+<", "/dev/net/tun") or die "open /dev/net/tun: $!\\n";',
    // struct ifreq: 16-byte name, short flags (IFF_TAP 0x2 | IFF_NO_PI 0x1000), padded to 40 bytes.
    'ioctl($tun, 0x400454ca, pack("a16 s x22", $name, 0x1002)) or die "TUNSETIFF $name: $!\\n";',
    'ioctl($tun, 0x400454cc, 0 + $uid) or die "TUNSETOWNER $name: $!\\n";',
    'ioctl($tun, 0x400454ce, 0 + $gid) or die "TUNSETGROUP $name: $!\\n";',
  ].join('\n');
  execFileSync('perl', ['-e', script, tap, String(id.uid), String(id.gid)], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
}
